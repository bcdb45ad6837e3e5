// Principals: who may call coffre, and how they prove it.
//
//   service  authenticates with an API key ("coffre_sk_" + 43 base64url
//            characters), shown once at creation and stored only as its
//            keyed BLAKE2b hash;
//   human    authenticates with a password (Argon2id, the encoded hash
//            sealed with the pepper) plus a TOTP code (RFC 6238; the secret
//            sealed with the pepper) and gets a session token;
//   user     an end user of an application: no credential, only a role and
//            attributes, used when a service acts on behalf of it.
// The role is stored as given: the caller checks it against the policy.
//
//   // principals: vault.Grant("auth", kDirectorySpaces), from the composition root
//   auth::Directory dir(principals, ring.api_key_hash_key(), ring.pepper(), clock, params);
//   auto added = dir.Add({.name = "billing", .kind = auth::Kind::kService,
//                         .role = "billing"});
//   print(added->api_key);                             // shown once
//   auto who = dir.AuthenticateApiKey(bearer);         // Result<Principal>
//   auto rotated = dir.RotateApiKey("billing", 24 * 3600);  // old key: 24 h more
//   int64_t retry_after = 0;
//   auto login = dir.Login({"alice", password, "123456", "192.0.2.7"}, &retry_after);
//   auto me = dir.AuthenticateSession(login->session_token);
//
// Storage (Space::kPrincipals; docs/auth.md): "p/NAME" the principal,
// "c/NAME" its credential, "l/NAME" its lockout state, "apikey/HASH" the
// principal of an API key (and, for a key replaced with a grace period,
// when it stops). Every value is sealed with the pepper, with the
// record kind and the name (or key hash) as associated data, so values
// cannot be moved between keys, edited (a role raised, a suspension lifted)
// or read by someone holding only the data directory. Every change is one
// synced atomic batch.
//
// Logins (ADR 0005, ADR 0017): throttling first, in memory: per source (50
// failures at once, then one per 6 s) and per (name, source) (5 at once,
// then one a minute), so one client behind a shared address cannot shut out
// the others; kResourceExhausted with the seconds to wait. Then the account
// lock: 10 consecutive failures lock the name for 30 minutes. A human's
// lock is stored; any other name (unknown, a service, a user) is counted
// and locked the same way in memory (bounded, never written), so neither
// the answers nor the lock tell whether a name exists. Then the password
// and the code, both always checked. Unknown names, principals without a
// password and wrong passwords or codes all cost one Argon2id verification
// and all answer kUnauthenticated "invalid credentials". Unlock lifts a
// human's lock. Sessions live in memory: 15 minutes idle (sliding), 8 hours
// at most, 16 per principal, 10000 in all. Nothing here sleeps.
//
// On a shared store (store.shared(): the nodes of a cluster, ADR 0043) the
// same rules hold across nodes, with the state in the store instead of
// memory: sessions ("s/HASH", "sp/NAME/HASH"; internal/stored_sessions.h),
// both throttles ("ts/", "tp/"; internal/stored_throttle.h) and every
// name's lock (humans' "l/NAME"; other names' "ul/KEYED-HASH"), each
// read-modify-write in one Store::Transact under a named lock, so counts
// are exact whichever node a guess reaches. Each write to principals or
// keys also writes a random change mark ("change"); a node reads it at most
// every `shared_poll_ms` (at the first use after that) and drops its caches
// when it moved, so another node's changes (a role, a suspension, a new or
// rotated key) apply here within that bound. Sessions are read from the
// store on every use: a logout or suspension on one node ends the session
// on every node at once.
//
// Thread-safety: a Directory is safe for concurrent use. Operations on one
// name are serialised (a lock stripe per name hash) so lockout counts are
// exact under parallel guessing; other names proceed in parallel.
// Ownership: the Directory keeps references to `store` and `clock`, which
// must outlive it, and copies the keys. crypto::Init() must have succeeded.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/hash_slots.h"
#include "common/status.h"
#include "crypto/crypto.h"
#include "storage/space_handle.h"
#include "storage/store.h"

namespace coffre::auth {

// The spaces the directory owns (vault::Vault::Grant, ADR 0025).
inline constexpr storage::SpaceSet kDirectorySpaces =
    storage::Spaces({storage::Space::kPrincipals});

namespace internal {
class SessionTable;
class SourceThrottle;
class StoredSessions;
class StoredThrottle;
struct NewSession;
struct CredentialRecord;
struct LockRecord;
}  // namespace internal

enum class Kind { kService, kHuman, kUser };
std::string_view KindName(Kind kind);  // "service", "human", "user"
Result<Kind> ParseKind(std::string_view text);

using Attributes = std::map<std::string, std::string, std::less<>>;

struct Principal {
  std::string name;
  Kind kind = Kind::kUser;
  std::string role;
  Attributes attrs;
  bool suspended = false;
  int64_t created_ms = 0;  // unix milliseconds
};

// Names: [a-z0-9][a-z0-9._-]{0,63}. Roles: [A-Za-z0-9._-]{1,64}.
// Attribute keys: [a-z_][a-z0-9_]{0,31}; values: 1 to 128 code points of
// valid UTF-8 without control characters. Errors name the rule, and the
// key for attributes, never the value.
[[nodiscard]] Status ValidateName(std::string_view name);
[[nodiscard]] Status ValidateRole(std::string_view role);
[[nodiscard]] Status ValidateAttribute(std::string_view key, std::string_view value);
// "key=value" (the CLI's --attr), split at the first '=' and validated.
Result<std::pair<std::string, std::string>> ParseAttribute(std::string_view text);

// A service bound to a client certificate (mTLS; docs/auth.md, "Client
// certificates"): by its SHA-256 fingerprint, or by a CA (PEM) that must
// issue it plus its exact subject (RFC 2253), as HashiCorp Vault's cert
// auth. Exactly one form; empty: no binding.
struct CertificateBinding {
  std::string fingerprint;  // 64 lower-case hex digits
  std::string ca_pem;
  std::string subject;
  bool empty() const { return fingerprint.empty() && ca_pem.empty() && subject.empty(); }
};

// A client certificate the TLS layer verified (serve --tls-client-ca).
struct ClientCertificateView {
  std::string_view fingerprint;  // 64 lower-case hex digits
  std::string_view subject;      // RFC 2253
  std::string_view chain_pem;    // the certificate, then the chain sent
};

struct NewPrincipal {
  std::string name;
  Kind kind = Kind::kUser;
  std::string role;
  Attributes attrs;
  std::string password;            // humans only; checked by CheckPassword first
  std::string totp_issuer;         // humans: the authenticator's label; empty: "coffre"
  CertificateBinding certificate;  // services only; optional
};

struct AddResult {
  Principal principal;
  std::string api_key;             // service: shown once, never stored
  std::string totp_secret_base32;  // human: for manual entry
  std::string otpauth_uri;         // human (draw it with totp::QrText)
};

// What `principal update` changes; at least one part must be set.
struct PrincipalUpdate {
  std::optional<std::string> role;
  Attributes set_attrs;                   // added or replaced
  std::vector<std::string> remove_attrs;  // removed (kNotFound when absent)
};

struct RotatedKey {
  std::string api_key;               // shown once, never stored
  int64_t previous_valid_until = 0;  // unix seconds; 0: the old key stopped at once
};

struct TotpEnrolment {
  std::string totp_secret_base32;
  std::string otpauth_uri;
};

// Why a login was refused, for the server's log only (never the client:
// every refusal looks the same to it).
struct LoginNote {
  bool registered = false;   // the name is a principal's (the log may name it)
  bool end_user = false;     // ... of kind user: an end user's name, never logged
  std::string_view refusal;  // "invalid credentials", "throttled (source)",
                             // "throttled (name, source)", "locked", "busy",
                             // "suspended"; empty on success
};

struct LoginRequest {
  std::string_view name;
  std::string_view password;
  std::string_view totp;
  std::string_view source;  // the client's address, for throttling
};

struct LoginResult {
  std::string session_token;  // "coffre_st_" + 43 base64url characters
  int64_t expires_at = 0;     // idle expiry, unix seconds; slides with use
  Principal principal;
};

struct DirectoryOptions {
  int64_t lockout_failures = 10;
  int64_t lockout_seconds = 30 * 60;
  // Per (name, source): burst, then one failure per refill.
  int64_t throttle_burst = 5;
  int64_t throttle_refill_seconds = 60;
  size_t throttle_max_pairs = 50000;
  // Per source, whatever the names: a higher bound for shared addresses
  // (an office NAT, a reverse proxy).
  int64_t source_throttle_burst = 50;
  int64_t source_throttle_refill_seconds = 6;
  size_t throttle_max_sources = 10000;
  // Lock state of names that are not humans' (unknown names included),
  // in memory: at most this many names (when full, the least failed and
  // unlocked go first).
  size_t max_unregistered_locks = 65536;
  int64_t session_idle_seconds = 15 * 60;
  int64_t session_absolute_seconds = 8 * 3600;
  size_t max_sessions = 10000;
  size_t max_sessions_per_principal = 16;
  // Logins whose Argon2id runs at once (each takes the parameters' memory:
  // 64 MiB by default); beyond it a login is refused at once with
  // kResourceExhausted and a retry-after of 1 s, before any hash.
  size_t max_concurrent_hashes = 4;
  // Shared stores only: how often, at most, this node looks for changes
  // other nodes made to principals and keys (0: at every use, for tests).
  int64_t shared_poll_ms = 1000;
};

class Directory {
 public:
  Directory(storage::SpaceHandle store, const crypto::SecretKey& api_key_hash_key,
            const crypto::SecretKey& pepper, Clock& clock, crypto::PasswordHashParams params,
            DirectoryOptions options = {});
  ~Directory();
  Directory(const Directory&) = delete;
  Directory& operator=(const Directory&) = delete;

  // Creates a principal. kAlreadyExists for a taken name; kInvalidArgument
  // for a bad name, role or attribute, a password given to a service or
  // user or missing for a human, or a password refused by CheckPassword
  // (the message names the rule).
  Result<AddResult> Add(const NewPrincipal& spec);

  Result<std::vector<Principal>> List();         // by name
  Result<Principal> Get(std::string_view name);  // kNotFound
  Result<bool> Exists(std::string_view name);
  // An end user for X-Coffre-On-Behalf-Of: kNotFound unless `name` is a
  // principal of kind user; kPermissionDenied when suspended.
  Result<Principal> GetUser(std::string_view name);

  // Suspension refuses the principal's key and ends its sessions at once.
  Status Suspend(std::string_view name);
  Status Resume(std::string_view name);

  // Changes the role and attributes (the caller checks the role against the
  // policy). Applies at once, to sessions too. kInvalidArgument for an
  // empty update or a bad role or attribute; kNotFound for an unknown name
  // or an attribute to remove that it does not have. Returns the result.
  Result<Principal> Update(std::string_view name, const PrincipalUpdate& update);
  // A new API key for a service. The old one keeps working for
  // `grace_seconds` (0: it stops at once; at most 7 days); a key kept from
  // an earlier rotation stops at once. kInvalidArgument for a principal
  // that is not a service or a bad grace.
  Result<RotatedKey> RotateApiKey(std::string_view name, int64_t grace_seconds);
  // A new TOTP secret for a human; the old one stops at once, and so do the
  // human's sessions. kInvalidArgument for a principal that is not a human
  // or a bad issuer.
  Result<TotpEnrolment> ResetTotp(std::string_view name, std::string_view issuer = {});
  // Lifts a human's account lock and forgets the name's per-(name, source)
  // throttling; returns whether it was locked. kNotFound unless `name` is a
  // human (other names' lock state is never written: they have no account
  // to unlock).
  Result<bool> Unlock(std::string_view name);
  // Deletes the principal, its credential, lockout state and key lookup in
  // one batch, and ends its sessions.
  Status Remove(std::string_view name);

  // kUnauthenticated "invalid API key" for a malformed or unknown key;
  // kPermissionDenied when its principal is suspended.
  Result<Principal> AuthenticateApiKey(std::string_view key);
  // The service bound to `cert` (by fingerprint, else by subject with its
  // chain verified up to the binding's CA at the clock's now).
  // kUnauthenticated when none is; kPermissionDenied when it is suspended.
  Result<Principal> AuthenticateCertificate(const ClientCertificateView& cert);
  // The binding of `name`, if any (principal list shows its form).
  Result<std::optional<CertificateBinding>> GetCertificateBinding(std::string_view name);

  // Password + TOTP login. Errors: kUnauthenticated "invalid credentials";
  // kResourceExhausted when the source is throttled or the account locked,
  // with *retry_after_seconds set (>= 1; 0 otherwise); kPermissionDenied
  // when the credentials are right but the principal is suspended.
  // `note`, when given, says why for the server's log.
  Result<LoginResult> Login(const LoginRequest& request, int64_t* retry_after_seconds = nullptr,
                            LoginNote* note = nullptr);
  // The session's principal as stored now; slides the idle expiry.
  // kUnauthenticated for an unknown, expired or ended session.
  Result<Principal> AuthenticateSession(std::string_view token);
  // Ends the session (nothing happens for an unknown token). Fails only on
  // a shared store that cannot be reached: the session may then live on.
  [[nodiscard]] Status Logout(std::string_view token);

  // Shared stores: looks for other nodes' changes now, whatever the time
  // since the last look (tests; nothing to do on an embedded store).
  void PollChangesNow();

 private:
  std::mutex& StripeFor(std::string_view name);
  Result<std::optional<Principal>> LoadPrincipal(std::string_view name);
  Result<Principal> OpenPrincipal(std::string_view name, std::string_view sealed);
  Result<std::optional<std::string>> LoadSealed(std::string_view record, std::string_view name);
  Result<LoginResult> LoginLocked(const LoginRequest& request, int64_t now,
                                  int64_t* retry_after_seconds, LoginNote& note);
  // A failed login under a name that has no stored lock (not a human's):
  // the same lock, in memory.
  Result<LoginResult> UnregisteredAttempt(std::string_view name, std::string_view password,
                                          int64_t now, int64_t* retry_after_seconds,
                                          LoginNote& note);
  Result<std::optional<internal::CredentialRecord>> LoadCredential(std::string_view name);
  Result<std::optional<internal::CredentialRecord>> OpenCredential(
      std::string_view name, const std::optional<std::string>& sealed);
  void PutCredential(storage::WriteBatch& batch, std::string_view name,
                     const internal::CredentialRecord& cred);
  Status SetSuspended(std::string_view name, bool suspended);
  // Validates `b` and adds its records to `batch`; kAlreadyExists when
  // another principal holds the same fingerprint or subject.
  Status PutCertBinding(storage::WriteBatch& batch, std::string_view name,
                        const CertificateBinding& b);
  void BurnDummyVerify(std::string_view password);
  // Shared stores: the login of a name without a stored human lock,
  // counted in the store ("ul/..."), exact across nodes.
  Result<LoginResult> SharedUnregisteredAttempt(std::string_view name, std::string_view password,
                                                int64_t now, int64_t* retry_after_seconds,
                                                LoginNote& note);
  // The store key of the lock of a name that is not a human's.
  std::string UnregisteredLockKey(std::string_view name) const;
  // Opens a sealed lock record ("lock" of a human, "ulock" of another
  // name); a fresh one when `sealed` is empty.
  Result<internal::LockRecord> OpenLock(std::string_view record, std::string_view owner,
                                        const std::optional<std::string>& sealed);
  // Throttling, in memory or (shared) in the store. `key` is the source,
  // or for `pair` ThrottleKey(name, source). Admit: 0 admitted, else the wait.
  std::string ThrottleKey(std::string_view name, std::string_view source) const;
  Result<int64_t> Admit(std::string_view key, int64_t now, bool pair);
  void Refund(std::string_view key, int64_t now, bool pair);
  // Sessions, in memory or (shared) in the store.
  Result<internal::NewSession> CreateSession(std::string_view name, int64_t now);
  [[nodiscard]] Status DropSessionsOf(std::string_view name);
  // Shared stores: a new change mark in `batch` (see the header comment).
  void MarkChanged(storage::WriteBatch& batch);
  // Shared stores: drops the caches when another node changed principals
  // since the last look, looking at most every shared_poll_ms.
  void PollChanges();
  // After a write to principals or keys: drops what the cache holds.
  void Invalidate();
  // Caches `value` under `key` unless a write came since `generation` was
  // read; empties `map` first when it holds kMaxCached.
  template <class V>
  void CacheIfCurrent(std::unordered_map<std::string, V>& map, std::string key, V value,
                      uint64_t generation);

  storage::SpaceHandle store_;
  const crypto::SecretKey api_key_hash_key_;
  const crypto::SecretKey pepper_;
  Clock& clock_;
  const crypto::PasswordHashParams params_;
  HashSlots hash_slots_;
  const DirectoryOptions options_;
  std::once_flag dummy_once_;
  std::string dummy_hash_;  // verified for unknown names: same cost
  std::unique_ptr<internal::SessionTable> sessions_;
  std::unique_ptr<internal::SourceThrottle> throttle_;       // by source
  std::unique_ptr<internal::SourceThrottle> pair_throttle_;  // by (name, source)
  // Lock state of names without a stored one, by BLAKE2b(name): counted
  // and locked like a human's, so a lock says nothing about existence.
  std::mutex unregistered_mu_;
  std::unordered_map<std::string, std::unique_ptr<internal::LockRecord>> unregistered_locks_;
  std::array<std::mutex, 64> stripes_;

  // Shared stores (store_.shared()): the state above that must be global.
  const bool shared_;
  std::unique_ptr<internal::StoredSessions> stored_sessions_;
  std::unique_ptr<internal::StoredThrottle> stored_throttle_;       // "ts/"
  std::unique_ptr<internal::StoredThrottle> stored_pair_throttle_;  // "tp/"
  std::atomic<int64_t> next_poll_ms_{0};                            // steady clock

  // What every authenticated request reads, kept in memory: principals by
  // name and the names behind API keys, by keyed hash (never a key). This
  // Directory makes every write to them (while a server runs, the CLI's
  // writes go through it), and each write clears the cache after it is
  // durable; a read that began before a write stores nothing (generation).
  // At most kMaxCached of each; when full, emptied.
  static constexpr size_t kMaxCached = 4096;
  std::mutex cache_mu_;
  uint64_t cache_generation_ = 0;
  std::unordered_map<std::string, Principal> cached_principals_;
  // key hash -> (name, expiry in unix seconds or 0)
  std::unordered_map<std::string, std::pair<std::string, int64_t>> cached_key_names_;
  std::optional<std::string> seen_change_;  // the change mark last read (shared)
};

}  // namespace coffre::auth
