#include "common/utf8.h"

#include <gtest/gtest.h>

#include <string>

namespace coffre {
namespace {

TEST(Utf8, DecodesOneCodePointAtATime) {
  const std::string s = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";  // a é € 😀
  char32_t cp = 0;
  EXPECT_EQ(DecodeUtf8(s, 0, cp), 1u);
  EXPECT_EQ(cp, U'a');
  EXPECT_EQ(DecodeUtf8(s, 1, cp), 2u);
  EXPECT_EQ(cp, U'\u00e9');
  EXPECT_EQ(DecodeUtf8(s, 3, cp), 3u);
  EXPECT_EQ(cp, U'\u20ac');
  EXPECT_EQ(DecodeUtf8(s, 6, cp), 4u);
  EXPECT_EQ(cp, U'\U0001F600');
}

TEST(Utf8, RefusesWhatRfc3629Forbids) {
  for (std::string_view bad : {std::string_view("\xc0\xaf"),          // overlong '/'
                               std::string_view("\xe0\x80\xaf"),      // overlong, 3 bytes
                               std::string_view("\xed\xa0\x80"),      // surrogate
                               std::string_view("\xf4\x90\x80\x80"),  // above U+10FFFF
                               std::string_view("\xf5\x80\x80\x80"),  // lead F5
                               std::string_view("\xe2\x82"),          // truncated
                               std::string_view("\xc3(", 2),          // bad continuation
                               std::string_view("\x80")}) {           // lone continuation
    char32_t cp = 0;
    EXPECT_EQ(DecodeUtf8(bad, 0, cp), 0u) << "case of " << bad.size() << " bytes";
    EXPECT_FALSE(DecodeUtf8(bad).has_value());
  }
}

TEST(Utf8, DecodesAWholeText) {
  auto ok = DecodeUtf8("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, (std::vector<char32_t>{U'a', U'\u00e9', U'\u20ac', U'\U0001F600'}));
  ASSERT_TRUE(DecodeUtf8(""));
  EXPECT_TRUE(DecodeUtf8("")->empty());
  EXPECT_FALSE(DecodeUtf8("ok\xe2\x82"));  // valid start, truncated end
}

TEST(Utf8, ControlsAreC0DelAndC1) {
  EXPECT_TRUE(IsControl(U'\x00'));
  EXPECT_TRUE(IsControl(U'\x1f'));
  EXPECT_TRUE(IsControl(U'\x7f'));
  EXPECT_TRUE(IsControl(U'\x85'));
  EXPECT_TRUE(IsControl(U'\x9f'));
  EXPECT_FALSE(IsControl(U' '));
  EXPECT_FALSE(IsControl(U'\xa0'));
  EXPECT_FALSE(IsControl(U'\u00e9'));
}

}  // namespace
}  // namespace coffre
