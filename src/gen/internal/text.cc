#include "gen/internal/text.h"

#include <cstddef>
#include <cstring>

namespace coffre::gen::internal {

void AppendDecimal(std::string& out, uint64_t value, int width) {
  char buf[24];  // 2^64 - 1 has 20 digits; width is capped to what fits
  char* const end = buf + sizeof buf;
  char* p = end;
  do {
    *--p = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  const int pad_to = width < static_cast<int>(sizeof buf) ? width : static_cast<int>(sizeof buf);
  while (end - p < pad_to) *--p = '0';
  out.append(p, static_cast<size_t>(end - p));  // one append: the padding costs no extra call
}

namespace {

bool NeedsJsonEscape(unsigned char c) { return c == '"' || c == '\\' || c < 0x20; }

// Index of the first byte needing an escape, or s.size(). Almost no generated
// text needs one, so the scan tests eight bytes per step (SWAR: exact for
// "some byte is < 0x20 / equals c", only the position needs the byte loop).
size_t FirstJsonEscape(std::string_view s) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHighs = 0x8080808080808080ULL;
  auto has_zero = [](uint64_t v) { return (v - kOnes) & ~v & kHighs; };
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    const uint64_t below_space = (w - kOnes * 0x20) & ~w & kHighs;
    if ((below_space | has_zero(w ^ (kOnes * '"')) | has_zero(w ^ (kOnes * '\\'))) != 0) break;
  }
  for (; i < s.size(); ++i) {
    if (NeedsJsonEscape(static_cast<unsigned char>(s[i]))) return i;
  }
  return s.size();
}

// ASCII spelling of U+00C0..U+00FF, the Latin-1 letters French names use.
// Empty for the two symbols in that block (multiplication and division signs).
constexpr std::string_view kLatin1Folded[64] = {
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i",  "i",
    "d", "n", "o", "o", "o", "o", "o",  "",  "o", "u", "u", "u", "u", "y", "th", "ss",
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i",  "i",
    "d", "n", "o", "o", "o", "o", "o",  "",  "o", "u", "u", "u", "u", "y", "th", "y",
};

}  // namespace

void AppendJsonEscaped(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  const size_t first = FirstJsonEscape(s);
  if (first == s.size()) {
    out.append(s);
    return;
  }
  size_t run_start = 0;
  for (size_t i = first; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (!NeedsJsonEscape(c)) continue;
    out.append(s.data() + run_start, i - run_start);
    run_start = i + 1;
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      case '\b':
        out.append("\\b");
        break;
      case '\f':
        out.append("\\f");
        break;
      default:
        out.append("\\u00");
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xF]);
    }
  }
  out.append(s.data() + run_start, s.size() - run_start);
}

void AppendEmailFolded(std::string& out, std::string_view name) {
  for (size_t i = 0; i < name.size(); ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    if (c < 0x80) {
      if (c >= 'a' && c <= 'z') {
        out.push_back(static_cast<char>(c));
      } else if (c >= 'A' && c <= 'Z') {
        out.push_back(static_cast<char>(c - 'A' + 'a'));
      } else if (c == '-') {
        out.push_back('-');
      }
      continue;
    }
    const unsigned char next = i + 1 < name.size() ? static_cast<unsigned char>(name[i + 1]) : 0;
    if (c == 0xC3 && next >= 0x80 && next <= 0xBF) {
      out.append(kLatin1Folded[next - 0x80]);
      ++i;
    } else if (c == 0xC5 && (next == 0x92 || next == 0x93)) {  // Œ, œ
      out.append("oe");
      ++i;
    } else {
      // Any other code point (typographic apostrophe, ...) is dropped whole:
      // skip its continuation bytes so no stray byte reaches the address.
      while (i + 1 < name.size() && (static_cast<unsigned char>(name[i + 1]) & 0xC0) == 0x80) ++i;
    }
  }
}

}  // namespace coffre::gen::internal
