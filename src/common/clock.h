// Injectable time source. Production code takes a `Clock&`; tests pass a
// `FakeClock` they can move forward.
//
// Thread-safety: SystemClock is thread-safe; FakeClock is thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace coffre {

class Clock {
 public:
  virtual ~Clock() = default;
  // Seconds since the Unix epoch, UTC.
  virtual int64_t NowUnixSeconds() const = 0;
  // Milliseconds since the Unix epoch, UTC (audit entries). Clocks without
  // sub-second resolution return whole seconds.
  virtual int64_t NowUnixMillis() const { return NowUnixSeconds() * 1000; }
};

class SystemClock final : public Clock {
 public:
  int64_t NowUnixSeconds() const override;
  int64_t NowUnixMillis() const override;
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t start) : now_(start) {}
  int64_t NowUnixSeconds() const override { return now_.load(); }
  void Advance(int64_t seconds) { now_ += seconds; }

 private:
  std::atomic<int64_t> now_;
};

// The process-wide system clock.
Clock& DefaultClock();

// RFC 3339 UTC, e.g. "2026-11-22T04:15:57Z".
std::string FormatRfc3339(int64_t unix_seconds);

// Parses an RFC 3339 time with any offset ("2026-11-22T04:15:57Z",
// "2026-11-22T05:15:57.5+01:00") to the Unix second it falls in: the
// instant form of ParseTime (common/time_text.h), which windows' bounds use.
// kInvalidArgument names `what`.
Result<int64_t> ParseRfc3339(std::string_view text, std::string_view what = "time");

}  // namespace coffre
