// tls.set: replaces the vault's TLS certificate and key (`coffre tls set`),
// run by whichever process holds the vault, on files the caller opened and
// passed as descriptors (the key never travels as text in a request, and
// the server opens no path the caller names; ADR 0024, point 6).
//
//   request  {ca?: bool}   (true: a third descriptor holds the trust anchors)
//   fds      [certificate chain (PEM, leaf first), private key (PEM), CA (PEM)?]
//   answer   {subject, fingerprint, not_before, not_after, expires_in_days,
//             chain_certificates, cert_file, served: fingerprint | null,
//             warning?}
//   audited  "tls.set", reason "fingerprint F, not after T" (no key, no path)
//
// The certificate is checked first (crypto::CheckServerCertificate at the
// runtime's clock): on any failure nothing changes. Then the certificate,
// the key (sealed) and the user-supplied mark are stored in one batch,
// DIR/tls/cert.pem is replaced for clients, and a running server loads the
// new certificate (Runtime::ReloadTls) for its next handshakes.
//
// Thread-safety: as Admin.
#pragma once

#include <boost/json.hpp>
#include <span>

#include "app/runtime.h"
#include "audit/entry.h"
#include "common/status.h"

namespace coffre::app {

Result<boost::json::object> SetTlsFromDescriptors(Runtime& rt, const boost::json::object& request,
                                                  std::span<const int> fds, audit::Entry& entry);

}  // namespace coffre::app
