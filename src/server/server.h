// `coffre serve`: opens the vault's runtime, checks the TLS material and the
// listen address, starts the admin socket and the HTTPS server, flushes the
// audit log periodically, and shuts everything down in order on SIGTERM.
//
//   COFFRE_TRY(server::Serve({.runtime = {...}, .listen = "127.0.0.1:8443"}, std::cout));
//
// Thread-safety: call once per process.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "api/http.h"
#include "app/runtime.h"
#include "common/log.h"
#include "common/status.h"
#include "crypto/tls_material.h"
#include "server/served_tls.h"

namespace coffre::server {

// The names of the vault's TLS material: crypto/tls_material.h; the
// certificate served: server/served_tls.h (ServedTlsNotAfter for metrics).
// RocksDB row cache of a serving process (docs/storage-layout.md): bounded,
// like the 64 MB block cache.
inline constexpr size_t kServeRowCacheBytes = 32u << 20;

struct ServeOptions {
  app::RuntimeOptions runtime;
  std::string listen = "127.0.0.1:8443";  // a literal address or a name (resolved)
  std::string_view openapi_json;
  // The edge (server/https_server.h, docs/adr/0019): 0 keeps the default.
  size_t max_connections = 0;  // capped by the descriptors the process may open
  size_t max_connections_per_source = 0;
  std::vector<std::string> trusted_proxies;  // CIDR blocks
  bool proxy_protocol = false;
  // The certificate and key read from these files (certbot's fullchain.pem
  // and privkey.pem) at start and on SIGHUP, instead of the vault's
  // (server/served_tls.h). Both or neither.
  std::string tls_cert;
  std::string tls_key;
  // mTLS: PEM CA certificates read at start; the server asks clients for a
  // certificate they issued, and a service bound to it authenticates with
  // it (docs/auth.md, "Client certificates"). Empty: no client certificates.
  std::string tls_client_ca;
  // `--metrics-listen ADDR:PORT` (config [metrics] listen): Prometheus
  // metrics over plain HTTP on a listener of their own (docs/operations.md,
  // "Metrics"; ADR 0035-listener). Empty: off. A non-loopback
  // address is allowed, with a warning: nothing personal is exposed, but
  // anyone who reaches it reads the traffic and principal names.
  std::string metrics_listen;
  // The process log (common/log.h, docs/operations.md "Logs"): nullopt
  // picks JSON when stderr is not a terminal, text when it is.
  std::optional<log::Format> log_format;
  log::Level log_level = log::Level::kInfo;
  // One info line per request (route template, status, duration, ...).
  bool access_log = true;
};

struct ListenAddress {
  std::string host;
  uint16_t port = 0;
};
// "127.0.0.1:8443", "[::1]:8443", "localhost:8443"; kInvalidArgument
// otherwise. The host is not resolved here.
Result<ListenAddress> ParseListen(std::string_view text);
// Every address `host` stands for (a literal address, or a name resolved
// by getaddrinfo), IPv4 first; kInvalidArgument if it resolves to none.
Result<std::vector<std::string>> ResolveListenHost(const std::string& host);
// A literal loopback address (127.0.0.0/8, ::1, ::ffff:127.x.y.z).
bool IsLoopback(std::string_view host);

// What a sealed server answers on HTTPS (docs/key-custody.md): /healthz
// 200, every other route 503 with the API's error JSON, code `sealed`.
api::Response SealedResponse(const api::Request& r);

// Serves until SIGTERM or SIGINT; SIGHUP loads the TLS certificate again. A
// vault whose master key is split into shares (vault/key_shares.h) starts
// sealed: the HTTPS server and the admin socket run, no key is opened, and
// the admin socket's `unseal` takes the shares until enough are given.
// Writes {"listening":"https://HOST:PORT"} and a newline to `ready` once it
// accepts connections.
Status Serve(const ServeOptions& options, std::ostream& ready);

}  // namespace coffre::server
