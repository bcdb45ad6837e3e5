// Human sessions kept in the store, for a shared store (the nodes of a
// cluster, docs/adr/0043-auth-across-nodes.md): a token made on one node
// works on every node, and a logout, an expiry or a suspension on one node
// holds on all of them at the next request. The embedded vault keeps
// SessionTable (in memory) instead.
//
// Storage (Space::kPrincipals): "s/HEX" where HEX is the hex BLAKE2b-256 of
// the token (never the token), holding the principal's name, the login time
// and the last use, sealed with the pepper (the session id as associated
// data, so a value cannot be moved to another session, nor edited to make
// it live longer); "sp/NAME/HEX", empty, lists a principal's sessions.
// Every change runs in Store::Transact under the lock "s/NAME", so a
// logout cannot be undone by a concurrent slide, and the per-principal
// bound holds across nodes.
//
// Sliding: a use writes the new last use only when the stored one is
// `idle_seconds / 15` old or more (60 s for 15 minutes), so a busy session
// costs one write a minute, not one per request; a session may thus end up
// to that step before its idle limit. The absolute limit is exact.
// `max_sessions` (a bound on memory) does not apply: the store holds at
// most max_per_principal sessions per principal.
//
// Internal to auth. Thread-safety: thread-safe (state lives in the store).
// Ownership: keeps `store` and a reference to `pepper`, which must outlive it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "auth/internal/session_table.h"
#include "common/status.h"
#include "crypto/crypto.h"
#include "storage/space_handle.h"

namespace coffre::auth::internal {

class StoredSessions {
 public:
  StoredSessions(storage::SpaceHandle store, const crypto::SecretKey& pepper,
                 const SessionLimits& limits)
      : store_(store), pepper_(pepper), limits_(limits) {}

  // A new session; the principal's oldest goes when it has max_per_principal.
  Result<NewSession> Create(std::string_view principal, int64_t now);
  // The session's principal, sliding its idle expiry; kUnauthenticated when
  // the token is unknown, ended or expired.
  Result<std::string> Touch(std::string_view token, int64_t now);
  // Ends the session (nothing to do for an unknown token).
  [[nodiscard]] Status Drop(std::string_view token);
  // Ends every session of `principal`.
  [[nodiscard]] Status DropPrincipal(std::string_view principal);
  // Sessions of `principal` in the store, expired ones included.
  Result<size_t> CountForTest(std::string_view principal);

  struct Entry {
    std::string principal;
    int64_t created = 0;
    int64_t last_used = 0;
  };

 private:
  bool Expired(const Entry& e, int64_t now) const;
  Result<std::optional<Entry>> Decode(std::string_view id, const std::optional<std::string>& v);

  storage::SpaceHandle store_;
  const crypto::SecretKey& pepper_;
  const SessionLimits limits_;
};

}  // namespace coffre::auth::internal
