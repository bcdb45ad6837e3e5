#include "schema/internal/utf8.h"

#include <algorithm>
#include <iterator>

namespace coffre::schema::internal {

namespace {

struct Range {
  char32_t first;
  char32_t last;
};

// Sorted, non-overlapping. Symbols inside these blocks (e.g. U+00D7 '×')
// are carved out where they are common enough to matter.
constexpr Range
    kLetters[] =
        {
            {0x0041, 0x005A},   {0x0061, 0x007A}, {0x00AA, 0x00AA},
            {0x00B5, 0x00B5},   {0x00BA, 0x00BA}, {0x00C0, 0x00D6},
            {0x00D8, 0x00F6},   {0x00F8, 0x02AF},  // Latin-1 letters, Latin Extended-A/B, IPA
            {0x02B0, 0x02C1},  // modifier letters (ʼ U+02BC is used as an apostrophe)
            {0x0370, 0x0373},   {0x0376, 0x0377}, {0x037B, 0x037D},
            {0x037F, 0x037F},   {0x0386, 0x0386}, {0x0388, 0x03F5},
            {0x03F7, 0x0481},                                        // Greek, Cyrillic
            {0x048A, 0x052F},   {0x0531, 0x0556}, {0x0560, 0x0588},  // Cyrillic, Armenian
            {0x05D0, 0x05EA},   {0x05EF, 0x05F2},                    // Hebrew
            {0x0620, 0x064A},   {0x066E, 0x066F}, {0x0671, 0x06D3},  // Arabic
            {0x06D5, 0x06D5},   {0x06FA, 0x06FC}, {0x0750, 0x077F},
            {0x0900, 0x0DFF},                      // Indic scripts (their vowel signs included)
            {0x0E01, 0x0E3A},   {0x0E40, 0x0E4E},  // Thai
            {0x10A0, 0x10FF},                      // Georgian
            {0x1E00, 0x1FFF},  // Latin Extended Additional (Vietnamese), Greek Extended
            {0x3041, 0x3096},   {0x309D, 0x309F}, {0x30A1, 0x30FA},
            {0x30FC, 0x30FF},   {0x3400, 0x4DBF}, {0x4E00, 0x9FFF},  // CJK
            {0xAC00, 0xD7A3},                                        // Hangul syllables
            {0x20000, 0x2FA1F},                                      // CJK extensions
};

constexpr Range kMarks[] = {
    {0x0300, 0x036F}, {0x0483, 0x0489}, {0x0591, 0x05BD}, {0x064B, 0x065F}, {0x1AB0, 0x1AFF},
    {0x1DC0, 0x1DFF}, {0x20D0, 0x20FF}, {0x3099, 0x309A}, {0xFE20, 0xFE2F},
};

template <size_t N>
bool InRanges(const Range (&ranges)[N], char32_t cp) {
  auto it = std::upper_bound(std::begin(ranges), std::end(ranges), cp,
                             [](char32_t v, const Range& r) { return v < r.first; });
  return it != std::begin(ranges) && cp <= std::prev(it)->last;
}

}  // namespace

bool IsLetter(char32_t cp) {
  if (cp < 0x80) return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
  return InRanges(kLetters, cp);
}

bool IsCombiningMark(char32_t cp) { return cp >= 0x300 && InRanges(kMarks, cp); }

}  // namespace coffre::schema::internal
