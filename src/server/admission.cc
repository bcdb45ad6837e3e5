#include "server/admission.h"

#include <algorithm>

namespace coffre::server {
namespace {
// A source stays known this long after its last completed handshake; at
// most kMaxKnown sources are remembered (older ones are forgotten first).
constexpr auto kKnownFor = std::chrono::minutes(30);
constexpr size_t kMaxKnown = 16384;
}  // namespace

bool Admission::IsKnownLocked(const std::string& key, std::chrono::steady_clock::time_point now) {
  auto it = known_.find(key);
  return it != known_.end() && now - it->second < kKnownFor;
}

std::optional<Admission::Slot> Admission::Admit(const std::string& key, bool exempt) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  if (total_ >= limits_.max_connections) return std::nullopt;
  Slot slot{.key = key, .exempt = exempt};
  if (!exempt) {
    size_t& n = per_source_[key];
    if (limits_.per_source != 0 && n >= limits_.per_source) {
      if (n == 0) per_source_.erase(key);
      return std::nullopt;
    }
    slot.known = pending_ >= limits_.max_pending;
    if (slot.known && !IsKnownLocked(key, now)) {
      if (n == 0) per_source_.erase(key);
      return std::nullopt;
    }
    ++n;
  } else {
    slot.known = true;  // a trusted proxy is known by configuration
  }
  if (!slot.known) ++pending_;
  ++total_;
  return slot;
}

void Admission::HandshakeDone(Slot& slot) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  if (!slot.pending) return;
  slot.pending = false;
  if (!slot.known) --pending_;
  if (slot.exempt) return;
  if (known_.size() >= kMaxKnown && !known_.contains(slot.key)) {
    for (auto it = known_.begin(); it != known_.end();) {
      it = now - it->second >= kKnownFor ? known_.erase(it) : std::next(it);
    }
    if (known_.size() >= kMaxKnown) {
      // The oldest, not an arbitrary one: a flood of fresh handshakes from
      // many addresses must not pick which regular clients are forgotten.
      known_.erase(std::min_element(known_.begin(), known_.end(), [](const auto& x, const auto& y) {
        return x.second < y.second;
      }));
    }
  }
  known_[slot.key] = now;
}

bool Admission::Rekey(Slot& slot, const std::string& key) {
  std::lock_guard lock(mu_);
  if (!slot.exempt && slot.key == key) return true;
  size_t& n = per_source_[key];
  if (limits_.per_source != 0 && n >= limits_.per_source) {
    if (n == 0) per_source_.erase(key);
    return false;
  }
  ++n;
  if (!slot.exempt) {
    auto it = per_source_.find(slot.key);
    if (it != per_source_.end() && --it->second == 0) per_source_.erase(it);
  }
  slot.key = key;
  slot.exempt = false;
  return true;
}

void Admission::Release(const Slot& slot) {
  std::lock_guard lock(mu_);
  --total_;
  if (slot.pending && !slot.known) --pending_;
  if (!slot.exempt) {
    auto it = per_source_.find(slot.key);
    if (it != per_source_.end() && --it->second == 0) per_source_.erase(it);
  }
}

size_t Admission::connections() const {
  std::lock_guard lock(mu_);
  return total_;
}

}  // namespace coffre::server
