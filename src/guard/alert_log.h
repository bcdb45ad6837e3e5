// The stored alerts (docs/exfiltration.md, "Alerts"): space kAlerts, key the
// 8-byte big-endian id (1, 2, ...), value the alert's JSON (alert.h). The
// next id lives in kCounters under "alert/last_id", written in the same
// batch, so opening the log reads one key rather than scanning it.
//
//   auto log = AlertLog::Open(*vault.Grant("guard", kAlertSpaces), clock);
//   auto stored = (*log)->Raise({.severity = Severity::kCritical,
//                                .kind = AlertKind::kCanary, .principal = "app"});
//   (*log)->List({.from = t1, .to = t2, .limit = 100}, [](const Alert& a) { ...; return true; });
//
// Times never go backwards from one alert to the next (a clock that steps
// back stamps the previous time), so ids and times sort alike and List
// finds `from` by binary search over the ids.
//
// On a shared store (a cluster, docs/adr/0042-guard-across-nodes.md) Raise
// is one Store::Transact under the lock "a/alerts" that reads the last id
// and time from the store, so every node numbers alerts in one sequence,
// and last_id (hence List) reads the store's counter.
//
// Thread-safety: safe from many threads; Raise calls are serialised (alerts
// are rare: one per crossing, cap or canary hit).
// Ownership: borrows the store and the clock, which must outlive it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>

#include "common/clock.h"
#include "common/status.h"
#include "guard/alert.h"
#include "storage/space_handle.h"
#include "storage/store.h"

namespace coffre::guard {

// The spaces the alert log owns (vault::Vault::Grant, ADR 0025): its
// alerts, and its last id in the counters (key "alert/last_id").
inline constexpr storage::SpaceSet kAlertSpaces =
    storage::Spaces({storage::Space::kAlerts, storage::Space::kCounters});

// Inclusive bounds in unix seconds; limit 0: no limit; only ids above
// `after_id` (paging).
struct AlertFilter {
  int64_t from = 0;
  int64_t to = INT64_MAX;
  size_t limit = 0;
  uint64_t after_id = 0;
};

class AlertLog {
 public:
  static Result<std::unique_ptr<AlertLog>> Open(storage::SpaceHandle store, Clock& clock);

  // Numbers, stamps and durably stores `alert` (a synced write); returns it
  // as stored.
  Result<Alert> Raise(Alert alert);

  // Visits the alerts with from <= time <= to in id order, at most `limit`.
  // Return false from `visit` to stop.
  [[nodiscard]] Status List(const AlertFilter& filter,
                            const std::function<bool(const Alert&)>& visit);

  uint64_t last_id() const;

 private:
  AlertLog(storage::SpaceHandle store, Clock& clock) : store_(store), clock_(clock) {}
  Result<int64_t> TimeOf(uint64_t id);
  Result<Alert> RaiseShared(Alert alert);

  storage::SpaceHandle store_;
  Clock& clock_;
  mutable std::mutex mu_;
  uint64_t last_id_ = 0;
  int64_t last_time_ = 0;
};

}  // namespace coffre::guard
