#include "gen/internal/text.h"

#include <gtest/gtest.h>

#include <string>

namespace coffre::gen::internal {
namespace {

std::string Folded(std::string_view name) {
  std::string out;
  AppendEmailFolded(out, name);
  return out;
}

std::string Escaped(std::string_view s) {
  std::string out;
  AppendJsonEscaped(out, s);
  return out;
}

TEST(AppendDecimalTest, PadsToWidthAndNeverTruncates) {
  std::string out;
  AppendDecimal(out, 7, 2);
  AppendDecimal(out, 0);
  AppendDecimal(out, 12345, 3);
  AppendDecimal(out, UINT64_MAX);
  EXPECT_EQ(out,
            "07012345"
            "18446744073709551615");
}

TEST(AppendEmailFoldedTest, DropsAccentsApostrophesAndSpaces) {
  EXPECT_EQ(Folded("Hélène"), "helene");
  EXPECT_EQ(Folded("François"), "francois");
  EXPECT_EQ(Folded("Loïc"), "loic");
  EXPECT_EQ(Folded("Jérôme"), "jerome");
  EXPECT_EQ(Folded("Émilie"), "emilie");
  EXPECT_EQ(Folded("N'Diaye"), "ndiaye");
  EXPECT_EQ(Folded("N\u2019Diaye"), "ndiaye");  // typographic apostrophe
  EXPECT_EQ(Folded("Da Silva"), "dasilva");
  EXPECT_EQ(Folded("Jean-Pierre"), "jean-pierre");
  EXPECT_EQ(Folded("Lætitia"), "laetitia");
  EXPECT_EQ(Folded("Œillet"), "oeillet");
}

TEST(AppendJsonEscapedTest, EscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(Escaped("Zoé d'Arc"), "Zoé d'Arc");  // UTF-8 and ' pass through
  EXPECT_EQ(Escaped("a\"b\\c"), "a\\\"b\\\\c");
  EXPECT_EQ(Escaped("\n\t\r\b\f"), "\\n\\t\\r\\b\\f");
  EXPECT_EQ(Escaped(std::string_view("\x01\x1f\0", 3)), "\\u0001\\u001f\\u0000");
  EXPECT_EQ(Escaped(""), "");
}

// Long inputs take the eight-bytes-at-a-time scan: an escape anywhere in a
// word, or in the tail after the last full word, must still be found.
TEST(AppendJsonEscapedTest, FindsEscapesAtEveryPositionOfLongInputs) {
  const std::string base = "Hélène Lefèvre, 12 rue de l'Église";
  EXPECT_EQ(Escaped(base), base);
  for (size_t pos = 0; pos < base.size(); ++pos) {
    for (char special : {'"', '\\', '\n', '\x1f'}) {
      std::string input = base;
      input.insert(pos, 1, special);
      std::string expected = base;
      switch (special) {
        case '"':
          expected.insert(pos, "\\\"");
          break;
        case '\\':
          expected.insert(pos, "\\\\");
          break;
        case '\n':
          expected.insert(pos, "\\n");
          break;
        default:
          expected.insert(pos, "\\u001f");
      }
      EXPECT_EQ(Escaped(input), expected) << "position " << pos;
    }
  }
}

}  // namespace
}  // namespace coffre::gen::internal
