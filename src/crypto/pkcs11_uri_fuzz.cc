// libFuzzer target for the PKCS#11 URI parser: a URI comes from argv, the
// environment and config files. Whatever the bytes, parsing ends with an
// error or a URI whose identity parses back to the same key selection.
#include <cstdint>
#include <string_view>

#include "crypto/pkcs11_uri.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace coffre::crypto;
  auto uri = ParsePkcs11Uri(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!uri) return 0;
  (void)CheckMasterKeyUri(*uri);
  if (uri->pin_source) (void)PinSourcePath(*uri);
  auto back = ParsePkcs11Uri(uri->Identity());
  if (!back) __builtin_trap();
  if (back->token != uri->token || back->manufacturer != uri->manufacturer ||
      back->model != uri->model || back->serial != uri->serial || back->object != uri->object ||
      back->id != uri->id || back->type != uri->type) {
    __builtin_trap();
  }
  return 0;
}
