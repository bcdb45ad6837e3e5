// libFuzzer target for the key share formats (docs/key-custody.md): the
// plain share line a holder pastes into `coffre unseal`, and the share set
// a vault records. Built with -DCOFFRE_FUZZ=ON (clang only).
//
// Invariants: a line ParseShare accepts formats back (FormatShare) to a
// line that parses to the same share; a share set DecodeShareSet accepts
// encodes back to the same set.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "crypto/crypto.h"
#include "vault/key_shares.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool ready = static_cast<bool>(coffre::crypto::Init());
  if (!ready) std::abort();
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  if (auto p = coffre::vault::ParseShare(in)) {
    const std::string line = coffre::vault::FormatShare(*p);
    auto again = coffre::vault::ParseShare(line);
    if (!again || again->vault_id != p->vault_id || again->generation != p->generation ||
        again->threshold != p->threshold || again->count != p->count ||
        again->share.index != p->share.index ||
        !again->share.share.ConstantTimeEquals(p->share.share)) {
      std::abort();
    }
  }
  if (auto set = coffre::vault::DecodeShareSet(in)) {
    auto again = coffre::vault::DecodeShareSet(coffre::vault::EncodeShareSet(*set));
    if (!again || again->generation != set->generation || again->threshold != set->threshold ||
        again->count != set->count || again->checks != set->checks) {
      std::abort();
    }
  }
  return 0;
}
