#include "credentials/credentials.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include "auth/password_policy.h"

namespace coffre::credentials {
namespace {

constexpr char kFormatV1 = 1;
constexpr std::string_view kKeyPrefix = "u/";
constexpr size_t kMaxHistory = 16;
constexpr size_t kTokenRandomBytes = 32;
constexpr size_t kTokenBody = 43;

std::string StoreKey(std::string_view user) { return std::string(kKeyPrefix).append(user); }

// Associated data: the record kind and the user, so a sealed record opens
// only as this user's credential.
std::string SealContext(std::string_view user) {
  std::string aad = "coffre.credential.v1";
  aad += '\0';
  aad.append(user);
  return aad;
}

std::string Base64Url(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(acc >> bits) & 63];
    }
  }
  if (bits > 0) out += kAlphabet[(acc << (6 - bits)) & 63];
  return out;
}

bool WellFormedToken(std::string_view token) {
  if (token.size() != kResetTokenPrefix.size() + kTokenBody) return false;
  if (token.substr(0, kResetTokenPrefix.size()) != kResetTokenPrefix) return false;
  for (char c : token.substr(kResetTokenPrefix.size())) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

void PutI64(std::string& out, int64_t v) {
  for (int i = 0; i < 8; ++i)
    out += static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xff);
}
void PutStr(std::string& out, std::string_view s) {
  PutI64(out, static_cast<int64_t>(s.size()));
  out.append(s);
}

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool I64(int64_t& v) {
    if (in_.size() < 8) return false;
    uint64_t u = 0;
    for (int i = 0; i < 8; ++i)
      u |= static_cast<uint64_t>(static_cast<unsigned char>(in_[i])) << (8 * i);
    v = static_cast<int64_t>(u);
    in_.remove_prefix(8);
    return true;
  }
  bool Str(std::string& s) {
    int64_t n = 0;
    if (!I64(n) || n < 0 || static_cast<uint64_t>(n) > in_.size()) return false;
    s.assign(in_.substr(0, static_cast<size_t>(n)));
    in_.remove_prefix(static_cast<size_t>(n));
    return true;
  }
  bool done() const { return in_.empty(); }

 private:
  std::string_view in_;
};

constexpr std::string_view kBusyMessage = "too many password checks in progress; retry shortly";

auto Busy(Wait* wait) {
  if (wait != nullptr) *wait = {Wait::kBusy, 1};
  return Fail(ErrorCode::kResourceExhausted, std::string(kBusyMessage));
}

}  // namespace

Status ValidateUserId(std::string_view user) {
  bool ok = !user.empty() && user.size() <= 64;
  size_t digits = 0;
  for (char c : user) {
    const bool digit = c >= '0' && c <= '9';
    digits += digit;
    ok = ok && (digit || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '-');
  }
  if (!ok) {
    return Fail(ErrorCode::kInvalidArgument,
                "user id must be 1 to 64 characters of [A-Za-z0-9_-] (an opaque id, not an "
                "e-mail address or a name)");
  }
  // Digits and separators only, 7 digits or more: a phone number, a NIR, a
  // card number or a date of birth, not an opaque id.
  const size_t separators = static_cast<size_t>(std::count(user.begin(), user.end(), '-')) +
                            static_cast<size_t>(std::count(user.begin(), user.end(), '_'));
  if (digits >= 7 && digits + separators == user.size()) {
    return Fail(ErrorCode::kInvalidArgument,
                "user id must not be made only of digits (it looks like a phone, NIR or card "
                "number): use the application's opaque id");
  }
  return Ok();
}

// The only operation on a user in progress, released on scope exit; taken
// with try semantics, so concurrent calls for one user are refused rather
// than queued (lockout counts stay exact and no handler waits).
class Credentials::UserTurn {
 public:
  UserTurn(Credentials& c, std::string_view user) : c_(c), user_(user) {
    std::lock_guard lock(c_.busy_mu_);
    held_ = c_.busy_users_.insert(user_).second;
  }
  ~UserTurn() {
    if (!held_) return;
    std::lock_guard lock(c_.busy_mu_);
    c_.busy_users_.erase(user_);
  }
  UserTurn(const UserTurn&) = delete;
  UserTurn& operator=(const UserTurn&) = delete;
  bool held() const { return held_; }

 private:
  Credentials& c_;
  std::string user_;
  bool held_ = false;
};

struct Credentials::Record {
  int64_t created = 0;
  int64_t changed = 0;
  int64_t failures = 0;             // consecutive, since the last success or lock
  int64_t locked_until = 0;         // unix seconds
  int64_t next_attempt = 0;         // unix seconds: the exponential delay
  std::string reset_hash;           // keyed hash of the pending reset token, or empty
  int64_t reset_expires = 0;        // unix seconds
  std::vector<std::string> hashes;  // Argon2id encoded, current first

  std::string Encode() const {
    std::string out(1, kFormatV1);
    for (int64_t v : {created, changed, failures, locked_until, next_attempt, reset_expires})
      PutI64(out, v);
    PutStr(out, reset_hash);
    PutI64(out, static_cast<int64_t>(hashes.size()));
    for (const auto& h : hashes) PutStr(out, h);
    return out;
  }
  static std::optional<Record> Decode(std::string_view bytes) {
    if (bytes.empty() || bytes[0] != kFormatV1) return std::nullopt;
    Reader in(bytes.substr(1));
    Record r;
    int64_t n = 0;
    for (int64_t* v : {&r.created, &r.changed, &r.failures, &r.locked_until, &r.next_attempt,
                       &r.reset_expires}) {
      if (!in.I64(*v)) return std::nullopt;
    }
    if (!in.Str(r.reset_hash) || !in.I64(n) || n < 1 || n > static_cast<int64_t>(kMaxHistory)) {
      return std::nullopt;
    }
    r.hashes.resize(static_cast<size_t>(n));
    for (auto& h : r.hashes) {
      if (!in.Str(h)) return std::nullopt;
    }
    if (!in.done()) return std::nullopt;
    return r;
  }
};

Credentials::Credentials(storage::SpaceHandle store, const crypto::SecretKey& pepper,
                         const crypto::SecretKey& token_key, Clock& clock, Options options)
    : store_(store),
      pepper_(pepper.Clone()),
      token_key_(token_key.Clone()),
      clock_(clock),
      options_(std::move(options)),
      slots_(options_.max_concurrent_hashes) {}

Result<std::optional<Credentials::Record>> Credentials::Load(std::string_view user) {
  COFFRE_ASSIGN_OR_RETURN(auto sealed, store_.Get(storage::Space::kCredentials, StoreKey(user)));
  if (!sealed) return std::optional<Record>();
  COFFRE_ASSIGN_OR_RETURN(auto plain,
                          crypto::Open(pepper_, *sealed, SealContext(user), "credential"));
  auto r = Record::Decode(plain);
  std::fill(plain.begin(), plain.end(), '\0');
  if (!r) return Fail(ErrorCode::kDataLoss, "corrupt credential record");
  return std::optional<Record>(std::move(*r));
}

void Credentials::Put(storage::WriteBatch& batch, std::string_view user, const Record& r) const {
  std::string plain = r.Encode();
  batch.Put(storage::Space::kCredentials, StoreKey(user),
            crypto::Seal(pepper_, plain, SealContext(user)));
  std::fill(plain.begin(), plain.end(), '\0');
}

std::string Credentials::TokenHash(std::string_view user, std::string_view token) const {
  std::string message = "coffre.credential.reset.v1";
  message += '\0';
  message.append(user);
  message += '\0';
  message.append(token);
  return crypto::KeyedHash(token_key_, message);
}

const std::string& Credentials::DummyHash() {
  std::call_once(dummy_once_, [this] {
    auto h = crypto::HashPassword(crypto::RandomString(16), options_.params);
    if (h) dummy_hash_ = std::move(*h);
  });
  return dummy_hash_;
}

Result<Metadata> Credentials::Set(std::string_view user, std::string_view password, Wait* wait) {
  return Change(user, password, std::nullopt, wait);
}

Result<Metadata> Credentials::Redeem(std::string_view user, std::string_view password,
                                     std::string_view token, Wait* wait) {
  return Change(user, password, token, wait);
}

Result<Metadata> Credentials::Change(std::string_view user, std::string_view password,
                                     std::optional<std::string_view> token, Wait* wait) {
  if (wait != nullptr) *wait = {};
  COFFRE_TRY(ValidateUserId(user));
  UserTurn turn(*this, user);
  if (!turn.held()) return Busy(wait);
  // One slot for the whole change: the dictionary check (libpwquality runs
  // one check at a time, ~8 ms for a long password), the history checks
  // and the new hash. A flood of changes is refused at the cap, never
  // queued on the dictionary's lock by every worker.
  HashSlot slot(slots_);
  if (!slot.held()) return Busy(wait);
  COFFRE_TRY(auth::CheckPassword(password, {.user_name = user}));
  COFFRE_ASSIGN_OR_RETURN(auto existing, Load(user));
  const int64_t now = clock_.NowUnixSeconds();
  if (token) {
    if (!existing) return Fail(ErrorCode::kNotFound, "no credential for this user");
    // Compared as keyed hashes, in constant time; an expired or used token
    // is as unknown as a wrong one.
    const bool ok = WellFormedToken(*token) && !existing->reset_hash.empty() &&
                    existing->reset_expires > now &&
                    crypto::ConstantTimeEquals(TokenHash(user, *token), existing->reset_hash);
    if (!ok) return Fail(ErrorCode::kPermissionDenied, "invalid or expired reset token");
  }

  Record r = existing ? std::move(*existing) : Record{};
  std::string hash;
  {
    if (options_.while_hashing_for_test) options_.while_hashing_for_test();
    // Each earlier hash is verified with its own parameters.
    const size_t checked = std::min(r.hashes.size(), options_.history);
    for (size_t i = 0; i < checked; ++i) {
      if (crypto::VerifyPassword(r.hashes[i], password)) {
        return Fail(ErrorCode::kInvalidArgument,
                    "password refused (rule history): it must differ from the last " +
                        std::to_string(options_.history) + " passwords (the current one included)");
      }
    }
    COFFRE_ASSIGN_OR_RETURN(hash, crypto::HashPassword(password, options_.params));
  }
  Metadata meta;
  meta.created_now = !existing.has_value();
  if (meta.created_now) r.created = now;
  r.changed = now;
  r.failures = 0;
  r.locked_until = 0;
  r.next_attempt = 0;
  r.reset_hash.clear();  // a new password ends any pending reset
  r.reset_expires = 0;
  r.hashes.insert(r.hashes.begin(), std::move(hash));
  if (r.hashes.size() > std::max<size_t>(1, options_.history))
    r.hashes.resize(std::max<size_t>(1, options_.history));
  auto batch = store_.NewBatch();
  Put(*batch, user, r);
  COFFRE_TRY(store_.Write(*batch));
  meta.created = r.created;
  meta.changed = r.changed;
  return meta;
}

Result<IssuedReset> Credentials::IssueReset(std::string_view user, Wait* wait) {
  if (wait != nullptr) *wait = {};
  COFFRE_TRY(ValidateUserId(user));
  UserTurn turn(*this, user);
  if (!turn.held()) return Busy(wait);
  COFFRE_ASSIGN_OR_RETURN(auto r, Load(user));
  if (!r) return Fail(ErrorCode::kNotFound, "no credential for this user");
  IssuedReset out;
  out.token = std::string(kResetTokenPrefix) + Base64Url(crypto::RandomString(kTokenRandomBytes));
  out.expires_at = clock_.NowUnixSeconds() + options_.reset_token_seconds;
  r->reset_hash = TokenHash(user, out.token);
  r->reset_expires = out.expires_at;
  auto batch = store_.NewBatch();
  Put(*batch, user, *r);
  COFFRE_TRY(store_.Write(*batch));
  return out;
}

Result<bool> Credentials::Verify(std::string_view user, std::string_view password, Wait* wait) {
  Wait ignored;
  Wait& w = wait != nullptr ? *wait : ignored;
  w = {};
  COFFRE_TRY(ValidateUserId(user));
  UserTurn turn(*this, user);
  if (!turn.held()) return Busy(&w);
  COFFRE_ASSIGN_OR_RETURN(auto r, Load(user));
  const int64_t now = clock_.NowUnixSeconds();
  if (!r) {
    // No credential: a real verification's cost, and the same answer.
    HashSlot slot(slots_);
    if (!slot.held()) return Busy(&w);
    if (options_.while_hashing_for_test) options_.while_hashing_for_test();
    const std::string& dummy = DummyHash();
    if (dummy.empty()) {
      (void)crypto::HashPassword(password, options_.params);
    } else {
      (void)crypto::VerifyPassword(dummy, password);
    }
    return false;
  }
  if (r->locked_until > now) {
    w = {Wait::kLocked, r->locked_until - now};
    return Fail(ErrorCode::kResourceExhausted, "account locked after 10 failed attempts");
  }
  if (r->next_attempt > now) {
    w = {Wait::kDelayed, r->next_attempt - now};
    return Fail(ErrorCode::kResourceExhausted, "too soon after a failed attempt");
  }

  bool ok = false;
  bool changed = false;
  {
    HashSlot slot(slots_);
    if (!slot.held()) return Busy(&w);
    if (options_.while_hashing_for_test) options_.while_hashing_for_test();
    ok = crypto::VerifyPassword(r->hashes.front(), password);
    if (ok && crypto::PasswordNeedsRehash(r->hashes.front(), options_.params)) {
      auto rehashed = crypto::HashPassword(password, options_.params);
      if (rehashed) {
        r->hashes.front() = std::move(*rehashed);
        changed = true;
      }
    }
  }
  if (ok) {
    changed = changed || r->failures != 0 || r->locked_until != 0 || r->next_attempt != 0;
    r->failures = 0;
    r->locked_until = 0;
    r->next_attempt = 0;
  } else {
    changed = true;
    r->locked_until = 0;
    r->next_attempt = 0;
    // The delay and the lock count from when the failure is known, after
    // the hash: a slow hash must not use up the delay it earns.
    const int64_t failed_at = clock_.NowUnixSeconds();
    if (++r->failures >= options_.lockout_failures) {
      r->failures = 0;
      r->locked_until = failed_at + options_.lockout_seconds;
    } else if (r->failures > options_.free_failures) {
      const int64_t exponent = std::min<int64_t>(r->failures - options_.free_failures - 1, 20);
      r->next_attempt = failed_at + (int64_t{1} << exponent);
    }
  }
  if (changed) {
    auto batch = store_.NewBatch();
    Put(*batch, user, *r);
    COFFRE_TRY(store_.Write(*batch));
  }
  return ok;
}

Result<Metadata> Credentials::Get(std::string_view user) {
  COFFRE_TRY(ValidateUserId(user));
  COFFRE_ASSIGN_OR_RETURN(auto r, Load(user));
  if (!r) return Fail(ErrorCode::kNotFound, "no credential for this user");
  Metadata m;
  m.created = r->created;
  m.changed = r->changed;
  m.locked_until = r->locked_until > clock_.NowUnixSeconds() ? r->locked_until : 0;
  return m;
}

}  // namespace coffre::credentials
