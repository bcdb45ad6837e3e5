#include "auth/internal/records.h"

#include "common/bytes.h"
#include "crypto/crypto.h"

namespace coffre::auth::internal {
namespace {

constexpr char kVersion = 1;
constexpr char kCredentialVersion2 = 2;  // with a previous API key

bool ReadKind(std::string_view& in, Kind& kind) {
  if (in.empty()) return false;
  const auto k = static_cast<unsigned char>(in[0]);
  if (k > static_cast<unsigned char>(Kind::kUser)) return false;
  kind = static_cast<Kind>(k);
  in.remove_prefix(1);
  return true;
}

bool ReadVersion(std::string_view& in) {
  if (in.empty() || in[0] != kVersion) return false;
  in.remove_prefix(1);
  return true;
}

bool ReadInt(std::string_view& in, int64_t& out) {
  uint64_t v = 0;
  if (!ReadVarint(in, v)) return false;
  out = static_cast<int64_t>(v);
  return true;
}

}  // namespace

std::string PrincipalKey(std::string_view name) { return std::string("p/").append(name); }
std::string CredentialKey(std::string_view name) { return std::string("c/").append(name); }
std::string LockKey(std::string_view name) { return std::string("l/").append(name); }
std::string ApiKeyLookupKey(std::string_view key_hash) {
  return std::string("apikey/").append(key_hash);
}

std::string CertBindingKey(std::string_view name) { return std::string("x/").append(name); }
std::string CertFingerprintKey(std::string_view fingerprint) {
  return std::string("certfp/").append(fingerprint);
}
std::string CertSubjectKey(std::string_view subject) {
  return std::string("certsubj/").append(ToHex(crypto::Hash(subject)));
}

std::string EncodeCertBinding(const CertificateBinding& b) {
  std::string out(1, kVersion);
  if (!b.fingerprint.empty()) {
    out.push_back(1);
    AppendLengthPrefixed(out, b.fingerprint);
  } else {
    out.push_back(2);
    AppendLengthPrefixed(out, b.ca_pem);
    AppendLengthPrefixed(out, b.subject);
  }
  return out;
}

std::optional<CertificateBinding> DecodeCertBinding(std::string_view in) {
  if (!ReadVersion(in) || in.empty()) return std::nullopt;
  const char form = in[0];
  in.remove_prefix(1);
  CertificateBinding b;
  std::string_view a, c;
  if (form == 1 && ReadLengthPrefixed(in, a) && in.empty()) {
    b.fingerprint = std::string(a);
    return b;
  }
  if (form == 2 && ReadLengthPrefixed(in, a) && ReadLengthPrefixed(in, c) && in.empty()) {
    b.ca_pem = std::string(a);
    b.subject = std::string(c);
    return b;
  }
  return std::nullopt;
}

std::string SealContext(std::string_view record, std::string_view owner) {
  std::string aad;
  AppendLengthPrefixed(aad, std::string("coffre.auth.v1.").append(record));
  AppendLengthPrefixed(aad, owner);
  return aad;
}

std::string EncodePrincipal(const Principal& p) {
  std::string out(1, kVersion);
  out.push_back(static_cast<char>(p.kind));
  AppendLengthPrefixed(out, p.role);
  AppendVarint(out, p.suspended ? 1 : 0);
  AppendVarint(out, static_cast<uint64_t>(p.created_ms));
  AppendVarint(out, p.attrs.size());
  for (const auto& [k, v] : p.attrs) {
    AppendLengthPrefixed(out, k);
    AppendLengthPrefixed(out, v);
  }
  return out;
}

std::optional<Principal> DecodePrincipal(std::string_view name, std::string_view in) {
  Principal p;
  p.name = std::string(name);
  std::string_view role;
  uint64_t suspended = 0, count = 0;
  if (!ReadVersion(in) || !ReadKind(in, p.kind) || !ReadLengthPrefixed(in, role) ||
      !ReadVarint(in, suspended) || !ReadInt(in, p.created_ms) || !ReadVarint(in, count)) {
    return std::nullopt;
  }
  p.role = std::string(role);
  p.suspended = suspended != 0;
  for (uint64_t i = 0; i < count; ++i) {
    std::string_view k, v;
    if (!ReadLengthPrefixed(in, k) || !ReadLengthPrefixed(in, v)) return std::nullopt;
    p.attrs.emplace(std::string(k), std::string(v));
  }
  if (!in.empty()) return std::nullopt;
  return p;
}

std::string EncodeCredential(const CredentialRecord& c) {
  const bool v2 = !c.previous_api_key_hash.empty();
  std::string out(1, v2 ? kCredentialVersion2 : kVersion);
  out.push_back(static_cast<char>(c.kind));
  AppendLengthPrefixed(out, c.api_key_hash);
  AppendLengthPrefixed(out, c.password_hash);
  AppendLengthPrefixed(out, c.totp_secret);
  if (v2) {
    AppendLengthPrefixed(out, c.previous_api_key_hash);
    AppendVarint(out, static_cast<uint64_t>(c.previous_expires_at));
  }
  return out;
}

std::optional<CredentialRecord> DecodeCredential(std::string_view in) {
  CredentialRecord c;
  if (in.empty() || (in[0] != kVersion && in[0] != kCredentialVersion2)) return std::nullopt;
  const bool v2 = in[0] == kCredentialVersion2;
  in.remove_prefix(1);
  std::string_view key_hash, password_hash, secret, previous;
  if (!ReadKind(in, c.kind) || !ReadLengthPrefixed(in, key_hash) ||
      !ReadLengthPrefixed(in, password_hash) || !ReadLengthPrefixed(in, secret)) {
    return std::nullopt;
  }
  if (v2 && (!ReadLengthPrefixed(in, previous) || !ReadInt(in, c.previous_expires_at) ||
             previous.empty())) {
    return std::nullopt;
  }
  if (!in.empty()) return std::nullopt;
  c.api_key_hash = std::string(key_hash);
  c.password_hash = std::string(password_hash);
  c.totp_secret = std::string(secret);
  c.previous_api_key_hash = std::string(previous);
  return c;
}

std::string EncodeApiKeyLookup(const ApiKeyLookup& l) {
  std::string out = l.name;
  if (l.expires_at > 0) out.append(1, '\0').append(std::to_string(l.expires_at));
  return out;
}

std::optional<ApiKeyLookup> DecodeApiKeyLookup(std::string_view bytes) {
  ApiKeyLookup l;
  const size_t nul = bytes.find('\0');
  l.name = std::string(bytes.substr(0, nul));
  if (l.name.empty()) return std::nullopt;
  if (nul == std::string_view::npos) return l;
  const std::string_view digits = bytes.substr(nul + 1);
  if (digits.empty() || digits.size() > 18) return std::nullopt;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    l.expires_at = l.expires_at * 10 + (c - '0');
  }
  if (l.expires_at == 0) return std::nullopt;
  return l;
}

std::string EncodeLock(const LockRecord& l) {
  std::string out(1, kVersion);
  AppendVarint(out, static_cast<uint64_t>(l.failures));
  AppendVarint(out, static_cast<uint64_t>(l.locked_until));
  AppendVarint(out, static_cast<uint64_t>(l.last_step + 1));
  return out;
}

std::optional<LockRecord> DecodeLock(std::string_view in) {
  LockRecord l;
  int64_t step_plus_one = 0;
  if (!ReadVersion(in) || !ReadInt(in, l.failures) || !ReadInt(in, l.locked_until) ||
      !ReadInt(in, step_plus_one) || !in.empty()) {
    return std::nullopt;
  }
  l.last_step = step_plus_one - 1;
  return l;
}

}  // namespace coffre::auth::internal
