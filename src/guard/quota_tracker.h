// Per-name quota counters (docs/exfiltration.md, "Quotas"): distinct
// subjects exposed per sliding window, searches per window, denials per
// window. The policy states the limits (policy::Limits); this counts, in
// memory (or, on a shared store, in the store: see "Cluster" below), and
// says which limits a request reaches. It decides nothing else:
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
// Cluster (docs/adr/0042-guard-across-nodes.md): given a store handle whose
// store is shared() (the nodes of a cluster), a name's whole state lives in
// Space::kCounters under "quota/<name>", and each charge is one
// Store::Transact under the locks "q/<name>" (a request's names in sorted
// order): read, check, count, write. So requests spread over any number of
// nodes see one window and stop at exactly `hard`. A hard refusal also
// commits "suspended/<name>" in the same transaction: every later charge of
// that name, on any node, is refused as suspended (ExposureOutcome::
// suspended), and IsSuspended reads it for every request. The state is
// encoded whole (about 18 bytes per subject in a window), so a charge reads
// and writes O(subjects in the window) bytes; times are the node's clock,
// never going back within a window. A store error refuses (error set).
// Without a shared store nothing of this runs: the in-memory path below is
// the embedded vault's, unchanged.
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
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "policy/policy.h"
#include "storage/space_handle.h"

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
  // Shared store only: indexes (into the Counted span) of names a refusal
  // already suspended; refused, nothing counted.
  std::vector<size_t> suspended;
  // Shared store only: the store failed; refused, nothing counted.
  std::optional<Error> error;
  bool refused() const { return !hard.empty() || !suspended.empty() || error.has_value(); }
};

struct SearchOutcome {
  // Caps already reached. Non-empty: refused, and not counted.
  std::vector<Crossing> over;
  // The subset of `over` to alert about: the first refusal of a window.
  std::vector<Crossing> alerts;
  // When the refused search would be allowed again (>= 1 when refused).
  int64_t retry_after_seconds = 0;
  // Shared store only, as in ExposureOutcome.
  std::vector<size_t> suspended;
  std::optional<Error> error;
  bool refused() const { return !over.empty() || !suspended.empty() || error.has_value(); }
};

class QuotaTracker {
 public:
  // `store` (granting Space::kCounters) is used only when store->shared().
  explicit QuotaTracker(Clock& clock, std::optional<storage::SpaceHandle> store = std::nullopt);
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
  // principal starts with empty windows; ADR 0017 supersedes ADR 0008),
  // and, on a shared store, its suspension marker. Fails only on a shared
  // store.
  [[nodiscard]] Status Forget(std::string_view name);
  // Names with state (principals and users seen since the start; on a
  // shared store, names with a stored state).
  size_t TrackedNames() const;

  // True when counts live in a shared store.
  bool shared() const { return store_.has_value(); }
  // Shared store: whether a refusal (or MarkSuspended) left `name`'s
  // suspension marker; always false otherwise.
  Result<bool> IsSuspended(std::string_view name);
  // Shared store: commits `name`'s suspension marker (`why`: no personal
  // value); Ok and nothing otherwise.
  [[nodiscard]] Status MarkSuspended(std::string_view name, std::string_view why);

 private:
  struct Stripe;
  struct NameState;
  class Locks;
  NameState& StateFor(Stripe& stripe, std::string_view name);
  Stripe& StripeOf(std::string_view name) const;
  struct RequestKeys;
  ExposureOutcome ChargeSubjectsShared(std::span<const Counted> who, const RequestKeys& keys,
                                       int64_t now_ms);
  SearchOutcome ChargeSearchShared(std::span<const Counted> who, int64_t now_s);
  std::vector<Crossing> CountDenialShared(std::span<const Counted> who, int64_t now_ms);
  // The stored state of `name` (empty when none), read without a lock.
  Result<std::unique_ptr<NameState>> LoadShared(std::string_view name);

  Clock& clock_;
  std::optional<storage::SpaceHandle> store_;  // set only when shared
  static constexpr size_t kStripes = 64;
  std::unique_ptr<Stripe[]> stripes_;
};

}  // namespace coffre::guard
