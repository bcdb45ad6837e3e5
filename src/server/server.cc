#include "server/server.h"

#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <iostream>
#include <mutex>
#include <optional>
#include <thread>

#include "api/api.h"
#include "app/admin.h"
#include "common/file_text.h"
#include "crypto/crypto.h"
#include "server/admin_socket.h"
#include "server/client_address.h"
#include "server/https_server.h"
#include "server/metrics_listener.h"
#include "server/process_limits.h"
#include "server/served_tls.h"
#include "server/server_metrics.h"

namespace coffre::server {
namespace {

constexpr auto kRetentionSweepInterval = std::chrono::hours(1);
// Card numbers replaced by `complete` leave the files at the next
// compaction, at most this much later (docs/cards.md).
constexpr int64_t kCardCompactionSeconds = 60;

// The TLS material of `tls` into `ho`. A non-loopback listener is refused
// while the certificate is the self-signed one made by init.
Status LoadTls(ServedTls& tls, int64_t now, const std::string& host, bool loopback_only,
               HttpsOptions& ho) {
  COFFRE_ASSIGN_OR_RETURN(LoadedTls t, tls.Read(now));
  if (!loopback_only && !t.user_supplied) {
    return Fail(ErrorCode::kInvalidArgument,
                "refusing to listen on non-loopback address " + host +
                    " with the self-signed certificate: give your own with coffre tls set "
                    "(or serve --tls-cert/--tls-key)");
  }
  ho.cert_pem = t.material.cert_pem;
  ho.key_pem = t.material.key_pem;
  tls.Served(t.info, now);
  return Ok();
}

// The edge limits of `options` (docs/adr/0019): as many connections as the
// descriptors allow (raised to the hard limit), at most the default or
// --max-connections.
void SetEdgeLimits(const ServeOptions& options, HttpsOptions& ho) {
  const size_t descriptors = RaiseDescriptorLimit();
  const size_t wanted = options.max_connections != 0 ? options.max_connections : ho.max_connections;
  ho.max_connections = ConnectionCapFor(descriptors, wanted);
  if (ho.max_connections < wanted) {
    std::cerr << "coffre: " << descriptors << " descriptors allow " << ho.max_connections
              << " connections, not " << wanted << " (raise the hard RLIMIT_NOFILE)\n";
  }
  if (options.max_connections_per_source != 0)
    ho.max_connections_per_source = options.max_connections_per_source;
  ho.trusted_proxies = options.trusted_proxies;
  ho.proxy_protocol = options.proxy_protocol;
}

// 503 for a read whose audit entries could not be made durable, counted
// under the route that was asked.
api::Response AuditUnavailable(uint16_t route) {
  api::Response r = api::Api::AuditUnavailable();
  r.route = route;
  return r;
}

// The periodic duties of a serving process, on one thread woken every
// second until Stop: summaries of unauthenticated failures and checkpoints
// of a quiet tail (the audit flush); the card sweep, at start and whenever
// the clock's month changes, since cards expire with their month (retried
// each second after a failure); the compaction of shredded card numbers;
// the retention sweep, at start and then hourly (ADR 0012), audited as
// principal `coffre` (`coffre retention run` runs it on demand); the
// certificate's expiry warning (daily within 30 days).
// Failures are reported on stderr and retried, never fatal.
class Housekeeper {
 public:
  Housekeeper(app::Runtime& rt, ServedTls& tls)
      : rt_(rt),
        tls_(tls),
        compacted_at_(rt.clock().NowUnixSeconds()),
        thread_([this] { Run(); }) {}
  ~Housekeeper() { Stop(); }
  Housekeeper(const Housekeeper&) = delete;
  Housekeeper& operator=(const Housekeeper&) = delete;

  void Stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Run() {
    std::unique_lock lock(mu_);
    do {
      lock.unlock();
      if (auto s = rt_.audit().Flush(); !s) {
        std::cerr << "coffre: audit flush failed: " << s.error().message << "\n";
      }
      const int64_t now = rt_.clock().NowUnixSeconds();
      SweepCardsOnANewMonth(now);
      CompactShreddedCards(now);
      SweepRetentionHourly();
      tls_.WarnIfExpiring(now);
      lock.lock();
    } while (!cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_; }));
  }

  void SweepCardsOnANewMonth(int64_t now) {
    const int64_t month = cards::MonthIndex(now);
    if (month == swept_month_) return;
    auto swept = rt_.SweepCards();
    if (!swept) {
      std::cerr << "coffre: card sweep failed: " << swept.error().message << "\n";
      return;
    }
    swept_month_ = month;
    compacted_at_ = now;
    if (swept->expired + swept->evidence_deleted + swept->unreadable > 0) {
      std::cerr << "coffre: card sweep: " << swept->expired << " expired, "
                << swept->evidence_deleted << " evidences deleted, " << swept->unreadable
                << " unreadable\n";
    }
  }

  void CompactShreddedCards(int64_t now) {
    if (!rt_.cards().shred_pending() || now - compacted_at_ < kCardCompactionSeconds) return;
    if (auto s = rt_.cards().CompactIfShredded(); !s) {
      std::cerr << "coffre: card compaction failed: " << s.error().message << "\n";
    }
    compacted_at_ = now;
  }

  void SweepRetentionHourly() {
    if (std::chrono::steady_clock::now() < next_retention_sweep_) return;
    next_retention_sweep_ = std::chrono::steady_clock::now() + kRetentionSweepInterval;
    if (auto r = rt_.retention().Sweep(); !r) {
      std::cerr << "coffre: retention sweep failed: " << r.error().message << "\n";
    } else if (r->archived + r->deleted + r->held > 0) {
      std::cerr << "coffre: retention: " << r->archived << " archived, " << r->deleted
                << " deleted, " << r->held << " held\n";
    }
  }

  app::Runtime& rt_;
  ServedTls& tls_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  // Touched by the thread only.
  int64_t swept_month_ = -1;
  int64_t compacted_at_;
  std::chrono::steady_clock::time_point next_retention_sweep_ = std::chrono::steady_clock::now();
  std::thread thread_;  // last: starts once every member above is set
};

}  // namespace

Result<ListenAddress> ParseListen(std::string_view text) {
  auto bad = [&] {
    return Fail(ErrorCode::kInvalidArgument,
                "--listen: expected ADDRESS:PORT, like 127.0.0.1:8443");
  };
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return bad();
  std::string_view host = text.substr(0, colon);
  std::string_view port = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty() || port.empty() || port.size() > 5) return bad();
  uint32_t p = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return bad();
    p = p * 10 + static_cast<uint32_t>(c - '0');
  }
  if (p > 65535) return bad();
  return ListenAddress{std::string(host), static_cast<uint16_t>(p)};
}

bool IsLoopback(std::string_view host) {
  auto a = IpAddress::Parse(host);
  return a && a->IsLoopback();
}

Result<std::vector<std::string>> ResolveListenHost(const std::string& host) {
  if (auto literal = IpAddress::Parse(host)) return std::vector<std::string>{host};
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (rc != 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "--listen: cannot resolve " + host + ": " + ::gai_strerror(rc));
  }
  std::vector<std::string> v4, v6;
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    std::optional<IpAddress> a;
    if (ai->ai_family == AF_INET) {
      a = IpAddress::V4(
          reinterpret_cast<const uint8_t*>(&reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr));
    } else if (ai->ai_family == AF_INET6) {
      a = IpAddress::V6(reinterpret_cast<const uint8_t*>(
          &reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_addr));
    }
    if (!a) continue;
    auto& into = a->v4 ? v4 : v6;
    if (std::find(into.begin(), into.end(), a->ToString()) == into.end())
      into.push_back(a->ToString());
  }
  ::freeaddrinfo(found);
  v4.insert(v4.end(), v6.begin(), v6.end());
  if (v4.empty())
    return Fail(ErrorCode::kInvalidArgument, "--listen: " + host + " has no IP address");
  return v4;
}

// The address of --metrics-listen (the first its host resolves to), checked
// before anything opens.
Result<MetricsListenerOptions> MetricsAddress(const std::string& text) {
  auto parsed = ParseListen(text);
  if (!parsed) {
    return Fail(ErrorCode::kInvalidArgument,
                "--metrics-listen: expected ADDRESS:PORT, like 127.0.0.1:9464");
  }
  auto resolved = ResolveListenHost(parsed->host);
  if (!resolved) {
    return Fail(ErrorCode::kInvalidArgument, "--metrics-listen: cannot resolve " + parsed->host);
  }
  for (const std::string& a : *resolved) {
    if (!IsLoopback(a)) {
      std::cerr << "coffre: warning: metrics on non-loopback address " << a
                << ": anyone who reaches it reads request counts and principal names (firewall "
                   "it, or scrape through a proxy)\n";
      break;
    }
  }
  return MetricsListenerOptions{.address = resolved->front(), .port = parsed->port};
}

Status Serve(const ServeOptions& options, std::ostream& ready) {
  // A reload (SIGHUP) before the server handles it must not end the
  // process (its default action): ignored until the server takes it.
  ::signal(SIGHUP, SIG_IGN);
  COFFRE_ASSIGN_OR_RETURN(ListenAddress listen, ParseListen(options.listen));
  std::optional<MetricsListenerOptions> metrics_at;
  if (!options.metrics_listen.empty()) {
    COFFRE_ASSIGN_OR_RETURN(metrics_at, MetricsAddress(options.metrics_listen));
  }
  // A name is resolved: the loopback rule holds only if every address it
  // stands for is a loopback one; the server binds the first (IPv4 first).
  COFFRE_ASSIGN_OR_RETURN(std::vector<std::string> addresses, ResolveListenHost(listen.host));
  const bool loopback_only = std::all_of(addresses.begin(), addresses.end(),
                                         [](const std::string& a) { return IsLoopback(a); });
  app::RuntimeOptions ro = options.runtime;
  // A server answers the same records again and again (bench/http: ~8 us of
  // ~13 per GET saved); one-shot CLI commands gain nothing from it.
  if (ro.row_cache_bytes == 0) ro.row_cache_bytes = kServeRowCacheBytes;
  COFFRE_ASSIGN_OR_RETURN(std::unique_ptr<app::Runtime> rt, app::Runtime::Open(ro));
  vault::Vault& v = rt->vault();

  HttpsOptions ho;
  ho.address = addresses.front();
  ho.port = listen.port;
  // The PEM leaves this frame wiped, however Start ends (the server wipes
  // its own copy once loaded).
  struct WipeOnExit {
    std::string& pem;
    ~WipeOnExit() { crypto::Wipe(pem.data(), pem.size()); }
  } wipe_key{ho.key_pem};
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "--tls-cert and --tls-key go together");
  }
  ServedTls tls(v, {.cert_path = options.tls_cert, .key_path = options.tls_key});
  COFFRE_TRY(LoadTls(tls, rt->clock().NowUnixSeconds(), listen.host, loopback_only, ho));
  // SIGHUP loads the certificate again (from the files, or the vault), on
  // the server that `serving` points to once it runs.
  HttpsServer* serving = nullptr;
  ho.on_sighup = [&tls, &serving, &rt] {
    if (serving == nullptr) return;
    if (auto r = tls.Reload(*serving, rt->clock().NowUnixSeconds()); !r) {
      std::cerr << "coffre: SIGHUP: the TLS certificate was not reloaded (the previous one is "
                   "still served): "
                << r.error().message << "\n";
    }
  };
  if (!options.tls_client_ca.empty()) {
    COFFRE_ASSIGN_OR_RETURN(ho.client_ca_pem,
                            ReadWholeFile(options.tls_client_ca, "--tls-client-ca"));
    COFFRE_TRY(crypto::CheckCaCertificates(ho.client_ca_pem));
  }
  SetEdgeLimits(options, ho);
  // Sealing (issue 15, item 7) sets it; /readyz and coffre_sealed read it.
  std::atomic<bool> sealed{false};
  // Counted only when exposed: without --metrics-listen the request path
  // does not even read the clock for it.
  std::optional<ServerMetrics> server_metrics;
  if (metrics_at) {
    server_metrics.emplace(
        ServerMetricsOptions{.runtime = *rt,
                             .data_dir = ro.dir,
                             .cert_pem = ho.cert_pem,
                             // The certificate served now: it changes on SIGHUP and tls set.
                             .certificate_not_after = []() -> std::optional<int64_t> {
                               const int64_t t = ServedTlsNotAfter();
                               return t != 0 ? std::optional<int64_t>(t) : std::nullopt;
                             },
                             .sealed = &sealed});
    ho.request_metrics = &server_metrics->requests();
  }

  api::Api api({.vault = v,
                .directory = rt->directory(),
                .audit = rt->audit(),
                .policy = [&rt] { return rt->policy(); },
                .clock = rt->clock(),
                .openapi_json = options.openapi_json,
                .guard = &rt->guard(),
                .cards = &rt->cards(),
                .credentials = &rt->credentials(),
                .retention = &rt->retention(),
                .approvals = &rt->approvals(),
                .sealed = &sealed});
  app::Admin admin(*rt);
  COFFRE_ASSIGN_OR_RETURN(auto admin_socket,
                          AdminSocket::Start(app::AdminSocketPath(ro.dir), admin));

  // Reads are served on the I/O threads, their audit entries made durable
  // by the log's committer while the thread serves other connections; the
  // response leaves once they are (503 if they cannot be). The rest runs
  // on the workers (docs/api.md, "Threads").
  audit::AuditLog& log = rt->audit();
  auto serve_inline = [&api, &log](api::Request& r, Reply& reply) {
    if (!api::Api::IsNonBlocking(r)) return false;
    std::vector<audit::Entry> deferred;
    api::Response response = api.HandleDeferred(r, deferred);
    if (deferred.empty()) {
      reply(std::move(response));
      return true;
    }
    const uint16_t route = response.route;
    Status queued = log.AppendBatchAsync(
        std::move(deferred),
        [reply, response = std::move(response)](const Result<uint64_t>& durable) mutable {
          reply(durable ? std::move(response) : AuditUnavailable(response.route));
        });
    if (!queued) reply(AuditUnavailable(route));
    return true;
  };
  COFFRE_ASSIGN_OR_RETURN(auto https,
                          HttpsServer::Start(
                              ho, [&api](api::Request& r) { return api.Handle(r); }, serve_inline));
  // On every way out of here, no reply may outlive `https` (it holds a
  // connection of its I/O loops): a checkpoint waits for every append queued
  // before it, callbacks included. Destroyed before `https`.
  struct AuditBarrier {
    audit::AuditLog& log;
    ~AuditBarrier() { (void)log.Checkpoint(); }
  } barrier{log};
  crypto::Wipe(ho.key_pem.data(), ho.key_pem.size());
  serving = https.get();
  // `tls set` stored a new certificate in the vault: served from there, it
  // is loaded; served from --tls-cert's files, those stay (its answer names
  // the certificate served).
  rt->SetTlsReloader([&tls, serving, &rt]() -> Result<std::string> {
    if (tls.from_files()) return tls.served_fingerprint();
    return tls.Reload(*serving, rt->clock().NowUnixSeconds());
  });
  // Before `https` goes, so that no tls.set reaches it.
  struct ForgetReloader {
    app::Runtime& rt;
    ~ForgetReloader() { rt.SetTlsReloader(nullptr); }
  } forget_reloader{*rt};

  std::unique_ptr<MetricsListener> metrics_listener;
  if (metrics_at) {
    COFFRE_ASSIGN_OR_RETURN(
        metrics_listener, MetricsListener::Start(
                              *metrics_at, [&server_metrics] { return server_metrics->Render(); }));
  }

  Housekeeper housekeeper(*rt, tls);

  std::string shown_host =
      ho.address.find(':') != std::string::npos ? "[" + ho.address + "]" : ho.address;
  ready << R"({"listening":"https://)" << shown_host << ":" << https->port() << '"';
  if (metrics_listener) {
    const std::string& a = metrics_at->address;
    ready << R"(,"metrics":"http://)" << (a.find(':') != std::string::npos ? "[" + a + "]" : a)
          << ":" << metrics_listener->port() << "/metrics\"";
  }
  ready << "}" << std::endl;
  std::cerr << "coffre: serving " << ro.dir << " on https://" << shown_host << ":" << https->port()
            << " (admin socket " << app::AdminSocketPath(ro.dir) << ")\n";

  https->Run();  // until SIGTERM/SIGINT, then drained

  housekeeper.Stop();
  if (metrics_listener) metrics_listener->Stop();
  admin_socket->Stop();
  COFFRE_TRY(rt->audit().Checkpoint());  // its error is reported; `barrier` repeats it as a no-op
  std::cerr << "coffre: stopped\n";
  return Ok();
}

}  // namespace coffre::server
