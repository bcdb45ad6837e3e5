// Scalar types given as strings (CSV): integer and boolean.
#include <cstdint>

#include "schema/internal/utf8.h"
#include "schema/internal/validators.h"

namespace coffre::schema::internal {

void AppendDecimal(int64_t v, std::string& out) {
  char buf[20];
  size_t n = 0;
  // Through uint64_t so that INT64_MIN does not overflow on negation.
  uint64_t u = v < 0 ? uint64_t{0} - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  do {
    buf[n++] = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u != 0);
  if (v < 0) out.push_back('-');
  while (n > 0) out.push_back(buf[--n]);
}

Rule NormalizeIntegerString(std::string_view in, std::string& out) {
  in = TrimAscii(in);
  if (in.empty()) return kEmpty;
  const bool negative = in.front() == '-';
  if (negative) in.remove_prefix(1);
  constexpr Rule kSyntax = "must be an integer (digits with an optional leading '-')";
  if (in.empty()) return kSyntax;
  const uint64_t limit = negative ? uint64_t{1} << 63 : (uint64_t{1} << 63) - 1;
  uint64_t u = 0;
  for (char c : in) {
    if (!IsDigit(c)) return kSyntax;
    const auto d = static_cast<uint64_t>(c - '0');
    if (u > (limit - d) / 10) return "is out of the 64-bit integer range";
    u = u * 10 + d;
  }
  const int64_t v = negative ? static_cast<int64_t>(uint64_t{0} - u) : static_cast<int64_t>(u);
  AppendDecimal(v, out);
  return nullptr;
}

Rule NormalizeBooleanString(std::string_view in, std::string& out) {
  in = TrimAscii(in);
  if (in.empty()) return kEmpty;
  const auto equals_ci = [&](std::string_view word) {
    if (in.size() != word.size()) return false;
    for (size_t i = 0; i < in.size(); ++i) {
      if (AsciiLower(in[i]) != word[i]) return false;
    }
    return true;
  };
  if (equals_ci("true") || in == "1") {
    out.append("true");
  } else if (equals_ci("false") || in == "0") {
    out.append("false");
  } else {
    return "must be true, false, 1 or 0";
  }
  return nullptr;
}

}  // namespace coffre::schema::internal
