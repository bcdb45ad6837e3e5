#include "common/clock.h"

#include <ctime>

#include "common/time_text.h"

namespace coffre {

int64_t SystemClock::NowUnixSeconds() const {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t SystemClock::NowUnixMillis() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Clock& DefaultClock() {
  static SystemClock clock;
  return clock;
}

std::string FormatRfc3339(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Result<int64_t> ParseRfc3339(std::string_view t, std::string_view what) {
  COFFRE_ASSIGN_OR_RETURN(int64_t ms, ParseTime(t, TimeBound::kInstant, what));
  return ms / 1000 - (ms % 1000 < 0);  // floor: the second the instant is in
}

}  // namespace coffre
