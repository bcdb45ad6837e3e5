#include "cards/card_rules.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "crypto/crypto.h"
#include "tests/vectors/card_numbers.h"

namespace coffre::cards {
namespace {

using test_vectors::LuhnNumber;

namespace json = boost::json;

std::optional<std::string> Find(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  EXPECT_FALSE(ec) << text;
  return FindSecurityCode(v);
}

std::string Body(std::string_view inner) {
  return "{\"pan\":\"" + LuhnNumber("49", 16, 7) + "\",\"expiry\":\"12/29\"" + std::string(inner) +
         "}";
}

TEST(Luhn, KnownAnswers) {
  EXPECT_TRUE(PassesLuhn("79927398713"));  // the Luhn algorithm's textbook example
  EXPECT_FALSE(PassesLuhn("79927398710"));
  EXPECT_FALSE(PassesLuhn(""));
  EXPECT_FALSE(PassesLuhn("12a4"));
  for (unsigned seed = 0; seed < 50; ++seed) EXPECT_TRUE(PassesLuhn(LuhnNumber("5", 16, seed)));
}

TEST(Pan, NormalisesAndNamesTheRuleNotTheValue) {
  std::string pan = LuhnNumber("4970", 16, 3);
  std::string spaced = pan.substr(0, 4) + " " + pan.substr(4, 4) + "-" + pan.substr(8);
  auto n = NormalizePan(spaced);
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, pan);
  std::string wrong = pan;
  wrong.back() = static_cast<char>('0' + (wrong.back() - '0' + 1) % 10);
  for (const std::string& bad : {wrong, pan.substr(0, 11), pan + "12345",
                                 std::string("4970x") + pan.substr(5), std::string()}) {
    auto r = NormalizePan(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find("'pan'"), std::string::npos) << r.error().message;
    if (bad.size() >= 4)
      EXPECT_EQ(r.error().message.find(bad.substr(bad.size() - 4)), std::string::npos);
  }
  EXPECT_TRUE(NormalizePan(LuhnNumber("1", 12, 1)));
  EXPECT_TRUE(NormalizePan(LuhnNumber("6", 19, 1)));
}

TEST(Expiry, FormatMonthAndEnd) {
  auto e = ParseExpiry("12/29");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->year, 2029);
  EXPECT_EQ(e->month, 12);
  EXPECT_EQ(e->Text(), "12/29");
  EXPECT_EQ(e->EndUnixSeconds(), 1893456000);              // 2030-01-01T00:00:00Z
  EXPECT_EQ(e->EndPlusMonthsUnixSeconds(13), 1927670400);  // 2031-02-01T00:00:00Z
  auto feb = ParseExpiry("02/28");
  ASSERT_TRUE(feb);
  EXPECT_EQ(feb->EndUnixSeconds(), 1835481600);  // 2028-03-01T00:00:00Z
  for (std::string_view bad :
       {"13/29", "00/29", "1/29", "12-29", "12/2029", "ab/cd", "", "12/29 "}) {
    auto r = ParseExpiry(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("'expiry'"), std::string::npos);
  }
}

TEST(Token, NeverPassesLuhnKeepsLastFourAndRoundTrips) {
  ASSERT_TRUE(crypto::Init());
  for (int i = 0; i < 20000; ++i) {
    std::string id = crypto::RandomString(kCardIdBytes);
    std::string last4 = LuhnNumber("4", 16, static_cast<unsigned>(i)).substr(12);
    std::string t = *MakeToken(id, last4);
    ASSERT_EQ(t.size(), kTokenPrefix.size() + kTokenDigits);
    ASSERT_EQ(t.substr(0, 3), "ct_");
    std::string digits = t.substr(3);
    ASSERT_FALSE(PassesLuhn(digits)) << i;
    ASSERT_EQ(digits.substr(digits.size() - 4), last4);
    auto back = ParseToken(t);
    ASSERT_TRUE(back) << back.error().message;
    ASSERT_EQ(back->card_id, id);
    ASSERT_EQ(back->last4, last4);
  }
  // Extremes of the id.
  for (std::string id : {std::string(16, '\0'), std::string(16, '\xff')}) {
    auto back = ParseToken(*MakeToken(id, "0000"));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->card_id, id);
  }
}

TEST(Token, RefusesWhatMakeTokenCannotProduce) {
  std::string t = *MakeToken(crypto::RandomString(kCardIdBytes), "1234");
  std::string flipped = t;
  flipped[10] =
      static_cast<char>('0' + (flipped[10] - '0' + 1) % 10);  // the check digit catches it
  std::string other_last4 =
      t.substr(0, t.size() - 1) + static_cast<char>('0' + (t.back() - '0' + 1) % 10);
  for (const std::string& bad :
       {flipped, other_last4, t.substr(1), "ct_" + std::string(44, '9'), t + "0",
        "CT_" + t.substr(3), std::string("ct_") + std::string(43, '1') + "x"}) {
    auto r = ParseToken(bad);
    EXPECT_FALSE(r) << bad;
  }
}

// An id of another length (a store key, say) is refused, not read past.
TEST(Token, MakeTokenRefusesAnIdOrLastFourOfTheWrongShape) {
  ASSERT_TRUE(crypto::Init());
  for (size_t n : {size_t{0}, size_t{15}, size_t{17}, size_t{64}}) {
    auto t = MakeToken(std::string(n, '\x7f'), "1234");
    ASSERT_FALSE(t) << n;
    EXPECT_EQ(t.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(t.error().message.find("16 bytes"), std::string::npos) << t.error().message;
  }
  for (std::string_view last4 : {"123", "12345", "12a4", ""}) {
    EXPECT_FALSE(MakeToken(crypto::RandomString(kCardIdBytes), last4)) << last4;
  }
  EXPECT_TRUE(MakeToken(crypto::RandomString(kCardIdBytes), "0000"));
}

TEST(SecurityCode, EveryNameAtAnyDepthAnyCase) {
  for (std::string name : {"cvv",
                           "cvv2",
                           "cvc",
                           "cvc2",
                           "cid",
                           "csc",
                           "cvn",
                           "cvd",
                           "cryptogram",
                           "cryptogramme",
                           "card_verification",
                           "card_verification_value",
                           "security_code",
                           "securityCode",
                           "SECURITY-CODE",
                           "Card Security Code",
                           "code_securite",
                           "pin",
                           "CVV",
                           "Cvc2",
                           "card_cvv",
                           "cardCvv",
                           "CVVcode",
                           "cvv_number",
                           "Cryptogramme_visuel",
                           "CID",
                           "ccv",
                           "CCV",
                           "card_ccv",
                           "cv2",
                           "CV2",
                           "card_cv2",
                           "card_code",
                           "cardCode",
                           "CardCode",
                           "cardcode",
                           "card_verification",
                           "cardVerification"}) {
    for (std::string_view shape :
         {"{\"%\":\"123\"}", "{\"card\":{\"%\":\"123\"}}", "{\"a\":[{\"b\":{\"%\":1}}]}",
          "[{\"x\":{\"%\":null}}]", "{\"fields\":{\"%\":\"\"}}"}) {
      std::string text(shape);
      text.replace(text.find('%'), 1, name);
      auto why = Find(text);
      ASSERT_TRUE(why) << text;
      EXPECT_EQ(why->find("123"), std::string::npos) << *why;
    }
    EXPECT_TRUE(LooksLikeSecurityCodeName(name)) << name;
  }
}

TEST(SecurityCode, LoneDigitsBesideAPan) {
  for (std::string_view inner :
       {",\"code\":\"123\"", ",\"code\":\"0123\"", ",\"x\":737", ",\"x\":9999",
        ",\"note\":\" 042 \"",
        // Any ASCII whitespace around the digits, not just spaces.
        ",\"note\":\"123\\t\"", ",\"note\":\"123\\n\"", ",\"note\":\"\\r\\n0123\\r\\n\"",
        ",\"note\":\"\\t 123\\f\"", ",\"note\":\"\\u000b123\""}) {
    auto why = Find(Body(inner));
    ASSERT_TRUE(why) << inner;
    EXPECT_NE(why->find("lone 3- or 4-digit"), std::string::npos) << *why;
    EXPECT_EQ(why->find("123"), std::string::npos);
  }
  // Nested: the object that carries the pan is inside another.
  EXPECT_TRUE(Find("{\"order\":{\"card\":" + Body(",\"v\":\"321\"") + "}}"));
  // A card number under another key still counts as carrying one.
  EXPECT_TRUE(Find("{\"number\":\"" + LuhnNumber("53", 16, 2) + "\",\"v\":\"321\"}"));
  EXPECT_TRUE(Find("{\"card_number\":\"x\",\"v\":456}"));
  // A key that is not an identifier is not echoed.
  auto why = Find(Body(",\"my 123 code\":\"123\""));
  ASSERT_TRUE(why);
  EXPECT_EQ(why->find("my 123"), std::string::npos) << *why;
}

TEST(SecurityCode, NoFalsePositives) {
  EXPECT_FALSE(Find(Body("")));
  EXPECT_FALSE(Find(Body(",\"holder\":\"Jeanne Martin\",\"save\":true")));
  EXPECT_FALSE(Find(Body(",\"expiry_year\":2029,\"expiry_month\":12,\"exp\":\"1229\"")));
  EXPECT_FALSE(Find(Body(",\"subject\":\"0123456789abcdef0123456789abcdef\",\"n\":12")));
  // No pan: digits are just digits.
  EXPECT_FALSE(Find(
      "{\"fields\":{\"first_name\":\"Ana\",\"postal_address\":\"123 rue X\",\"agency\":\"A042\","
      "\"code\":\"123\",\"phone\":\"0639980001\",\"birth_date\":\"1984-12-01\"}}"));
  EXPECT_FALSE(Find("{\"field\":\"email\",\"value\":\"a@b.fr\",\"limit\":100}"));
  EXPECT_FALSE(Find("{\"name\":\"alice\",\"password\":\"Kq7!aaaaaaaa\",\"totp\":\"123456\"}"));
  EXPECT_FALSE(Find("[1,2,3,\"123\"]"));
  for (std::string name :
       {"pinned", "spinach", "incident", "description", "decide", "capacity", "cidre", "cardholder",
        "card_type", "postcode", "cv", "cv_file", "accurate"}) {
    EXPECT_FALSE(LooksLikeSecurityCodeName(name)) << name;
  }
  EXPECT_FALSE(FindSecurityCodeInBody("not json {\"cvv\""));
}

TEST(SecurityCode, RowsOfFields) {
  std::string pan = LuhnNumber("4", 16, 9);
  using In = schema::Input;
  std::vector<std::pair<std::string_view, In>> row = {{"holder", In::String("A")},
                                                      {"pan", In::String(pan)}};
  EXPECT_FALSE(FindSecurityCodeInFields(row));
  row.emplace_back("note", In::String("123"));
  EXPECT_TRUE(FindSecurityCodeInFields(row));
  row.back() = {"Card_CVC", In::Null()};
  EXPECT_TRUE(FindSecurityCodeInFields(row));
  row.back() = {"amount", In::Integer(42)};
  EXPECT_FALSE(FindSecurityCodeInFields(row));
  row.back() = {"note", In::String("123\t")};
  EXPECT_TRUE(FindSecurityCodeInFields(row));
  row.back() = {"note", In::String("12 3")};
  EXPECT_FALSE(FindSecurityCodeInFields(row));
}

// Key names are read by words and squashed the same way whatever their
// length (a long key takes another path in schema/card_names.cc).
TEST(SecurityCode, LongKeysAreReadLikeShortOnes) {
  std::string filler(200, 'a');
  EXPECT_TRUE(LooksLikeSecurityCodeName(filler + "_cvv"));
  EXPECT_TRUE(LooksLikeSecurityCodeName(filler + "SecurityCode"));
  EXPECT_TRUE(LooksLikePanName(filler + "_pan"));
  EXPECT_FALSE(LooksLikeSecurityCodeName(filler + "_pinned"));
  EXPECT_TRUE(schema::ClassifyKey(filler + "_expiry_year").date);
  EXPECT_TRUE(schema::ClassifyKey("customerPhone").other_number);
  EXPECT_TRUE(schema::ClassifyKey("NIR").other_number);
  EXPECT_FALSE(schema::ClassifyKey("reference").other_number);
}

schema::Schema Typed() {
  auto s = schema::Schema::Parse(R"(version = 1
[collections.wallets]
fields = [
  { name = "number", type = "pan" },
  { name = "social", type = "nir" },
  { name = "note",   type = "text" },
  { name = "code",   type = "text" },
  { name = "count",  type = "integer" },
]
)");
  EXPECT_TRUE(s) << s.error().message;
  return *s;
}

// A long number explained by its type (or by its key) is no card number;
// a field of type pan is one whatever its name.
TEST(SecurityCode, TypedFieldsSayWhatTheirDigitsAre) {
  schema::Schema schema = Typed();
  const schema::Collection& wallets = *schema.Find("wallets");
  using In = schema::Input;
  using Row = std::vector<std::pair<std::string_view, In>>;
  const std::string luhn15 = LuhnNumber("1", 15, 4);  // NIR-shaped, passes Luhn
  // Untyped, a Luhn-passing number beside 3 digits is refused...
  EXPECT_TRUE(
      FindSecurityCodeInFields(Row{{"social", In::String(luhn15)}, {"code", In::String("042")}}));
  // ... typed nir, or under a key naming a NIR or a phone, it is not.
  EXPECT_FALSE(FindSecurityCodeInFields(
      Row{{"social", In::String(luhn15)}, {"code", In::String("042")}}, &wallets));
  EXPECT_FALSE(
      FindSecurityCodeInFields(Row{{"nir", In::String(luhn15)}, {"code", In::String("042")}}));
  EXPECT_FALSE(Find("{\"phone_number\":\"" + luhn15 + "\",\"code\":\"042\"}"));
  // A pan field carries a card number even when empty or oddly named.
  EXPECT_TRUE(
      FindSecurityCodeInFields(Row{{"number", In::Null()}, {"count", In::Integer(123)}}, &wallets));
  EXPECT_FALSE(
      FindSecurityCodeInFields(Row{{"number", In::Null()}, {"count", In::Integer(12)}}, &wallets));
  // A free-text field holding a card number still counts.
  EXPECT_TRUE(FindSecurityCodeInFields(
      Row{{"note", In::String(LuhnNumber("4", 16, 5))}, {"code", In::String("042")}}, &wallets));

  // Record bodies: the members of "fields" are typed, the rest is not.
  auto record = [&](std::string fields) { return "{\"fields\":" + fields + ",\"subject\":null}"; };
  EXPECT_FALSE(FindSecurityCodeInRecordBody(
      record("{\"social\":\"" + luhn15 + "\",\"code\":\"042\"}"), wallets));
  EXPECT_TRUE(FindSecurityCodeInBody(record("{\"social\":\"" + luhn15 + "\",\"code\":\"042\"}")));
  EXPECT_TRUE(FindSecurityCodeInRecordBody(record("{\"number\":\"x\",\"code\":\"042\"}"), wallets));
  EXPECT_TRUE(FindSecurityCodeInRecordBody(record("{\"note\":{\"CVC\":1}}"), wallets));
  EXPECT_TRUE(FindSecurityCodeInRecordBody("{\"fields\":{},\"cvv\":\"1\"}", wallets));
  EXPECT_FALSE(FindSecurityCodeInRecordBody("{not json", wallets));
  // NDJSON rows: the top-level members are the fields.
  EXPECT_FALSE(FindSecurityCodeInRow("{\"social\":\"" + luhn15 + "\",\"code\":\"042\"}", wallets));
  EXPECT_TRUE(FindSecurityCodeInRow("{\"number\":\"x\",\"code\":\"0421\"}", wallets));
  EXPECT_TRUE(FindSecurityCodeInRow("{\"note\":[{\"cvv2\":\"1\"}]}", wallets));
}

// A schema cannot declare a field that this detector would refuse.
TEST(SecurityCode, SchemaRefusesTheSameNames) {
  for (std::string name :
       {"cvv", "card_cvc", "cid", "csc", "pin_code", "cryptogramme_visuel", "code_securite", "ccv",
        "cv2", "card_code", "cardcode", "card_verification"}) {
    auto s = schema::Schema::Parse("version = 1\n[collections.c]\nfields = [ { name = \"" + name +
                                   "\", type = \"text\" } ]\n");
    EXPECT_FALSE(s) << name;
    EXPECT_TRUE(LooksLikeSecurityCodeName(name)) << name;
  }
}

}  // namespace
}  // namespace coffre::cards
