#include "server/server.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <filesystem>
#include <functional>
#include <iostream>
#include <mutex>
#include <optional>
#include <span>
#include <thread>

#include "api/api.h"
#include "api/routes.h"
#include "app/admin.h"
#include "common/file_text.h"
#include "common/log.h"
#include "crypto/crypto.h"
#include "server/admin_socket.h"
#include "server/client_address.h"
#include "server/https_server.h"
#include "server/metrics_listener.h"
#include "server/process_limits.h"
#include "server/served_tls.h"
#include "server/server_metrics.h"
#include "vault/key_shares.h"

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
// Failures are logged (common/log.h) and retried, never fatal.
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
        log::Error("audit.flush_failed", "audit flush failed: " + s.error().message);
      }
      const int64_t now = rt_.clock().NowUnixSeconds();
      SweepCardsOnANewMonth(now);
      CompactShreddedCards(now);
      SweepRetentionHourly();
      tls_.WarnIfExpiring(now);
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
  ServedTls& tls_;
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
      log::Warn("metrics.non_loopback",
                "metrics on non-loopback address " + a +
                    ": anyone who reaches it reads request counts and principal names (firewall "
                    "it, or scrape through a proxy)");
      break;
    }
  }
  return MetricsListenerOptions{.address = resolved->front(), .port = parsed->port};
}

api::Response SealedResponse(const api::Request& r) {
  std::string_view path = r.target;
  path = path.substr(0, path.find('?'));
  api::Response out;
  if (path == "/healthz" && (r.method == "GET" || r.method == "HEAD")) {
    out.body = R"({"status":"ok"})";
    return out;
  }
  out.status = 503;
  out.body =
      R"({"error":{"code":"sealed","message":"the vault is sealed: its key holders unseal it with coffre unseal"}})";
  return out;
}

namespace {

// What serves an open vault: built at start from the key file, or when a
// sealed server gets its last share. Members in destruction order's
// reverse: the housekeeper stops first, the runtime goes last.
struct Serving {
  std::unique_ptr<app::Runtime> rt;
  std::unique_ptr<api::Api> api;
  std::unique_ptr<app::Admin> admin;
  std::unique_ptr<Housekeeper> housekeeper;
};

Result<std::unique_ptr<Serving>> OpenServing(const ServeOptions& options,
                                             const app::RuntimeOptions& ro,
                                             const std::atomic<bool>* sealed) {
  auto s = std::make_unique<Serving>();
  COFFRE_ASSIGN_OR_RETURN(s->rt, app::Runtime::Open(ro));
  app::Runtime& rt = *s->rt;
  s->api = std::make_unique<api::Api>(api::Services{.vault = rt.vault(),
                                                    .directory = rt.directory(),
                                                    .audit = rt.audit(),
                                                    .policy = [&rt] { return rt.policy(); },
                                                    .clock = rt.clock(),
                                                    .openapi_json = options.openapi_json,
                                                    .guard = &rt.guard(),
                                                    .cards = &rt.cards(),
                                                    .credentials = &rt.credentials(),
                                                    .retention = &rt.retention(),
                                                    .approvals = &rt.approvals(),
                                                    .sealed = sealed});
  s->admin = std::make_unique<app::Admin>(rt);
  return s;
}

// A sealed server's state (docs/key-custody.md): the shares given so far,
// and the vault once open. Requests read `live` (one acquire load); the
// admin socket's thread alone writes it, once.
class SealState {
 public:
  SealState(const ServeOptions& options, const app::RuntimeOptions& ro,
            std::unique_ptr<vault::Unsealer> unsealer)
      : options_(options), ro_(ro), unsealer_(std::move(unsealer)) {}

  Serving* live() const { return live_.load(std::memory_order_acquire); }
  bool sealed() const { return live() == nullptr; }
  // True until the vault is open (the Api's /readyz and coffre_sealed).
  const std::atomic<bool>* sealed_flag() const { return &sealed_flag_; }
  // Set once, before any request (a vault with a key file).
  void Open(std::unique_ptr<Serving> s) {
    owned_ = std::move(s);
    live_.store(owned_.get(), std::memory_order_release);
    sealed_flag_.store(false, std::memory_order_relaxed);
  }

  // Called with the open vault once the server runs: at once if it is
  // open already, else when the last share opens it.
  void OnOpen(std::function<void(Serving&)> f) {
    std::lock_guard lock(mu_);
    on_open_ = std::move(f);
    if (owned_ != nullptr) on_open_(*owned_);
  }

  // The admin socket's requests: unseal and seal.status always, the rest
  // once unsealed.
  Result<boost::json::object> Admin(boost::json::object& request, uint32_t uid,
                                    std::span<const int> fds) {
    const boost::json::value* op = request.if_contains("op");
    if (op != nullptr && op->is_string() && op->get_string() == "unseal") return Unseal(request);
    if (op != nullptr && op->is_string() && op->get_string() == "seal.status") return Progress();
    Serving* s = live();
    if (s == nullptr) {
      return Fail(ErrorCode::kFailedPrecondition,
                  "the vault is sealed: its key holders unseal it with coffre unseal " + ro_.dir);
    }
    return s->admin->Execute(request, uid, fds);
  }

 private:
  boost::json::object Progress() const {
    std::lock_guard lock(mu_);
    return ProgressLocked();
  }

  Result<boost::json::object> Unseal(boost::json::object& request) {
    boost::json::value* share = request.if_contains("share");
    if (share == nullptr || !share->is_string())
      return Fail(ErrorCode::kInvalidArgument, "'share' must be the share's line");
    boost::json::string& text = share->get_string();
    // The share is wiped from the request however this ends.
    struct WipeShare {
      boost::json::string& s;
      ~WipeShare() { crypto::Wipe(s.data(), s.size()); }
    } wipe{text};
    {
      std::lock_guard lock(mu_);
      if (!unsealer_) {
        return Fail(ErrorCode::kFailedPrecondition,
                    "the master key of " + ro_.dir + " is a key file: there is nothing to unseal");
      }
      if (!sealed()) return ProgressLocked();
      COFFRE_ASSIGN_OR_RETURN(bool counted, unsealer_->Give(std::string_view(text)));
      if (!counted) {
        log::Warn("unseal.duplicate", "unseal: a share of an index already given, not counted");
      } else {
        log::Info("unseal.share",
                  "unseal: " + std::to_string(unsealer_->given()) + " of " +
                      std::to_string(unsealer_->threshold()) + " shares given",
                  {{"given", static_cast<int64_t>(unsealer_->given())},
                   {"threshold", static_cast<int64_t>(unsealer_->threshold())}});
      }
      if (!unsealer_->complete()) return ProgressLocked();
      // The last share: recombine, open the vault with the key, serve.
      auto key = unsealer_->Combine();
      if (!key) return Fail(key.error());
      app::RuntimeOptions ro = ro_;
      ro.master_key = &*key;
      auto serving = OpenServing(options_, ro, &sealed_flag_);
      if (!serving) {
        log::Error("unseal.failed",
                   "unseal failed, every share dropped: " + serving.error().message);
        return Fail(serving.error());
      }
      Open(std::move(*serving));
      if (on_open_) on_open_(*owned_);
      log::Info("unseal.done", "unsealed, serving " + ro_.dir);
      return ProgressLocked();
    }
  }

  boost::json::object ProgressLocked() const {
    const unsigned k = unsealer_ ? unsealer_->threshold() : 0;
    const bool is_sealed = sealed();
    return {{"sealed", is_sealed}, {"given", is_sealed ? unsealer_->given() : k}, {"threshold", k}};
  }

  const ServeOptions& options_;
  app::RuntimeOptions ro_;
  mutable std::mutex mu_;
  std::unique_ptr<vault::Unsealer> unsealer_;  // under mu_; null for a key file
  std::unique_ptr<Serving> owned_;
  std::function<void(Serving&)> on_open_;  // under mu_
  std::atomic<Serving*> live_{nullptr};
  std::atomic<bool> sealed_flag_{true};
};

// A private key file: refused if group or others may read it.
Result<std::string> ReadPrivateFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Fail(ErrorCode::kNotFound,
                "no TLS key file " + path + " (coffre keys split writes it for a sealed server)");
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return Fail(ErrorCode::kPermissionDenied,
                "TLS key file " + path + " is readable by group or others; chmod 600 it");
  }
  return ReadWholeFile(path, "TLS key file");
}

// The TLS material of a sealed server: the vault's certificate (clear
// config) and the private key `keys split` put in DIR.tls-key.
Status LoadSealedTls(const vault::SealedView& view, const std::string& dir, const std::string& host,
                     bool loopback_only, HttpsOptions& ho) {
  auto cert = view.config.find(crypto::kTlsCertConfig);
  if (cert == view.config.end()) {
    return Fail(ErrorCode::kFailedPrecondition,
                "the vault has no TLS certificate (made by coffre init); it cannot serve");
  }
  const std::string key_path = vault::SealedTlsKeyPath(dir);
  COFFRE_ASSIGN_OR_RETURN(ho.key_pem, ReadPrivateFile(key_path));
  auto supplied = view.config.find(crypto::kTlsUserSuppliedConfig);
  if (!loopback_only && !(supplied != view.config.end() && supplied->second == "1")) {
    return Fail(ErrorCode::kInvalidArgument,
                "refusing to listen on non-loopback address " + host +
                    " with the self-signed certificate: give your own with coffre init "
                    "--tls-cert/--tls-key");
  }
  ho.cert_pem = cert->second;
  return Ok();
}

}  // namespace

Status Serve(const ServeOptions& options, std::ostream& ready) {
  log::Configure(
      {.format = options.log_format.value_or(log::DefaultFormat()), .level = options.log_level});
  // Declared first: every line logged below leaves before Serve returns.
  log::AsyncScope async_log;
  // Before anything: a sealed server combines shares before it opens a vault.
  COFFRE_TRY(crypto::Init());
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
  if (!options.tls_client_ca.empty()) {
    COFFRE_ASSIGN_OR_RETURN(ho.client_ca_pem,
                            ReadWholeFile(options.tls_client_ca, "--tls-client-ca"));
    COFFRE_TRY(crypto::CheckCaCertificates(ho.client_ca_pem));
  }

  // A vault whose key is split into shares starts sealed: nothing is
  // opened with a key until its holders give enough shares (unseal).
  std::optional<vault::SealedView> view;
  if (std::error_code ec; std::filesystem::is_directory(ro.dir, ec)) {
    auto peek = vault::PeekSealedView(ro.dir, ro.store,
                                      {crypto::kTlsCertConfig, crypto::kTlsUserSuppliedConfig});
    if (peek && peek->share_set) view = std::move(*peek);
  }
  std::unique_ptr<vault::Unsealer> unsealer;
  if (view) unsealer = std::make_unique<vault::Unsealer>(view->vault_id, *view->share_set);
  // The certificate served: from --tls-cert's files, or from the vault,
  // which a sealed server cannot read yet: until unsealed it serves the
  // vault's certificate with the key `keys split` put in DIR.tls-key.
  // Before `state`, whose housekeeper reads it.
  ServedTls tls(nullptr, {.cert_path = options.tls_cert, .key_path = options.tls_key});
  SealState state(options, ro, std::move(unsealer));
  auto now = [&state]() -> int64_t {
    Serving* s = state.live();
    return s != nullptr ? s->rt->clock().NowUnixSeconds() : DefaultClock().NowUnixSeconds();
  };

  if (view && !tls.from_files()) {
    COFFRE_TRY(LoadSealedTls(*view, ro.dir, listen.host, loopback_only, ho));
    if (auto info = crypto::InspectCertificate(ho.cert_pem)) tls.Served(*info, now());
  } else {
    if (!view) {
      COFFRE_ASSIGN_OR_RETURN(std::unique_ptr<Serving> serving,
                              OpenServing(options, ro, state.sealed_flag()));
      tls.Attach(serving->rt->vault());
      state.Open(std::move(serving));
    }
    COFFRE_TRY(LoadTls(tls, now(), listen.host, loopback_only, ho));
  }
  // SIGHUP loads the certificate again (from the files, or the vault), on
  // the server that `serving` points to once it runs.
  HttpsServer* serving = nullptr;
  ho.on_sighup = [&tls, &serving, &now] {
    if (serving == nullptr) return;
    if (auto r = tls.Reload(*serving, now()); !r) {
      log::Error("tls.reload_failed",
                 "SIGHUP: the TLS certificate was not reloaded (the previous one is still "
                 "served): " +
                     r.error().message);
    }
  };
  SetEdgeLimits(options, ho);
  ho.access_log = options.access_log;
  for (const api::MetricRoute& m : api::MetricRoutes()) ho.route_names.push_back(m.route);
  // Counted only when exposed: without --metrics-listen the request path
  // does not even read the clock for it. A sealed server has no runtime
  // yet: its values appear once unsealed, coffre_sealed at once.
  std::optional<ServerMetrics> server_metrics;
  if (metrics_at) {
    server_metrics.emplace(
        ServerMetricsOptions{.runtime = [&state]() -> app::Runtime* {
                               Serving* s = state.live();
                               return s != nullptr ? s->rt.get() : nullptr;
                             },
                             .data_dir = ro.dir,
                             .cert_pem = ho.cert_pem,
                             // The certificate served now: it changes on SIGHUP and tls set.
                             .certificate_not_after = []() -> std::optional<int64_t> {
                               const int64_t t = ServedTlsNotAfter();
                               return t != 0 ? std::optional<int64_t>(t) : std::nullopt;
                             },
                             .sealed = state.sealed_flag()});
    ho.request_metrics = &server_metrics->requests();
  }
  COFFRE_ASSIGN_OR_RETURN(auto admin_socket,
                          AdminSocket::Start(app::AdminSocketPath(ro.dir),
                                             [&state](boost::json::object& request, uint32_t uid,
                                                      std::span<const int> fds) {
                                               return state.Admin(request, uid, fds);
                                             }));

  // Reads are served on the I/O threads, their audit entries made durable
  // by the log's committer while the thread serves other connections; the
  // response leaves once they are (503 if they cannot be). The rest runs
  // on the workers (docs/api.md, "Threads"). Sealed, every route but
  // /healthz answers 503 `sealed` (SealedResponse).
  auto serve_inline = [&state](api::Request& r, Reply& reply) {
    Serving* s = state.live();
    if (s == nullptr) {
      reply(SealedResponse(r));
      return true;
    }
    if (!api::Api::IsNonBlocking(r)) return false;
    std::vector<audit::Entry> deferred;
    api::Response response = s->api->HandleDeferred(r, deferred);
    if (deferred.empty()) {
      reply(std::move(response));
      return true;
    }
    const uint16_t route = response.route;
    Status queued = s->rt->audit().AppendBatchAsync(
        std::move(deferred),
        [reply, response = std::move(response)](const Result<uint64_t>& durable) mutable {
          reply(durable ? std::move(response) : AuditUnavailable(response.route));
        });
    if (!queued) reply(AuditUnavailable(route));
    return true;
  };
  COFFRE_ASSIGN_OR_RETURN(auto https, HttpsServer::Start(
                                          ho,
                                          [&state](api::Request& r) {
                                            Serving* s = state.live();
                                            return s != nullptr ? s->api->Handle(r)
                                                                : SealedResponse(r);
                                          },
                                          serve_inline));
  // On every way out of here, no reply may outlive `https` (it holds a
  // connection of its I/O loops): a checkpoint waits for every append queued
  // before it, callbacks included. Destroyed before `https`; the admin
  // socket (which may unseal, or ask for a TLS reload) is stopped first, and
  // the open vault forgets the reload that points at `https`.
  struct AuditBarrier {
    AdminSocket& admin_socket;
    SealState& state;
    ~AuditBarrier() {
      admin_socket.Stop();
      if (Serving* s = state.live()) {
        s->rt->SetTlsReloader(nullptr);
        (void)s->rt->audit().Checkpoint();
      }
    }
  } barrier{*admin_socket, state};
  crypto::Wipe(ho.key_pem.data(), ho.key_pem.size());
  serving = https.get();

  std::unique_ptr<MetricsListener> metrics_listener;
  if (metrics_at) {
    COFFRE_ASSIGN_OR_RETURN(
        metrics_listener, MetricsListener::Start(
                              *metrics_at, [&server_metrics] { return server_metrics->Render(); }));
  }

  // What an open vault gets once `https` runs, now or when unsealed: its
  // housekeeper, and the reload `tls set` asks for (a new certificate
  // stored in the vault is loaded; served from --tls-cert's files, those
  // stay, and the answer names the certificate served).
  state.OnOpen([&tls, serving](Serving& s) {
    tls.Attach(s.rt->vault());
    app::Runtime& rt = *s.rt;
    rt.SetTlsReloader([&tls, serving, &rt]() -> Result<std::string> {
      if (tls.from_files()) return tls.served_fingerprint();
      return tls.Reload(*serving, rt.clock().NowUnixSeconds());
    });
    s.housekeeper = std::make_unique<Housekeeper>(rt, tls);
  });

  std::string shown_host =
      ho.address.find(':') != std::string::npos ? "[" + ho.address + "]" : ho.address;
  ready << R"({"listening":"https://)" << shown_host << ":" << https->port() << '"';
  if (metrics_listener) {
    const std::string& a = metrics_at->address;
    ready << R"(,"metrics":"http://)" << (a.find(':') != std::string::npos ? "[" + a + "]" : a)
          << ":" << metrics_listener->port() << "/metrics\"";
  }
  ready << "}" << std::endl;
  const std::string url = "https://" + shown_host + ":" + std::to_string(https->port());
  log::Info("server.start",
            "serving " + ro.dir + " on " + url +
                (state.sealed() ? ", sealed: unseal it with coffre unseal " + ro.dir : ""),
            {{"dir", ro.dir},
             {"url", url},
             {"admin_socket", app::AdminSocketPath(ro.dir)},
             {"sealed", state.sealed() ? "true" : "false"}});

  https->Run();  // until SIGTERM/SIGINT, then drained

  if (metrics_listener) metrics_listener->Stop();
  admin_socket->Stop();  // no unseal from here on
  if (Serving* s = state.live()) {
    s->housekeeper->Stop();
    s->rt->SetTlsReloader(nullptr);
    COFFRE_TRY(s->rt->audit().Checkpoint());  // its error is reported; `barrier` repeats it
  }
  log::Info("server.stop", "stopped");
  return Ok();
}

}  // namespace coffre::server
