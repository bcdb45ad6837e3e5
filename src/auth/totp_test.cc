#include "auth/totp.h"

#include <gtest/gtest.h>

namespace coffre::auth::totp {
namespace {

constexpr std::string_view kRfcSecret = "12345678901234567890";

// RFC 6238 Appendix B, SHA-1 column.
struct Vector {
  int64_t time;
  const char* code;
};
constexpr Vector kVectors[] = {
    {59, "94287082"},         {1111111109, "07081804"}, {1111111111, "14050471"},
    {1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000, "65353130"},
};

TEST(Totp, Rfc6238Sha1VectorsEightDigits) {
  for (const auto& v : kVectors) {
    auto code = Generate(kRfcSecret, v.time, 8);
    ASSERT_TRUE(code) << code.error().ToString();
    EXPECT_EQ(*code, v.code) << "T=" << v.time;
  }
}

TEST(Totp, Rfc6238Sha1VectorsSixDigits) {
  for (const auto& v : kVectors) {
    auto code = Generate(kRfcSecret, v.time);
    ASSERT_TRUE(code);
    EXPECT_EQ(*code, std::string(v.code).substr(2)) << "T=" << v.time;
  }
}

TEST(Totp, RefusesUnsupportedDigitCounts) {
  EXPECT_FALSE(Generate(kRfcSecret, 59, 5));
  EXPECT_FALSE(Generate(kRfcSecret, 59, 9));
}

TEST(Totp, VerifyAcceptsOneStepOfDriftEitherSide) {
  const int64_t t = 1111111111;  // step 37037037
  ASSERT_EQ(StepAt(t), 37037037);
  EXPECT_EQ(Verify(kRfcSecret, "050471", t, -1), 37037037);
  EXPECT_EQ(Verify(kRfcSecret, "050471", t + 30, -1), 37037037);
  EXPECT_EQ(Verify(kRfcSecret, "050471", t - 30, -1), 37037037);
  EXPECT_EQ(Verify(kRfcSecret, "050471", t + 60, -1), std::nullopt);
  EXPECT_EQ(Verify(kRfcSecret, "050471", t - 60, -1), std::nullopt);
}

TEST(Totp, VerifyRefusesReplayOfAnAcceptedStep) {
  const int64_t t = 1111111111;
  auto step = Verify(kRfcSecret, "050471", t, -1);
  ASSERT_TRUE(step);
  EXPECT_EQ(Verify(kRfcSecret, "050471", t, *step), std::nullopt);
  EXPECT_EQ(Verify(kRfcSecret, "050471", t + 10, *step), std::nullopt);
  // An earlier step than the last accepted one is refused too.
  auto previous = Generate(kRfcSecret, t - 30);
  ASSERT_TRUE(previous);
  EXPECT_EQ(Verify(kRfcSecret, *previous, t, *step), std::nullopt);
  // The next step's code is fine.
  auto next = Generate(kRfcSecret, t + 30);
  ASSERT_TRUE(next);
  EXPECT_EQ(Verify(kRfcSecret, *next, t + 30, *step), *step + 1);
}

TEST(Totp, VerifyRefusesMalformedCodes) {
  const int64_t t = 1111111111;
  EXPECT_EQ(Verify(kRfcSecret, "", t, -1), std::nullopt);
  EXPECT_EQ(Verify(kRfcSecret, "05047", t, -1), std::nullopt);
  EXPECT_EQ(Verify(kRfcSecret, "0504711", t, -1), std::nullopt);
  EXPECT_EQ(Verify(kRfcSecret, "05047a", t, -1), std::nullopt);
  EXPECT_EQ(Verify(kRfcSecret, "14050471", t, -1), std::nullopt);  // 8 digits
  EXPECT_EQ(Verify("another secret 12345", "050471", t, -1), std::nullopt);
}

// RFC 4648 section 10, without padding.
TEST(Base32, Rfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},
      {"f", "MY"},
      {"fo", "MZXQ"},
      {"foo", "MZXW6"},
      {"foob", "MZXW6YQ"},
      {"fooba", "MZXW6YTB"},
      {"foobar", "MZXW6YTBOI"},
  };
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(Base32Encode(plain), encoded);
    auto decoded = Base32Decode(encoded);
    ASSERT_TRUE(decoded) << encoded;
    EXPECT_EQ(*decoded, plain);
  }
  auto padded = Base32Decode("MZXW6YQ=");
  ASSERT_TRUE(padded);
  EXPECT_EQ(*padded, "foob");
  auto lower = Base32Decode("mzxw6ytboi");
  ASSERT_TRUE(lower);
  EXPECT_EQ(*lower, "foobar");
}

TEST(Base32, RefusesBadInput) {
  EXPECT_FALSE(Base32Decode("MZXW1"));  // '1' is not in the alphabet
  EXPECT_FALSE(Base32Decode("M"));      // no whole byte
  EXPECT_FALSE(Base32Decode("MZX"));    // 3 mod 8
  EXPECT_FALSE(Base32Decode("MZ"));     // fine length...
  EXPECT_TRUE(Base32Decode("MY"));      // ...but only with zero spare bits
  EXPECT_FALSE(Base32Decode("MZ=X"));
}

TEST(Totp, OtpauthUriHasTheDocumentedShape) {
  EXPECT_EQ(OtpauthUri("alice", kRfcSecret),
            "otpauth://totp/coffre:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
            "&issuer=coffre&algorithm=SHA1&digits=6&period=30");
}

TEST(Totp, QrTextIsASquareOfHalfBlocks) {
  auto qr = QrText(OtpauthUri("alice", kRfcSecret));
  ASSERT_TRUE(qr) << qr.error().ToString();
  // Count lines and the columns of the first line (each cell is one code point).
  size_t lines = 0, first_columns = 0, columns = 0;
  for (size_t i = 0; i < qr->size(); ++i) {
    const auto c = static_cast<unsigned char>((*qr)[i]);
    if (c == '\n') {
      if (lines == 0) first_columns = columns;
      EXPECT_EQ(columns, first_columns) << "line " << lines;
      ++lines;
      columns = 0;
    } else if ((c & 0xc0) != 0x80) {
      ++columns;
    }
  }
  // Symbol width 21 + 4k, plus a 2-module quiet zone each side; two rows a line.
  ASSERT_GE(first_columns, 25u);
  EXPECT_EQ((first_columns - 25) % 4, 0u);
  EXPECT_EQ(lines, (first_columns + 1) / 2);
  // The quiet zone is light, hence inked: the first line is full blocks.
  EXPECT_EQ(qr->substr(0, 3), "\u2588");
}

}  // namespace
}  // namespace coffre::auth::totp
