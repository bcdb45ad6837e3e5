// Human sessions, in memory only: a restart logs everyone out, and a copied
// data directory holds no session. Tokens are kept as their BLAKE2b-256
// hash, so a memory dump of the table does not yield usable tokens.
//
// A session ends after `idle_seconds` without use (each use slides it), at
// `absolute_seconds` after login whatever the use, or when its principal is
// suspended or removed (DropPrincipal). The table holds at most
// `max_sessions`; one principal at most `max_per_principal` (its oldest is
// dropped for a new one).
//
// Internal to auth. Thread-safety: thread-safe.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/status.h"

namespace coffre::auth::internal {

struct SessionLimits {
  int64_t idle_seconds;
  int64_t absolute_seconds;
  size_t max_sessions;
  size_t max_per_principal;
};

struct NewSession {
  std::string token;
  int64_t expires_at;  // idle expiry, unix seconds
};

class SessionTable {
 public:
  explicit SessionTable(const SessionLimits& limits) : limits_(limits) {}

  // kResourceExhausted when the table is full of live sessions.
  Result<NewSession> Create(std::string_view principal, int64_t now);
  // The session's principal, sliding its idle expiry; kUnauthenticated when
  // the token is unknown or expired.
  Result<std::string> Touch(std::string_view token, int64_t now);
  void Drop(std::string_view token);
  void DropPrincipal(std::string_view principal);
  size_t SizeForTest() const;

 private:
  struct Entry {
    std::string principal;
    int64_t created;
    int64_t last_used;
  };
  bool Expired(const Entry& e, int64_t now) const;

  const SessionLimits limits_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> by_hash_;  // BLAKE2b(token) -> session
};

}  // namespace coffre::auth::internal
