#include "common/time_text.h"

#include "common/clock.h"

namespace coffre {
namespace {

constexpr int64_t kDayMs = 86'400'000;

bool IsLeapYear(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(int y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeapYear(y) ? 29 : kDays[m - 1];
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
// public-domain algorithm).
int64_t DaysFromCivil(int y, int m, int d) {
  const int yy = y - (m <= 2);
  const int era = (yy >= 0 ? yy : yy - 399) / 400;
  const auto yoe = static_cast<unsigned>(yy - era * 400);
  const auto doy = static_cast<unsigned>((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1);
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return static_cast<int64_t>(era) * 146097 + static_cast<int64_t>(doe) - 719468;
}

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

class Reader {
 public:
  explicit Reader(std::string_view t) : t_(t) {}
  // Exactly n digits at the cursor.
  bool Digits(size_t n, int& out) {
    if (pos_ + n > t_.size()) return false;
    int v = 0;
    for (size_t i = pos_; i < pos_ + n; ++i) {
      if (t_[i] < '0' || t_[i] > '9') return false;
      v = v * 10 + (t_[i] - '0');
    }
    out = v;
    pos_ += n;
    return true;
  }
  bool Char(char c) {
    if (pos_ < t_.size() && t_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool CharOf(char a, char b) { return Char(a) || Char(b); }
  bool AtEnd() const { return pos_ == t_.size(); }
  bool AtDigit() const { return pos_ < t_.size() && t_[pos_] >= '0' && t_[pos_] <= '9'; }
  char Peek() const { return pos_ < t_.size() ? t_[pos_] : '\0'; }

 private:
  std::string_view t_;
  size_t pos_ = 0;
};

std::string Two(int v) {
  return std::string(1, static_cast<char>('0' + v / 10)) + static_cast<char>('0' + v % 10);
}

}  // namespace

Result<int64_t> ParseTime(std::string_view text, TimeBound bound, std::string_view what) {
  const std::string name(what);
  auto fail = [&](const std::string& problem) {
    return Fail(ErrorCode::kInvalidArgument, name + ": " + problem);
  };
  auto shape = [&] {
    return fail(
        bound == TimeBound::kInstant
            ? "not an RFC 3339 time (like 2026-12-01T10:00:00+01:00 or 2026-12-01T09:00:00Z)"
            : "not an RFC 3339 time or a date (like 2026-12-01T10:00:00+01:00, "
              "2026-12-01T09:00:00Z "
              "or 2026-12-01)");
  };
  Reader r(text);
  int y = 0, mo = 0, d = 0;
  if (!r.Digits(4, y) || !r.Char('-') || !r.Digits(2, mo) || !r.Char('-') || !r.Digits(2, d))
    return shape();
  if (mo < 1 || mo > 12) return fail("month " + Two(mo) + " does not exist (01 to 12)");
  if (d < 1 || d > DaysInMonth(y, mo)) {
    return fail(std::to_string(y) + "-" + Two(mo) + " has no day " + Two(d) + " (it has " +
                std::to_string(DaysInMonth(y, mo)) + ")");
  }
  const int64_t day_ms = DaysFromCivil(y, mo, d) * kDayMs;
  if (r.AtEnd()) {
    // A plain date: a UTC day.
    switch (bound) {
      case TimeBound::kInstant:
        return fail("a date alone is not a point in time: give a time and an offset");
      case TimeBound::kFrom:
        return day_ms;
      case TimeBound::kTo:
        return day_ms + kDayMs - 1;
    }
  }
  int h = 0, mi = 0, s = 0;
  if (!r.CharOf('T', 't')) {
    if (r.Peek() == ' ') return fail("the date and the time are separated by 'T', not a space");
    return shape();
  }
  if (!r.Digits(2, h) || !r.Char(':') || !r.Digits(2, mi) || !r.Char(':') || !r.Digits(2, s))
    return shape();
  if (h > 23) return fail("hour " + Two(h) + " is out of range (00 to 23)");
  if (mi > 59) return fail("minute " + Two(mi) + " is out of range (00 to 59)");
  if (s > 60) return fail("second " + Two(s) + " is out of range (00 to 60)");
  if (s == 60) s = 59;  // a leap second reads as the second before
  int64_t ms = 0;
  int64_t unit = 1000;  // what the text names: a second, or its last decimal
  if (r.Char('.')) {
    if (!r.AtDigit()) return fail("a '.' must be followed by the digits of a fraction of a second");
    int digit = 0;
    while (r.AtDigit()) {
      (void)r.Digits(1, digit);
      if (unit > 1) {
        unit /= 10;
        ms += digit * unit;
      }
    }
  }
  int64_t offset_min = 0;
  if (r.CharOf('Z', 'z')) {
    // UTC
  } else if (r.Peek() == '+' || r.Peek() == '-') {
    const bool minus = r.Char('-');
    if (!minus) (void)r.Char('+');
    int oh = 0, om = 0;
    if (!r.Digits(2, oh) || !r.Char(':') || !r.Digits(2, om)) {
      return fail("an offset is written +hh:mm or -hh:mm (like +01:00)");
    }
    if (oh > 23) return fail("offset hours " + Two(oh) + " are out of range (00 to 23)");
    if (om > 59) return fail("offset minutes " + Two(om) + " are out of range (00 to 59)");
    offset_min = (minus ? -1 : 1) * (oh * 60 + om);
  } else if (r.AtEnd()) {
    return fail(
        "a time needs an offset: Z for UTC, or +hh:mm / -hh:mm (a local time is ambiguous)");
  } else {
    return shape();
  }
  if (!r.AtEnd()) return fail("unexpected characters after the time");
  // The local time minus its offset is UTC.
  const int64_t at = day_ms + ((h * 60 + mi) * 60 + s) * 1000LL + ms - offset_min * 60'000;
  return bound == TimeBound::kTo ? at + unit - 1 : at;
}

std::string FormatTimeBound(int64_t ms, TimeBound bound) {
  const int64_t start = bound == TimeBound::kTo ? ms + 1 : ms;  // a whole `to` ends at .999
  const int64_t seconds = FloorDiv(ms, 1000);
  std::string out = FormatRfc3339(seconds);
  if (start - FloorDiv(start, 1000) * 1000 == 0) return out;
  const int64_t frac = ms - seconds * 1000;
  out.pop_back();  // 'Z'
  out += '.';
  out += static_cast<char>('0' + frac / 100);
  out += static_cast<char>('0' + frac / 10 % 10);
  out += static_cast<char>('0' + frac % 10);
  out += 'Z';
  return out;
}

}  // namespace coffre
