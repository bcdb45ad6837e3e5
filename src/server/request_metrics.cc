// Per-route request metrics (server/request_metrics.h).
#include "server/request_metrics.h"

#include <array>
#include <string>

namespace coffre::server {
namespace {

// Request latency bounds, in nanoseconds: 100 us to 10 s.
constexpr uint64_t kLatencyBoundsNs[] = {
    100'000,       250'000,       500'000,       1'000'000,     2'500'000,   5'000'000,
    10'000'000,    25'000'000,    50'000'000,    100'000'000,   250'000'000, 500'000'000,
    1'000'000'000, 2'500'000'000, 5'000'000'000, 10'000'000'000};

// The statuses coffre answers (docs/api.md), then one slot per class.
constexpr int kKnownStatuses[] = {200, 201, 204, 400, 401, 403, 404, 405, 408,
                                  409, 413, 422, 429, 431, 500, 501, 503};
constexpr size_t kKnown = std::size(kKnownStatuses);
constexpr std::string_view kStatusLabels[] = {
    "200", "201", "204", "400", "401", "403", "404", "405", "408", "409", "413",
    "422", "429", "431", "500", "501", "503", "1xx", "2xx", "3xx", "4xx", "5xx"};
static_assert(std::size(kStatusLabels) == RequestMetrics::kStatusSlots);
static_assert(kKnown + 5 == RequestMetrics::kStatusSlots);

constexpr RouteLabel kUnmatched{"unmatched", "other"};

}  // namespace

RequestMetrics::RequestMetrics(std::vector<RouteLabel> routes)
    : labels_(std::move(routes)),
      routes_(labels_.size()),
      counts_(std::make_unique<std::atomic<uint64_t>[]>((routes_ + 1) * kStatusSlots)) {
  labels_.push_back(kUnmatched);
  for (size_t i = 0; i <= routes_; ++i) latency_.emplace_back(kLatencyBoundsNs);
}

size_t RequestMetrics::StatusSlot(int status) noexcept {
  switch (status) {
    case 200:
      return 0;
    case 201:
      return 1;
    case 204:
      return 2;
    case 400:
      return 3;
    case 401:
      return 4;
    case 403:
      return 5;
    case 404:
      return 6;
    case 405:
      return 7;
    case 408:
      return 8;
    case 409:
      return 9;
    case 413:
      return 10;
    case 422:
      return 11;
    case 429:
      return 12;
    case 431:
      return 13;
    case 500:
      return 14;
    case 501:
      return 15;
    case 503:
      return 16;
    default:
      break;
  }
  const int cls = status / 100;
  if (cls < 1) return kKnown;
  if (cls > 5) return kKnown + 4;
  return kKnown + static_cast<size_t>(cls - 1);
}

std::string_view RequestMetrics::StatusLabel(size_t slot) {
  return slot < kStatusSlots ? kStatusLabels[slot] : "5xx";
}

void RequestMetrics::CollectCounts(metrics::Writer& w) const {
  for (size_t r = 0; r <= routes_; ++r) {
    for (size_t s = 0; s < kStatusSlots; ++s) {
      const uint64_t n = counts_[r * kStatusSlots + s].load(std::memory_order_relaxed);
      if (n == 0) continue;
      const metrics::Label labels[] = {
          {"route", labels_[r].route}, {"method", labels_[r].method}, {"status", kStatusLabels[s]}};
      w.Sample("coffre_http_requests_total", labels, n);
    }
  }
}

void RequestMetrics::CollectLatency(metrics::Writer& w) const {
  for (size_t r = 0; r <= routes_; ++r) {
    metrics::Histogram::Snapshot h = latency_[r].Read();
    if (h.count() == 0) continue;
    const metrics::Label labels[] = {{"route", labels_[r].route}, {"method", labels_[r].method}};
    w.HistogramSamples("coffre_http_request_duration_seconds", labels, h, metrics::kNanos);
  }
}

void RequestMetrics::Register(metrics::Registry& registry) {
  registry.Add("coffre_http_requests_total",
               "HTTPS requests answered, by route template, method and status.",
               metrics::Type::kCounter, [this](metrics::Writer& w) { CollectCounts(w); });
  registry.Add("coffre_http_request_duration_seconds",
               "Time from a request's last byte read to its response being written, by route "
               "template and method (audit commit included).",
               metrics::Type::kHistogram, [this](metrics::Writer& w) { CollectLatency(w); });
}

}  // namespace coffre::server
