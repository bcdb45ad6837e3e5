// Per-name quota counters (docs/exfiltration.md, "Quotas"): distinct
// subjects exposed per sliding window, searches per window, denials per
// window. The policy states the limits (policy::Limits); this counts, in
// memory, and says which limits a request reaches. It decides nothing else:
// suspending, alerting and answering are the caller's (guard.h).
//
//   QuotaTracker quotas(clock);
//   Counted who[] = {{"support-app", policy.LimitsOf("support_agent")},
//                    {"alice", policy.LimitsOf("adviser")}};   // on behalf of
//   ExposureOutcome out = quotas.ChargeSubjects(who, {subject_id});
//   if (out.refused()) ... // a hard limit: nothing was counted, return 403
//   for (const Crossing& c : out.soft) ... // warning alerts
//
// Costs: per name and subject window, a hash set of the subjects exposed in
// the window and a FIFO of (first exposure, subject). A request pops the
// expired heads (amortised O(1)), looks each of its subjects up (O(1)) and
// pushes the new ones. Because a request that would take a window above
// `hard` is refused before anything is counted, a window never holds more
// than `hard` subjects: memory is bounded by names x sum of hard limits x
// about 64 bytes. Searches and denials are counted in rings of one-minute
// buckets with a running total (O(1) amortised, fixed size per name).
// A subject counts once per window from its first exposure in it: the
// window is [first, first + window). Re-reading it inside does not count
// and does not extend it.
//
// Thread-safety: all methods are safe from many threads. Names are spread
// over lock stripes; a request's names (principal and user) are locked
// together, in stripe order, so the check and the count are one atomic step
// and concurrent requests can never expose more than `hard` subjects.
// Ownership: borrows the clock; the Limits passed to a call are read during
// the call only.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "policy/policy.h"

namespace coffre::guard {

// One name counted against one role's limits.
struct Counted {
  std::string_view name;                   // a principal or an end user
  const policy::Limits* limits = nullptr;  // null: nothing is counted for it
};

// A limit reached or crossed by one request.
struct Crossing {
  size_t who = 0;      // index into the Counted span
  std::string window;  // as written in the policy, "1h"
  int64_t window_seconds = 0;
  uint64_t count = 0;  // the count the request reached (or would have)
  uint64_t limit = 0;  // the soft, hard, max or alert value
};

struct ExposureOutcome {
  // Hard limits the request would exceed. Non-empty: refused, and nothing
  // was counted for anyone.
  std::vector<Crossing> hard;
  // Soft limits this (counted) request crossed: once per crossing, i.e.
  // again only after the window has dropped back to `soft` or below.
  std::vector<Crossing> soft;
  bool refused() const { return !hard.empty(); }
};

struct SearchOutcome {
  // Caps already reached. Non-empty: refused, and not counted.
  std::vector<Crossing> over;
  // The subset of `over` to alert about: the first refusal of a window.
  std::vector<Crossing> alerts;
  // When the refused search would be allowed again (>= 1 when refused).
  int64_t retry_after_seconds = 0;
  bool refused() const { return !over.empty(); }
};

class QuotaTracker {
 public:
  explicit QuotaTracker(Clock& clock);
  ~QuotaTracker();
  QuotaTracker(const QuotaTracker&) = delete;
  QuotaTracker& operator=(const QuotaTracker&) = delete;

  // Counts the distinct `subjects` (16-byte raw ids; repeats are one) as
  // exposed to every name of `who`, unless one of them would exceed a hard
  // limit: then nothing is counted.
  ExposureOutcome ChargeSubjects(std::span<const Counted> who,
                                 std::span<const std::string> subjects);

  // Counts one search for every name of `who` that has a search cap, unless
  // one of them has reached its cap: then nothing is counted.
  SearchOutcome ChargeSearch(std::span<const Counted> who);

  // Counts one denial for every name of `who` that has a denial threshold;
  // returns the thresholds reached by this denial (once per crossing).
  std::vector<Crossing> CountDenial(std::span<const Counted> who);

  // Subjects currently counted for `name`, per subject window (by
  // increasing window), after expiring old ones. For tests and bounds.
  std::vector<size_t> ExposedCounts(std::string_view name, const policy::Limits& limits);

  // What `name` has used of `limits` now (`coffre principal usage`): the
  // subjects of each subject window (parallel to limits.subjects), the
  // searches and the denials in their windows. Creates no state.
  struct Usage {
    std::vector<uint64_t> subjects;
    uint64_t searches = 0;
    uint64_t denials = 0;
  };
  Usage UsageOf(std::string_view name, const policy::Limits& limits);

  // Forgets every count of `name` (`coffre principal resume`: a resumed
  // principal starts with empty windows; ADR 0017 supersedes ADR 0008).
  void Forget(std::string_view name);
  // Names with state (principals and users seen since the start).
  size_t TrackedNames() const;

 private:
  struct Stripe;
  struct NameState;
  class Locks;
  NameState& StateFor(Stripe& stripe, std::string_view name);
  Stripe& StripeOf(std::string_view name) const;

  Clock& clock_;
  static constexpr size_t kStripes = 64;
  std::unique_ptr<Stripe[]> stripes_;
};

}  // namespace coffre::guard
