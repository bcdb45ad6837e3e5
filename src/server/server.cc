#include "server/server.h"

#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "api/api.h"
#include "app/admin.h"
#include "common/log.h"
#include "crypto/crypto.h"
#include "server/admin_socket.h"
#include "server/client_address.h"
#include "server/https_server.h"
#include "server/process_limits.h"
#include "server/tls_material.h"

namespace coffre::server {
namespace {

constexpr auto kRetentionSweepInterval = std::chrono::hours(1);
// Card numbers replaced by `complete` leave the files at the next
// compaction, at most this much later (docs/cards.md).
constexpr int64_t kCardCompactionSeconds = 60;

// The TLS material of the vault into `ho`. A non-loopback listener is
// refused while the certificate is the self-signed one made by init.
Status LoadTls(vault::Vault& v, const std::string& host, bool loopback_only, HttpsOptions& ho) {
  COFFRE_ASSIGN_OR_RETURN(auto cert, v.GetConfig(kTlsCertConfig));
  COFFRE_ASSIGN_OR_RETURN(auto key, v.GetSecret(kTlsKeySecret));
  if (!cert || !key) {
    return Fail(ErrorCode::kFailedPrecondition,
                "the vault has no TLS certificate (made by coffre init); it cannot serve");
  }
  struct WipeOnExit {
    std::string& pem;
    ~WipeOnExit() { crypto::Wipe(pem.data(), pem.size()); }
  } wipe_key{*key};
  COFFRE_ASSIGN_OR_RETURN(auto supplied, v.GetConfig(kTlsUserSuppliedConfig));
  if (!loopback_only && !(supplied && *supplied == "1")) {
    return Fail(ErrorCode::kInvalidArgument,
                "refusing to listen on non-loopback address " + host +
                    " with the self-signed certificate: give your own with coffre init "
                    "--tls-cert/--tls-key");
  }
  ho.cert_pem = *cert;
  ho.key_pem = *key;
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
    log::Warn("server.connection_cap",
              std::to_string(descriptors) + " descriptors allow " +
                  std::to_string(ho.max_connections) + " connections, not " +
                  std::to_string(wanted) + " (raise the hard RLIMIT_NOFILE)",
              {{"descriptors", descriptors},
               {"max_connections", ho.max_connections},
               {"wanted", wanted}});
  }
  if (options.max_connections_per_source != 0)
    ho.max_connections_per_source = options.max_connections_per_source;
  ho.trusted_proxies = options.trusted_proxies;
  ho.proxy_protocol = options.proxy_protocol;
}

// The periodic duties of a serving process, on one thread woken every
// second until Stop: summaries of unauthenticated failures and checkpoints
// of a quiet tail (the audit flush); the card sweep, at start and whenever
// the clock's month changes, since cards expire with their month (retried
// each second after a failure); the compaction of shredded card numbers;
// the retention sweep, at start and then hourly (ADR 0012), audited as
// principal `coffre` (`coffre retention run` runs it on demand).
// Failures are logged (common/log.h) and retried, never fatal.
class Housekeeper {
 public:
  explicit Housekeeper(app::Runtime& rt)
      : rt_(rt), compacted_at_(rt.clock().NowUnixSeconds()), thread_([this] { Run(); }) {}
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
        log::Error("audit.flush_failed", "audit flush failed: " + s.error().message);
      }
      const int64_t now = rt_.clock().NowUnixSeconds();
      SweepCardsOnANewMonth(now);
      CompactShreddedCards(now);
      SweepRetentionHourly();
      ReportDroppedLogLines();
      lock.lock();
    } while (!cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_; }));
  }

  void SweepCardsOnANewMonth(int64_t now) {
    const int64_t month = cards::MonthIndex(now);
    if (month == swept_month_) return;
    auto swept = rt_.SweepCards();
    if (!swept) {
      log::Error("cards.sweep_failed", "card sweep failed: " + swept.error().message);
      return;
    }
    swept_month_ = month;
    compacted_at_ = now;
    if (swept->expired + swept->evidence_deleted + swept->unreadable > 0) {
      log::Info("cards.swept", "card sweep",
                {{"expired", swept->expired},
                 {"evidence_deleted", swept->evidence_deleted},
                 {"unreadable", swept->unreadable}});
    }
  }

  void CompactShreddedCards(int64_t now) {
    if (!rt_.cards().shred_pending() || now - compacted_at_ < kCardCompactionSeconds) return;
    if (auto s = rt_.cards().CompactIfShredded(); !s) {
      log::Error("cards.compaction_failed", "card compaction failed: " + s.error().message);
    }
    compacted_at_ = now;
  }

  void SweepRetentionHourly() {
    if (std::chrono::steady_clock::now() < next_retention_sweep_) return;
    next_retention_sweep_ = std::chrono::steady_clock::now() + kRetentionSweepInterval;
    if (auto r = rt_.retention().Sweep(); !r) {
      log::Error("retention.sweep_failed", "retention sweep failed: " + r.error().message);
    } else if (r->archived + r->deleted + r->held > 0) {
      log::Info("retention.swept", "retention sweep",
                {{"archived", r->archived}, {"deleted", r->deleted}, {"held", r->held}});
    }
  }

  // Lines the log dropped (stderr blocked, common/log.h), said once a
  // second at most.
  void ReportDroppedLogLines() {
    const uint64_t dropped = log::DroppedLines();
    if (dropped == reported_dropped_) return;
    log::Warn("log.dropped", "log lines were dropped: standard error did not keep up",
              {{"lines", dropped - reported_dropped_}});
    reported_dropped_ = dropped;
  }

  app::Runtime& rt_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  // Touched by the thread only.
  int64_t swept_month_ = -1;
  int64_t compacted_at_;
  uint64_t reported_dropped_ = log::DroppedLines();
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

Status Serve(const ServeOptions& options, std::ostream& ready) {
  log::Configure(
      {.format = options.log_format.value_or(log::DefaultFormat()), .level = options.log_level});
  // Declared first: every line logged below leaves before Serve returns.
  log::AsyncScope async_log;
  COFFRE_ASSIGN_OR_RETURN(ListenAddress listen, ParseListen(options.listen));
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
  COFFRE_TRY(LoadTls(v, listen.host, loopback_only, ho));
  SetEdgeLimits(options, ho);
  ho.access_log = options.access_log;

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
                .approvals = &rt->approvals()});
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
    Status queued = log.AppendBatchAsync(
        std::move(deferred),
        [reply, response = std::move(response)](const Result<uint64_t>& durable) mutable {
          reply(durable ? std::move(response) : api::Api::AuditUnavailable());
        });
    if (!queued) reply(api::Api::AuditUnavailable());
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

  Housekeeper housekeeper(*rt);

  std::string shown_host =
      ho.address.find(':') != std::string::npos ? "[" + ho.address + "]" : ho.address;
  ready << R"({"listening":"https://)" << shown_host << ":" << https->port() << "\"}" << std::endl;
  const std::string url = "https://" + shown_host + ":" + std::to_string(https->port());
  log::Info("server.start", "serving " + ro.dir + " on " + url,
            {{"dir", ro.dir}, {"url", url}, {"admin_socket", app::AdminSocketPath(ro.dir)}});

  https->Run();  // until SIGTERM/SIGINT, then drained

  housekeeper.Stop();
  admin_socket->Stop();
  COFFRE_TRY(rt->audit().Checkpoint());  // its error is reported; `barrier` repeats it as a no-op
  log::Info("server.stop", "stopped");
  return Ok();
}

}  // namespace coffre::server
