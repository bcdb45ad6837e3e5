// End users' passwords (issue 5, docs/credentials.md, ADR 0011): coffre
// keeps the login secret of an application's end users so the application
// keeps none. An application calls set, verify and reset through the API;
// nothing here ever returns, logs or stores a password in clear.
//
//   // store: vault.Grant("credentials", kCredentialSpaces), from the composition root
//   credentials::Credentials creds(store, ring.pepper(), ring.credential_token_key(), clock);
//   auto meta = creds.Set("u-7f3a9c", password);            // CNIL rules, history of 4
//   credentials::Wait wait;
//   auto ok = creds.Verify("u-7f3a9c", attempt, &wait);     // Result<bool>
//   if (!ok && wait.reason == credentials::Wait::kBusy) ... // 503, Retry-After
//   auto reset = creds.IssueReset("u-7f3a9c");              // token shown once
//   creds.Redeem("u-7f3a9c", new_password, reset->token);   // once, 30 minutes
//
// User ids are the application's opaque ids: 1 to 64 characters of
// [A-Za-z0-9_-], not made only of digits when 7 or more (a phone number, a
// NIR, a card number, a date); an e-mail address or a name with a space
// cannot be one. They need not be registered principals (ADR 0011).
//
// Passwords: Argon2id (crypto::HashPassword), the parameters stored with
// each hash and upgraded on the next successful verify; the record holding
// the hashes is sealed with the pepper, the associated data binding the
// record kind and the user, so a copied data directory allows no offline
// guessing and no record can be moved to another user. New passwords pass
// auth::CheckPassword (CNIL 2022-100 and the dictionary, the user id as
// context) and differ from the last 4: the current one and the 3 before.
//
// Failures: after the 2nd consecutive failure the next attempt waits
// 2^(k-3) seconds after the k-th (1, 2, 4 ... 64 s); the 10th locks the
// account for 30 minutes. A refused attempt (kResourceExhausted, *wait set)
// computes no hash and is not counted. A success, a new password or a
// redeemed reset token clears the count and the lock.
//
// Flood-proofing: at most `max_concurrent_hashes` Argon2id computations run
// at once (a counting semaphore that never blocks: beyond it, kResourceExhausted
// with wait->reason kBusy), and one operation per user at a time (the same),
// so memory for hashing is at most max_concurrent_hashes x mem_limit.
// Nothing here sleeps or waits for a lock held during a hash.
//
// Thread-safety: safe for concurrent use. Ownership: borrows the store and
// the clock, which must outlive it; copies the keys. crypto::Init() first.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/hash_slots.h"
#include "common/status.h"
#include "crypto/crypto.h"
#include "storage/space_handle.h"
#include "storage/store.h"

namespace coffre::credentials {

// The spaces the credentials module owns (vault::Vault::Grant, ADR 0025).
inline constexpr storage::SpaceSet kCredentialSpaces =
    storage::Spaces({storage::Space::kCredentials});

// Production parameters for end users (ADR 0011, measured in
// bench/RESULTS.md): 2 passes over 19 MiB (OWASP's first Argon2id line),
// about 30 ms on one core of the reference machine.
inline constexpr crypto::PasswordHashParams kEndUserParams{2, 19u << 20};

struct Options {
  crypto::PasswordHashParams params = kEndUserParams;
  size_t max_concurrent_hashes = 4;
  int64_t lockout_failures = 10;
  int64_t lockout_seconds = 30 * 60;
  int64_t free_failures = 2;  // failures before the delay starts
  int64_t reset_token_seconds = 30 * 60;
  size_t history = 4;  // hashes kept, the current one included
  // Tests only: called while a hash slot is held (to hold slots).
  std::function<void()> while_hashing_for_test;
};

inline constexpr std::string_view kResetTokenPrefix = "coffre_rt_";

// kInvalidArgument naming the rule, never the value.
[[nodiscard]] Status ValidateUserId(std::string_view user);

struct Metadata {
  int64_t created = 0;       // unix seconds
  int64_t changed = 0;       // unix seconds: the current password was set
  int64_t locked_until = 0;  // unix seconds; 0 when not locked
  bool created_now = false;  // Set: there was no credential before
};

struct IssuedReset {
  std::string token;  // kResetTokenPrefix + 43 base64url characters; shown once
  int64_t expires_at = 0;
};

// Why an attempt was refused before any hash was computed.
struct Wait {
  enum Reason { kNone, kBusy, kDelayed, kLocked };
  Reason reason = kNone;
  int64_t retry_after_seconds = 0;  // >= 1 when reason != kNone
};

using coffre::HashSlots;  // common/hash_slots.h

class Credentials {
 public:
  Credentials(storage::SpaceHandle store, const crypto::SecretKey& pepper,
              const crypto::SecretKey& token_key, Clock& clock, Options options = {});
  Credentials(const Credentials&) = delete;
  Credentials& operator=(const Credentials&) = delete;

  // Sets or changes the password (and ends any pending reset). Errors:
  // kInvalidArgument "password refused (rule R)..." (R: cnil-2022-100,
  // dictionary, encoding, max-length, history) or for a bad user id;
  // kResourceExhausted with wait->reason kBusy.
  Result<Metadata> Set(std::string_view user, std::string_view password, Wait* wait = nullptr);
  // The same with a reset token, consumed by success. kPermissionDenied
  // "invalid or expired reset token" (nothing changes); kNotFound none.
  Result<Metadata> Redeem(std::string_view user, std::string_view password, std::string_view token,
                          Wait* wait = nullptr);
  // A new single-use token, replacing any earlier one; kNotFound when the
  // user has no credential.
  Result<IssuedReset> IssueReset(std::string_view user, Wait* wait = nullptr);
  // True when `password` is the user's; false when not, or when the user
  // has no credential (at the cost of a real verification). Refusals:
  // kResourceExhausted with *wait set (busy, delayed, locked).
  Result<bool> Verify(std::string_view user, std::string_view password, Wait* wait = nullptr);
  // kNotFound when the user has no credential.
  Result<Metadata> Get(std::string_view user);

  const Options& options() const { return options_; }

 private:
  class UserTurn;
  struct Record;
  Result<std::optional<Record>> Load(std::string_view user);
  void Put(storage::WriteBatch& batch, std::string_view user, const Record& r) const;
  Result<Metadata> Change(std::string_view user, std::string_view password,
                          std::optional<std::string_view> token, Wait* wait);
  std::string TokenHash(std::string_view user, std::string_view token) const;
  const std::string& DummyHash();

  storage::SpaceHandle store_;
  const crypto::SecretKey pepper_;
  const crypto::SecretKey token_key_;
  Clock& clock_;
  const Options options_;
  HashSlots slots_;
  std::mutex busy_mu_;
  std::set<std::string, std::less<>> busy_users_;
  std::once_flag dummy_once_;
  std::string dummy_hash_;
};

}  // namespace coffre::credentials
