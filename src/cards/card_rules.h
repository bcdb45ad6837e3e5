// The rules of card numbers that every front end applies, with no storage
// and no keys (docs/cards.md): Luhn, the card number and expiry formats,
// the card token, and the security-code detector of incident 1.
//
//   if (auto why = cards::FindSecurityCode(body_json)) return Reply(422, *why);
//   if (auto why = cards::FindSecurityCodeInFields(row, &collection)) reject(*why);
//   auto pan = cards::NormalizePan(" 4970 1012 3456 0001");  // digits only, Luhn checked
//   auto exp = cards::ParseExpiry("12/29");                     // {2029, 12}
//   auto token = cards::MakeToken(card_id, "0001");  // "ct_…0001", fails Luhn
//
// Security codes (CVV, CVC, cryptogram) are never accepted (PCI DSS 3.3.1,
// CNIL): FindSecurityCode refuses a JSON value when, at any depth,
//   - a key is named like one (schema/card_names.h: case-insensitively and
//     whatever its separators, a word cvv, cvv2, cvc, cvc2, cid, csc, cvn,
//     cvn2, cav2, cvd, pin or pinblock, or a spelling containing cvv, cvc,
//     cryptogram, securitycode, cardverification, verificationvalue or
//     codesecurite: "card_CVV", "cvcCode", "CID", "security-code",
//     "CardVerificationValue", "code_de_securite"...);
//   - an object carries a card number and another of its members holds a
//     lone 3- or 4-digit value (a string of just 3 or 4 digits, or an
//     integer from 100 to 9999), unless that member's key names a year, a
//     month or an expiry ("12/29", "2029" as expiry_year pass). An object
//     carries a card number when a key is named like one (a word pan,
//     cardnumber, cardno, ccnum, numerocarte...), or a member is a field of
//     type `pan`, or a string member holds 12 to 19 digits passing Luhn,
//     unless its key names another kind of number (nir, iban, phone...) or
//     it is a field whose type explains the digits (nir, iban, phone, ...):
//     a NIR passes Luhn one time in ten, and it is no card number.
// Fields are typed when the collection is known: the members of a record
// body's "fields" object (FindSecurityCodeInRecordBody), the fields of a
// row (FindSecurityCodeInFields with a collection).
// The message names the rule and, for an identifier-shaped key, the key;
// never a value (nor a key that is not an identifier: it could be one).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/value.hpp>

#include "common/status.h"
#include "schema/card_names.h"
#include "schema/schema.h"

namespace coffre::cards {

// ---------------------------------------------------------------- security codes

// True for a key named like a card security code or PIN, or like a card
// number (schema/card_names.h).
using schema::LooksLikePanName;
using schema::LooksLikeSecurityCodeName;

// What a schema field's type says of its value: a `pan` field always holds
// a card number; a nir, iban, phone, email, date, integer, boolean or enum
// never does, whatever its digits; a text, name or address may (unknown).
enum class ValueHint { kUnknown, kCardNumber, kOtherNumber };
ValueHint HintFor(const schema::FieldDef* def);  // kUnknown for null

// Why `value` must be refused (a security code, rules above), or nullopt.
std::optional<std::string> FindSecurityCode(const boost::json::value& value);
// The same over a request body; nullopt too when it is not JSON (the
// request's own validation refuses it next).
std::optional<std::string> FindSecurityCodeInBody(std::string_view body);
// The same over a record body of `collection` ({"fields": {...}, ...}, the
// records routes): the members of its top-level "fields" object are typed.
std::optional<std::string> FindSecurityCodeInRecordBody(std::string_view body,
                                                        const schema::Collection& collection);
// The same over one NDJSON row of `collection` (an object of its fields,
// typed; bulk import, for rows it cannot read as fields).
std::optional<std::string> FindSecurityCodeInRow(std::string_view row, const schema::Collection& collection);
// The same over one row of fields (Vault::Put, Update and bulk import), as
// an object holding them, typed by `collection` when given.
std::optional<std::string> FindSecurityCodeInFields(
    const std::vector<std::pair<std::string_view, schema::Input>>& fields,
    const schema::Collection* collection = nullptr);
// The same with each field's schema definition given (`defs[i]` for
// `fields[i]`, null for a name the collection does not have), as the vault
// has them at hand: known fields' names were read when the schema loaded,
// so a row costs a few comparisons per field.
std::optional<std::string> FindSecurityCodeInFields(
    const std::vector<std::pair<std::string_view, schema::Input>>& fields, const schema::FieldDef* const* defs);

// ---------------------------------------------------------------- numbers

// True when `digits` (ASCII digits only, non-empty) passes the Luhn check.
[[nodiscard]] bool PassesLuhn(std::string_view digits);

// The card number as digits only: spaces and '-' are dropped; then 12 to 19
// digits passing Luhn. kInvalidArgument naming 'pan' and the rule.
Result<std::string> NormalizePan(std::string_view text);

struct Expiry {
  int year = 0;   // 2000..2099
  int month = 0;  // 1..12
  std::string Text() const;  // "MM/YY"
  // The first second (UTC) after the card's last valid day: the first of
  // the next month, 00:00:00.
  int64_t EndUnixSeconds() const;
  // That instant `months` months later (evidence is kept that long).
  int64_t EndPlusMonthsUnixSeconds(int months) const;
};
// "MM/YY" exactly (two digits, '/', two digits; month 01..12, year 20YY).
// kInvalidArgument naming 'expiry' and the rule.
Result<Expiry> ParseExpiry(std::string_view text);

// ---------------------------------------------------------------- tokens

// A card's token (docs/cards.md, "Token"): "ct_" then 44 digits: the card
// id (16 random bytes, 128 bits) as 39 decimal digits, one check digit
// chosen so that the 44 digits FAIL Luhn, and the card's last 4 digits.
// 44 digits is no card number's length (12 to 19) and fails Luhn anyway.
inline constexpr std::string_view kTokenPrefix = "ct_";
inline constexpr size_t kTokenDigits = 44;
inline constexpr size_t kCardIdBytes = 16;

// kInvalidArgument when `card_id` is not kCardIdBytes bytes or `last4` not
// 4 digits (nothing is read past either).
Result<std::string> MakeToken(std::string_view card_id, std::string_view last4);

struct ParsedToken {
  std::string card_id;  // 16 raw bytes
  std::string last4;
};
// kInvalidArgument ("not a card token") for anything MakeToken cannot
// produce: prefix, length, digits, a number of 2^128 or more, the check digit.
Result<ParsedToken> ParseToken(std::string_view token);

}  // namespace coffre::cards
