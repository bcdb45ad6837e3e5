// Mask: one masking rule per field type (the table is in mask.h).
#include "schema/mask.h"

#include <algorithm>

#include "schema/internal/utf8.h"

namespace coffre::schema {

namespace {

using internal::IsDigit;

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return IsDigit(c); });
}

std::string MaskEmail(std::string_view v) {
  const size_t at = v.find('@');
  if (at == 0 || at == std::string_view::npos || at + 1 >= v.size())
    return std::string(kOpaqueMask);
  // Canonical emails are ASCII, so the first byte is the first character.
  std::string out;
  out.reserve(4 + v.size() - at);
  out.push_back(v[0]);
  out.append("***");
  out.append(v.substr(at));
  return out;
}

// Length of the ITU-T E.164 country code at the start of `d` (digits after
// '+'): zones 1 and 7 have one digit; in the other zones the second digit
// tells a two-digit code (33 France, 44 United Kingdom) from a three-digit
// one (262 Réunion, 352 Luxembourg).
size_t CountryCodeLength(std::string_view d) {
  if (d.size() < 2) return 0;
  const char a = d[0];
  const char b = d[1];
  auto in = [b](std::string_view set) { return set.find(b) != std::string_view::npos; };
  switch (a) {
    case '1':
    case '7':
      return 1;
    case '2':
      return in("07") ? 2 : 3;
    case '3':
      return in("0123469") ? 2 : 3;
    case '4':
      return in("2") ? 3 : 2;
    case '5':
      return in("12345678") ? 2 : 3;
    case '6':
      return in("0123456") ? 2 : 3;
    case '8':
      return in("1246") ? 2 : 3;
    case '9':
      return in("0123458") ? 2 : 3;
    default:
      return 0;  // '0' starts no country code
  }
}

std::string MaskPhone(std::string_view v) {
  // At least two digits: "+3" has no last two (found by schema_fuzz).
  if (v.size() < 3 || v[0] != '+' || !AllDigits(v.substr(1))) return std::string(kOpaqueMask);
  const std::string_view digits = v.substr(1);
  const std::string_view last_two = digits.substr(digits.size() - 2);
  if (digits.size() == 11 && digits.substr(0, 2) == "33") {
    // The digit after +33 says mobile (6, 7) or the region of a landline;
    // it is shown, as French operators print it on bills.
    std::string out = "+33 ";
    out.push_back(digits[2]);
    out.append(" ** ** ** ");
    out.append(last_two);
    return out;
  }
  const size_t cc = CountryCodeLength(digits);
  if (cc == 0 || digits.size() < cc + 4) return std::string(kOpaqueMask);
  std::string out = "+";
  out.append(digits.substr(0, cc));
  out.append(" *** ");
  out.append(last_two);
  return out;
}

std::string MaskNir(std::string_view v) {
  if (v.size() != 15 || !AllDigits(v.substr(0, 3))) return std::string(kOpaqueMask);
  std::string out;
  out.push_back(v[0]);
  out.push_back(' ');
  out.append(v.substr(1, 2));
  out.append(" ** ** *** *** **");
  return out;
}

std::string MaskIban(std::string_view v) {
  if (v.size() < 15) return std::string(kOpaqueMask);  // canonical IBANs have 15 to 34
  std::string out = "**** ";
  out.append(v.substr(v.size() - 4));
  return out;
}

std::string MaskPan(std::string_view v) {
  if (v.size() < 12 || v.size() > 19 || !AllDigits(v)) return std::string(kOpaqueMask);
  const size_t shown_head = v.size() >= 13 ? 6 : 0;
  std::string out(v.substr(0, shown_head));
  out.append(v.size() - shown_head - 4, '*');
  out.append(v.substr(v.size() - 4));
  return out;
}

std::string MaskName(std::string_view v) {
  char32_t cp;
  size_t end = internal::DecodeUtf8(v, 0, cp);
  if (end == 0 || !internal::IsLetter(cp)) return std::string(kOpaqueMask);
  // Decomposed input keeps its accent: "E" + U+0301 masks to "É.", not "E.".
  while (end < v.size()) {
    const size_t len = internal::DecodeUtf8(v, end, cp);
    if (len == 0 || !internal::IsCombiningMark(cp)) break;
    end += len;
  }
  std::string out(v.substr(0, end));
  out.push_back('.');
  return out;
}

}  // namespace

std::string Mask(const FieldDef& field, std::string_view canonical) {
  switch (field.type) {
    case FieldType::kEmail:
      return MaskEmail(canonical);
    case FieldType::kPhone:
      return MaskPhone(canonical);
    case FieldType::kNir:
      return MaskNir(canonical);
    case FieldType::kIban:
      return MaskIban(canonical);
    case FieldType::kPan:
      return MaskPan(canonical);
    case FieldType::kName:
      return MaskName(canonical);
    case FieldType::kText:
    case FieldType::kPostalAddress:
    case FieldType::kDate:
    case FieldType::kInteger:
    case FieldType::kEnum:
    case FieldType::kBoolean:
      break;
  }
  return std::string(kOpaqueMask);
}

}  // namespace coffre::schema
