#include "common/bytes.h"

#include <gtest/gtest.h>

#include "common/clock.h"

namespace coffre {
namespace {

TEST(Hex, RoundTrip) {
  std::string raw("\x00\x01\xab\xff", 4);
  EXPECT_EQ(ToHex(raw), "0001abff");
  auto back = FromHex("0001ABff");
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, raw);
}

TEST(Hex, RejectsBadInput) {
  EXPECT_FALSE(FromHex("abc"));
  EXPECT_FALSE(FromHex("zz"));
  EXPECT_FALSE(ParseId("00", "record id"));
  auto err = ParseId(std::string(32, 'g'), "record id");
  ASSERT_FALSE(err);
  EXPECT_NE(err.error().message.find("record id"), std::string::npos);
}

TEST(Varint, RoundTripAndTruncation) {
  std::string buf;
  AppendLengthPrefixed(buf, "hello");
  AppendVarint(buf, 300);
  std::string_view in(buf);
  std::string_view s;
  ASSERT_TRUE(ReadLengthPrefixed(in, s));
  EXPECT_EQ(s, "hello");
  uint64_t v = 0;
  ASSERT_TRUE(ReadVarint(in, v));
  EXPECT_EQ(v, 300u);
  EXPECT_TRUE(in.empty());
  std::string_view truncated("\x05hi");
  EXPECT_FALSE(ReadLengthPrefixed(truncated, s));
}

TEST(BigEndian, RoundTrip) {
  std::string buf;
  AppendBigEndian64(buf, 0x0102030405060708ULL);
  AppendBigEndian32(buf, 0xa0b0c0d0U);
  EXPECT_EQ(ReadBigEndian64(buf), 0x0102030405060708ULL);
  EXPECT_EQ(ReadBigEndian32(std::string_view(buf).substr(8)), 0xa0b0c0d0U);
}

}  // namespace
}  // namespace coffre

namespace coffre {
namespace {

TEST(JsonEscaped, QuotesBackslashesAndControlCharactersOnly) {
  std::string out = "x";
  AppendJsonEscaped(out, std::string_view("a\"b\\c\n\x01\x1f\x7f\xc3\xa9", 11));
  EXPECT_EQ(out, "xa\\\"b\\\\c\\u000a\\u0001\\u001f\x7f\xc3\xa9");
}

}  // namespace
}  // namespace coffre
