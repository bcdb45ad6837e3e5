#include "guard/alert_log.h"

#include "common/bytes.h"

namespace coffre::guard {
namespace {

constexpr std::string_view kLastIdKey = "alert/last_id";
// The lock of Raise on a shared store (every node numbers alerts).
constexpr std::string_view kLockName = "a/alerts";

std::string KeyOf(uint64_t id) {
  std::string key;
  AppendBigEndian64(key, id);
  return key;
}

}  // namespace

Result<std::unique_ptr<AlertLog>> AlertLog::Open(storage::SpaceHandle store, Clock& clock) {
  std::unique_ptr<AlertLog> log(new AlertLog(store, clock));
  COFFRE_ASSIGN_OR_RETURN(auto last, store.Get(storage::Space::kCounters, kLastIdKey));
  if (last) {
    if (last->size() != 8) return Fail(ErrorCode::kDataLoss, "the alert counter is malformed");
    log->last_id_ = ReadBigEndian64(*last);
    if (log->last_id_ > 0) {
      COFFRE_ASSIGN_OR_RETURN(log->last_time_, log->TimeOf(log->last_id_));
    }
  }
  return log;
}

uint64_t AlertLog::last_id() const {
  if (store_.shared()) {
    // Other nodes raise alerts too: the store's counter is the truth.
    auto last = store_.Get(storage::Space::kCounters, kLastIdKey);
    if (last && *last && (*last)->size() == 8) return ReadBigEndian64(**last);
  }
  std::lock_guard lock(mu_);
  return last_id_;
}

Result<int64_t> AlertLog::TimeOf(uint64_t id) {
  COFFRE_ASSIGN_OR_RETURN(auto value, store_.Get(storage::Space::kAlerts, KeyOf(id)));
  if (!value) return Fail(ErrorCode::kDataLoss, "alert " + std::to_string(id) + " is missing");
  COFFRE_ASSIGN_OR_RETURN(Alert a, AlertFromJson(*value));
  return a.time;
}

Result<Alert> AlertLog::RaiseShared(Alert alert) {
  std::lock_guard lock(mu_);
  Alert stored;
  COFFRE_TRY(store_.Transact([&](storage::Transaction& t) -> Status {
    COFFRE_TRY(t.Lock(kLockName));
    COFFRE_ASSIGN_OR_RETURN(auto last, t.Get(storage::Space::kCounters, kLastIdKey));
    uint64_t last_id = 0;
    int64_t last_time = 0;
    if (last) {
      if (last->size() != 8) return Fail(ErrorCode::kDataLoss, "the alert counter is malformed");
      last_id = ReadBigEndian64(*last);
    }
    if (last_id > 0) {
      COFFRE_ASSIGN_OR_RETURN(auto value, t.Get(storage::Space::kAlerts, KeyOf(last_id)));
      if (!value)
        return Fail(ErrorCode::kDataLoss, "alert " + std::to_string(last_id) + " is missing");
      COFFRE_ASSIGN_OR_RETURN(Alert previous, AlertFromJson(*value));
      last_time = previous.time;
    }
    stored = alert;
    stored.id = last_id + 1;
    stored.time = std::max(last_time, clock_.NowUnixSeconds());
    std::string next;
    AppendBigEndian64(next, stored.id);
    t.batch().Put(storage::Space::kAlerts, KeyOf(stored.id), AlertToJson(stored));
    t.batch().Put(storage::Space::kCounters, kLastIdKey, next);
    return Ok();
  }));
  last_id_ = stored.id;
  last_time_ = stored.time;
  return stored;
}

Result<Alert> AlertLog::Raise(Alert alert) {
  if (store_.shared()) return RaiseShared(std::move(alert));
  std::lock_guard lock(mu_);
  alert.id = last_id_ + 1;
  alert.time = std::max(last_time_, clock_.NowUnixSeconds());
  std::string next;
  AppendBigEndian64(next, alert.id);
  auto batch = store_.NewBatch();
  batch->Put(storage::Space::kAlerts, KeyOf(alert.id), AlertToJson(alert));
  batch->Put(storage::Space::kCounters, kLastIdKey, next);
  COFFRE_TRY(store_.Write(*batch));
  last_id_ = alert.id;
  last_time_ = alert.time;
  return alert;
}

Status AlertLog::List(const AlertFilter& filter, const std::function<bool(const Alert&)>& visit) {
  uint64_t last = last_id();
  if (last == 0 || filter.from > filter.to) return Ok();
  // The first id whose time is >= from: times do not decrease with ids.
  if (filter.after_id >= last) return Ok();
  uint64_t lo = filter.after_id + 1, hi = last + 1;
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo) / 2;
    COFFRE_ASSIGN_OR_RETURN(int64_t t, TimeOf(mid));
    if (t < filter.from)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo > last) return Ok();
  size_t seen = 0;
  Status failure = Ok();
  COFFRE_TRY(store_.ScanRange(storage::Space::kAlerts, KeyOf(lo), KeyOf(last + 1),
                              [&](std::string_view, std::string_view value) {
                                auto a = AlertFromJson(value);
                                if (!a) {
                                  failure = Fail(a.error());
                                  return false;
                                }
                                if (a->time > filter.to) return false;
                                ++seen;
                                if (!visit(*a)) return false;
                                return filter.limit == 0 || seen < filter.limit;
                              }));
  return failure;
}

}  // namespace coffre::guard
