// Bearer secrets handed out by auth: service API keys and session tokens.
// Both are a fixed prefix plus 32 random bytes in unpadded base64url
// (43 characters). The prefix lets secret scanners recognise a leaked key.
// Internal to auth. Thread-safety: pure functions (NewToken uses the CSPRNG).
#pragma once

#include <string>
#include <string_view>

namespace coffre::auth::internal {

inline constexpr std::string_view kApiKeyPrefix = "coffre_sk_";
inline constexpr std::string_view kSessionPrefix = "coffre_st_";
inline constexpr size_t kTokenRandomBytes = 32;
inline constexpr size_t kTokenBody = 43;  // base64url of 32 bytes, no padding

std::string Base64UrlEncode(std::string_view bytes);

// prefix + 43 base64url characters of fresh randomness.
std::string NewToken(std::string_view prefix);

// True when `token` has the shape NewToken(prefix) produces. Checked before
// any lookup, so malformed input costs nothing and reaches no storage.
[[nodiscard]] bool WellFormedToken(std::string_view token, std::string_view prefix);

}  // namespace coffre::auth::internal
