// Throttling of failed logins by key, in memory and bounded. The Directory
// keeps two: one keyed by source address (50 failures at once, then one
// per 6 s) and one keyed by (name, source) (5 at once, then one a minute;
// ADR 0005, ADR 0017).
//
// A generic cell rate algorithm (GCRA): each key may fail `burst` times at
// once, then once per `refill_seconds`. An attempt is admitted (and charged
// in advance, so parallel attempts cannot slip through together) or refused
// with the seconds to wait; a successful attempt is refunded. Checked before
// the account is touched.
//
// At most `max_sources` keys are tracked; when full, keys whose debt is
// paid are forgotten first, then the one with the least debt.
//
// Internal to auth. Thread-safety: thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace coffre::auth::internal {

class SourceThrottle {
 public:
  SourceThrottle(int64_t burst, int64_t refill_seconds, size_t max_sources);

  // 0 when admitted (and charged); otherwise the seconds to wait (>= 1).
  int64_t Admit(std::string_view source, int64_t now);
  // Returns the charge of an admitted attempt that succeeded.
  void Refund(std::string_view source);
  // Forgets every key that starts with `prefix` (an admin's unlock).
  void ForgetPrefix(std::string_view prefix);

  size_t TrackedForTest() const;

 private:
  void MakeRoom(int64_t now);

  const int64_t burst_;
  const int64_t refill_;
  const size_t max_sources_;
  mutable std::mutex mu_;
  // Source -> theoretical arrival time: when its debt is fully paid.
  std::unordered_map<std::string, int64_t> tat_;
};

}  // namespace coffre::auth::internal
