// Test card numbers, computed rather than written out: a number of `n`
// digits that starts with `prefix`, is filled from `seed` and passes Luhn.
// No whole card number appears in the sources; the same seed gives the
// same number.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace coffre::test_vectors {

inline std::string LuhnNumber(std::string_view prefix, size_t n, unsigned seed) {
  std::string s(prefix);
  while (s.size() + 1 < n)
    s += static_cast<char>('0' + (seed = seed * 1103515245u + 12345u) / 65536u % 10);
  int sum = 0;  // Luhn over s followed by a check digit of 0
  for (size_t k = 0; k < s.size(); ++k) {
    int d = s[s.size() - 1 - k] - '0';
    if (k % 2 == 0) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return s + static_cast<char>('0' + (10 - sum % 10) % 10);
}

}  // namespace coffre::test_vectors
