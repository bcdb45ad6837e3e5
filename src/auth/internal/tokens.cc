#include "auth/internal/tokens.h"

#include "crypto/crypto.h"

namespace coffre::auth::internal {
namespace {
constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
}

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char b : bytes) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 6) {
      out.push_back(kAlphabet[(buffer >> (bits - 6)) & 63]);
      bits -= 6;
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (6 - bits)) & 63]);
  return out;
}

std::string NewToken(std::string_view prefix) {
  std::string out(prefix);
  out += Base64UrlEncode(crypto::RandomString(kTokenRandomBytes));
  return out;
}

bool WellFormedToken(std::string_view token, std::string_view prefix) {
  if (token.size() != prefix.size() + kTokenBody || token.substr(0, prefix.size()) != prefix) {
    return false;
  }
  for (char c : token.substr(prefix.size())) {
    if (kAlphabet.find(c) == std::string_view::npos) return false;
  }
  return true;
}

}  // namespace coffre::auth::internal
