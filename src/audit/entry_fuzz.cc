// libFuzzer target for the audit entry decoder (entries are read back from
// a data directory that an attacker may have edited). Whatever decodes must
// re-encode to bytes that decode to the same entry.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "audit/entry.h"
#include "audit/entry_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto e = coffre::audit::DecodeEntry(in);
  // The borrowing decoder accepts exactly what the owning one accepts.
  if (static_cast<bool>(coffre::audit::DecodeEntryView(in)) != static_cast<bool>(e)) std::abort();
  if (!e) return 0;
  auto again = coffre::audit::DecodeEntry(coffre::audit::EncodeEntry(*e));
  if (!again || !(*again == *e)) std::abort();
  (void)coffre::audit::EntryToJsonText(*e);
  return 0;
}
