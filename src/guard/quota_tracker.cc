#include "guard/quota_tracker.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <functional>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "common/bytes.h"

namespace coffre::guard {
namespace {

// Reads what Encode wrote (the shared store's "quota/<name>" values);
// any short or malformed input leaves ok false.
struct Reader {
  std::string_view in;
  bool ok = true;
  uint64_t U() {
    uint64_t v = 0;
    if (ok && !ReadVarint(in, v)) ok = false;
    return ok ? v : 0;
  }
  int64_t I() { return static_cast<int64_t>(U()); }
  std::string_view Bytes(size_t n) {
    if (!ok || in.size() < n) {
      ok = false;
      return {};
    }
    std::string_view b = in.substr(0, n);
    in.remove_prefix(n);
    return b;
  }
};

void PutU(std::string& out, uint64_t v) { AppendVarint(out, v); }
void PutI(std::string& out, int64_t v) { AppendVarint(out, static_cast<uint64_t>(v)); }

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

  // Times as deltas from the previous entry (they do not decrease).
  void Encode(std::string& out) const {
    PutI(out, window_ms);
    PutU(out, above_soft ? 1 : 0);
    PutU(out, fifo.size());
    int64_t last = 0;
    for (const auto& [ms, k] : fifo) {
      PutI(out, ms - last);
      last = ms;
      out.append(reinterpret_cast<const char*>(&k.hi), 8);
      out.append(reinterpret_cast<const char*>(&k.lo), 8);
    }
  }

  bool Decode(Reader& r) {
    window_ms = r.I();
    above_soft = r.U() != 0;
    const uint64_t n = r.U();
    if (!r.ok || n > r.in.size()) return false;
    exposed.reserve(n);
    int64_t last = 0;
    for (uint64_t i = 0; i < n && r.ok; ++i) {
      last += r.I();
      std::string_view b = r.Bytes(16);
      if (!r.ok) break;
      SubjectKey k;
      std::memcpy(&k.hi, b.data(), 8);
      std::memcpy(&k.lo, b.data() + 8, 8);
      if (exposed.insert(k).second) fifo.emplace_back(last, k);
    }
    return r.ok;
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

  void Encode(std::string& out) const {
    PutI(out, window_seconds_);
    PutU(out, started_ ? 1 : 0);
    PutI(out, last_minute_);
    PutU(out, total_);
    for (uint32_t b : buckets_) PutU(out, b);
  }

  static std::optional<MinuteRing> Decode(Reader& r) {
    const int64_t window_seconds = r.I();
    if (!r.ok || window_seconds <= 0 || window_seconds > 400LL * 24 * 3600) return std::nullopt;
    MinuteRing ring(window_seconds);
    ring.started_ = r.U() != 0;
    ring.last_minute_ = r.I();
    ring.total_ = r.U();
    for (uint32_t& b : ring.buckets_) b = static_cast<uint32_t>(r.U());
    if (!r.ok) return std::nullopt;
    return ring;
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

// What is counted for one name (QuotaTracker::NameState; a plain struct
// here so that the functions below, shared by the in-memory and the store
// paths, can take it).
struct NameStateData {
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

  // The shared store's value: version 1, then every part.
  std::string Encode() const {
    std::string out;
    PutU(out, 1);
    PutU(out, windows.size());
    for (const SubjectWindow& w : windows) w.Encode(out);
    PutU(out, searches ? 1 : 0);
    if (searches) searches->Encode(out);
    PutI(out, search_alert_quiet_until_s);
    PutU(out, denials ? 1 : 0);
    if (denials) denials->Encode(out);
    PutU(out, denials_alerted ? 1 : 0);
    return out;
  }

  bool Decode(std::string_view value) {
    Reader r{value};
    if (r.U() != 1) return false;
    const uint64_t n = r.U();
    if (!r.ok || n > 64) return false;
    windows.resize(n);
    for (SubjectWindow& w : windows) {
      if (!w.Decode(r)) return false;
    }
    if (r.U() != 0) {
      searches = MinuteRing::Decode(r);
      if (!searches) return false;
    }
    search_alert_quiet_until_s = r.I();
    if (r.U() != 0) {
      denials = MinuteRing::Decode(r);
      if (!denials) return false;
    }
    denials_alerted = r.U() != 0;
    return r.ok && r.in.empty();
  }
};

// The check and the count of ChargeSubjects over the states of the names
// (null: nothing counted for it), which the caller holds exclusively.
// `monotonic`: an entry's time never goes below the last one's (several
// nodes' clocks write one window).
void ChargeStates(std::span<const Counted> who, std::span<NameStateData* const> states,
                  const std::vector<SubjectKey>& keys, int64_t now_ms, bool monotonic,
                  ExposureOutcome& out) {
  // Check every window of every name first; count only if all pass.
  for (size_t i = 0; i < who.size(); ++i) {
    if (states[i] == nullptr) continue;
    const policy::Limits* limits = who[i].limits;
    NameStateData& st = *states[i];
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
  if (out.refused()) return;
  for (size_t i = 0; i < who.size(); ++i) {
    if (states[i] == nullptr) continue;
    const policy::Limits& limits = *who[i].limits;
    for (size_t j = 0; j < states[i]->windows.size(); ++j) {
      SubjectWindow& w = states[i]->windows[j];
      const policy::SubjectLimit& limit = limits.subjects[j];
      const int64_t at =
          monotonic && !w.fifo.empty() ? std::max(now_ms, w.fifo.back().first) : now_ms;
      for (const SubjectKey& k : keys) {
        if (w.exposed.insert(k).second) w.fifo.emplace_back(at, k);
      }
      if (!w.above_soft && w.exposed.size() > limit.soft) {
        w.above_soft = true;
        out.soft.push_back({i, limit.window, limit.window_seconds, w.exposed.size(), limit.soft});
      }
    }
  }
}

// The check and the count of ChargeSearch (states: null when no cap).
void ChargeSearchStates(std::span<const Counted> who, std::span<NameStateData* const> states,
                        int64_t now_s, SearchOutcome& out) {
  const int64_t now_minute = now_s / 60;
  for (size_t i = 0; i < who.size(); ++i) {
    if (states[i] == nullptr) continue;
    const policy::SearchCap& cap = *who[i].limits->searches;
    NameStateData& st = *states[i];
    NameStateData::SyncRing(st.searches, cap.window_seconds);
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
  if (out.refused()) return;
  for (NameStateData* st : states) {
    if (st != nullptr) st->searches->Add();
  }
}

// CountDenial over the states (null: no threshold).
void CountDenialStates(std::span<const Counted> who, std::span<NameStateData* const> states,
                       int64_t now_minute, std::vector<Crossing>& out) {
  for (size_t i = 0; i < who.size(); ++i) {
    if (states[i] == nullptr) continue;
    const policy::DenialAlert& threshold = *who[i].limits->denials;
    NameStateData& st = *states[i];
    NameStateData::SyncRing(st.denials, threshold.window_seconds);
    st.denials->Advance(now_minute);
    if (st.denials->total() < threshold.alert) st.denials_alerted = false;
    st.denials->Add();
    if (!st.denials_alerted && st.denials->total() >= threshold.alert) {
      st.denials_alerted = true;
      out.push_back(
          {i, threshold.window, threshold.window_seconds, st.denials->total(), threshold.alert});
    }
  }
}

// `coffre principal usage` from a name's state.
QuotaTracker::Usage UsageFrom(NameStateData& st, const policy::Limits& limits, int64_t now_ms) {
  QuotaTracker::Usage out;
  out.subjects.assign(limits.subjects.size(), 0);
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

// Keys and lock names of the shared store (docs/adr/0042-guard-across-nodes.md).
std::string StateKey(std::string_view name) { return "quota/" + std::string(name); }
std::string SuspendedKey(std::string_view name) { return "suspended/" + std::string(name); }
std::string LockName(std::string_view name) { return "q/" + std::string(name); }

}  // namespace

struct QuotaTracker::NameState : NameStateData {};
struct QuotaTracker::RequestKeys {
  std::vector<SubjectKey> keys;
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

QuotaTracker::QuotaTracker(Clock& clock, std::optional<storage::SpaceHandle> store)
    : clock_(clock), stripes_(new Stripe[kStripes]) {
  if (store && store->shared()) store_ = *store;
}
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
  RequestKeys request;
  std::vector<SubjectKey>& keys = request.keys;
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
  if (store_) return ChargeSubjectsShared(who, request, now_ms);
  Locks locks(*this, who);
  std::vector<NameStateData*> states(who.size(), nullptr);
  for (size_t i = 0; i < who.size(); ++i) {
    const policy::Limits* limits = who[i].limits;
    if (limits == nullptr || limits->subjects.empty()) continue;
    states[i] = &StateFor(StripeOf(who[i].name), who[i].name);
  }
  ChargeStates(who, states, keys, now_ms, /*monotonic=*/false, out);
  return out;
}

namespace {

// The distinct names of `who` that `counts` selects, sorted (the order
// their locks are taken in), and for each entry of `who` the index of its
// name in that list (or npos).
struct SharedNames {
  std::vector<std::string_view> names;
  std::vector<size_t> of;
};

template <class Pred>
SharedNames SelectNames(std::span<const Counted> who, Pred counts) {
  SharedNames s;
  for (const Counted& c : who) {
    if (c.limits != nullptr && counts(*c.limits)) s.names.push_back(c.name);
  }
  std::sort(s.names.begin(), s.names.end());
  s.names.erase(std::unique(s.names.begin(), s.names.end()), s.names.end());
  for (const Counted& c : who) {
    auto it = std::lower_bound(s.names.begin(), s.names.end(), c.name);
    s.of.push_back(c.limits != nullptr && counts(*c.limits) && it != s.names.end() && *it == c.name
                       ? static_cast<size_t>(it - s.names.begin())
                       : std::string::npos);
  }
  return s;
}

// In a transaction: locks every name, then reads its suspension marker
// (when `suspended` is given) and its state.
Status LoadLocked(storage::Transaction& t, const SharedNames& sel,
                  std::vector<NameStateData>& states, std::vector<bool>* suspended,
                  std::vector<std::string>& stored) {
  for (std::string_view name : sel.names) COFFRE_TRY(t.Lock(LockName(name)));
  states.assign(sel.names.size(), NameStateData{});
  stored.assign(sel.names.size(), std::string());
  if (suspended != nullptr) suspended->assign(sel.names.size(), false);
  for (size_t u = 0; u < sel.names.size(); ++u) {
    if (suspended != nullptr) {
      COFFRE_ASSIGN_OR_RETURN(auto mark,
                              t.Get(storage::Space::kCounters, SuspendedKey(sel.names[u])));
      (*suspended)[u] = mark.has_value();
    }
    COFFRE_ASSIGN_OR_RETURN(auto value, t.Get(storage::Space::kCounters, StateKey(sel.names[u])));
    if (value && !states[u].Decode(*value)) {
      return Fail(ErrorCode::kDataLoss, "the stored quota state of a principal is malformed");
    }
    if (value) stored[u] = std::move(*value);
  }
  return Ok();
}

// Writes the states that changed (a re-read changes nothing: no write).
void StoreChanged(storage::Transaction& t, const SharedNames& sel,
                  const std::vector<NameStateData>& states,
                  const std::vector<std::string>& stored) {
  for (size_t u = 0; u < sel.names.size(); ++u) {
    std::string value = states[u].Encode();
    if (value != stored[u]) t.batch().Put(storage::Space::kCounters, StateKey(sel.names[u]), value);
  }
}

std::vector<NameStateData*> PointersFor(const SharedNames& sel,
                                        std::vector<NameStateData>& states) {
  std::vector<NameStateData*> out(sel.of.size(), nullptr);
  for (size_t i = 0; i < sel.of.size(); ++i) {
    if (sel.of[i] != std::string::npos) out[i] = &states[sel.of[i]];
  }
  return out;
}

}  // namespace

ExposureOutcome QuotaTracker::ChargeSubjectsShared(std::span<const Counted> who,
                                                   const RequestKeys& request, int64_t now_ms) {
  const SharedNames sel =
      SelectNames(who, [](const policy::Limits& l) { return !l.subjects.empty(); });
  ExposureOutcome out;
  if (sel.names.empty()) return out;
  auto done = store_->Transact([&](storage::Transaction& t) -> Status {
    out = ExposureOutcome{};  // the body may run again
    std::vector<NameStateData> states;
    std::vector<bool> suspended;
    std::vector<std::string> stored;
    COFFRE_TRY(LoadLocked(t, sel, states, &suspended, stored));
    for (size_t i = 0; i < who.size(); ++i) {
      if (sel.of[i] != std::string::npos && suspended[sel.of[i]]) out.suspended.push_back(i);
    }
    if (!out.suspended.empty()) return Ok();
    ChargeStates(who, PointersFor(sel, states), request.keys, now_ms, /*monotonic=*/true, out);
    if (out.refused()) {
      // The suspension, committed with the refusal: no later charge of
      // these names passes, on any node.
      for (const Crossing& c : out.hard) {
        t.batch().Put(storage::Space::kCounters, SuspendedKey(who[c.who].name), "quota_hard");
      }
      return Ok();
    }
    StoreChanged(t, sel, states, stored);
    return Ok();
  });
  if (!done) {
    out = ExposureOutcome{};
    out.error = done.error();
  }
  return out;
}

SearchOutcome QuotaTracker::ChargeSearch(std::span<const Counted> who) {
  SearchOutcome out;
  const int64_t now_s = clock_.NowUnixMillis() / 1000;
  if (store_) return ChargeSearchShared(who, now_s);
  Locks locks(*this, who);
  std::vector<NameStateData*> states(who.size(), nullptr);
  for (size_t i = 0; i < who.size(); ++i) {
    const policy::Limits* limits = who[i].limits;
    if (limits == nullptr || !limits->searches) continue;
    states[i] = &StateFor(StripeOf(who[i].name), who[i].name);
  }
  ChargeSearchStates(who, states, now_s, out);
  return out;
}

SearchOutcome QuotaTracker::ChargeSearchShared(std::span<const Counted> who, int64_t now_s) {
  const SharedNames sel =
      SelectNames(who, [](const policy::Limits& l) { return l.searches.has_value(); });
  SearchOutcome out;
  if (sel.names.empty()) return out;
  auto done = store_->Transact([&](storage::Transaction& t) -> Status {
    out = SearchOutcome{};
    std::vector<NameStateData> states;
    std::vector<bool> suspended;
    std::vector<std::string> stored;
    COFFRE_TRY(LoadLocked(t, sel, states, &suspended, stored));
    for (size_t i = 0; i < who.size(); ++i) {
      if (sel.of[i] != std::string::npos && suspended[sel.of[i]]) out.suspended.push_back(i);
    }
    if (!out.suspended.empty()) return Ok();
    ChargeSearchStates(who, PointersFor(sel, states), now_s, out);
    // A refusal still writes: the first refusal of a window alerts once.
    StoreChanged(t, sel, states, stored);
    return Ok();
  });
  if (!done) {
    out = SearchOutcome{};
    out.error = done.error();
  }
  return out;
}

std::vector<Crossing> QuotaTracker::CountDenial(std::span<const Counted> who) {
  std::vector<Crossing> out;
  const int64_t now_ms = clock_.NowUnixMillis();
  if (store_) return CountDenialShared(who, now_ms);
  Locks locks(*this, who);
  std::vector<NameStateData*> states(who.size(), nullptr);
  for (size_t i = 0; i < who.size(); ++i) {
    const policy::Limits* limits = who[i].limits;
    if (limits == nullptr || !limits->denials) continue;
    states[i] = &StateFor(StripeOf(who[i].name), who[i].name);
  }
  CountDenialStates(who, states, now_ms / 60000, out);
  return out;
}

std::vector<Crossing> QuotaTracker::CountDenialShared(std::span<const Counted> who,
                                                      int64_t now_ms) {
  const SharedNames sel =
      SelectNames(who, [](const policy::Limits& l) { return l.denials.has_value(); });
  std::vector<Crossing> out;
  if (sel.names.empty()) return out;
  auto done = store_->Transact([&](storage::Transaction& t) -> Status {
    out.clear();
    std::vector<NameStateData> states;
    std::vector<std::string> stored;
    COFFRE_TRY(LoadLocked(t, sel, states, nullptr, stored));
    CountDenialStates(who, PointersFor(sel, states), now_ms / 60000, out);
    StoreChanged(t, sel, states, stored);
    return Ok();
  });
  // A denial is refused anyway; a lost count only costs a warning.
  if (!done) out.clear();
  return out;
}

Result<std::unique_ptr<QuotaTracker::NameState>> QuotaTracker::LoadShared(std::string_view name) {
  auto st = std::make_unique<NameState>();
  COFFRE_ASSIGN_OR_RETURN(auto value, store_->Get(storage::Space::kCounters, StateKey(name)));
  if (value && !st->Decode(*value)) {
    return Fail(ErrorCode::kDataLoss, "the stored quota state of a principal is malformed");
  }
  return st;
}

std::vector<size_t> QuotaTracker::ExposedCounts(std::string_view name,
                                                const policy::Limits& limits) {
  std::vector<size_t> out;
  const int64_t now_ms = clock_.NowUnixMillis();
  if (store_) {
    auto st = LoadShared(name);
    if (!st) return out;
    (*st)->SyncWindows(limits);
    for (SubjectWindow& w : (*st)->windows) {
      w.Expire(now_ms);
      out.push_back(w.exposed.size());
    }
    return out;
  }
  Counted who[] = {{name, &limits}};
  Locks locks(*this, who);
  NameState& st = StateFor(StripeOf(name), name);
  st.SyncWindows(limits);
  for (SubjectWindow& w : st.windows) {
    w.Expire(now_ms);
    out.push_back(w.exposed.size());
  }
  return out;
}

QuotaTracker::Usage QuotaTracker::UsageOf(std::string_view name, const policy::Limits& limits) {
  const int64_t now_ms = clock_.NowUnixMillis();
  if (store_) {
    auto st = LoadShared(name);
    if (!st) {
      Usage none;
      none.subjects.assign(limits.subjects.size(), 0);
      return none;
    }
    return UsageFrom(**st, limits, now_ms);
  }
  Counted who[] = {{name, &limits}};
  Locks locks(*this, who);
  Stripe& stripe = StripeOf(name);
  auto it = stripe.names.find(name);
  if (it == stripe.names.end()) {
    Usage none;
    none.subjects.assign(limits.subjects.size(), 0);
    return none;
  }
  return UsageFrom(it->second, limits, now_ms);
}

Status QuotaTracker::Forget(std::string_view name) {
  if (store_) {
    return store_->Transact([&](storage::Transaction& t) -> Status {
      COFFRE_TRY(t.Lock(LockName(name)));
      t.batch().Delete(storage::Space::kCounters, StateKey(name));
      t.batch().Delete(storage::Space::kCounters, SuspendedKey(name));
      return Ok();
    });
  }
  Stripe& stripe = StripeOf(name);
  std::lock_guard lock(stripe.mu);
  if (auto it = stripe.names.find(name); it != stripe.names.end()) stripe.names.erase(it);
  return Ok();
}

size_t QuotaTracker::TrackedNames() const {
  size_t n = 0;
  if (store_) {
    auto scanned =
        store_->Scan(storage::Space::kCounters, "quota/", [&](std::string_view, std::string_view) {
          ++n;
          return true;
        });
    return scanned ? n : 0;
  }
  for (size_t i = 0; i < kStripes; ++i) {
    std::lock_guard lock(stripes_[i].mu);
    n += stripes_[i].names.size();
  }
  return n;
}

Result<bool> QuotaTracker::IsSuspended(std::string_view name) {
  if (!store_) return false;
  COFFRE_ASSIGN_OR_RETURN(auto mark, store_->Get(storage::Space::kCounters, SuspendedKey(name)));
  return mark.has_value();
}

Status QuotaTracker::MarkSuspended(std::string_view name, std::string_view why) {
  if (!store_) return Ok();
  return store_->Transact([&](storage::Transaction& t) -> Status {
    COFFRE_TRY(t.Lock(LockName(name)));
    t.batch().Put(storage::Space::kCounters, SuspendedKey(name), why);
    return Ok();
  });
}

}  // namespace coffre::guard
