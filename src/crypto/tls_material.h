// TLS certificates and keys for `coffre serve`: a self-signed certificate
// made at `init`, or the user's own PEM files (`coffre tls set`, `serve
// --tls-cert`), checked before they are stored or served (docs/adr/0033).
//
//   auto m = GenerateSelfSigned(clock.Now());   // P-256, SAN localhost/127.0.0.1/::1
//   WriteFile(dir + "/tls/cert.pem", m->cert_pem);
//   vault.PutSecret("tls_key", m->key_pem);      // never written in clear
//   COFFRE_TRY(CheckPair(m->cert_pem, m->key_pem));
//   auto info = CheckServerCertificate(fullchain, key, {.now = now});  // chain, dates, key
//
// Thread-safety: pure functions. Errors name the problem, never key bytes.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace coffre::crypto {

// Names of the vault's TLS material (Vault::GetConfig / GetSecret), stored
// by `coffre init`, read by `coffre serve`.
inline constexpr std::string_view kTlsCertConfig = "tls_cert";
inline constexpr std::string_view kTlsUserSuppliedConfig = "tls_user_supplied";
inline constexpr std::string_view kTlsKeySecret = "tls_key";

struct TlsMaterial {
  std::string cert_pem;  // public
  std::string key_pem;   // secret: seal it, wipe it
};

// A self-signed P-256 certificate valid from `now` for 397 days, for the
// names clients use on loopback.
Result<TlsMaterial> GenerateSelfSigned(std::chrono::system_clock::time_point now);

// kInvalidArgument unless `cert_pem` parses as an X.509 certificate and
// `key_pem` as the private key that matches it.
Status CheckPair(const std::string& cert_pem, const std::string& key_pem);

// The certificate's SHA-256 fingerprint, hex, for display.
Result<std::string> Fingerprint(const std::string& cert_pem);

// A certificate is said to expire soon (a warning, not an error) this long
// before its notAfter time.
inline constexpr int64_t kTlsExpiryWarningSeconds = 30 * 86400;

struct TlsCheckOptions {
  int64_t now = 0;  // unix seconds
  // Trust anchors (PEM certificates). Empty: the system store, and a
  // self-signed certificate the file itself holds (its own root).
  std::string ca_pem;
  // An incomplete chain is an error (`tls set`); false: it is reported in
  // chain_problem and the certificate is still accepted (`serve
  // --tls-cert`, which has no --ca to name a private root).
  bool require_chain = true;
};

struct TlsCertificateInfo {
  std::string subject;      // of the leaf, RFC 2253
  std::string fingerprint;  // SHA-256 of the leaf, hex pairs with colons
  int64_t not_before = 0;   // unix seconds
  int64_t not_after = 0;
  size_t certificates = 0;    // in the file: the leaf and what follows it
  std::string chain_problem;  // empty when the chain verified
};

// What the first certificate of `cert_pem` says (no check beyond parsing).
Result<TlsCertificateInfo> InspectCertificate(const std::string& cert_pem);

// Checks what a server would present: `cert_pem` is the leaf followed by
// its intermediates (certbot's fullchain.pem), `key_pem` the leaf's private
// key. kInvalidArgument naming the problem unless both parse, the key is
// the leaf's, the leaf is valid at `now` (neither expired nor not yet
// valid), and the chain verifies for TLS server use at `now` up to a trust
// anchor (options.ca_pem, else the system store or the file's own root).
Result<TlsCertificateInfo> CheckServerCertificate(const std::string& cert_pem,
                                                  const std::string& key_pem,
                                                  const TlsCheckOptions& options);

// Client certificates (mTLS; docs/auth.md, "Client certificates"): a
// SHA-256 fingerprint as principals are bound to it, 64 lower-case hex
// digits without separators; kInvalidArgument unless `text` is one (colons
// and upper case are accepted and removed).
Result<std::string> NormalizeFingerprint(std::string_view text);
// kInvalidArgument unless `ca_pem` holds at least one PEM certificate and
// nothing else.
Status CheckCaCertificates(const std::string& ca_pem);
// kUnauthenticated (naming why) unless `chain_pem` (the client's
// certificate, then the chain it sent) verifies for TLS client use at
// `now` up to a certificate of `ca_pem`.
Status VerifyClientChain(const std::string& chain_pem, const std::string& ca_pem, int64_t now);

// "2026-12-07T18:20:00Z".
std::string FormatUtc(int64_t unix_seconds);

}  // namespace coffre::crypto
