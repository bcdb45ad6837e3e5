#include "auth/internal/source_throttle.h"

#include <algorithm>

#include "auth/internal/stored_throttle.h"

namespace coffre::auth::internal {

SourceThrottle::SourceThrottle(int64_t burst, int64_t refill_seconds, size_t max_sources)
    : burst_(std::max<int64_t>(burst, 1)),
      refill_(std::max<int64_t>(refill_seconds, 1)),
      max_sources_(std::max<size_t>(max_sources, 1)) {}

int64_t SourceThrottle::Admit(std::string_view source, int64_t now) {
  std::lock_guard lock(mu_);
  auto it = tat_.find(std::string(source));
  if (it == tat_.end()) {
    if (tat_.size() >= max_sources_) MakeRoom(now);
    it = tat_.emplace(std::string(source), now).first;
  }
  return GcraAdmit(it->second, now, burst_, refill_);
}

void SourceThrottle::Refund(std::string_view source) {
  std::lock_guard lock(mu_);
  auto it = tat_.find(std::string(source));
  if (it != tat_.end()) it->second -= refill_;
}

void SourceThrottle::ForgetPrefix(std::string_view prefix) {
  std::lock_guard lock(mu_);
  std::erase_if(tat_, [prefix](const auto& entry) { return entry.first.starts_with(prefix); });
}

void SourceThrottle::MakeRoom(int64_t now) {
  std::erase_if(tat_, [now](const auto& entry) { return entry.second <= now; });
  if (tat_.size() < max_sources_) return;
  auto least = std::min_element(tat_.begin(), tat_.end(),
                                [](const auto& a, const auto& b) { return a.second < b.second; });
  tat_.erase(least);
}

size_t SourceThrottle::TrackedForTest() const {
  std::lock_guard lock(mu_);
  return tat_.size();
}

}  // namespace coffre::auth::internal
