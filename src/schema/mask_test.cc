// Masking per type. Values are fiction: ARCEP's and Ofcom's drama phone
// ranges, the NIR of the INSEE layout example, the IBAN registry's and card
// networks' published test numbers (as in validators_test.cc).
#include "schema/mask.h"

#include <gtest/gtest.h>

#include <string>

#include "schema/schema.h"
#include "tests/vectors/public_vectors.h"

namespace coffre::schema {
namespace {

FieldDef Field(FieldType type) {
  FieldDef f;
  f.name = "f";
  f.type = type;
  if (type == FieldType::kEnum) f.enum_values = {"F", "M"};
  return f;
}

std::string M(FieldType type, std::string_view canonical) { return Mask(Field(type), canonical); }

// Masks what Normalize produced, so the tests go through the real canonical form.
std::string MaskOfInput(FieldType type, std::string_view input) {
  auto canonical = Normalize(Field(type), Input::String(input));
  EXPECT_TRUE(canonical) << FieldTypeName(type);
  return canonical ? Mask(Field(type), *canonical) : std::string("<invalid>");
}

TEST(Mask, Email) {
  EXPECT_EQ(M(FieldType::kEmail, "jean.dupont@example.fr"), "j***@example.fr");
  EXPECT_EQ(MaskOfInput(FieldType::kEmail, " Jean.Dupont@Example.FR "), "j***@example.fr");
  // Fixed width: the length of the local part does not show.
  EXPECT_EQ(M(FieldType::kEmail, "a@example.org"), "a***@example.org");
  EXPECT_EQ(M(FieldType::kEmail, "averyveryverylongname@example.org"), "a***@example.org");
}

TEST(Mask, FrenchPhone) {
  EXPECT_EQ(M(FieldType::kPhone, "+33639980001"), "+33 6 ** ** ** 01");
  EXPECT_EQ(MaskOfInput(FieldType::kPhone, "01 99 00 12 34"), "+33 1 ** ** ** 34");
  EXPECT_EQ(MaskOfInput(FieldType::kPhone, "06.39.98.00.42"), "+33 6 ** ** ** 42");
}

TEST(Mask, OtherPhonesKeepCountryCodeAndLastTwoDigits) {
  EXPECT_EQ(M(FieldType::kPhone, "+442079460001"), "+44 *** 01");  // Ofcom drama range
  EXPECT_EQ(M(FieldType::kPhone, "+12025550123"), "+1 *** 23");    // NANP 555-01xx
  EXPECT_EQ(M(FieldType::kPhone, "+79001234567"), "+7 *** 67");
  EXPECT_EQ(M(FieldType::kPhone, "+262262001122"), "+262 *** 22");  // Réunion
  EXPECT_EQ(M(FieldType::kPhone, "+352621000011"), "+352 *** 11");  // Luxembourg
  EXPECT_EQ(M(FieldType::kPhone, "+4212345678"), "+421 *** 78");    // Slovakia, not 42
  EXPECT_EQ(M(FieldType::kPhone, "+4930123456"), "+49 *** 56");
  // Fixed width: a longer number masks to the same shape.
  EXPECT_EQ(M(FieldType::kPhone, "+49301234567890"), "+49 *** 90");
}

TEST(Mask, NirShowsOnlySexAndBirthYear) {
  EXPECT_EQ(M(FieldType::kNir, "184127645108946"), "1 84 ** ** *** *** **");
  EXPECT_EQ(MaskOfInput(FieldType::kNir, "2 84 12 2A 004 019 77"), "2 84 ** ** *** *** **");
  EXPECT_EQ(MaskOfInput(FieldType::kNir, "1 55 05 99 123 456 22"), "1 55 ** ** *** *** **");
}

TEST(Mask, IbanShowsLastFour) {
  EXPECT_EQ(M(FieldType::kIban, test_vectors::kFrenchIban), "**** 0189");
  EXPECT_EQ(MaskOfInput(FieldType::kIban, "GB82 WEST 1234 5698 7654 32"), "**** 5432");
  EXPECT_EQ(MaskOfInput(FieldType::kIban, "BE68 5390 0754 7034"), "**** 7034");
}

TEST(Mask, PanShowsAtMostFirstSixAndLastFour) {
  EXPECT_EQ(M(FieldType::kPan, "4970101234560001"), "497010******0001");
  EXPECT_EQ(MaskOfInput(FieldType::kPan, "4111 1111 1111 1111"), "411111******1111");
  EXPECT_EQ(MaskOfInput(FieldType::kPan, "3782 822463 10005"), "378282*****0005");  // 15 digits
  EXPECT_EQ(M(FieldType::kPan, "6011000990139424123"), "601100*********4123");      // 19 digits
  EXPECT_EQ(M(FieldType::kPan, "4000000000006"), "400000***0006");                  // 13 digits
  EXPECT_EQ(M(FieldType::kPan, "123456789012"), "********9012");  // 12: last four only
}

TEST(Mask, NameShowsFirstLetter) {
  EXPECT_EQ(M(FieldType::kName, "Jean-Pierre"), "J.");
  EXPECT_EQ(M(FieldType::kName, "Émilie"), "É.");
  EXPECT_EQ(M(FieldType::kName, "E\xCC\x81milie"), "E\xCC\x81.");  // decomposed É
  EXPECT_EQ(MaskOfInput(FieldType::kName, "  Da   Silva "), "D.");
  EXPECT_EQ(M(FieldType::kName, "Zoë"), M(FieldType::kName, "Zacharie-Alexandre"));
}

TEST(Mask, OtherTypesAreOpaque) {
  EXPECT_EQ(M(FieldType::kText, "anything at all"), "***");
  EXPECT_EQ(M(FieldType::kPostalAddress, "12 rue des Lilas, 69003 Lyon"), "***");
  EXPECT_EQ(M(FieldType::kDate, "1984-12-01"), "***");
  EXPECT_EQ(M(FieldType::kInteger, "42"), "***");
  EXPECT_EQ(M(FieldType::kEnum, "F"), "***");
  EXPECT_EQ(M(FieldType::kBoolean, "true"), "***");
}

// A value that is not canonical never leaks through a fallback.
TEST(Mask, MalformedValuesMaskToOpaque) {
  for (int t = 0; t <= static_cast<int>(FieldType::kPan); ++t) {
    const auto type = static_cast<FieldType>(t);
    EXPECT_EQ(M(type, ""), "***") << FieldTypeName(type);
  }
  EXPECT_EQ(M(FieldType::kEmail, "no-at-sign"), "***");
  EXPECT_EQ(M(FieldType::kEmail, "@example.fr"), "***");
  EXPECT_EQ(M(FieldType::kEmail, "jean@"), "***");
  EXPECT_EQ(M(FieldType::kPhone, "0639980001"), "***");
  EXPECT_EQ(M(FieldType::kPhone, "+33"), "***");
  EXPECT_EQ(M(FieldType::kPhone, "+3"), "***");  // threw out_of_range (schema_fuzz)
  EXPECT_EQ(M(FieldType::kPhone, "+"), "***");
  EXPECT_EQ(M(FieldType::kPhone, "+0123456789"), "***");
  EXPECT_EQ(M(FieldType::kPhone, "+4412"), "***");
  EXPECT_EQ(M(FieldType::kNir, "18412764510894"), "***");
  EXPECT_EQ(M(FieldType::kIban, "FR76"), "***");
  EXPECT_EQ(M(FieldType::kPan, "41111111111"), "***");
  EXPECT_EQ(M(FieldType::kPan, "4111-1111-1111-1111"), "***");
  EXPECT_EQ(M(FieldType::kName, "\xFF\xFE"), "***");
  EXPECT_EQ(M(FieldType::kName, "-Jean"), "***");
}

// The masked form never contains the hidden digits of the canonical value.
TEST(Mask, HiddenPartsNeverAppear) {
  const std::string nir = "184127645108946";
  const std::string masked = M(FieldType::kNir, nir);
  EXPECT_EQ(masked.find("1276"), std::string::npos);
  EXPECT_EQ(masked.find("46", 5), std::string::npos);
  const std::string iban = M(FieldType::kIban, test_vectors::kFrenchIban);
  EXPECT_EQ(iban.find("FR76"), std::string::npos);
  EXPECT_EQ(iban.find("3000"), std::string::npos);
}

}  // namespace
}  // namespace coffre::schema
