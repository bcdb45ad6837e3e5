#include "guard/quota_tracker.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <functional>
#include <optional>
#include <unordered_map>
#include <unordered_set>

namespace coffre::guard {
namespace {

// A subject id as two words: no heap allocation per entry (a 16-byte
// std::string would not fit the small-string buffer).
struct SubjectKey {
  uint64_t hi = 0;
  uint64_t lo = 0;
  bool operator==(const SubjectKey&) const = default;
};

struct SubjectKeyHash {
  size_t operator()(const SubjectKey& k) const {
    // Ids are random: mixing the halves is enough.
    return static_cast<size_t>(k.hi ^ (k.lo * 0x9E3779B97F4A7C15ull));
  }
};

SubjectKey KeyOf(std::string_view id) {
  SubjectKey k;
  if (id.size() == 16) {
    std::memcpy(&k.hi, id.data(), 8);
    std::memcpy(&k.lo, id.data() + 8, 8);
  } else {
    // Not an id of the vault's (16 raw bytes); still counted, by hash.
    k.hi = std::hash<std::string_view>{}(id);
    k.lo = id.size() ^ 0xA5A5A5A5A5A5A5A5ull;
  }
  return k;
}

// The subjects exposed to one name in one sliding window.
struct SubjectWindow {
  int64_t window_ms = 0;
  std::unordered_set<SubjectKey, SubjectKeyHash> exposed;
  std::deque<std::pair<int64_t, SubjectKey>> fifo;  // (first exposure ms, subject)
  bool above_soft = false;

  void Expire(int64_t now_ms) {
    while (!fifo.empty() && fifo.front().first <= now_ms - window_ms) {
      exposed.erase(fifo.front().second);
      fifo.pop_front();
    }
  }
};

// Events per one-minute bucket over a window of whole minutes, with a
// running total: Advance clears at most `size` buckets, however long the
// pause, so each call is O(1) amortised over the minutes that passed.
class MinuteRing {
 public:
  explicit MinuteRing(int64_t window_seconds)
      : window_seconds_(window_seconds),
        buckets_(static_cast<size_t>(std::max<int64_t>(1, window_seconds / 60)), 0) {}

  int64_t window_seconds() const { return window_seconds_; }
  uint64_t total() const { return total_; }

  void Advance(int64_t now_minute) {
    if (!started_) {
      started_ = true;
      last_minute_ = now_minute;
      return;
    }
    // A clock that went back keeps counting in the current bucket.
    if (now_minute <= last_minute_) return;
    const int64_t n = static_cast<int64_t>(buckets_.size());
    const int64_t steps = std::min(now_minute - last_minute_, n);
    for (int64_t i = 1; i <= steps; ++i) {
      uint32_t& b = buckets_[Index(last_minute_ + i)];
      total_ -= b;
      b = 0;
    }
    last_minute_ = now_minute;
  }

  void Add() {
    ++buckets_[Index(last_minute_)];
    ++total_;
  }

  // Seconds from `now_s` until fewer than `limit` events remain in the
  // window (the oldest buckets leave it first); at least 1.
  int64_t SecondsUntilBelow(uint64_t limit, int64_t now_s) const {
    const int64_t n = static_cast<int64_t>(buckets_.size());
    uint64_t left = total_;
    for (int64_t m = last_minute_ - n + 1; m <= last_minute_; ++m) {
      left -= buckets_[Index(m)];
      if (left < limit) return std::max<int64_t>(1, (m + n) * 60 - now_s);
    }
    return std::max<int64_t>(1, (last_minute_ + 1) * 60 - now_s);
  }

 private:
  size_t Index(int64_t minute) const {
    const int64_t n = static_cast<int64_t>(buckets_.size());
    return static_cast<size_t>(((minute % n) + n) % n);
  }

  int64_t window_seconds_;
  std::vector<uint32_t> buckets_;
  bool started_ = false;
  int64_t last_minute_ = 0;
  uint64_t total_ = 0;
};

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

}  // namespace

struct QuotaTracker::NameState {
  std::vector<SubjectWindow> windows;  // parallel to Limits::subjects
  std::optional<MinuteRing> searches;
  int64_t search_alert_quiet_until_s = 0;
  std::optional<MinuteRing> denials;
  bool denials_alerted = false;

  // Matches the windows to `limits` (the policy may have been replaced):
  // a window kept by the new policy keeps its subjects.
  void SyncWindows(const policy::Limits& limits) {
    bool same = windows.size() == limits.subjects.size();
    for (size_t i = 0; same && i < windows.size(); ++i) {
      same = windows[i].window_ms == limits.subjects[i].window_seconds * 1000;
    }
    if (same) return;
    std::vector<SubjectWindow> next(limits.subjects.size());
    for (size_t i = 0; i < next.size(); ++i) {
      next[i].window_ms = limits.subjects[i].window_seconds * 1000;
      for (SubjectWindow& old : windows) {
        if (old.window_ms == next[i].window_ms) next[i] = std::move(old);
      }
    }
    windows = std::move(next);
  }

  static void SyncRing(std::optional<MinuteRing>& ring, int64_t window_seconds) {
    if (!ring || ring->window_seconds() != window_seconds) ring.emplace(window_seconds);
  }
};

struct QuotaTracker::Stripe {
  std::mutex mu;
  std::unordered_map<std::string, NameState, StringHash, std::equal_to<>> names;
};

// Locks the stripes of a request's names in stripe order (no deadlock
// between two requests naming the same two names in either order).
class QuotaTracker::Locks {
 public:
  Locks(const QuotaTracker& tracker, std::span<const Counted> who) {
    for (const Counted& c : who) {
      if (c.limits != nullptr) stripes_.push_back(&tracker.StripeOf(c.name));
    }
    std::sort(stripes_.begin(), stripes_.end());
    stripes_.erase(std::unique(stripes_.begin(), stripes_.end()), stripes_.end());
    for (Stripe* s : stripes_) s->mu.lock();
  }
  ~Locks() {
    for (auto it = stripes_.rbegin(); it != stripes_.rend(); ++it) (*it)->mu.unlock();
  }
  Locks(const Locks&) = delete;
  Locks& operator=(const Locks&) = delete;

 private:
  std::vector<Stripe*> stripes_;
};

QuotaTracker::QuotaTracker(Clock& clock) : clock_(clock), stripes_(new Stripe[kStripes]) {}
QuotaTracker::~QuotaTracker() = default;

QuotaTracker::Stripe& QuotaTracker::StripeOf(std::string_view name) const {
  return stripes_[std::hash<std::string_view>{}(name) % kStripes];
}

QuotaTracker::NameState& QuotaTracker::StateFor(Stripe& stripe, std::string_view name) {
  auto it = stripe.names.find(name);
  if (it == stripe.names.end()) it = stripe.names.emplace(std::string(name), NameState{}).first;
  return it->second;
}

ExposureOutcome QuotaTracker::ChargeSubjects(std::span<const Counted> who,
                                             std::span<const std::string> subjects) {
  ExposureOutcome out;
  if (subjects.empty()) return out;
  // The request's distinct subjects (a search may return two records of
  // one person).
  std::vector<SubjectKey> keys;
  keys.reserve(subjects.size());
  if (subjects.size() <= 8) {
    for (const std::string& s : subjects) {
      SubjectKey k = KeyOf(s);
      if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
    }
  } else {
    std::unordered_set<SubjectKey, SubjectKeyHash> seen;
    for (const std::string& s : subjects) {
      SubjectKey k = KeyOf(s);
      if (seen.insert(k).second) keys.push_back(k);
    }
  }

  const int64_t now_ms = clock_.NowUnixMillis();
  Locks locks(*this, who);
  // Check every window of every name first; count only if all pass.
  std::vector<NameState*> states(who.size(), nullptr);
  for (size_t i = 0; i < who.size(); ++i) {
    const policy::Limits* limits = who[i].limits;
    if (limits == nullptr || limits->subjects.empty()) continue;
    NameState& st = StateFor(StripeOf(who[i].name), who[i].name);
    states[i] = &st;
    st.SyncWindows(*limits);
    for (size_t j = 0; j < st.windows.size(); ++j) {
      SubjectWindow& w = st.windows[j];
      const policy::SubjectLimit& limit = limits->subjects[j];
      w.Expire(now_ms);
      if (w.exposed.size() <= limit.soft) w.above_soft = false;
      uint64_t fresh = 0;
      for (const SubjectKey& k : keys) fresh += w.exposed.count(k) == 0;
      const uint64_t total = w.exposed.size() + fresh;
      if (fresh > 0 && total > limit.hard) {
        out.hard.push_back({i, limit.window, limit.window_seconds, total, limit.hard});
      }
    }
  }
  if (out.refused()) return out;
  for (size_t i = 0; i < who.size(); ++i) {
    if (states[i] == nullptr) continue;
    const policy::Limits& limits = *who[i].limits;
    for (size_t j = 0; j < states[i]->windows.size(); ++j) {
      SubjectWindow& w = states[i]->windows[j];
      const policy::SubjectLimit& limit = limits.subjects[j];
      for (const SubjectKey& k : keys) {
        if (w.exposed.insert(k).second) w.fifo.emplace_back(now_ms, k);
      }
      if (!w.above_soft && w.exposed.size() > limit.soft) {
        w.above_soft = true;
        out.soft.push_back({i, limit.window, limit.window_seconds, w.exposed.size(), limit.soft});
      }
    }
  }
  return out;
}

SearchOutcome QuotaTracker::ChargeSearch(std::span<const Counted> who) {
  SearchOutcome out;
  const int64_t now_s = clock_.NowUnixMillis() / 1000;
  const int64_t now_minute = now_s / 60;
  Locks locks(*this, who);
  std::vector<NameState*> states(who.size(), nullptr);
  for (size_t i = 0; i < who.size(); ++i) {
    const policy::Limits* limits = who[i].limits;
    if (limits == nullptr || !limits->searches) continue;
    const policy::SearchCap& cap = *limits->searches;
    NameState& st = StateFor(StripeOf(who[i].name), who[i].name);
    states[i] = &st;
    NameState::SyncRing(st.searches, cap.window_seconds);
    st.searches->Advance(now_minute);
    if (st.searches->total() >= cap.max) {
      Crossing c{i, cap.window, cap.window_seconds, st.searches->total() + 1, cap.max};
      out.retry_after_seconds =
          std::max(out.retry_after_seconds, st.searches->SecondsUntilBelow(cap.max, now_s));
      if (now_s >= st.search_alert_quiet_until_s) {
        st.search_alert_quiet_until_s = now_s + cap.window_seconds;
        out.alerts.push_back(c);
      }
      out.over.push_back(std::move(c));
    }
  }
  if (out.refused()) return out;
  for (NameState* st : states) {
    if (st != nullptr) st->searches->Add();
  }
  return out;
}

std::vector<Crossing> QuotaTracker::CountDenial(std::span<const Counted> who) {
  std::vector<Crossing> out;
  const int64_t now_minute = clock_.NowUnixMillis() / 60000;
  Locks locks(*this, who);
  for (size_t i = 0; i < who.size(); ++i) {
    const policy::Limits* limits = who[i].limits;
    if (limits == nullptr || !limits->denials) continue;
    const policy::DenialAlert& threshold = *limits->denials;
    NameState& st = StateFor(StripeOf(who[i].name), who[i].name);
    NameState::SyncRing(st.denials, threshold.window_seconds);
    st.denials->Advance(now_minute);
    if (st.denials->total() < threshold.alert) st.denials_alerted = false;
    st.denials->Add();
    if (!st.denials_alerted && st.denials->total() >= threshold.alert) {
      st.denials_alerted = true;
      out.push_back(
          {i, threshold.window, threshold.window_seconds, st.denials->total(), threshold.alert});
    }
  }
  return out;
}

std::vector<size_t> QuotaTracker::ExposedCounts(std::string_view name,
                                                const policy::Limits& limits) {
  std::vector<size_t> out;
  Counted who[] = {{name, &limits}};
  Locks locks(*this, who);
  NameState& st = StateFor(StripeOf(name), name);
  st.SyncWindows(limits);
  const int64_t now_ms = clock_.NowUnixMillis();
  for (SubjectWindow& w : st.windows) {
    w.Expire(now_ms);
    out.push_back(w.exposed.size());
  }
  return out;
}

QuotaTracker::Usage QuotaTracker::UsageOf(std::string_view name, const policy::Limits& limits) {
  Usage out;
  out.subjects.assign(limits.subjects.size(), 0);
  Counted who[] = {{name, &limits}};
  Locks locks(*this, who);
  Stripe& stripe = StripeOf(name);
  auto it = stripe.names.find(name);
  if (it == stripe.names.end()) return out;
  NameState& st = it->second;
  const int64_t now_ms = clock_.NowUnixMillis();
  for (size_t i = 0; i < limits.subjects.size(); ++i) {
    for (SubjectWindow& w : st.windows) {
      if (w.window_ms != limits.subjects[i].window_seconds * 1000) continue;
      w.Expire(now_ms);
      out.subjects[i] = w.exposed.size();
    }
  }
  const int64_t now_minute = now_ms / 60000;
  if (limits.searches && st.searches &&
      st.searches->window_seconds() == limits.searches->window_seconds) {
    st.searches->Advance(now_minute);
    out.searches = st.searches->total();
  }
  if (limits.denials && st.denials &&
      st.denials->window_seconds() == limits.denials->window_seconds) {
    st.denials->Advance(now_minute);
    out.denials = st.denials->total();
  }
  return out;
}

void QuotaTracker::Forget(std::string_view name) {
  Stripe& stripe = StripeOf(name);
  std::lock_guard lock(stripe.mu);
  if (auto it = stripe.names.find(name); it != stripe.names.end()) stripe.names.erase(it);
}

size_t QuotaTracker::TrackedNames() const {
  size_t n = 0;
  for (size_t i = 0; i < kStripes; ++i) {
    std::lock_guard lock(stripes_[i].mu);
    n += stripes_[i].names.size();
  }
  return n;
}

}  // namespace coffre::guard
