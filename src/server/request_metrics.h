// Per-route request counters and latency histograms of the HTTPS server:
// coffre_http_requests_total{route,method,status} and
// coffre_http_request_duration_seconds{route,method}. The cost on the
// request path is one call: two array indexes, a bucket search over 16
// bounds and three relaxed atomic adds; no lock, no allocation, no map.
//
//   RequestMetrics m({{"/healthz", "GET"}, ...});   // index = api::Response::route
//   m.Register(metrics::Default());
//   m.Record(response.route, 200, elapsed);           // at the end of a request
//
// Routes are labelled by their template ("/v1/cards/{token}"), never by a
// request's path: no id or value reaches a label. An index past the table
// (requests that matched no route, or that the server refused before
// routing) counts under route "unmatched", method "other"; a status
// outside the known set counts under its class ("5xx").
//
// Thread-safety: Record from any thread; Collect while others record.
// Ownership: the label strings must outlive the object (static tables).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "common/metrics.h"

namespace coffre::server {

struct RouteLabel {
  std::string_view route;   // "/v1/collections/{collection}/records/{id}"
  std::string_view method;  // "GET", or "other"
};

class RequestMetrics {
 public:
  explicit RequestMetrics(std::vector<RouteLabel> routes);
  RequestMetrics(const RequestMetrics&) = delete;
  RequestMetrics& operator=(const RequestMetrics&) = delete;

  void Record(size_t route, int status, std::chrono::nanoseconds elapsed) noexcept {
    if (route >= routes_) route = routes_;  // "unmatched"
    counts_[route * kStatusSlots + StatusSlot(status)].fetch_add(1, std::memory_order_relaxed);
    latency_[route].Observe(static_cast<uint64_t>(elapsed.count() < 0 ? 0 : elapsed.count()));
  }

  // Adds the two families to `registry` (which must not outlive this).
  void Register(metrics::Registry& registry);
  // Only series that counted something are written (a route never asked
  // for has none), so a scrape stays small.
  void CollectCounts(metrics::Writer& w) const;
  void CollectLatency(metrics::Writer& w) const;

  // The slot of `status` and its label: the known statuses, then 1xx..5xx.
  static size_t StatusSlot(int status) noexcept;
  static std::string_view StatusLabel(size_t slot);
  static constexpr size_t kStatusSlots = 22;

 private:
  std::vector<RouteLabel> labels_;  // routes_ + 1 ("unmatched")
  size_t routes_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::deque<metrics::Histogram> latency_;
};

}  // namespace coffre::server
