#include "auth/internal/stored_throttle.h"

#include <algorithm>
#include <charconv>
#include <vector>

namespace coffre::auth::internal {
namespace {

using storage::Space;

int64_t ParseTat(const std::optional<std::string>& v) {
  int64_t tat = 0;
  if (!v) return 0;
  auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), tat);
  if (ec != std::errc() || ptr != v->data() + v->size()) return 0;
  return tat;
}

}  // namespace

int64_t GcraAdmit(int64_t& tat, int64_t now, int64_t burst, int64_t refill) {
  const int64_t base = std::max(tat, now);
  const int64_t allowance = (burst - 1) * refill;
  if (base - now > allowance) return base - now - allowance;
  tat = base + refill;
  return 0;
}

StoredThrottle::StoredThrottle(storage::SpaceHandle store, std::string prefix, int64_t burst,
                               int64_t refill_seconds)
    : store_(store),
      prefix_(std::move(prefix)),
      burst_(std::max<int64_t>(burst, 1)),
      refill_(std::max<int64_t>(refill_seconds, 1)) {}

Result<int64_t> StoredThrottle::Admit(std::string_view key, int64_t now) {
  const std::string k = prefix_ + std::string(key);
  int64_t wait = 0;
  COFFRE_TRY(store_.Transact([&](storage::Transaction& t) -> Status {
    COFFRE_TRY(t.Lock("t/" + k));
    COFFRE_ASSIGN_OR_RETURN(auto v, t.Get(Space::kPrincipals, k));
    int64_t tat = ParseTat(v);
    wait = GcraAdmit(tat, now, burst_, refill_);
    if (wait == 0) t.batch().Put(Space::kPrincipals, k, std::to_string(tat));
    return Ok();
  }));
  return wait;
}

Status StoredThrottle::Refund(std::string_view key, int64_t now) {
  const std::string k = prefix_ + std::string(key);
  return store_.Transact([&](storage::Transaction& t) -> Status {
    COFFRE_TRY(t.Lock("t/" + k));
    COFFRE_ASSIGN_OR_RETURN(auto v, t.Get(Space::kPrincipals, k));
    if (!v) return Ok();
    const int64_t tat = ParseTat(v) - refill_;
    if (tat <= now) {
      t.batch().Delete(Space::kPrincipals, k);
    } else {
      t.batch().Put(Space::kPrincipals, k, std::to_string(tat));
    }
    return Ok();
  });
}

Status StoredThrottle::ForgetPrefix(std::string_view key_prefix) {
  const std::string p = prefix_ + std::string(key_prefix);
  std::vector<std::string> keys;
  COFFRE_TRY(store_.Scan(Space::kPrincipals, p, [&](std::string_view key, std::string_view) {
    keys.emplace_back(key);
    return true;
  }));
  if (keys.empty()) return Ok();
  auto batch = store_.NewBatch();
  for (const std::string& k : keys) batch->Delete(Space::kPrincipals, k);
  return store_.Write(*batch);
}

}  // namespace coffre::auth::internal
