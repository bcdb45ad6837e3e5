// libFuzzer target for auth's parsers of untrusted text: base32, attributes
// (the CLI's --attr), names, the password rules and the guessability
// estimate, TOTP codes, issuers, bearer tokens, and the decoders of stored
// credentials and API-key entries. Built with -DCOFFRE_FUZZ=ON (clang only).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "auth/internal/records.h"
#include "auth/internal/tokens.h"
#include "auth/password_policy.h"
#include "auth/principals.h"
#include "auth/totp.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace coffre::auth;
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  if (auto decoded = totp::Base32Decode(text)) {
    // Decoding is canonical: re-encoding gives the input back, bar case
    // and padding.
    auto again = totp::Base32Decode(totp::Base32Encode(*decoded));
    if (!again || *again != *decoded) __builtin_trap();
  }
  if (auto kv = ParseAttribute(text)) {
    if (!ValidateAttribute(kv->first, kv->second)) __builtin_trap();
  }
  (void)ValidateName(text);
  (void)ValidateRole(text);
  (void)CheckPassword(text, {.dictionary_check = false});
  // zxcvbn and coffre's variants around it (repeats, AZERTY) on any bytes.
  if (text.size() <= kMaxPasswordBytes) (void)EstimateGuessesLog10(text, text.substr(0, 8));
  (void)totp::Verify("12345678901234567890", text, 1111111111, -1);
  (void)internal::WellFormedToken(text, internal::kApiKeyPrefix);
  (void)totp::ValidateIssuer(text);
  // Stored records (sealed, but decoded after opening): decoding what was
  // encoded gives it back.
  if (auto cred = internal::DecodeCredential(text)) {
    auto again = internal::DecodeCredential(internal::EncodeCredential(*cred));
    if (!again || again->previous_api_key_hash != cred->previous_api_key_hash ||
        again->previous_expires_at != cred->previous_expires_at) {
      __builtin_trap();
    }
  }
  if (auto lookup = internal::DecodeApiKeyLookup(text)) {
    auto again = internal::DecodeApiKeyLookup(internal::EncodeApiKeyLookup(*lookup));
    if (!again || again->name != lookup->name || again->expires_at != lookup->expires_at) {
      __builtin_trap();
    }
  }
  return 0;
}
