// The character classes the validators need, over the one UTF-8 decoder
// (common/utf8.h).
//
// Internal to the schema module. No locale, no ICU: the classes are fixed
// tables so that normalisation gives the same bytes on every machine (blind
// indexes depend on it).
#pragma once

#include <cstddef>
#include <string_view>

#include "common/utf8.h"

namespace coffre::schema::internal {

using coffre::DecodeUtf8;
using coffre::IsControl;

// Whitespace that name and postal-address normalisation collapse into one
// ASCII space: ASCII blanks and line breaks, and the no-break spaces that
// French typography and copy-paste from office documents put in values.
inline bool IsCollapsibleSpace(char32_t cp) {
  return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == 0xA0 || cp == 0x2007 ||
         cp == 0x202F;
}

// Letters of the scripts people's names are written in (Latin with all its
// extensions, Greek, Cyrillic, Armenian, Georgian, Hebrew, Arabic, Indic
// scripts, kana, CJK, Hangul). A fixed range table, not full Unicode
// property data: it errs towards accepting.
bool IsLetter(char32_t cp);

// Combining diacritical marks: accepted after a letter so that decomposed
// input ("e" + U+0301) is not refused. coffre does not apply NFC itself.
bool IsCombiningMark(char32_t cp);

inline bool IsAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }

inline char AsciiLower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

inline char AsciiUpper(char c) {
  return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

// Strips ASCII whitespace from both ends.
inline std::string_view TrimAscii(std::string_view s) {
  size_t b = 0;
  size_t e = s.size();
  while (b < e && IsAsciiSpace(s[b])) ++b;
  while (e > b && IsAsciiSpace(s[e - 1])) --e;
  return s.substr(b, e - b);
}

}  // namespace coffre::schema::internal
