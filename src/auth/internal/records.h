// Encodings of auth's records in Space::kPrincipals (docs/auth.md). Values
// are encoded here and sealed by the Directory. Internal to auth.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "auth/principals.h"

namespace coffre::auth::internal {

// Store keys. Names never contain '/', so the prefixes cannot collide.
std::string PrincipalKey(std::string_view name);         // "p/NAME"
std::string CredentialKey(std::string_view name);        // "c/NAME"
std::string LockKey(std::string_view name);              // "l/NAME"
std::string ApiKeyLookupKey(std::string_view key_hash);  // "apikey/HASH"
std::string CertBindingKey(std::string_view name);       // "x/NAME"
// "certfp/FP" (64 hex digits) and "certsubj/HASH" (hex BLAKE2b-256 of the
// subject): the name of the service bound to them.
std::string CertFingerprintKey(std::string_view fingerprint);
std::string CertSubjectKey(std::string_view subject);
inline constexpr std::string_view kPrincipalPrefix = "p/";

// Associated data for sealing record `record` ("principal", "credential",
// "lock", "apikey") under `owner` (a name, or the key hash for "apikey").
std::string SealContext(std::string_view record, std::string_view owner);

// x/NAME: version 1, then 1 and the fingerprint (64 hex digits), or 2,
// the CA (PEM) and the subject (RFC 2253).
std::string EncodeCertBinding(const CertificateBinding& b);
std::optional<CertificateBinding> DecodeCertBinding(std::string_view bytes);

std::string EncodePrincipal(const Principal& p);
std::optional<Principal> DecodePrincipal(std::string_view name, std::string_view bytes);

struct CredentialRecord {
  Kind kind = Kind::kUser;
  std::string api_key_hash;   // service
  std::string password_hash;  // human: Argon2id encoded
  std::string totp_secret;    // human: raw bytes
  // Service, after `rotate-key --grace`: the replaced key's hash and when
  // it stops working (unix seconds). Empty / 0 when none.
  std::string previous_api_key_hash;
  int64_t previous_expires_at = 0;
};
// Version 1 (kind, key hash, password hash, TOTP secret) when there is no
// previous key, so vaults that never rotated keep today's bytes; version 2
// appends the previous key's hash and expiry. Both are decoded.
std::string EncodeCredential(const CredentialRecord& c);
std::optional<CredentialRecord> DecodeCredential(std::string_view bytes);

// The value of "apikey/HASH" before sealing: the service's name, followed
// for a key replaced with a grace period by '\0' and its expiry in decimal
// unix seconds (names never hold '\0', so older values decode as "no
// expiry").
struct ApiKeyLookup {
  std::string name;
  int64_t expires_at = 0;  // 0: current key, no expiry
};
std::string EncodeApiKeyLookup(const ApiKeyLookup& l);
std::optional<ApiKeyLookup> DecodeApiKeyLookup(std::string_view bytes);

struct LockRecord {
  int64_t failures = 0;      // consecutive failures since the last success or lock
  int64_t locked_until = 0;  // unix seconds; 0 when not locked
  int64_t last_step = -1;    // last accepted TOTP step; -1 when none
};
std::string EncodeLock(const LockRecord& l);
std::optional<LockRecord> DecodeLock(std::string_view bytes);

}  // namespace coffre::auth::internal
