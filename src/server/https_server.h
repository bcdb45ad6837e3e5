// The HTTPS front door: TLS 1.2+ with Boost.Beast over Asio, keep-alive,
// bounded bodies and timeouts, one event loop per I/O thread, blocking
// handlers on a worker pool, graceful stop (docs/adr/0013).
//
//   auto srv = HttpsServer::Start({.address = "127.0.0.1", .port = 0,
//                                  .cert_pem = cert, .key_pem = key},
//                                 [&](api::Request& r) { return api.Handle(r); });
//   std::cout << (*srv)->port();
//   (*srv)->Run();   // returns after Stop() (or SIGTERM/SIGINT) once drained
//
// The handler may block (synced writes, password hashing): it runs on a
// pool of worker threads, never on the I/O threads, so a slow request does
// not stall reads and writes of other connections. An optional inline
// handler is offered each request first, on its I/O thread: it takes the
// requests it can serve without blocking (reads whose audit entries are
// made durable asynchronously) and answers them through a Reply, from any
// thread, when their entries are durable; the others go to the workers.
// Serving on the I/O thread saves two thread hand-offs per request, which
// on this 2-core machine cost more than the request itself (docs/api.md,
// "Threads").
//
// Every buffer of a connection is bounded: the headers by
// max_header_bytes, the body by max_body_bytes, a chunk header and the
// trailer section by the read buffer (max_header_bytes + 16 KiB); a request
// with a trailer field is refused (400), never merged into its headers.
// api::Request::source is the client's address: the peer's, or the one a
// trusted proxy names (PROXY v2 header, X-Forwarded-For). Out of
// descriptors, accepting backs off (up to 500 ms) and sheds one waiting
// client with a reserve descriptor.
//
// Thread-safety: Start and Run from one thread; Stop from any thread.
// Ownership: the server owns its sockets, threads and TLS contexts (one per
// certificate loaded, freed with the last connection that uses it); the
// handler must outlive Run().
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/http.h"
#include "common/status.h"

namespace coffre::server {

class RequestMetrics;  // server/request_metrics.h

struct HttpsOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 8443;  // 0 picks a free port
  std::string cert_pem;
  std::string key_pem;
  // mTLS (serve --tls-client-ca): PEM CA certificates; a client certificate
  // sent must verify against them (api::Request::client_certificate).
  // Empty: none is asked for.
  std::string client_ca_pem;
  int io_threads = 2;
  int worker_threads = 64;  // concurrent blocking handlers (each may wait on a sync)
  size_t max_body_bytes = 1u << 20;
  size_t max_header_bytes = 16u << 10;
  // Connection slots (docs/adr/0019): in all; per client address (an
  // IPv6 client: per /64; 0: no limit); and for connections whose TLS
  // handshake has not ended, from sources that have not completed one in
  // the last 30 minutes (0: half of max_connections). A trusted proxy's own
  // connections count under the client they carry.
  size_t max_connections = 4096;
  size_t max_connections_per_source = 256;
  size_t max_pending_handshakes = 0;
  // Until the first byte of the TLS handshake (and the whole PROXY header)
  // arrives; then the handshake must end within handshake_timeout.
  std::chrono::milliseconds pre_handshake_timeout{3000};
  std::chrono::seconds handshake_timeout{5};
  std::chrono::seconds idle_timeout{60};  // keep-alive and slow clients
  std::chrono::seconds drain_timeout{20};
  bool stop_on_signals = true;  // SIGTERM and SIGINT stop gracefully
  // Run (on a worker thread) on each SIGHUP while the server runs: `coffre
  // serve` loads its certificate again (SetCertificate). Empty: SIGHUP is
  // not handled here.
  std::function<void()> on_sighup;
  // Proxies whose word on the client address is taken (CIDR blocks): from
  // them, the right-most X-Forwarded-For address that is not one of them
  // is the client (server/client_address.h).
  std::vector<std::string> trusted_proxies;
  // Connections from a trusted proxy must start with a PROXY protocol v2
  // header, which names the client; other peers cannot send one.
  bool proxy_protocol = false;
  // One info line in the process log (common/log.h) per answer: method,
  // route template, status, duration, principal, X-Request-Id (every
  // answer carries one, made by the server) and bytes sent.
  bool access_log = true;
  // The route templates the access line names, indexed by
  // api::Response::route (api::MetricRoutes()); "-" for an index beyond.
  std::vector<std::string_view> route_names;
  // Non-null: every answer is counted there (route, status, duration), on
  // the I/O thread that writes it. Must outlive Run().
  RequestMetrics* request_metrics = nullptr;
};

using Handler = std::function<api::Response(api::Request&)>;
// Sends the response of a request taken by an InlineHandler. Call it
// exactly once, from any thread, and call or drop every copy before the
// server is destroyed (it holds the connection): Run() returns once every
// reply was called, unless drain_timeout passed first.
using Reply = std::function<void(api::Response)>;
// Runs on an I/O thread and must not block: returns false (leaving the
// request as it was) to pass it to the Handler, or true after taking
// `reply` (copy or move it) to answer later. If it throws, the server
// answers 500 (unless it had replied: a reply answers once).
using InlineHandler = std::function<bool(api::Request&, Reply& reply)>;

class HttpsServer {
 public:
  // Binds and listens (kInvalidArgument for a bad address, trusted proxy
  // or TLS material, kIoError when the port cannot be bound). The server's
  // copy of key_pem is wiped once loaded.
  static Result<std::unique_ptr<HttpsServer>> Start(const HttpsOptions& options, Handler handler,
                                                    InlineHandler inline_handler = nullptr);
  virtual ~HttpsServer() = default;

  virtual uint16_t port() const = 0;
  // Presents `cert_pem` (the certificate, then its chain) with `key_pem`
  // to every handshake from now on; connections already open keep theirs.
  // kInvalidArgument (the old certificate stays) if they cannot be used.
  // Safe from any thread, while Run() runs.
  virtual Status SetCertificate(const std::string& cert_pem, const std::string& key_pem) = 0;
  // Serves until stopped, then stops accepting, lets handlers in flight
  // finish (at most drain_timeout) and returns.
  virtual void Run() = 0;
  virtual void Stop() = 0;
};

}  // namespace coffre::server
