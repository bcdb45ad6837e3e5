#include "auth/principals.h"

#include <algorithm>
#include <chrono>

#include "auth/internal/records.h"
#include "auth/internal/session_table.h"
#include "auth/internal/source_throttle.h"
#include "auth/internal/stored_sessions.h"
#include "auth/internal/stored_throttle.h"
#include "auth/internal/tokens.h"
#include "auth/password_policy.h"
#include "auth/totp.h"
#include "common/bytes.h"
#include "common/utf8.h"
#include "crypto/tls_material.h"

namespace coffre::auth {
namespace {

using internal::CredentialRecord;
using internal::LockRecord;

constexpr std::string_view kInvalidCredentials = "invalid credentials";
constexpr int64_t kMaxGraceSeconds = 7 * 24 * 3600;

// The (name, source) throttle's key: a fixed-size digest of the name (it
// may be anything a client typed, a password included), then the source;
// Unlock forgets a name's keys by this prefix.
std::string NamePrefix(std::string_view name) { return crypto::Hash(name).substr(0, 16); }
std::string PairKey(std::string_view name, std::string_view source) {
  return NamePrefix(name).append(source);
}
constexpr std::string_view kInvalidApiKey = "invalid API key";

// Shared stores (ADR 0043): the key of the change mark, and the names of
// the Transact locks. A login takes "l/" + the name's hash (a name may be
// anything a client typed); principal changes take "a/NAME" (then "l/..."
// when both, in sorted order).
constexpr std::string_view kChangeKey = "change";
std::string LoginLockName(std::string_view name) {
  return std::string("l/").append(ToHex(crypto::Hash(name)));
}
std::string AdminLockName(std::string_view name) { return std::string("a/").append(name); }

int64_t SteadyMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

std::string Named(std::string_view what, std::string_view name) {
  return std::string(what).append(" ").append(name);
}

}  // namespace

std::string_view KindName(Kind kind) {
  switch (kind) {
    case Kind::kService:
      return "service";
    case Kind::kHuman:
      return "human";
    case Kind::kUser:
      return "user";
  }
  return "unknown";
}

Result<Kind> ParseKind(std::string_view text) {
  if (text == "service") return Kind::kService;
  if (text == "human") return Kind::kHuman;
  if (text == "user") return Kind::kUser;
  return Fail(ErrorCode::kInvalidArgument, "kind must be service, human or user");
}

Status ValidateName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 64 && IsLowerAlnum(name[0]);
  for (char c : name) ok = ok && (IsLowerAlnum(c) || c == '.' || c == '_' || c == '-');
  if (!ok) {
    return Fail(ErrorCode::kInvalidArgument, "principal name must match [a-z0-9][a-z0-9._-]{0,63}");
  }
  return Ok();
}

Status ValidateRole(std::string_view role) {
  bool ok = !role.empty() && role.size() <= 64;
  for (char c : role) {
    ok = ok && (IsLowerAlnum(c) || (c >= 'A' && c <= 'Z') || c == '.' || c == '_' || c == '-');
  }
  if (!ok) return Fail(ErrorCode::kInvalidArgument, "role must match [A-Za-z0-9._-]{1,64}");
  return Ok();
}

Status ValidateAttribute(std::string_view key, std::string_view value) {
  bool key_ok =
      !key.empty() && key.size() <= 32 && ((key[0] >= 'a' && key[0] <= 'z') || key[0] == '_');
  for (char c : key) key_ok = key_ok && (IsLowerAlnum(c) || c == '_');
  if (!key_ok) {
    return Fail(ErrorCode::kInvalidArgument, "attribute key must match [a-z_][a-z0-9_]{0,31}");
  }
  auto cps = DecodeUtf8(value);
  bool value_ok = cps && !cps->empty() && cps->size() <= 128 &&
                  std::none_of(cps->begin(), cps->end(), IsControl);
  if (!value_ok) {
    return Fail(
        ErrorCode::kInvalidArgument,
        Named("attribute", key) + ": value must be 1 to 128 printable characters of valid UTF-8");
  }
  return Ok();
}

Result<std::pair<std::string, std::string>> ParseAttribute(std::string_view text) {
  const size_t eq = text.find('=');
  if (eq == std::string_view::npos) {
    return Fail(ErrorCode::kInvalidArgument, "attribute must be written key=value");
  }
  const std::string_view key = text.substr(0, eq), value = text.substr(eq + 1);
  COFFRE_TRY(ValidateAttribute(key, value));
  return std::pair{std::string(key), std::string(value)};
}

Directory::Directory(storage::SpaceHandle store, const crypto::SecretKey& api_key_hash_key,
                     const crypto::SecretKey& pepper, Clock& clock,
                     crypto::PasswordHashParams params, DirectoryOptions options)
    : store_(store),
      api_key_hash_key_(api_key_hash_key.Clone()),
      pepper_(pepper.Clone()),
      clock_(clock),
      params_(params),
      hash_slots_(options.max_concurrent_hashes),
      options_(options),
      sessions_(std::make_unique<internal::SessionTable>(
          internal::SessionLimits{options.session_idle_seconds, options.session_absolute_seconds,
                                  options.max_sessions, options.max_sessions_per_principal})),
      throttle_(std::make_unique<internal::SourceThrottle>(options.source_throttle_burst,
                                                           options.source_throttle_refill_seconds,
                                                           options.throttle_max_sources)),
      pair_throttle_(std::make_unique<internal::SourceThrottle>(
          options.throttle_burst, options.throttle_refill_seconds, options.throttle_max_pairs)),
      shared_(store.shared()) {
  if (shared_) {
    stored_sessions_ = std::make_unique<internal::StoredSessions>(
        store_, pepper_,
        internal::SessionLimits{options.session_idle_seconds, options.session_absolute_seconds,
                                options.max_sessions, options.max_sessions_per_principal});
    stored_throttle_ = std::make_unique<internal::StoredThrottle>(
        store_, "ts/", options.source_throttle_burst, options.source_throttle_refill_seconds);
    stored_pair_throttle_ = std::make_unique<internal::StoredThrottle>(
        store_, "tp/", options.throttle_burst, options.throttle_refill_seconds);
  }
}

void Directory::MarkChanged(storage::WriteBatch& batch) {
  if (shared_) batch.Put(storage::Space::kPrincipals, kChangeKey, crypto::RandomString(16));
}

void Directory::PollChanges() {
  if (!shared_) return;
  const int64_t now = SteadyMillis();
  int64_t due = next_poll_ms_.load(std::memory_order_relaxed);
  if (now < due) return;
  // One thread looks; the others go on with the caches meanwhile.
  if (!next_poll_ms_.compare_exchange_strong(due, now + options_.shared_poll_ms)) return;
  PollChangesNow();
}

void Directory::PollChangesNow() {
  if (!shared_) return;
  auto mark = store_.Get(storage::Space::kPrincipals, kChangeKey);
  std::lock_guard lock(cache_mu_);
  if (!mark) {
    // The store cannot be read: serve nothing from the caches (the reads
    // that follow fail as the store does) and look again at the next use.
    next_poll_ms_.store(0, std::memory_order_relaxed);
  } else if (*mark == seen_change_) {
    return;
  } else {
    seen_change_ = std::move(*mark);
  }
  ++cache_generation_;
  cached_principals_.clear();
  cached_key_names_.clear();
}

std::string Directory::UnregisteredLockKey(std::string_view name) const {
  // Keyed: the name may be a password typed in the wrong field, and the
  // key must not let whoever reads the store test guesses of it.
  return std::string("ul/").append(
      ToHex(crypto::KeyedHash(api_key_hash_key_, std::string("login-name:").append(name))));
}

Result<LockRecord> Directory::OpenLock(std::string_view record, std::string_view owner,
                                       const std::optional<std::string>& sealed) {
  if (!sealed) return LockRecord{};
  COFFRE_ASSIGN_OR_RETURN(
      auto plain,
      crypto::Open(pepper_, *sealed, internal::SealContext(record, owner), "lockout state"));
  auto decoded = internal::DecodeLock(plain);
  if (!decoded) return Fail(ErrorCode::kDataLoss, "corrupt lockout state");
  return *decoded;
}

namespace {
// The stored throttles' keys: keyed digests (neither a typed name nor an
// address reaches the store), the name's first in a (name, source) key so
// that an unlock forgets its keys by prefix.
std::string StoredSourceKey(const crypto::SecretKey& k, std::string_view source) {
  return ToHex(crypto::KeyedHash(k, std::string("login-source:").append(source)).substr(0, 16));
}
std::string StoredNamePrefix(const crypto::SecretKey& k, std::string_view name) {
  return ToHex(crypto::KeyedHash(k, std::string("login-name:").append(name)).substr(0, 16))
      .append("/");
}
}  // namespace

std::string Directory::ThrottleKey(std::string_view name, std::string_view source) const {
  if (!shared_) return PairKey(name, source);
  return StoredNamePrefix(api_key_hash_key_, name)
      .append(StoredSourceKey(api_key_hash_key_, source));
}

Result<int64_t> Directory::Admit(std::string_view key, int64_t now, bool pair) {
  if (!shared_) return (pair ? pair_throttle_ : throttle_)->Admit(key, now);
  if (pair) return stored_pair_throttle_->Admit(key, now);
  return stored_throttle_->Admit(StoredSourceKey(api_key_hash_key_, key), now);
}

void Directory::Refund(std::string_view key, int64_t now, bool pair) {
  if (!shared_) {
    (pair ? pair_throttle_ : throttle_)->Refund(key);
    return;
  }
  // A refund that cannot be written leaves the charge: the client waits
  // longer, nothing more.
  if (pair) {
    (void)stored_pair_throttle_->Refund(key, now);
  } else {
    (void)stored_throttle_->Refund(StoredSourceKey(api_key_hash_key_, key), now);
  }
}

Result<internal::NewSession> Directory::CreateSession(std::string_view name, int64_t now) {
  if (shared_) return stored_sessions_->Create(name, now);
  return sessions_->Create(name, now);
}

Status Directory::DropSessionsOf(std::string_view name) {
  if (shared_) return stored_sessions_->DropPrincipal(name);
  sessions_->DropPrincipal(name);
  return Ok();
}

Directory::~Directory() = default;

std::mutex& Directory::StripeFor(std::string_view name) {
  const std::string h = crypto::Hash(name);
  return stripes_[static_cast<unsigned char>(h[0]) % stripes_.size()];
}

void Directory::BurnDummyVerify(std::string_view password) {
  // A hash of a random password with the same parameters: verifying against
  // it costs what a real verification costs. Made at first need, so that
  // commands which never log in do not pay for it.
  std::call_once(dummy_once_, [this] {
    auto dummy = crypto::HashPassword(crypto::RandomString(16), params_);
    if (dummy) dummy_hash_ = std::move(*dummy);
  });
  if (dummy_hash_.empty()) {
    // Hashing failed (out of memory): hashing again costs about the same.
    (void)crypto::HashPassword(password, params_);
    return;
  }
  (void)crypto::VerifyPassword(dummy_hash_, password);
}

Result<std::optional<std::string>> Directory::LoadSealed(std::string_view record,
                                                         std::string_view name) {
  std::string key;
  if (record == "principal")
    key = internal::PrincipalKey(name);
  else if (record == "credential")
    key = internal::CredentialKey(name);
  else
    key = internal::LockKey(name);
  COFFRE_ASSIGN_OR_RETURN(auto sealed, store_.Get(storage::Space::kPrincipals, key));
  if (!sealed) return std::optional<std::string>();
  COFFRE_ASSIGN_OR_RETURN(auto plain,
                          crypto::Open(pepper_, *sealed, internal::SealContext(record, name),
                                       Named("principal record", name)));
  return std::optional<std::string>(std::move(plain));
}

Result<std::optional<Principal>> Directory::LoadPrincipal(std::string_view name) {
  PollChanges();
  uint64_t generation;
  {
    std::lock_guard lock(cache_mu_);
    if (auto it = cached_principals_.find(std::string(name)); it != cached_principals_.end()) {
      return std::optional<Principal>(it->second);
    }
    generation = cache_generation_;
  }
  COFFRE_ASSIGN_OR_RETURN(auto bytes, LoadSealed("principal", name));
  if (!bytes) return std::optional<Principal>();
  auto p = internal::DecodePrincipal(name, *bytes);
  if (!p) return Fail(ErrorCode::kDataLoss, Named("corrupt record of principal", name));
  CacheIfCurrent(cached_principals_, std::string(name), *p, generation);
  return std::optional<Principal>(std::move(*p));
}

Result<Principal> Directory::OpenPrincipal(std::string_view name, std::string_view sealed) {
  COFFRE_ASSIGN_OR_RETURN(auto plain,
                          crypto::Open(pepper_, sealed, internal::SealContext("principal", name),
                                       Named("principal record", name)));
  auto p = internal::DecodePrincipal(name, plain);
  if (!p) return Fail(ErrorCode::kDataLoss, Named("corrupt record of principal", name));
  return std::move(*p);
}

template <class V>
void Directory::CacheIfCurrent(std::unordered_map<std::string, V>& map, std::string key, V value,
                               uint64_t generation) {
  std::lock_guard lock(cache_mu_);
  if (generation != cache_generation_) return;
  if (map.size() >= kMaxCached) map.clear();
  map.emplace(std::move(key), std::move(value));
}

void Directory::Invalidate() {
  std::lock_guard lock(cache_mu_);
  ++cache_generation_;
  cached_principals_.clear();
  cached_key_names_.clear();
}

Result<AddResult> Directory::Add(const NewPrincipal& spec) {
  COFFRE_TRY(ValidateName(spec.name));
  COFFRE_TRY(ValidateRole(spec.role));
  for (const auto& [k, v] : spec.attrs) COFFRE_TRY(ValidateAttribute(k, v));
  if (!spec.totp_issuer.empty()) {
    if (spec.kind != Kind::kHuman) {
      return Fail(ErrorCode::kInvalidArgument, "a TOTP issuer is for human principals only");
    }
    COFFRE_TRY(totp::ValidateIssuer(spec.totp_issuer));
  }
  if (spec.kind == Kind::kHuman) {
    if (spec.password.empty()) {
      return Fail(ErrorCode::kInvalidArgument, "a human principal needs a password");
    }
    COFFRE_TRY(CheckPassword(spec.password, {.user_name = spec.name}));
  } else if (!spec.password.empty()) {
    return Fail(
        ErrorCode::kInvalidArgument,
        std::string("a ").append(KindName(spec.kind)).append(" principal takes no password"));
  }
  if (!spec.certificate.empty() && spec.kind != Kind::kService) {
    return Fail(ErrorCode::kInvalidArgument,
                "a client certificate is bound to service principals only");
  }

  AddResult result;
  Principal& p = result.principal;
  p.name = spec.name;
  p.kind = spec.kind;
  p.role = spec.role;
  p.attrs = spec.attrs;
  p.created_ms = clock_.NowUnixSeconds() * 1000;
  const std::string_view issuer =
      spec.totp_issuer.empty() ? totp::kDefaultIssuer : std::string_view(spec.totp_issuer);

  CredentialRecord cred;
  cred.kind = spec.kind;
  auto batch = store_.NewBatch();
  if (spec.kind == Kind::kService) {
    result.api_key = internal::NewToken(internal::kApiKeyPrefix);
    cred.api_key_hash = crypto::KeyedHash(api_key_hash_key_, result.api_key);
    batch->Put(storage::Space::kPrincipals, internal::ApiKeyLookupKey(cred.api_key_hash),
               crypto::Seal(pepper_, internal::EncodeApiKeyLookup({p.name, 0}),
                            internal::SealContext("apikey", cred.api_key_hash)));
  } else if (spec.kind == Kind::kHuman) {
    // Hashing is slow: do it before taking the name's lock.
    COFFRE_ASSIGN_OR_RETURN(cred.password_hash, crypto::HashPassword(spec.password, params_));
    cred.totp_secret = crypto::RandomString(totp::kSecretBytes);
    result.totp_secret_base32 = totp::Base32Encode(cred.totp_secret);
    result.otpauth_uri = totp::OtpauthUri(p.name, cred.totp_secret, issuer);
  }
  batch->Put(storage::Space::kPrincipals, internal::PrincipalKey(p.name),
             crypto::Seal(pepper_, internal::EncodePrincipal(p),
                          internal::SealContext("principal", p.name)));
  if (spec.kind != Kind::kUser) {
    batch->Put(storage::Space::kPrincipals, internal::CredentialKey(p.name),
               crypto::Seal(pepper_, internal::EncodeCredential(cred),
                            internal::SealContext("credential", p.name)));
  }
  // A former principal of the same name leaves no lockout state behind
  // (Remove deletes it; this guards against older data).
  batch->Delete(storage::Space::kPrincipals, internal::LockKey(p.name));

  if (shared_) {
    // The same writes in one transaction under the name's locks, so that
    // two nodes adding the same name give one principal and one
    // kAlreadyExists, and a lock counted while the name was unknown (on any
    // node) carries over exactly.
    auto fill = [&](storage::WriteBatch& b) {
      if (spec.kind == Kind::kService) {
        b.Put(storage::Space::kPrincipals, internal::ApiKeyLookupKey(cred.api_key_hash),
              crypto::Seal(pepper_, internal::EncodeApiKeyLookup({p.name, 0}),
                           internal::SealContext("apikey", cred.api_key_hash)));
      }
      b.Put(storage::Space::kPrincipals, internal::PrincipalKey(p.name),
            crypto::Seal(pepper_, internal::EncodePrincipal(p),
                         internal::SealContext("principal", p.name)));
      if (spec.kind != Kind::kUser) {
        b.Put(storage::Space::kPrincipals, internal::CredentialKey(p.name),
              crypto::Seal(pepper_, internal::EncodeCredential(cred),
                           internal::SealContext("credential", p.name)));
      }
      b.Delete(storage::Space::kPrincipals, internal::LockKey(p.name));
    };
    const std::string ul = UnregisteredLockKey(p.name);
    Status done = store_.Transact([&](storage::Transaction& t) -> Status {
      COFFRE_TRY(t.Lock(AdminLockName(p.name)));  // "a/" sorts before "l/"
      COFFRE_TRY(t.Lock(LoginLockName(p.name)));
      COFFRE_ASSIGN_OR_RETURN(auto existing,
                              t.Get(storage::Space::kPrincipals, internal::PrincipalKey(p.name)));
      if (existing) {
        return Fail(ErrorCode::kAlreadyExists, Named("principal already exists:", p.name));
      }
      fill(t.batch());
      if (!spec.certificate.empty()) {
        COFFRE_TRY(PutCertBinding(t.batch(), p.name, spec.certificate));
      }
      if (spec.kind == Kind::kHuman) {
        COFFRE_ASSIGN_OR_RETURN(auto sealed, t.Get(storage::Space::kPrincipals, ul));
        if (sealed) {
          COFFRE_ASSIGN_OR_RETURN(LockRecord carried, OpenLock("ulock", ul, sealed));
          t.batch().Put(storage::Space::kPrincipals, internal::LockKey(p.name),
                        crypto::Seal(pepper_, internal::EncodeLock(carried),
                                     internal::SealContext("lock", p.name)));
          t.batch().Delete(storage::Space::kPrincipals, ul);
        }
      }
      MarkChanged(t.batch());
      return Ok();
    });
    Invalidate();  // also after a failure: the outcome may be unknown
    COFFRE_TRY(std::move(done));
    return result;
  }

  std::lock_guard lock(StripeFor(p.name));
  COFFRE_ASSIGN_OR_RETURN(auto existing,
                          store_.Get(storage::Space::kPrincipals, internal::PrincipalKey(p.name)));
  if (existing) return Fail(ErrorCode::kAlreadyExists, Named("principal already exists:", p.name));
  if (!spec.certificate.empty()) COFFRE_TRY(PutCertBinding(*batch, p.name, spec.certificate));
  // A new human keeps the count its name had while unknown, so the lock
  // does not vanish when the account appears (that would tell it exists).
  const std::string name_hash = crypto::Hash(p.name);
  std::optional<LockRecord> carried;
  if (spec.kind == Kind::kHuman) {
    std::lock_guard memory(unregistered_mu_);
    if (auto it = unregistered_locks_.find(name_hash); it != unregistered_locks_.end()) {
      carried = *it->second;
    }
  }
  if (carried) {
    batch->Put(storage::Space::kPrincipals, internal::LockKey(p.name),
               crypto::Seal(pepper_, internal::EncodeLock(*carried),
                            internal::SealContext("lock", p.name)));
  }
  COFFRE_TRY(store_.Write(*batch));
  Invalidate();
  if (carried) {
    std::lock_guard memory(unregistered_mu_);
    unregistered_locks_.erase(name_hash);
  }
  return result;
}

Result<std::vector<Principal>> Directory::List() {
  std::vector<std::pair<std::string, std::string>> sealed;
  COFFRE_TRY(store_.Scan(storage::Space::kPrincipals, internal::kPrincipalPrefix,
                         [&](std::string_view key, std::string_view value) {
                           sealed.emplace_back(key.substr(internal::kPrincipalPrefix.size()),
                                               value);
                           return true;
                         }));
  std::vector<Principal> out;
  out.reserve(sealed.size());
  for (const auto& [name, value] : sealed) {
    COFFRE_ASSIGN_OR_RETURN(auto plain,
                            crypto::Open(pepper_, value, internal::SealContext("principal", name),
                                         Named("principal record", name)));
    auto p = internal::DecodePrincipal(name, plain);
    if (!p) return Fail(ErrorCode::kDataLoss, Named("corrupt record of principal", name));
    out.push_back(std::move(*p));
  }
  return out;
}

Result<Principal> Directory::Get(std::string_view name) {
  COFFRE_TRY(ValidateName(name));
  COFFRE_ASSIGN_OR_RETURN(auto p, LoadPrincipal(name));
  if (!p) return Fail(ErrorCode::kNotFound, Named("no principal", name));
  return std::move(*p);
}

Result<bool> Directory::Exists(std::string_view name) {
  if (!ValidateName(name)) return false;
  COFFRE_ASSIGN_OR_RETURN(auto v,
                          store_.Get(storage::Space::kPrincipals, internal::PrincipalKey(name)));
  return v.has_value();
}

Result<Principal> Directory::GetUser(std::string_view name) {
  COFFRE_TRY(ValidateName(name));
  COFFRE_ASSIGN_OR_RETURN(auto p, LoadPrincipal(name));
  if (!p || p->kind != Kind::kUser) return Fail(ErrorCode::kNotFound, Named("no user", name));
  if (p->suspended) return Fail(ErrorCode::kPermissionDenied, Named("suspended user", name));
  return std::move(*p);
}

Status Directory::SetSuspended(std::string_view name, bool suspended) {
  COFFRE_TRY(ValidateName(name));
  if (shared_) {
    // Read and written under the name's lock in the store: a concurrent
    // update on another node cannot write back the state before.
    Status done = store_.Transact([&](storage::Transaction& t) -> Status {
      COFFRE_TRY(t.Lock(AdminLockName(name)));
      COFFRE_ASSIGN_OR_RETURN(auto sealed,
                              t.Get(storage::Space::kPrincipals, internal::PrincipalKey(name)));
      if (!sealed) return Fail(ErrorCode::kNotFound, Named("no principal", name));
      COFFRE_ASSIGN_OR_RETURN(auto p, OpenPrincipal(name, *sealed));
      if (p.suspended == suspended) return Ok();
      p.suspended = suspended;
      t.batch().Put(storage::Space::kPrincipals, internal::PrincipalKey(name),
                    crypto::Seal(pepper_, internal::EncodePrincipal(p),
                                 internal::SealContext("principal", name)));
      MarkChanged(t.batch());
      return Ok();
    });
    Invalidate();
    COFFRE_TRY(std::move(done));
    if (suspended) COFFRE_TRY(DropSessionsOf(name));
    return Ok();
  }
  std::lock_guard lock(StripeFor(name));
  COFFRE_ASSIGN_OR_RETURN(auto p, LoadPrincipal(name));
  if (!p) return Fail(ErrorCode::kNotFound, Named("no principal", name));
  if (p->suspended != suspended) {
    p->suspended = suspended;
    auto batch = store_.NewBatch();
    batch->Put(storage::Space::kPrincipals, internal::PrincipalKey(name),
               crypto::Seal(pepper_, internal::EncodePrincipal(*p),
                            internal::SealContext("principal", name)));
    Status written = store_.Write(*batch);
    // Also after a failed write: its outcome is unknown.
    Invalidate();
    COFFRE_TRY(std::move(written));
  }
  if (suspended) sessions_->DropPrincipal(name);
  return Ok();
}

Status Directory::Suspend(std::string_view name) { return SetSuspended(name, true); }
Status Directory::Resume(std::string_view name) { return SetSuspended(name, false); }

Status Directory::Remove(std::string_view name) {
  COFFRE_TRY(ValidateName(name));
  std::lock_guard lock(StripeFor(name));
  COFFRE_ASSIGN_OR_RETURN(auto p, LoadPrincipal(name));
  if (!p) return Fail(ErrorCode::kNotFound, Named("no principal", name));
  auto batch = store_.NewBatch();
  COFFRE_ASSIGN_OR_RETURN(auto cred_bytes, LoadSealed("credential", name));
  if (cred_bytes) {
    auto cred = internal::DecodeCredential(*cred_bytes);
    if (!cred) return Fail(ErrorCode::kDataLoss, Named("corrupt credential of principal", name));
    if (!cred->api_key_hash.empty()) {
      batch->Delete(storage::Space::kPrincipals, internal::ApiKeyLookupKey(cred->api_key_hash));
    }
    if (!cred->previous_api_key_hash.empty()) {
      batch->Delete(storage::Space::kPrincipals,
                    internal::ApiKeyLookupKey(cred->previous_api_key_hash));
    }
  }
  COFFRE_ASSIGN_OR_RETURN(auto binding, GetCertificateBinding(name));
  if (binding) {
    batch->Delete(storage::Space::kPrincipals,
                  binding->fingerprint.empty()
                      ? internal::CertSubjectKey(binding->subject)
                      : internal::CertFingerprintKey(binding->fingerprint));
    batch->Delete(storage::Space::kPrincipals, internal::CertBindingKey(name));
  }
  batch->Delete(storage::Space::kPrincipals, internal::PrincipalKey(name));
  batch->Delete(storage::Space::kPrincipals, internal::CredentialKey(name));
  batch->Delete(storage::Space::kPrincipals, internal::LockKey(name));
  // A removed human's count goes on in memory, as for any unknown name, so
  // the lock does not vanish when the account does.
  std::optional<LockRecord> carried;
  if (p->kind == Kind::kHuman) {
    COFFRE_ASSIGN_OR_RETURN(auto lock_bytes, LoadSealed("lock", name));
    if (lock_bytes) carried = internal::DecodeLock(*lock_bytes);
  }
  if (shared_) {
    // The count goes on in the store, as any unknown name's.
    if (carried && (carried->failures > 0 || carried->locked_until > 0)) {
      carried->last_step = -1;
      const std::string ul = UnregisteredLockKey(name);
      batch->Put(storage::Space::kPrincipals, ul,
                 crypto::Seal(pepper_, internal::EncodeLock(*carried),
                              internal::SealContext("ulock", ul)));
    }
    carried.reset();
    MarkChanged(*batch);
  }
  Status written = store_.Write(*batch);
  Invalidate();
  COFFRE_TRY(std::move(written));
  COFFRE_TRY(DropSessionsOf(name));
  if (carried && (carried->failures > 0 || carried->locked_until > 0)) {
    carried->last_step = -1;
    std::lock_guard memory(unregistered_mu_);
    if (unregistered_locks_.size() < options_.max_unregistered_locks) {
      unregistered_locks_[crypto::Hash(name)] = std::make_unique<LockRecord>(*carried);
    }
  }
  return Ok();
}

Result<Principal> Directory::AuthenticateApiKey(std::string_view key) {
  if (!internal::WellFormedToken(key, internal::kApiKeyPrefix)) {
    return Fail(ErrorCode::kUnauthenticated, std::string(kInvalidApiKey));
  }
  // The lookup is by keyed hash: no comparison of secrets, no scan.
  const std::string key_hash = crypto::KeyedHash(api_key_hash_key_, key);
  PollChanges();
  std::string name;
  int64_t expires_at = 0;
  uint64_t generation;
  {
    std::lock_guard lock(cache_mu_);
    if (auto it = cached_key_names_.find(key_hash); it != cached_key_names_.end()) {
      std::tie(name, expires_at) = it->second;
    }
    generation = cache_generation_;
  }
  if (name.empty()) {
    COFFRE_ASSIGN_OR_RETURN(
        auto sealed, store_.Get(storage::Space::kPrincipals, internal::ApiKeyLookupKey(key_hash)));
    if (!sealed) return Fail(ErrorCode::kUnauthenticated, std::string(kInvalidApiKey));
    COFFRE_ASSIGN_OR_RETURN(
        auto plain,
        crypto::Open(pepper_, *sealed, internal::SealContext("apikey", key_hash), "API key entry"));
    auto lookup = internal::DecodeApiKeyLookup(plain);
    if (!lookup) return Fail(ErrorCode::kDataLoss, "corrupt API key entry");
    name = std::move(lookup->name);
    expires_at = lookup->expires_at;
    CacheIfCurrent(cached_key_names_, key_hash, std::pair{name, expires_at}, generation);
  }
  // A key replaced with a grace period stops at its end.
  if (expires_at != 0 && clock_.NowUnixSeconds() >= expires_at) {
    return Fail(ErrorCode::kUnauthenticated, std::string(kInvalidApiKey));
  }
  COFFRE_ASSIGN_OR_RETURN(auto p, LoadPrincipal(name));
  if (!p || p->kind != Kind::kService) {
    return Fail(ErrorCode::kUnauthenticated, std::string(kInvalidApiKey));
  }
  if (p->suspended) return Fail(ErrorCode::kPermissionDenied, Named("suspended principal", name));
  return std::move(*p);
}

Status Directory::PutCertBinding(storage::WriteBatch& batch, std::string_view name,
                                 const CertificateBinding& b) {
  std::string lookup;
  if (!b.fingerprint.empty()) {
    if (!b.ca_pem.empty() || !b.subject.empty()) {
      return Fail(ErrorCode::kInvalidArgument,
                  "bind a client certificate by its fingerprint, or by a CA and a subject, not "
                  "both");
    }
    COFFRE_ASSIGN_OR_RETURN(std::string fp, crypto::NormalizeFingerprint(b.fingerprint));
    if (fp != b.fingerprint)
      return Fail(ErrorCode::kInvalidArgument, "the fingerprint is not normalised");
    lookup = internal::CertFingerprintKey(fp);
  } else {
    if (b.ca_pem.empty() || b.subject.empty()) {
      return Fail(ErrorCode::kInvalidArgument,
                  "a client certificate bound by CA needs both the CA and the subject");
    }
    if (b.subject.size() > 1024)
      return Fail(ErrorCode::kInvalidArgument, "the certificate subject is too long");
    COFFRE_TRY(crypto::CheckCaCertificates(b.ca_pem));
    lookup = internal::CertSubjectKey(b.subject);
  }
  COFFRE_ASSIGN_OR_RETURN(auto taken, store_.Get(storage::Space::kPrincipals, lookup));
  if (taken) {
    return Fail(ErrorCode::kAlreadyExists,
                "another principal is bound to this client certificate (fingerprint or subject)");
  }
  batch.Put(storage::Space::kPrincipals, lookup,
            crypto::Seal(pepper_, name, internal::SealContext("certlookup", lookup)));
  batch.Put(storage::Space::kPrincipals, internal::CertBindingKey(name),
            crypto::Seal(pepper_, internal::EncodeCertBinding(b),
                         internal::SealContext("certbinding", name)));
  return Ok();
}

Result<std::optional<CertificateBinding>> Directory::GetCertificateBinding(std::string_view name) {
  COFFRE_ASSIGN_OR_RETURN(auto sealed,
                          store_.Get(storage::Space::kPrincipals, internal::CertBindingKey(name)));
  if (!sealed) return std::optional<CertificateBinding>();
  COFFRE_ASSIGN_OR_RETURN(auto plain,
                          crypto::Open(pepper_, *sealed, internal::SealContext("certbinding", name),
                                       Named("certificate binding of", name)));
  auto b = internal::DecodeCertBinding(plain);
  if (!b) return Fail(ErrorCode::kDataLoss, Named("corrupt certificate binding of", name));
  return std::optional<CertificateBinding>(std::move(*b));
}

Result<Principal> Directory::AuthenticateCertificate(const ClientCertificateView& cert) {
  auto unbound = [] {
    return Fail(ErrorCode::kUnauthenticated, "no principal is bound to this client certificate");
  };
  // The name bound to `lookup`, if any.
  auto bound = [&](const std::string& lookup) -> Result<std::optional<std::string>> {
    COFFRE_ASSIGN_OR_RETURN(auto sealed, store_.Get(storage::Space::kPrincipals, lookup));
    if (!sealed) return std::optional<std::string>();
    COFFRE_ASSIGN_OR_RETURN(
        auto name, crypto::Open(pepper_, *sealed, internal::SealContext("certlookup", lookup),
                                "certificate lookup entry"));
    return std::optional<std::string>(std::move(name));
  };
  COFFRE_ASSIGN_OR_RETURN(auto name, bound(internal::CertFingerprintKey(cert.fingerprint)));
  if (!name) {
    COFFRE_ASSIGN_OR_RETURN(name, bound(internal::CertSubjectKey(cert.subject)));
    if (!name) return unbound();
    // Bound by subject: the binding's CA must have issued this certificate.
    COFFRE_ASSIGN_OR_RETURN(auto b, GetCertificateBinding(*name));
    if (!b || b->subject != cert.subject) return unbound();
    if (auto verified = crypto::VerifyClientChain(std::string(cert.chain_pem), b->ca_pem,
                                                  clock_.NowUnixSeconds());
        !verified) {
      return unbound();
    }
  }
  COFFRE_ASSIGN_OR_RETURN(auto p, LoadPrincipal(*name));
  if (!p || p->kind != Kind::kService) return unbound();
  if (p->suspended) return Fail(ErrorCode::kPermissionDenied, Named("suspended principal", *name));
  return std::move(*p);
}

Result<LoginResult> Directory::Login(const LoginRequest& request, int64_t* retry_after_seconds,
                                     LoginNote* note_out) {
  int64_t ignored = 0;
  int64_t& retry_after = retry_after_seconds != nullptr ? *retry_after_seconds : ignored;
  retry_after = 0;
  LoginNote ignored_note;
  LoginNote& note = note_out != nullptr ? *note_out : ignored_note;
  note = LoginNote{};
  const int64_t now = clock_.NowUnixSeconds();
  // Throttle first: a throttled attempt never reaches an account. The
  // source's bound is high (a NAT or a proxy holds many people); the
  // (name, source) bound is the tight one, so failures under one name do
  // not shut out the others behind the same address.
  // (On a shared store, each step is a transaction in the store.)
  COFFRE_ASSIGN_OR_RETURN(const int64_t source_wait, Admit(request.source, now, false));
  if (source_wait > 0) {
    retry_after = source_wait;
    note.refusal = "throttled (source)";
    return Fail(ErrorCode::kResourceExhausted, "too many failed logins from this source");
  }
  const std::string pair = ThrottleKey(request.name, request.source);
  auto pair_wait = Admit(pair, now, true);
  if (!pair_wait || *pair_wait > 0) {
    Refund(request.source, now, false);  // not an attempt: nothing was checked
    if (!pair_wait) return Fail(std::move(pair_wait).error());
    retry_after = *pair_wait;
    note.refusal = "throttled (name, source)";
    return Fail(ErrorCode::kResourceExhausted, "too many failed logins from this source");
  }
  // Every path below runs Argon2id (the real hash or the dummy one): a
  // slot first, so a flood of logins from many sources holds at most
  // max_concurrent_hashes x the parameters' memory and no waiting worker.
  HashSlot slot(hash_slots_);
  if (!slot.held()) {
    Refund(request.source, now, false);  // not an attempt: nothing was checked
    Refund(pair, now, true);
    retry_after = 1;
    note.refusal = "busy";
    return Fail(ErrorCode::kResourceExhausted, "too many logins in progress; retry shortly");
  }
  if (!ValidateName(request.name)) {
    BurnDummyVerify(request.password);
    note.refusal = kInvalidCredentials;
    return Fail(ErrorCode::kUnauthenticated, std::string(kInvalidCredentials));
  }
  std::lock_guard lock(StripeFor(request.name));
  auto result = LoginLocked(request, now, &retry_after, note);
  if (result) {
    Refund(request.source, now, false);
    Refund(pair, now, true);
  }
  return result;
}

Result<LoginResult> Directory::UnregisteredAttempt(std::string_view name, std::string_view password,
                                                   int64_t now, int64_t* retry_after,
                                                   LoginNote& note) {
  // The same rule as a human's stored lock (LoginLocked), kept in memory:
  // 10 failures lock the name for 30 minutes, whether it exists or not.
  // The caller holds the name's stripe, so counts are exact.
  const std::string key = crypto::Hash(name);
  {
    std::lock_guard lock(unregistered_mu_);
    auto it = unregistered_locks_.find(key);
    if (it != unregistered_locks_.end() && it->second->locked_until > now) {
      *retry_after = it->second->locked_until - now;
      note.refusal = "locked";
      return Fail(ErrorCode::kResourceExhausted, "account locked after repeated failed logins");
    }
  }
  BurnDummyVerify(password);
  {
    std::lock_guard lock(unregistered_mu_);
    auto it = unregistered_locks_.find(key);
    if (it == unregistered_locks_.end()) {
      if (unregistered_locks_.size() >= std::max<size_t>(options_.max_unregistered_locks, 1)) {
        // Full: forget names whose lock has ended and that have no count,
        // then the one least far from nothing (fewest failures, unlocked).
        std::erase_if(unregistered_locks_, [now](const auto& e) {
          return e.second->locked_until <= now && e.second->failures == 0;
        });
        if (unregistered_locks_.size() >= std::max<size_t>(options_.max_unregistered_locks, 1)) {
          auto least =
              std::min_element(unregistered_locks_.begin(), unregistered_locks_.end(),
                               [](const auto& a, const auto& b) {
                                 return std::pair(a.second->locked_until, a.second->failures) <
                                        std::pair(b.second->locked_until, b.second->failures);
                               });
          unregistered_locks_.erase(least);
        }
      }
      it = unregistered_locks_.emplace(key, std::make_unique<LockRecord>()).first;
    }
    LockRecord& l = *it->second;
    if (l.locked_until <= now) l.locked_until = 0;
    if (++l.failures >= options_.lockout_failures) {
      l.failures = 0;
      l.locked_until = now + options_.lockout_seconds;
    }
  }
  note.refusal = kInvalidCredentials;
  return Fail(ErrorCode::kUnauthenticated, std::string(kInvalidCredentials));
}

Result<LoginResult> Directory::SharedUnregisteredAttempt(std::string_view name,
                                                         std::string_view password, int64_t now,
                                                         int64_t* retry_after, LoginNote& note) {
  // UnregisteredAttempt's rule with the count in the store, under the
  // name's login lock (the one a human's login takes). Every name writes on
  // a failure, so the writes do not tell real names apart either.
  const std::string key = UnregisteredLockKey(name);
  bool locked = false;
  COFFRE_TRY(store_.Transact([&](storage::Transaction& t) -> Status {
    COFFRE_TRY(t.Lock(LoginLockName(name)));
    COFFRE_ASSIGN_OR_RETURN(auto sealed, t.Get(storage::Space::kPrincipals, key));
    COFFRE_ASSIGN_OR_RETURN(LockRecord l, OpenLock("ulock", key, sealed));
    locked = l.locked_until > now;
    if (locked) {
      *retry_after = l.locked_until - now;
      return Ok();
    }
    BurnDummyVerify(password);
    l.locked_until = 0;
    if (++l.failures >= options_.lockout_failures) {
      l.failures = 0;
      l.locked_until = now + options_.lockout_seconds;
    }
    t.batch().Put(
        storage::Space::kPrincipals, key,
        crypto::Seal(pepper_, internal::EncodeLock(l), internal::SealContext("ulock", key)));
    return Ok();
  }));
  if (locked) {
    note.refusal = "locked";
    return Fail(ErrorCode::kResourceExhausted, "account locked after repeated failed logins");
  }
  note.refusal = kInvalidCredentials;
  return Fail(ErrorCode::kUnauthenticated, std::string(kInvalidCredentials));
}

Result<std::optional<CredentialRecord>> Directory::OpenCredential(
    std::string_view name, const std::optional<std::string>& sealed) {
  if (!sealed) return std::optional<CredentialRecord>();
  COFFRE_ASSIGN_OR_RETURN(auto plain,
                          crypto::Open(pepper_, *sealed, internal::SealContext("credential", name),
                                       Named("principal record", name)));
  auto cred = internal::DecodeCredential(plain);
  if (!cred) return Fail(ErrorCode::kDataLoss, Named("corrupt credential of principal", name));
  return std::optional<CredentialRecord>(std::move(*cred));
}

Result<std::optional<CredentialRecord>> Directory::LoadCredential(std::string_view name) {
  COFFRE_ASSIGN_OR_RETURN(auto bytes, LoadSealed("credential", name));
  if (!bytes) return std::optional<CredentialRecord>();
  auto cred = internal::DecodeCredential(*bytes);
  if (!cred) return Fail(ErrorCode::kDataLoss, Named("corrupt credential of principal", name));
  return std::optional<CredentialRecord>(std::move(*cred));
}

void Directory::PutCredential(storage::WriteBatch& batch, std::string_view name,
                              const CredentialRecord& cred) {
  batch.Put(storage::Space::kPrincipals, internal::CredentialKey(name),
            crypto::Seal(pepper_, internal::EncodeCredential(cred),
                         internal::SealContext("credential", name)));
}

Result<LoginResult> Directory::LoginLocked(const LoginRequest& request, int64_t now,
                                           int64_t* retry_after, LoginNote& note) {
  const std::string_view name = request.name;
  std::optional<Principal> p;
  if (shared_) {
    // As stored now, not as cached: a suspension made on another node a
    // moment ago refuses this login.
    COFFRE_ASSIGN_OR_RETURN(auto bytes, LoadSealed("principal", name));
    if (bytes) {
      p = internal::DecodePrincipal(name, *bytes);
      if (!p) return Fail(ErrorCode::kDataLoss, Named("corrupt record of principal", name));
    }
  } else {
    COFFRE_ASSIGN_OR_RETURN(p, LoadPrincipal(name));
  }
  note.registered = p.has_value();
  note.end_user = p && p->kind == Kind::kUser;
  std::optional<CredentialRecord> cred;
  if (p && p->kind == Kind::kHuman) {
    COFFRE_ASSIGN_OR_RETURN(cred, LoadCredential(name));
  }
  if (!cred || cred->password_hash.empty()) {
    if (shared_) return SharedUnregisteredAttempt(name, request.password, now, retry_after, note);
    return UnregisteredAttempt(name, request.password, now, retry_after, note);
  }

  bool ok = false;
  bool locked = false;
  // One attempt against `lock`, its new state and any rehash put in `batch`.
  auto attempt = [&](LockRecord& lock, storage::WriteBatch& batch) {
    ok = false;
    locked = lock.locked_until > now;
    if (locked) {
      *retry_after = lock.locked_until - now;
      return;
    }
    lock.locked_until = 0;
    // Both factors are always checked: the answer and its cost do not say
    // which one was wrong.
    const bool password_ok = crypto::VerifyPassword(cred->password_hash, request.password);
    const auto step = totp::Verify(cred->totp_secret, request.totp, now, lock.last_step);
    ok = password_ok && step.has_value();
    if (ok) {
      lock.failures = 0;
      lock.last_step = *step;
      if (crypto::PasswordNeedsRehash(cred->password_hash, params_)) {
        auto rehashed = crypto::HashPassword(request.password, params_);
        if (rehashed) {
          CredentialRecord updated = *cred;
          updated.password_hash = std::move(*rehashed);
          PutCredential(batch, name, updated);
        }
      }
    } else if (++lock.failures >= options_.lockout_failures) {
      lock.failures = 0;
      lock.locked_until = now + options_.lockout_seconds;
    }
    batch.Put(
        storage::Space::kPrincipals, internal::LockKey(name),
        crypto::Seal(pepper_, internal::EncodeLock(lock), internal::SealContext("lock", name)));
  };

  if (shared_) {
    // The lock read, checked and written in one transaction under the
    // name's lock: guesses spread over every node are counted exactly, and
    // a TOTP step is accepted once across the cluster.
    COFFRE_TRY(store_.Transact([&](storage::Transaction& t) -> Status {
      COFFRE_TRY(t.Lock(LoginLockName(name)));
      // The credential as stored now (a TOTP reset on another node may
      // have replaced it since it was read above).
      COFFRE_ASSIGN_OR_RETURN(auto sealed_c,
                              t.Get(storage::Space::kPrincipals, internal::CredentialKey(name)));
      COFFRE_ASSIGN_OR_RETURN(auto current, OpenCredential(name, sealed_c));
      if (current && !current->password_hash.empty()) cred = std::move(current);
      COFFRE_ASSIGN_OR_RETURN(auto sealed,
                              t.Get(storage::Space::kPrincipals, internal::LockKey(name)));
      COFFRE_ASSIGN_OR_RETURN(LockRecord lock, OpenLock("lock", name, sealed));
      attempt(lock, t.batch());
      return Ok();  // locked: nothing in the batch
    }));
  } else {
    LockRecord lock;
    COFFRE_ASSIGN_OR_RETURN(auto lock_bytes, LoadSealed("lock", name));
    if (lock_bytes) {
      auto decoded = internal::DecodeLock(*lock_bytes);
      if (!decoded)
        return Fail(ErrorCode::kDataLoss, Named("corrupt lockout state of principal", name));
      lock = *decoded;
    }
    auto batch = store_.NewBatch();
    attempt(lock, *batch);
    // A success is synced: it records the TOTP step, which must never be
    // accepted twice. A failure is not: an unknown name writes nothing, and a
    // synced write only for real names would time them apart (ADR 0017). The
    // count still survives a restart of the process; a power loss may forget
    // the last failures, which gives back at most a lock's worth of guesses.
    if (!locked) COFFRE_TRY(store_.Write(*batch, /*sync=*/ok));
  }
  if (locked) {
    note.refusal = "locked";
    return Fail(ErrorCode::kResourceExhausted, "account locked after repeated failed logins");
  }
  if (!ok) {
    note.refusal = kInvalidCredentials;
    return Fail(ErrorCode::kUnauthenticated, std::string(kInvalidCredentials));
  }
  // Only someone holding both factors learns of the suspension.
  if (p->suspended) {
    note.refusal = "suspended";
    return Fail(ErrorCode::kPermissionDenied, Named("suspended principal", name));
  }

  COFFRE_ASSIGN_OR_RETURN(auto session, CreateSession(name, now));
  return LoginResult{std::move(session.token), session.expires_at, std::move(*p)};
}

Result<Principal> Directory::Update(std::string_view name, const PrincipalUpdate& update) {
  COFFRE_TRY(ValidateName(name));
  if (!update.role && update.set_attrs.empty() && update.remove_attrs.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "nothing to update: give a role or attributes");
  }
  if (update.role) COFFRE_TRY(ValidateRole(*update.role));
  for (const auto& [k, v] : update.set_attrs) COFFRE_TRY(ValidateAttribute(k, v));
  auto apply = [&](Principal& q) -> Status {
    for (const std::string& k : update.remove_attrs) {
      if (update.set_attrs.contains(k)) {
        return Fail(ErrorCode::kInvalidArgument,
                    Named("attribute", k) + " is both set and removed");
      }
      if (q.attrs.erase(k) == 0) {
        return Fail(ErrorCode::kNotFound, Named("principal", name) + " has no attribute " + k);
      }
    }
    for (const auto& [k, v] : update.set_attrs) q.attrs[k] = v;
    if (update.role) q.role = *update.role;
    return Ok();
  };
  if (shared_) {
    // Read and written under the name's lock in the store (see SetSuspended).
    Principal out;
    Status done = store_.Transact([&](storage::Transaction& t) -> Status {
      COFFRE_TRY(t.Lock(AdminLockName(name)));
      COFFRE_ASSIGN_OR_RETURN(auto sealed,
                              t.Get(storage::Space::kPrincipals, internal::PrincipalKey(name)));
      if (!sealed) return Fail(ErrorCode::kNotFound, Named("no principal", name));
      COFFRE_ASSIGN_OR_RETURN(out, OpenPrincipal(name, *sealed));
      COFFRE_TRY(apply(out));
      t.batch().Put(storage::Space::kPrincipals, internal::PrincipalKey(name),
                    crypto::Seal(pepper_, internal::EncodePrincipal(out),
                                 internal::SealContext("principal", name)));
      MarkChanged(t.batch());
      return Ok();
    });
    Invalidate();
    COFFRE_TRY(std::move(done));
    return out;
  }
  std::lock_guard lock(StripeFor(name));
  COFFRE_ASSIGN_OR_RETURN(auto p, LoadPrincipal(name));
  if (!p) return Fail(ErrorCode::kNotFound, Named("no principal", name));
  COFFRE_TRY(apply(*p));
  auto batch = store_.NewBatch();
  batch->Put(storage::Space::kPrincipals, internal::PrincipalKey(name),
             crypto::Seal(pepper_, internal::EncodePrincipal(*p),
                          internal::SealContext("principal", name)));
  Status written = store_.Write(*batch);
  Invalidate();  // also after a failed write: its outcome is unknown
  COFFRE_TRY(std::move(written));
  return std::move(*p);
}

Result<RotatedKey> Directory::RotateApiKey(std::string_view name, int64_t grace_seconds) {
  COFFRE_TRY(ValidateName(name));
  if (grace_seconds < 0 || grace_seconds > kMaxGraceSeconds) {
    return Fail(ErrorCode::kInvalidArgument, "grace must be from 0 to 7 days");
  }
  const int64_t now = clock_.NowUnixSeconds();
  // The rotation of `p`'s credential `cred`, its writes put in `batch`.
  auto rotate = [&](const std::optional<Principal>& p, std::optional<CredentialRecord> cred,
                    storage::WriteBatch& batch) -> Result<RotatedKey> {
    if (!p) return Fail(ErrorCode::kNotFound, Named("no principal", name));
    if (p->kind != Kind::kService) {
      return Fail(ErrorCode::kInvalidArgument, Named("principal", name) + " is a " +
                                                   std::string(KindName(p->kind)) +
                                                   ": only a service has an API key");
    }
    if (!cred || cred->api_key_hash.empty()) {
      return Fail(ErrorCode::kDataLoss, Named("no API key stored for principal", name));
    }
    // One old key at most: a key kept by an earlier rotation stops now.
    if (!cred->previous_api_key_hash.empty()) {
      batch.Delete(storage::Space::kPrincipals,
                   internal::ApiKeyLookupKey(cred->previous_api_key_hash));
    }
    RotatedKey out;
    if (grace_seconds > 0) {
      out.previous_valid_until = now + grace_seconds;
      cred->previous_api_key_hash = cred->api_key_hash;
      cred->previous_expires_at = out.previous_valid_until;
      batch.Put(
          storage::Space::kPrincipals, internal::ApiKeyLookupKey(cred->api_key_hash),
          crypto::Seal(pepper_,
                       internal::EncodeApiKeyLookup({std::string(name), out.previous_valid_until}),
                       internal::SealContext("apikey", cred->api_key_hash)));
    } else {
      batch.Delete(storage::Space::kPrincipals, internal::ApiKeyLookupKey(cred->api_key_hash));
      cred->previous_api_key_hash.clear();
      cred->previous_expires_at = 0;
    }
    out.api_key = internal::NewToken(internal::kApiKeyPrefix);
    cred->api_key_hash = crypto::KeyedHash(api_key_hash_key_, out.api_key);
    batch.Put(storage::Space::kPrincipals, internal::ApiKeyLookupKey(cred->api_key_hash),
              crypto::Seal(pepper_, internal::EncodeApiKeyLookup({std::string(name), 0}),
                           internal::SealContext("apikey", cred->api_key_hash)));
    PutCredential(batch, name, *cred);
    MarkChanged(batch);
    return out;
  };
  if (shared_) {
    // Read and written under the name's lock in the store: two rotations
    // on two nodes leave one key and one previous key, as on one node.
    RotatedKey out;
    Status done = store_.Transact([&](storage::Transaction& t) -> Status {
      COFFRE_TRY(t.Lock(AdminLockName(name)));
      std::optional<Principal> p;
      COFFRE_ASSIGN_OR_RETURN(auto sealed_p,
                              t.Get(storage::Space::kPrincipals, internal::PrincipalKey(name)));
      if (sealed_p) {
        COFFRE_ASSIGN_OR_RETURN(p, OpenPrincipal(name, *sealed_p));
      }
      COFFRE_ASSIGN_OR_RETURN(auto sealed_c,
                              t.Get(storage::Space::kPrincipals, internal::CredentialKey(name)));
      COFFRE_ASSIGN_OR_RETURN(auto cred, OpenCredential(name, sealed_c));
      COFFRE_ASSIGN_OR_RETURN(out, rotate(p, std::move(cred), t.batch()));
      return Ok();
    });
    Invalidate();
    COFFRE_TRY(std::move(done));
    return out;
  }
  std::lock_guard lock(StripeFor(name));
  COFFRE_ASSIGN_OR_RETURN(auto p, LoadPrincipal(name));
  std::optional<CredentialRecord> cred;
  if (p && p->kind == Kind::kService) {
    COFFRE_ASSIGN_OR_RETURN(cred, LoadCredential(name));
  }
  auto batch = store_.NewBatch();
  COFFRE_ASSIGN_OR_RETURN(RotatedKey out, rotate(p, std::move(cred), *batch));
  Status written = store_.Write(*batch);
  Invalidate();
  COFFRE_TRY(std::move(written));
  return out;
}

Result<TotpEnrolment> Directory::ResetTotp(std::string_view name, std::string_view issuer) {
  COFFRE_TRY(ValidateName(name));
  if (issuer.empty()) issuer = totp::kDefaultIssuer;
  COFFRE_TRY(totp::ValidateIssuer(issuer));
  if (shared_) {
    // Under the name's locks (a login's too: it may rewrite the credential
    // with a rehashed password), reading the credential inside.
    std::string secret;
    COFFRE_TRY(store_.Transact([&](storage::Transaction& t) -> Status {
      COFFRE_TRY(t.Lock(AdminLockName(name)));  // "a/" sorts before "l/"
      COFFRE_TRY(t.Lock(LoginLockName(name)));
      COFFRE_ASSIGN_OR_RETURN(auto sealed_p,
                              t.Get(storage::Space::kPrincipals, internal::PrincipalKey(name)));
      if (!sealed_p) return Fail(ErrorCode::kNotFound, Named("no principal", name));
      COFFRE_ASSIGN_OR_RETURN(Principal p, OpenPrincipal(name, *sealed_p));
      if (p.kind != Kind::kHuman) {
        return Fail(ErrorCode::kInvalidArgument, Named("principal", name) + " is a " +
                                                     std::string(KindName(p.kind)) +
                                                     ": only a human has a TOTP secret");
      }
      COFFRE_ASSIGN_OR_RETURN(auto sealed_c,
                              t.Get(storage::Space::kPrincipals, internal::CredentialKey(name)));
      COFFRE_ASSIGN_OR_RETURN(auto cred, OpenCredential(name, sealed_c));
      if (!cred) {
        return Fail(ErrorCode::kDataLoss, Named("no credential stored for principal", name));
      }
      cred->totp_secret = crypto::RandomString(totp::kSecretBytes);
      secret = cred->totp_secret;
      PutCredential(t.batch(), name, *cred);
      return Ok();
    }));
    COFFRE_TRY(DropSessionsOf(name));
    return TotpEnrolment{totp::Base32Encode(secret), totp::OtpauthUri(name, secret, issuer)};
  }
  std::lock_guard lock(StripeFor(name));
  COFFRE_ASSIGN_OR_RETURN(auto p, LoadPrincipal(name));
  if (!p) return Fail(ErrorCode::kNotFound, Named("no principal", name));
  if (p->kind != Kind::kHuman) {
    return Fail(ErrorCode::kInvalidArgument, Named("principal", name) + " is a " +
                                                 std::string(KindName(p->kind)) +
                                                 ": only a human has a TOTP secret");
  }
  COFFRE_ASSIGN_OR_RETURN(auto cred, LoadCredential(name));
  if (!cred) return Fail(ErrorCode::kDataLoss, Named("no credential stored for principal", name));
  cred->totp_secret = crypto::RandomString(totp::kSecretBytes);
  auto batch = store_.NewBatch();
  PutCredential(*batch, name, *cred);
  COFFRE_TRY(store_.Write(*batch));
  // Whoever held the old second factor keeps no session made with it.
  COFFRE_TRY(DropSessionsOf(name));
  return TotpEnrolment{totp::Base32Encode(cred->totp_secret),
                       totp::OtpauthUri(name, cred->totp_secret, issuer)};
}

Result<bool> Directory::Unlock(std::string_view name) {
  COFFRE_TRY(ValidateName(name));
  std::lock_guard lock(StripeFor(name));
  COFFRE_ASSIGN_OR_RETURN(auto p, LoadPrincipal(name));
  if (!p || p->kind != Kind::kHuman)
    return Fail(ErrorCode::kNotFound, Named("no human principal", name));
  bool was_locked = false;
  if (shared_) {
    const int64_t now = clock_.NowUnixSeconds();
    COFFRE_TRY(store_.Transact([&](storage::Transaction& t) -> Status {
      COFFRE_TRY(t.Lock(LoginLockName(name)));
      COFFRE_ASSIGN_OR_RETURN(auto sealed,
                              t.Get(storage::Space::kPrincipals, internal::LockKey(name)));
      if (!sealed) return Ok();
      COFFRE_ASSIGN_OR_RETURN(LockRecord l, OpenLock("lock", name, sealed));
      was_locked = l.locked_until > now;
      if (l.failures == 0 && l.locked_until == 0) return Ok();
      l.failures = 0;  // the last accepted TOTP step stays
      l.locked_until = 0;
      t.batch().Put(
          storage::Space::kPrincipals, internal::LockKey(name),
          crypto::Seal(pepper_, internal::EncodeLock(l), internal::SealContext("lock", name)));
      return Ok();
    }));
    COFFRE_TRY(stored_pair_throttle_->ForgetPrefix(StoredNamePrefix(api_key_hash_key_, name)));
    return was_locked;
  }
  COFFRE_ASSIGN_OR_RETURN(auto lock_bytes, LoadSealed("lock", name));
  if (lock_bytes) {
    auto l = internal::DecodeLock(*lock_bytes);
    if (!l) return Fail(ErrorCode::kDataLoss, Named("corrupt lockout state of principal", name));
    was_locked = l->locked_until > clock_.NowUnixSeconds();
    if (l->failures != 0 || l->locked_until != 0) {
      // The last accepted TOTP step stays: no replay after an unlock.
      l->failures = 0;
      l->locked_until = 0;
      auto batch = store_.NewBatch();
      batch->Put(
          storage::Space::kPrincipals, internal::LockKey(name),
          crypto::Seal(pepper_, internal::EncodeLock(*l), internal::SealContext("lock", name)));
      COFFRE_TRY(store_.Write(*batch));
    }
  }
  pair_throttle_->ForgetPrefix(NamePrefix(name));
  return was_locked;
}

Result<Principal> Directory::AuthenticateSession(std::string_view token) {
  if (!internal::WellFormedToken(token, internal::kSessionPrefix)) {
    return Fail(ErrorCode::kUnauthenticated, "unknown or expired session");
  }
  const int64_t now = clock_.NowUnixSeconds();
  COFFRE_ASSIGN_OR_RETURN(
      auto name, shared_ ? stored_sessions_->Touch(token, now) : sessions_->Touch(token, now));
  // Read the principal as stored now: a role change applies at once.
  COFFRE_ASSIGN_OR_RETURN(auto p, LoadPrincipal(name));
  if (!p || p->suspended) {
    (void)Logout(token);  // refused either way
    return Fail(ErrorCode::kUnauthenticated, "unknown or expired session");
  }
  return std::move(*p);
}

Status Directory::Logout(std::string_view token) {
  if (shared_) {
    if (!internal::WellFormedToken(token, internal::kSessionPrefix)) return Ok();
    return stored_sessions_->Drop(token);
  }
  sessions_->Drop(token);
  return Ok();
}

}  // namespace coffre::auth
