// The security-code rule of incident 1 (docs/cards.md): card security codes
// (CVV, CVC, cryptogram) and PINs are never accepted (PCI DSS 3.3.1, CNIL),
// whatever the front end. One of the schema's input rules: the vault applies
// it to every row it validates (CheckRowRules), the front ends to the bodies
// and rows they read before any of their own rules.
//
//   if (auto why = schema::FindSecurityCodeInBody(body_json)) return Reply(422, *why);
//   if (auto why = schema::FindSecurityCodeInFields(row, &collection)) reject(*why);
//   COFFRE_TRY(schema::CheckRowRules(row, defs));  // kInvalidArgument, the same message
//
// FindSecurityCode refuses a JSON value when, at any depth,
//   - a key is named like one (card_names.h: case-insensitively and
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
// Thread-safety: pure functions. A row of up to 64 fields is checked
// without allocating (every imported row is).
#pragma once

#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "schema/schema.h"

namespace coffre::schema {

// What a schema field's type says of its value: a `pan` field always holds
// a card number; a nir, iban, phone, email, date, integer, boolean or enum
// never does, whatever its digits; a text, name or address may (unknown).
enum class ValueHint { kUnknown, kCardNumber, kOtherNumber };
ValueHint HintFor(const FieldDef* def);  // kUnknown for null

// Why `value` must be refused (a security code, rules above), or nullopt.
std::optional<std::string> FindSecurityCode(const boost::json::value& value);
// The same over a request body; nullopt too when it is not JSON (the
// request's own validation refuses it next).
std::optional<std::string> FindSecurityCodeInBody(std::string_view body);
// The same over a record body of `collection` ({"fields": {...}, ...}, the
// records routes): the members of its top-level "fields" object are typed.
std::optional<std::string> FindSecurityCodeInRecordBody(std::string_view body,
                                                        const Collection& collection);
// The same over one NDJSON row of `collection` (an object of its fields,
// typed; bulk import, for rows it cannot read as fields).
std::optional<std::string> FindSecurityCodeInRow(std::string_view row,
                                                 const Collection& collection);
// The same over one row of fields, as an object holding them, typed by
// `collection` when given.
std::optional<std::string> FindSecurityCodeInFields(
    const std::vector<std::pair<std::string_view, Input>>& fields,
    const Collection* collection = nullptr);
// The same with each field's schema definition given (`defs[i]` for
// `fields[i]`, null for a name the collection does not have), as the vault
// has them at hand: known fields' names were read when the schema loaded,
// so a row costs a few comparisons per field.
std::optional<std::string> FindSecurityCodeInFields(
    const std::vector<std::pair<std::string_view, Input>>& fields, const FieldDef* const* defs);

// The input rules that refuse a row as a whole, before any field's own
// type rule looks at it (today the security-code rule): kInvalidArgument
// with the rule's message, or Ok. The vault applies them to every row it
// writes (Put, Update, bulk import), knowing none of them.
[[nodiscard]] inline Status CheckRowRules(
    const std::vector<std::pair<std::string_view, Input>>& fields, const FieldDef* const* defs) {
  if (auto why = FindSecurityCodeInFields(fields, defs))
    return Fail(ErrorCode::kInvalidArgument, std::move(*why));
  return Ok();
}
[[nodiscard]] inline Status CheckRowRules(
    const std::vector<std::pair<std::string_view, Input>>& fields, const Collection& collection) {
  if (auto why = FindSecurityCodeInFields(fields, &collection)) {
    return Fail(ErrorCode::kInvalidArgument, std::move(*why));
  }
  return Ok();
}

}  // namespace coffre::schema
