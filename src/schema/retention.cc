// Retention periods (schema.h, docs/retention.md): parsing and UTC calendar
// arithmetic. Civil-date conversions follow Howard Hinnant's public-domain
// days_from_civil / civil_from_days algorithms.
#include <algorithm>
#include <string>

#include "common/time_text.h"
#include "schema/schema.h"

namespace coffre::schema {
namespace {

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int64_t>(yoe) + era * 400 + (m <= 2);
}

unsigned DaysInMonth(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

// Floor division, so times before 1970 land on the right day.
int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

}  // namespace

std::optional<Duration> ParseDuration(std::string_view text) {
  if (text.size() < 2 || text.size() > 6) return std::nullopt;
  Duration d;
  switch (text.back()) {
    case 'd':
      d.unit = Duration::Unit::kDays;
      break;
    case 'w':
      d.unit = Duration::Unit::kWeeks;
      break;
    case 'm':
      d.unit = Duration::Unit::kMonths;
      break;
    case 'y':
      d.unit = Duration::Unit::kYears;
      break;
    default:
      return std::nullopt;
  }
  uint32_t n = 0;
  for (char c : text.substr(0, text.size() - 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<uint32_t>(c - '0');
  }
  if (n == 0 || text[0] == '0') return std::nullopt;
  uint32_t max = d.unit == Duration::Unit::kDays     ? 36525
                 : d.unit == Duration::Unit::kWeeks  ? 5218
                 : d.unit == Duration::Unit::kMonths ? 1200
                                                     : 100;
  if (n > max) return std::nullopt;
  d.count = n;
  return d;
}

std::string FormatDuration(const Duration& d) {
  const char unit = d.unit == Duration::Unit::kDays     ? 'd'
                    : d.unit == Duration::Unit::kWeeks  ? 'w'
                    : d.unit == Duration::Unit::kMonths ? 'm'
                                                        : 'y';
  return std::to_string(d.count) + unit;
}

int64_t AddDuration(int64_t t, const Duration& d) {
  constexpr int64_t kDay = 86400;
  if (d.unit == Duration::Unit::kDays) return t + static_cast<int64_t>(d.count) * kDay;
  if (d.unit == Duration::Unit::kWeeks) return t + static_cast<int64_t>(d.count) * 7 * kDay;
  const int64_t days = FloorDiv(t, kDay);
  const int64_t secs = t - days * kDay;
  int64_t y;
  unsigned m, day;
  CivilFromDays(days, y, m, day);
  int64_t months = static_cast<int64_t>(d.count) * (d.unit == Duration::Unit::kYears ? 12 : 1);
  int64_t total = y * 12 + (m - 1) + months;
  int64_t ny = FloorDiv(total, 12);
  unsigned nm = static_cast<unsigned>(total - ny * 12) + 1;
  unsigned nd = std::min(day, DaysInMonth(ny, nm));
  return DaysFromCivil(ny, nm, nd) * kDay + secs;
}

std::optional<int64_t> DateToUnixSeconds(std::string_view t) {
  // A stored date field is a plain date: the project's one time parser
  // (common/time_text.h) reads it as the start of its UTC day.
  if (t.size() != 10) return std::nullopt;
  auto ms = ParseTime(t, TimeBound::kFrom, "date");
  if (!ms) return std::nullopt;
  return *ms / 1000;  // a whole day: no remainder
}

std::string_view CategoryName(RetentionRule::Category c) {
  switch (c) {
    case RetentionRule::Category::kProspect:
      return "prospect";
    case RetentionRule::Category::kClient:
      return "client";
    case RetentionRule::Category::kNone:
      break;
  }
  return "";
}

}  // namespace coffre::schema
