// What `coffre serve --metrics-listen` exposes (docs/operations.md,
// "Metrics"): the process registry (metrics::Default(): audit commit
// latency, alerts by kind), the HTTPS server's per-route counters and
// latency (RequestMetrics), and values read from the runtime at each
// scrape: suspended principals by kind, quota usage of staff and service
// principals near their limits, the store's size on disk, the TLS
// certificate's expiry and whether the server is sealed.
//
//   ServerMetrics m({.runtime = *rt, .data_dir = dir, .cert_pem = cert, .sealed = &sealed});
//   ho.request_metrics = &m.requests();
//   std::string text = m.Render();     // what GET /metrics answers
//
// No label holds a personal value or a record id: routes are templates,
// principals are staff and services (never end users: kind `user` is
// counted, not named), windows are as the policy writes them.
//
// Thread-safety: Render from any thread while requests are recorded.
// Ownership: borrows the runtime and `sealed`, which must outlive it.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "app/runtime.h"
#include "common/metrics.h"
#include "common/status.h"
#include "server/request_metrics.h"

namespace coffre::server {

// Quota usage at or above this share of a limit is exposed per principal;
// below, it is not (a quiet principal adds no series).
inline constexpr double kQuotaUsageExposedFrom = 0.5;

struct ServerMetricsOptions {
  app::Runtime& runtime;
  std::string data_dir;  // whose files make coffre_store_size_bytes
  std::string cert_pem;  // the certificate served (its notAfter)
  // Non-null: the served certificate's notAfter (unix seconds), read at
  // each scrape, for a server that reloads its certificate; replaces
  // cert_pem. nullopt: no certificate metrics.
  std::function<std::optional<int64_t>()> certificate_not_after = nullptr;
  const std::atomic<bool>* sealed = nullptr;
};

class ServerMetrics {
 public:
  explicit ServerMetrics(const ServerMetricsOptions& options);
  ServerMetrics(const ServerMetrics&) = delete;
  ServerMetrics& operator=(const ServerMetrics&) = delete;

  RequestMetrics& requests() { return requests_; }
  // The process registry, then this server's families.
  std::string Render() const;

 private:
  void CollectPrincipals(metrics::Writer& w, bool suspended_only) const;
  void CollectQuotaUsage(metrics::Writer& w) const;
  std::optional<int64_t> NotAfter() const;

  ServerMetricsOptions options_;
  std::optional<int64_t> pem_not_after_;  // of cert_pem; none if it does not parse
  RequestMetrics requests_;
  metrics::Registry registry_;
  // The principals, listed once per Render for the collectors that need
  // them (Render runs on one thread at a time: the listener's).
  mutable std::mutex render_mu_;
  mutable std::optional<Result<std::vector<auth::Principal>>> listed_;
};

// The notAfter of the first certificate of `cert_pem`, in unix seconds.
Result<int64_t> CertificateNotAfter(const std::string& cert_pem);

}  // namespace coffre::server
