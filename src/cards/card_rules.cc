#include "cards/card_rules.h"

#include <algorithm>
#include <array>
#include <optional>

namespace coffre::cards {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

bool PassesLuhn(std::string_view digits) {
  if (digits.empty()) return false;
  int sum = 0;
  for (size_t k = 0; k < digits.size(); ++k) {
    char c = digits[digits.size() - 1 - k];
    if (!IsDigit(c)) return false;
    int d = c - '0';
    if (k % 2 == 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 == 0;
}

Result<std::string> NormalizePan(std::string_view text) {
  std::string digits;
  for (char c : text) {
    if (c == ' ' || c == '-') continue;
    if (!IsDigit(c))
      return Fail(ErrorCode::kInvalidArgument, "'pan' may only contain digits, spaces and '-'");
    if (digits.size() == 19)
      return Fail(ErrorCode::kInvalidArgument, "'pan' must have 12 to 19 digits");
    digits += c;
  }
  if (digits.size() < 12)
    return Fail(ErrorCode::kInvalidArgument, "'pan' must have 12 to 19 digits");
  if (!PassesLuhn(digits)) return Fail(ErrorCode::kInvalidArgument, "'pan' fails the Luhn check");
  return digits;
}

std::string Expiry::Text() const {
  std::string s(5, '/');
  s[0] = static_cast<char>('0' + month / 10);
  s[1] = static_cast<char>('0' + month % 10);
  s[3] = static_cast<char>('0' + (year % 100) / 10);
  s[4] = static_cast<char>('0' + year % 10);
  return s;
}

namespace {
// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

int64_t MonthStart(int64_t year, int64_t month0) {  // month0 may exceed 11
  year += month0 / 12;
  month0 %= 12;
  return DaysFromCivil(year, static_cast<unsigned>(month0 + 1), 1) * 86400;
}
}  // namespace

int64_t Expiry::EndUnixSeconds() const { return MonthStart(year, month); }

int64_t Expiry::EndPlusMonthsUnixSeconds(int months) const {
  return MonthStart(year, month + months);
}

Result<Expiry> ParseExpiry(std::string_view text) {
  if (text.size() != 5 || text[2] != '/' || !IsDigit(text[0]) || !IsDigit(text[1]) ||
      !IsDigit(text[3]) || !IsDigit(text[4])) {
    return Fail(ErrorCode::kInvalidArgument,
                "'expiry' must read MM/YY (two digits, '/', two digits)");
  }
  Expiry e;
  e.month = (text[0] - '0') * 10 + (text[1] - '0');
  e.year = 2000 + (text[3] - '0') * 10 + (text[4] - '0');
  if (e.month < 1 || e.month > 12)
    return Fail(ErrorCode::kInvalidArgument, "'expiry': the month must be 01 to 12");
  return e;
}

// ---------------------------------------------------------------- tokens

namespace {

constexpr size_t kIdDigits = 39;  // 2^128 - 1 has 39 decimal digits

// The 16 big-endian bytes as 39 decimal digits, zero-padded; nullopt when
// `id` is not 16 bytes (a store key of another length, say).
std::optional<std::string> IdToDecimal(std::string_view id) {
  if (id.size() != kCardIdBytes) return std::nullopt;
  std::array<unsigned char, kCardIdBytes> n{};
  std::copy(id.begin(), id.end(), n.begin());
  std::string digits(kIdDigits, '0');
  for (size_t pos = kIdDigits; pos-- > 0;) {
    unsigned rem = 0;
    for (unsigned char& b : n) {
      unsigned cur = (rem << 8) | b;
      b = static_cast<unsigned char>(cur / 10);
      rem = cur % 10;
    }
    digits[pos] = static_cast<char>('0' + rem);
  }
  return digits;
}

// Back; nullopt when the number is 2^128 or more.
std::optional<std::string> DecimalToId(std::string_view digits) {
  std::array<unsigned char, kCardIdBytes> n{};
  for (char c : digits) {
    unsigned carry = static_cast<unsigned>(c - '0');
    for (size_t i = kCardIdBytes; i-- > 0;) {
      unsigned cur = n[i] * 10u + carry;
      n[i] = static_cast<unsigned char>(cur & 0xff);
      carry = cur >> 8;
    }
    if (carry != 0) return std::nullopt;
  }
  return std::string(reinterpret_cast<const char*>(n.data()), n.size());
}

// The digit at position 40 for `id_digits` and `last4`: the one that would
// make the 44 digits pass Luhn, plus 5 (mod 10), so that they fail it. The
// position is not doubled by Luhn (fifth from the right), so any other
// digit changes the sum by a non-multiple of 10.
char CheckDigit(std::string_view id_digits, std::string_view last4) {
  std::string all(id_digits);
  all += '0';
  all += last4;
  for (char c = '0'; c <= '9'; ++c) {
    all[kIdDigits] = c;
    if (PassesLuhn(all)) return static_cast<char>('0' + (c - '0' + 5) % 10);
  }
  return '0';  // unreachable: one digit always completes a Luhn sum
}

}  // namespace

Result<std::string> MakeToken(std::string_view card_id, std::string_view last4) {
  auto decimal = IdToDecimal(card_id);
  if (!decimal) return Fail(ErrorCode::kInvalidArgument, "a card id is 16 bytes");
  if (last4.size() != 4 || !std::all_of(last4.begin(), last4.end(), IsDigit)) {
    return Fail(ErrorCode::kInvalidArgument, "a card's last 4 are 4 digits");
  }
  const std::string& id_digits = *decimal;
  std::string t(kTokenPrefix);
  t += id_digits;
  t += CheckDigit(id_digits, last4);
  t += last4;
  return t;
}

Result<ParsedToken> ParseToken(std::string_view token) {
  auto bad = [] {
    return Fail(ErrorCode::kInvalidArgument, "not a card token (ct_ and 44 digits)");
  };
  if (token.size() != kTokenPrefix.size() + kTokenDigits ||
      token.substr(0, kTokenPrefix.size()) != kTokenPrefix) {
    return bad();
  }
  std::string_view digits = token.substr(kTokenPrefix.size());
  if (!std::all_of(digits.begin(), digits.end(), IsDigit)) return bad();
  std::string_view id_digits = digits.substr(0, kIdDigits);
  std::string_view last4 = digits.substr(kIdDigits + 1);
  if (digits[kIdDigits] != CheckDigit(id_digits, last4)) return bad();
  auto id = DecimalToId(id_digits);
  if (!id) return bad();
  return ParsedToken{std::move(*id), std::string(last4)};
}

}  // namespace coffre::cards
