// Identifiers with a structure or a check digit: date, nir, iban, pan.
#include <cstdint>

#include "schema/internal/utf8.h"
#include "schema/internal/validators.h"

namespace coffre::schema::internal {

namespace {

bool AllDigits(const char* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (!IsDigit(p[i])) return false;
  }
  return true;
}

int TwoDigits(const char* p) { return (p[0] - '0') * 10 + (p[1] - '0'); }

bool IsLeapYear(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return (m == 2 && IsLeapYear(y)) ? 29 : kDays[m - 1];
}

struct IbanCountry {
  char code[3];
  uint8_t length;
};

// SWIFT IBAN registry lengths, sorted by country code for binary search.
constexpr IbanCountry kIbanCountries[] = {
    {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16}, {"BG", 22},
    {"BH", 22}, {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22}, {"CY", 28}, {"CZ", 24}, {"DE", 22},
    {"DK", 18}, {"DO", 28}, {"EE", 20}, {"EG", 29}, {"ES", 24}, {"FI", 18}, {"FO", 18}, {"FR", 27},
    {"GB", 22}, {"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27}, {"GT", 28}, {"HR", 21}, {"HU", 28},
    {"IE", 22}, {"IL", 23}, {"IQ", 23}, {"IS", 26}, {"IT", 27}, {"JO", 30}, {"KW", 30}, {"KZ", 20},
    {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20}, {"LU", 20}, {"LV", 21}, {"MC", 27}, {"MD", 24},
    {"ME", 22}, {"MK", 19}, {"MR", 27}, {"MT", 31}, {"MU", 30}, {"NL", 18}, {"NO", 15}, {"PK", 24},
    {"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22}, {"SA", 24}, {"SC", 31},
    {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27}, {"ST", 25}, {"SV", 28}, {"TL", 23}, {"TN", 24},
    {"TR", 26}, {"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20},
};

int IbanLength(char a, char b) {
  size_t lo = 0;
  size_t hi = sizeof(kIbanCountries) / sizeof(kIbanCountries[0]);
  while (lo < hi) {
    const size_t mid = (lo + hi) / 2;
    const IbanCountry& c = kIbanCountries[mid];
    if (c.code[0] == a && c.code[1] == b) return c.length;
    if (c.code[0] < a || (c.code[0] == a && c.code[1] < b)) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return 0;
}

}  // namespace

Rule NormalizeDate(std::string_view in, std::string& out) {
  in = TrimAscii(in);
  if (in.empty()) return kEmpty;
  const char* p = in.data();
  if (in.size() != 10 || p[4] != '-' || p[7] != '-' || !AllDigits(p, 4) || !AllDigits(p + 5, 2) ||
      !AllDigits(p + 8, 2)) {
    return "must be a date YYYY-MM-DD";
  }
  const int year = TwoDigits(p) * 100 + TwoDigits(p + 2);
  const int month = TwoDigits(p + 5);
  const int day = TwoDigits(p + 8);
  if (year < 1800 || year > 2200) return "year must be between 1800 and 2200";
  if (month < 1 || month > 12) return "month must be 01 to 12";
  if (day < 1 || day > DaysInMonth(year, month)) return "day does not exist in that month";
  out.append(in);
  return nullptr;
}

// NIR layout: S YY MM DD CCC OOO KK (sex, birth year and month, department,
// commune, order number, key). Key = 97 - (first 13 digits mod 97), with
// Corsica's 2A and 2B read as 19 and 18.
Rule NormalizeNir(std::string_view in, std::string& out) {
  char nir[15];
  size_t n = 0;
  for (char c : TrimAscii(in)) {
    if (c == ' ') continue;
    if (n == sizeof(nir)) return "must have 15 characters";
    nir[n++] = AsciiUpper(c);
  }
  if (n == 0) return kEmpty;
  if (n != sizeof(nir)) return "must have 15 characters";
  switch (nir[0]) {
    case '1':
    case '2':
    case '3':
    case '4':
    case '7':
    case '8':
      break;
    default:
      return "sex digit must be 1, 2, 3, 4, 7 or 8";
  }
  if (!AllDigits(nir + 1, 2)) return "birth year must be 2 digits";
  if (!AllDigits(nir + 3, 2)) return "birth month must be 01-12, 20-42 or 50-99";
  const int month = TwoDigits(nir + 3);
  if (!((month >= 1 && month <= 12) || (month >= 20 && month <= 42) || month >= 50))
    return "birth month must be 01-12, 20-42 or 50-99";
  const bool corsica = nir[5] == '2' && (nir[6] == 'A' || nir[6] == 'B');
  if (!corsica && !AllDigits(nir + 5, 2)) return "department must be 2 digits, 2A or 2B";
  if (!AllDigits(nir + 7, 3)) return "commune must be 3 digits";
  if (!AllDigits(nir + 10, 3)) return "order number must be 3 digits";
  if (!AllDigits(nir + 13, 2)) return "control key must be 2 digits";

  uint64_t number = 0;
  for (size_t i = 0; i < 13; ++i) {
    if (corsica && i == 5) {
      number = number * 100 + (nir[6] == 'A' ? 19 : 18);
      ++i;
      continue;
    }
    number = number * 10 + static_cast<uint64_t>(nir[i] - '0');
  }
  const int key = 97 - static_cast<int>(number % 97);
  if (key != TwoDigits(nir + 13)) return "control key does not match";
  out.append(nir, sizeof(nir));
  return nullptr;
}

// ISO 13616: move the first four characters to the end, read letters as
// 10..35, and the resulting number mod 97 must be 1.
Rule NormalizeIban(std::string_view in, std::string& out) {
  constexpr Rule kLength = "must have 15 to 34 characters";
  char iban[34];
  size_t n = 0;
  for (char c : TrimAscii(in)) {
    if (c == ' ') continue;
    c = AsciiUpper(c);
    if (!IsDigit(c) && !(c >= 'A' && c <= 'Z'))
      return "may only contain letters, digits and spaces";
    if (n == sizeof(iban)) return kLength;
    iban[n++] = c;
  }
  if (n == 0) return kEmpty;
  if (n < 15) return kLength;
  if (IsDigit(iban[0]) || IsDigit(iban[1])) return "must start with a 2-letter country code";
  if (!AllDigits(iban + 2, 2)) return "check digits must be 2 digits";
  const int expected = IbanLength(iban[0], iban[1]);
  if (expected == 0) return "country code is not an IBAN country";
  if (static_cast<int>(n) != expected) return "has the wrong length for its country";
  // Reduce only when the accumulator nears 2^64, not at every digit.
  uint64_t acc = 0;
  const auto feed = [&acc](char c) {
    if (acc >= 100'000'000'000'000'000) acc %= 97;
    acc = IsDigit(c) ? acc * 10 + static_cast<uint64_t>(c - '0')
                     : acc * 100 + static_cast<uint64_t>(c - 'A' + 10);
  };
  for (size_t k = 4; k < n; ++k) feed(iban[k]);
  for (size_t k = 0; k < 4; ++k) feed(iban[k]);
  if (acc % 97 != 1) return "check digits do not match";
  out.append(iban, n);
  return nullptr;
}

Rule NormalizePan(std::string_view in, std::string& out) {
  constexpr Rule kLength = "must have 12 to 19 digits";
  char pan[19];
  size_t n = 0;
  for (char c : TrimAscii(in)) {
    if (c == ' ' || c == '-') continue;
    if (!IsDigit(c)) return "may only contain digits, spaces and '-'";
    if (n == sizeof(pan)) return kLength;
    pan[n++] = c;
  }
  if (n == 0) return kEmpty;
  if (n < 12) return kLength;
  // Luhn: double every second digit from the right.
  int sum = 0;
  for (size_t k = 0; k < n; ++k) {
    int d = pan[n - 1 - k] - '0';
    if (k % 2 == 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  if (sum % 10 != 0) return "fails the Luhn check";
  out.append(pan, n);
  return nullptr;
}

}  // namespace coffre::schema::internal
