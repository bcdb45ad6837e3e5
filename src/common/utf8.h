// UTF-8 decoding, the one decoder every module uses (schema's validators and
// masks, auth's password and attribute rules).
//
//   char32_t cp;
//   for (size_t i = 0; i < s.size();) {
//     const size_t len = DecodeUtf8(s, i, cp);
//     if (len == 0) return kBadUtf8;
//     i += len;
//   }
//
// Well-formed means RFC 3629: overlong forms, surrogates and values above
// U+10FFFF are refused. No locale, no ICU. Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

namespace coffre {

// Decodes one code point starting at s[i] (i < s.size()) into `cp`. Returns
// its length in bytes (1..4), or 0 when the sequence there is not
// well-formed UTF-8 (then `cp` is unspecified).
size_t DecodeUtf8(std::string_view s, size_t i, char32_t& cp);

// The code points of `text`, or nullopt when it is not well-formed UTF-8.
std::optional<std::vector<char32_t>> DecodeUtf8(std::string_view text);

// Unicode general category Cc: C0 controls, DEL and C1 controls.
inline bool IsControl(char32_t cp) { return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F); }

}  // namespace coffre
