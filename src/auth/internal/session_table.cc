#include "auth/internal/session_table.h"

#include <algorithm>

#include "auth/internal/tokens.h"
#include "crypto/crypto.h"

namespace coffre::auth::internal {

bool SessionTable::Expired(const Entry& e, int64_t now) const {
  return now - e.last_used >= limits_.idle_seconds || now - e.created >= limits_.absolute_seconds;
}

Result<NewSession> SessionTable::Create(std::string_view principal, int64_t now) {
  NewSession session{NewToken(kSessionPrefix),
                     std::min(now + limits_.idle_seconds, now + limits_.absolute_seconds)};
  std::string key = crypto::Hash(session.token);
  std::lock_guard lock(mu_);
  size_t mine = 0;
  auto oldest = by_hash_.end();
  for (auto it = by_hash_.begin(); it != by_hash_.end();) {
    if (Expired(it->second, now)) {
      it = by_hash_.erase(it);
      continue;
    }
    if (it->second.principal == principal) {
      ++mine;
      if (oldest == by_hash_.end() || it->second.created < oldest->second.created) oldest = it;
    }
    ++it;
  }
  if (mine >= limits_.max_per_principal && oldest != by_hash_.end()) by_hash_.erase(oldest);
  if (by_hash_.size() >= limits_.max_sessions) {
    return Fail(ErrorCode::kResourceExhausted, "too many open sessions; retry later");
  }
  by_hash_.emplace(std::move(key), Entry{std::string(principal), now, now});
  return session;
}

Result<std::string> SessionTable::Touch(std::string_view token, int64_t now) {
  const std::string key = crypto::Hash(token);
  std::lock_guard lock(mu_);
  auto it = by_hash_.find(key);
  if (it == by_hash_.end()) return Fail(ErrorCode::kUnauthenticated, "unknown or expired session");
  if (Expired(it->second, now)) {
    by_hash_.erase(it);
    return Fail(ErrorCode::kUnauthenticated, "unknown or expired session");
  }
  it->second.last_used = now;
  return it->second.principal;
}

void SessionTable::Drop(std::string_view token) {
  const std::string key = crypto::Hash(token);
  std::lock_guard lock(mu_);
  by_hash_.erase(key);
}

void SessionTable::DropPrincipal(std::string_view principal) {
  std::lock_guard lock(mu_);
  std::erase_if(by_hash_, [&](const auto& entry) { return entry.second.principal == principal; });
}

size_t SessionTable::SizeForTest() const {
  std::lock_guard lock(mu_);
  return by_hash_.size();
}

}  // namespace coffre::auth::internal
