#include "auth/internal/stored_sessions.h"

#include <algorithm>
#include <vector>

#include "auth/internal/records.h"
#include "auth/internal/tokens.h"
#include "common/bytes.h"

namespace coffre::auth::internal {
namespace {

using storage::Space;

constexpr std::string_view kVersion = "\x01";

std::string SessionId(std::string_view token) { return ToHex(crypto::Hash(token)); }
std::string SessionKey(std::string_view id) { return std::string("s/").append(id); }
std::string ListPrefix(std::string_view principal) {
  return std::string("sp/").append(principal).append("/");
}
std::string ListKey(std::string_view principal, std::string_view id) {
  return ListPrefix(principal).append(id);
}
std::string LockName(std::string_view principal) { return std::string("s/").append(principal); }

std::string Encode(const StoredSessions::Entry& e) {
  std::string out(kVersion);
  AppendBigEndian64(out, static_cast<uint64_t>(e.created));
  AppendBigEndian64(out, static_cast<uint64_t>(e.last_used));
  out.append(e.principal);
  return out;
}

tl::unexpected<Error> Unknown() {
  return Fail(ErrorCode::kUnauthenticated, "unknown or expired session");
}

}  // namespace

bool StoredSessions::Expired(const Entry& e, int64_t now) const {
  return now - e.last_used >= limits_.idle_seconds || now - e.created >= limits_.absolute_seconds;
}

Result<std::optional<StoredSessions::Entry>> StoredSessions::Decode(
    std::string_view id, const std::optional<std::string>& v) {
  if (!v) return std::optional<Entry>();
  COFFRE_ASSIGN_OR_RETURN(auto plain,
                          crypto::Open(pepper_, *v, SealContext("session", id), "session record"));
  if (plain.size() < 1 + 16 || plain.substr(0, 1) != kVersion) {
    return Fail(ErrorCode::kDataLoss, "corrupt session record");
  }
  const std::string_view p = plain;
  Entry e;
  e.created = static_cast<int64_t>(ReadBigEndian64(p.substr(1, 8)));
  e.last_used = static_cast<int64_t>(ReadBigEndian64(p.substr(9, 8)));
  e.principal = std::string(p.substr(17));
  return std::optional<Entry>(std::move(e));
}

Result<NewSession> StoredSessions::Create(std::string_view principal, int64_t now) {
  NewSession session{NewToken(kSessionPrefix),
                     std::min(now + limits_.idle_seconds, now + limits_.absolute_seconds)};
  const std::string id = SessionId(session.token);
  const std::string sealed =
      crypto::Seal(pepper_, Encode({std::string(principal), now, now}), SealContext("session", id));
  COFFRE_TRY(store_.Transact([&](storage::Transaction& t) -> Status {
    COFFRE_TRY(t.Lock(LockName(principal)));
    const std::string prefix = ListPrefix(principal);
    std::vector<std::string> ids;
    COFFRE_TRY(t.Scan(Space::kPrincipals, prefix, [&](std::string_view key, std::string_view) {
      ids.emplace_back(key.substr(prefix.size()));
      return true;
    }));
    // Expired sessions go; the oldest live one too when the principal is at its bound.
    size_t live = 0;
    std::optional<std::pair<int64_t, std::string>> oldest;
    for (const std::string& other : ids) {
      COFFRE_ASSIGN_OR_RETURN(auto v, t.Get(Space::kPrincipals, SessionKey(other)));
      auto e = Decode(other, v);
      if (!e || !*e || Expired(**e, now)) {
        t.batch().Delete(Space::kPrincipals, SessionKey(other));
        t.batch().Delete(Space::kPrincipals, ListKey(principal, other));
        continue;
      }
      ++live;
      if (!oldest || (*e)->created < oldest->first) oldest.emplace((*e)->created, other);
    }
    if (live >= std::max<size_t>(limits_.max_per_principal, 1) && oldest) {
      t.batch().Delete(Space::kPrincipals, SessionKey(oldest->second));
      t.batch().Delete(Space::kPrincipals, ListKey(principal, oldest->second));
    }
    t.batch().Put(Space::kPrincipals, SessionKey(id), sealed);
    t.batch().Put(Space::kPrincipals, ListKey(principal, id), "");
    return Ok();
  }));
  return session;
}

Result<std::string> StoredSessions::Touch(std::string_view token, int64_t now) {
  const std::string id = SessionId(token);
  COFFRE_ASSIGN_OR_RETURN(auto v, store_.Get(Space::kPrincipals, SessionKey(id)));
  COFFRE_ASSIGN_OR_RETURN(auto e, Decode(id, v));
  if (!e) return Unknown();
  const std::string principal = e->principal;
  const bool expired = Expired(*e, now);
  const int64_t step = std::max<int64_t>(1, limits_.idle_seconds / 15);
  if (!expired && now - e->last_used < step) return principal;
  // Slide it (or delete it, expired), under the principal's lock: a logout
  // committed meanwhile is not undone.
  bool live = false;
  COFFRE_TRY(store_.Transact([&](storage::Transaction& t) -> Status {
    live = false;
    COFFRE_TRY(t.Lock(LockName(principal)));
    COFFRE_ASSIGN_OR_RETURN(auto now_v, t.Get(Space::kPrincipals, SessionKey(id)));
    COFFRE_ASSIGN_OR_RETURN(auto current, Decode(id, now_v));
    if (!current) return Ok();
    if (Expired(*current, now)) {
      t.batch().Delete(Space::kPrincipals, SessionKey(id));
      t.batch().Delete(Space::kPrincipals, ListKey(principal, id));
      return Ok();
    }
    live = true;
    current->last_used = std::max(current->last_used, now);
    t.batch().Put(Space::kPrincipals, SessionKey(id),
                  crypto::Seal(pepper_, Encode(*current), SealContext("session", id)));
    return Ok();
  }));
  if (!live) return Unknown();
  return principal;
}

Status StoredSessions::Drop(std::string_view token) {
  const std::string id = SessionId(token);
  COFFRE_ASSIGN_OR_RETURN(auto v, store_.Get(Space::kPrincipals, SessionKey(id)));
  auto e = Decode(id, v);
  if (!e || !*e) {
    // Unknown, or a record that does not open: delete the key alone.
    if (!v) return Ok();
    auto batch = store_.NewBatch();
    batch->Delete(Space::kPrincipals, SessionKey(id));
    return store_.Write(*batch);
  }
  const std::string principal = (*e)->principal;
  return store_.Transact([&](storage::Transaction& t) -> Status {
    COFFRE_TRY(t.Lock(LockName(principal)));
    t.batch().Delete(Space::kPrincipals, SessionKey(id));
    t.batch().Delete(Space::kPrincipals, ListKey(principal, id));
    return Ok();
  });
}

Status StoredSessions::DropPrincipal(std::string_view principal) {
  return store_.Transact([&](storage::Transaction& t) -> Status {
    COFFRE_TRY(t.Lock(LockName(principal)));
    const std::string prefix = ListPrefix(principal);
    std::vector<std::string> ids;
    COFFRE_TRY(t.Scan(Space::kPrincipals, prefix, [&](std::string_view key, std::string_view) {
      ids.emplace_back(key.substr(prefix.size()));
      return true;
    }));
    for (const std::string& id : ids) {
      t.batch().Delete(Space::kPrincipals, SessionKey(id));
      t.batch().Delete(Space::kPrincipals, ListKey(principal, id));
    }
    return Ok();
  });
}

Result<size_t> StoredSessions::CountForTest(std::string_view principal) {
  size_t n = 0;
  COFFRE_TRY(store_.Scan(Space::kPrincipals, ListPrefix(principal),
                         [&](std::string_view, std::string_view) {
                           ++n;
                           return true;
                         }));
  return n;
}

}  // namespace coffre::auth::internal
