// The rules of card numbers that every front end applies, with no storage
// and no keys (docs/cards.md): Luhn, the card number and expiry formats and
// the card token. The security-code detector of incident 1 is one of the
// schema's input rules (schema/security_code.h); its names are kept here for
// the front ends that call it as a card rule.
//
//   if (auto why = cards::FindSecurityCode(body_json)) return Reply(422, *why);
//   auto pan = cards::NormalizePan(" 4970 1012 3456 0001");  // digits only, Luhn checked
//   auto exp = cards::ParseExpiry("12/29");                     // {2029, 12}
//   auto token = cards::MakeToken(card_id, "0001");  // "ct_…0001", fails Luhn
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "schema/card_names.h"
#include "schema/security_code.h"

namespace coffre::cards {

// ---------------------------------------------------------------- security codes

// Incident 1's detector (schema/security_code.h, schema/card_names.h).
using schema::FindSecurityCode;
using schema::FindSecurityCodeInBody;
using schema::FindSecurityCodeInFields;
using schema::FindSecurityCodeInRecordBody;
using schema::FindSecurityCodeInRow;
using schema::HintFor;
using schema::LooksLikePanName;
using schema::LooksLikeSecurityCodeName;
using schema::ValueHint;

// ---------------------------------------------------------------- numbers

// True when `digits` (ASCII digits only, non-empty) passes the Luhn check.
[[nodiscard]] bool PassesLuhn(std::string_view digits);

// The card number as digits only: spaces and '-' are dropped; then 12 to 19
// digits passing Luhn. kInvalidArgument naming 'pan' and the rule.
Result<std::string> NormalizePan(std::string_view text);

struct Expiry {
  int year = 0;              // 2000..2099
  int month = 0;             // 1..12
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
