// Test support: fresh random passwords that the password policy accepts.
// For tests only (header-only, no production code includes it).
//
// Random passwords can trip libpwquality's cracklib "too simplistic/
// systematic" rule, which counts neighbouring characters one apart
// ("ab", "Ba", "32", compared case-insensitively): more than four such pairs
// and the password is refused. Uniformly random 22-character passwords hit it
// about 6 times in 10,000, enough to make a test flaky in CI. This generator
// never puts two such characters side by side, nor the same one twice, so the
// rule cannot fire; the other rules (length, four classes, no dictionary
// word, and 16 random characters put it far above the rule "guessable")
// hold by construction.
//
// Thread-safety: thread-safe (libsodium's generator).
#pragma once

#include <cctype>
#include <string>
#include <string_view>

#include "crypto/crypto.h"

namespace coffre::auth::testing {

// True when a and b are equal or one apart, ignoring case: the pairs that
// cracklib counts as systematic (plus repeats, which we also avoid).
inline bool Neighbours(char a, char b) {
  const int x = std::tolower(static_cast<unsigned char>(a));
  const int y = std::tolower(static_cast<unsigned char>(b));
  return x == y || x == y + 1 || x + 1 == y;
}

// "prefix + 16 random characters + suffix"; the fixed ends give the four
// classes. Two calls share nothing but the ends.
inline std::string FreshPassword(std::string_view prefix = "Qv7!",
                                 std::string_view suffix = "#z4K") {
  static constexpr std::string_view kAlphabet =
      "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  std::string out(prefix);
  while (out.size() < prefix.size() + 16) {
    for (unsigned char c : crypto::RandomString(32)) {
      const char next = kAlphabet[c % kAlphabet.size()];
      if (!out.empty() && Neighbours(out.back(), next)) continue;
      const bool last = out.size() + 1 == prefix.size() + 16;
      if (last && !suffix.empty() && Neighbours(next, suffix.front())) continue;
      out += next;
      if (out.size() == prefix.size() + 16) break;
    }
  }
  out.append(suffix);
  return out;
}

}  // namespace coffre::auth::testing
