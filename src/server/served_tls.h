// The certificate `coffre serve` presents, from the vault (`coffre init`,
// `coffre tls set`) or from files (`serve --tls-cert/--tls-key`, as certbot
// writes them), loaded at start and again on SIGHUP or `tls set`
// (docs/operations.md, "Certificates"; docs/adr/0033).
//
//   ServedTls tls(&vault, {.cert_path = ..., .key_path = ...});
//   auto first = tls.Read(now);                  // material for HttpsOptions
//   ... HttpsServer::Start(...)
//   auto fingerprint = tls.Reload(*https, now);  // on SIGHUP: re-read, swap
//   tls.WarnIfExpiring(now);                     // at most daily, on stderr
//
// A reload that fails (a file half-written, a key that does not match)
// leaves the certificate served as it was and says why.
//
// Thread-safety: every member may be called from any thread (reloads are
// serialised). ServedTlsNotAfter() is lock-free.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

#include "common/status.h"
#include "crypto/tls_material.h"
#include "server/https_server.h"
#include "vault/vault.h"

namespace coffre::server {

struct TlsSourceOptions {
  // Both or neither: files read at each load; neither: the vault's.
  std::string cert_path;
  std::string key_path;
};

struct LoadedTls {
  crypto::TlsMaterial material;  // key_pem wiped by the destructor
  crypto::TlsCertificateInfo info;
  bool user_supplied = false;  // files, or marked by init --tls-cert / tls set
  LoadedTls() = default;
  LoadedTls(LoadedTls&&) noexcept;
  LoadedTls& operator=(LoadedTls&&) = delete;
  ~LoadedTls();
};

class ServedTls {
 public:
  // `vault` may be null until a sealed server opens it (Attach): until
  // then only files can be read.
  ServedTls(vault::Vault* vault, TlsSourceOptions options);
  void Attach(vault::Vault& vault) { vault_.store(&vault, std::memory_order_release); }

  bool from_files() const { return !options_.cert_path.empty(); }
  // Reads and checks the material (the key matches; the dates and the
  // chain are warned about on stderr, not refused: a server keeps serving).
  Result<LoadedTls> Read(int64_t now);
  // Read, then present it to new handshakes; returns its fingerprint.
  // One reload at a time.
  Result<std::string> Reload(HttpsServer& https, int64_t now);
  // The fingerprint of the certificate served now.
  std::string served_fingerprint();
  // Records what is served now (for the expiry warning and metrics).
  void Served(const crypto::TlsCertificateInfo& info, int64_t now);
  // One line on stderr a day while the certificate served expires within
  // 30 days (or has expired).
  void WarnIfExpiring(int64_t now);

 private:
  std::atomic<vault::Vault*> vault_;
  TlsSourceOptions options_;
  std::mutex reload_mu_;
  std::mutex mu_;
  std::string fingerprint_;
  int64_t not_after_ = 0;
  int64_t warned_at_ = 0;
};

// The notAfter time (unix seconds) of the certificate this process serves
// now; 0 before one is served. For the metrics (days to expiry).
int64_t ServedTlsNotAfter();

}  // namespace coffre::server
