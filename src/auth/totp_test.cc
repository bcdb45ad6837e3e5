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
  auto qr = QrText(OtpauthUri("alice", kRfcSecret), QrStyle::kDarkOnLight);
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
  // Coloured by default: black on white, whatever the terminal.
  auto ansi = QrText(OtpauthUri("alice", kRfcSecret));
  ASSERT_TRUE(ansi);
  EXPECT_EQ(ansi->substr(0, 9), "\x1b[30;107m");
  EXPECT_EQ(ansi->substr(ansi->size() - 5), "\x1b[0m\n");
}

// The three styles draw the same symbol: light-on-dark is the exact
// negative of dark-on-light (before the last, half-drawn line), and the
// ANSI style is dark-on-light inside its colour codes.
TEST(Totp, QrStylesAreNegativesOfEachOther) {
  const std::string uri = OtpauthUri("alice", kRfcSecret);
  auto ansi = QrText(uri, QrStyle::kAnsi);
  auto light = QrText(uri, QrStyle::kDarkOnLight);
  auto dark = QrText(uri, QrStyle::kLightOnDark);
  ASSERT_TRUE(ansi && light && dark);
  // The quiet zone is light: blank on a light field, ink on a dark one.
  EXPECT_EQ(light->substr(0, 1), " ");
  EXPECT_EQ(dark->substr(0, 3), "\u2588");
  std::string stripped;
  for (size_t i = 0; i < ansi->size();) {
    if (ansi->compare(i, 1, "\x1b") == 0) {
      i = ansi->find('m', i) + 1;
    } else {
      stripped += (*ansi)[i++];
    }
  }
  EXPECT_EQ(stripped, *light);
  auto negative = [](std::string_view cell) -> std::string {
    if (cell == " ") return "\u2588";
    if (cell == "\u2588") return " ";
    if (cell == "\u2580") return "\u2584";
    return "\u2580";
  };
  const std::string_view l(*light), d(*dark);
  const size_t last_line = l.rfind('\n', l.size() - 2) + 1;
  size_t i = 0, j = 0;
  while (i < last_line) {
    if (l[i] == '\n') {
      ASSERT_EQ(d[j], '\n');
      ++i, ++j;
      continue;
    }
    const size_t li = l[i] == ' ' ? 1 : 3, dj = d[j] == ' ' ? 1 : 3;
    EXPECT_EQ(negative(l.substr(i, li)), std::string(d.substr(j, dj))) << i;
    i += li, j += dj;
  }
}

TEST(Totp, IssuerIsValidatedAndEncoded) {
  EXPECT_TRUE(ValidateIssuer("coffre"));
  EXPECT_TRUE(ValidateIssuer("ACME Vault (prod)"));
  for (std::string_view bad : {"", "a:b", "tab\there", "\xc3\xa9t\xc3\xa9"}) {
    EXPECT_FALSE(ValidateIssuer(bad)) << bad;
  }
  EXPECT_EQ(ValidateIssuer(std::string(65, 'x')).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(OtpauthUri("alice", kRfcSecret, "A&B Co"),
            "otpauth://totp/A%26B%20Co:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
            "&issuer=A%26B%20Co&algorithm=SHA1&digits=6&period=30");
}

}  // namespace
}  // namespace coffre::auth::totp
