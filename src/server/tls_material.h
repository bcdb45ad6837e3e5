// TLS certificates and keys for `coffre serve`: a self-signed certificate
// made at `init`, or the user's own PEM files.
//
//   auto m = GenerateSelfSigned(clock.Now());   // P-256, SAN localhost/127.0.0.1/::1
//   WriteFile(dir + "/tls/cert.pem", m->cert_pem);
//   vault.PutSecret("tls_key", m->key_pem);      // never written in clear
//   COFFRE_TRY(CheckPair(m->cert_pem, m->key_pem));
//
// Thread-safety: pure functions. Errors name the problem, never key bytes.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "common/status.h"

namespace coffre::server {

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

}  // namespace coffre::server
