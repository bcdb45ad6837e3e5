// Process metrics: counters, gauges and histograms with fixed buckets that
// any module bumps without knowing Prometheus, and a renderer of the
// Prometheus text exposition format (version 0.0.4) for the metrics
// listener (`serve --metrics-listen`, docs/operations.md, "Metrics").
//
//   // At namespace scope in the module's .cc (registered once, at start):
//   metrics::Counter& g_sweeps = metrics::Default().AddCounter(
//       "coffre_retention_sweeps_total", "Retention sweeps run.");
//   constexpr uint64_t kBoundsUs[] = {100, 1000, 10000};
//   metrics::Histogram& g_seconds = metrics::Default().AddHistogram(
//       "coffre_x_seconds", "How long x takes.", kBoundsUs, metrics::kMicros);
//   ...
//   g_sweeps.Add();                   // one relaxed atomic add
//   g_seconds.Observe(elapsed_us);     // a bucket search and two adds
//   std::string text = metrics::Default().Render();
//
// The hot paths (Add, Set, Observe) take no lock, allocate nothing and make
// no virtual call: relaxed atomics on fixed arrays. A value read while
// others add is some value it had; a histogram's buckets, sum and count
// may be a few observations apart from one another, never decreasing.
// Labels are fixed at registration (LabelledCounter) or written by a
// collector at render time; no label ever comes from a request, so the
// number of series is bounded by the code. No label may hold a personal
// value or a record id (tests/blackbox/test_metrics.py checks the scrape).
//
// Thread-safety: everything is safe from many threads. Registration and
// rendering hold the registry's mutex; collectors run under it and must not
// register. Ownership: a registry owns its metrics (stable addresses, alive
// as long as the registry); Default() lives for the whole process.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace coffre::metrics {

enum class Type { kCounter, kGauge, kHistogram };

// The unit of histogram observations, as the divisor that turns them into
// the base unit (seconds): observations are integers, bounds too.
inline constexpr double kNanos = 1e9;
inline constexpr double kMicros = 1e6;

struct Label {
  std::string_view name;
  std::string_view value;
};

class Counter {
 public:
  void Add(uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void Set(int64_t v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void Add(int64_t n) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  int64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// A histogram of integer observations over fixed upper bounds (ascending,
// at most kMaxBuckets, in the unit of the observations). Bucket i counts
// the observations v with bounds[i-1] < v <= bounds[i]; the last, +Inf,
// those above every bound.
class Histogram {
 public:
  static constexpr size_t kMaxBuckets = 24;
  // `bounds` must outlive the histogram (a static array).
  explicit Histogram(std::span<const uint64_t> bounds) noexcept;

  void Observe(uint64_t v) noexcept {
    size_t i = 0;
    while (i < bounds_.size() && v > bounds_[i]) ++i;
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    sum_.fetch_add(v, std::memory_order_relaxed);
  }

  struct Snapshot {
    std::span<const uint64_t> bounds;
    std::vector<uint64_t> cumulative;  // bounds.size() + 1 entries; the last is the count
    uint64_t sum = 0;
    uint64_t count() const { return cumulative.empty() ? 0 : cumulative.back(); }
  };
  Snapshot Read() const;
  std::span<const uint64_t> bounds() const { return bounds_; }

 private:
  std::span<const uint64_t> bounds_;
  std::array<std::atomic<uint64_t>, kMaxBuckets + 1> counts_{};
  std::atomic<uint64_t> sum_{0};
};

// Counters of one family, one per label value, all fixed at registration
// (alerts by kind): Add(i) bumps the counter of values[i].
class LabelledCounter {
 public:
  LabelledCounter(std::string label, std::vector<std::string> values);
  void Add(size_t i, uint64_t n = 1) noexcept {
    if (i < size_) counts_[i].Add(n);
  }
  uint64_t value(size_t i) const noexcept { return i < size_ ? counts_[i].value() : 0; }
  const std::string& label() const { return label_; }
  const std::vector<std::string>& values() const { return values_; }

 private:
  std::string label_;
  std::vector<std::string> values_;
  size_t size_;
  std::unique_ptr<Counter[]> counts_;
};

// Writes samples in the text exposition format: one `name{labels} value`
// line each, label values escaped (\\, \", \n). The registry writes each
// family's HELP and TYPE lines; a collector writes its samples only.
class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}
  void Sample(std::string_view name, std::span<const Label> labels, double value);
  void Sample(std::string_view name, std::span<const Label> labels, uint64_t value);
  void Sample(std::string_view name, double value) { Sample(name, {}, value); }
  // name_bucket{labels,le="..."} lines (cumulative, ending with +Inf),
  // name_sum (in the base unit: observations / divisor) and name_count.
  void HistogramSamples(std::string_view name, std::span<const Label> labels,
                        const Histogram::Snapshot& h, double divisor);

 private:
  void Line(std::string_view name, std::span<const Label> labels, const Label* extra);
  std::string& out_;
};

// Escaping and number formats of the text format, for tests and collectors.
std::string EscapeLabelValue(std::string_view value);
std::string EscapeHelp(std::string_view help);
std::string FormatValue(double value);  // shortest round-trip; NaN, +Inf, -Inf
// Whether `name` is a valid metric or label name ([a-zA-Z_:][a-zA-Z0-9_:]*;
// no colon in label names).
bool IsMetricName(std::string_view name);
bool IsLabelName(std::string_view name);

class Registry {
 public:
  using Collect = std::function<void(Writer&)>;

  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // A family whose samples `collect` writes at each render (values read
  // from elsewhere: the store's size, suspended principals). A name that is
  // not a metric name, or already registered, is a programming error: it
  // aborts (registrations are fixed by the code).
  void Add(std::string name, std::string help, Type type, Collect collect);
  Counter& AddCounter(std::string name, std::string help);
  Gauge& AddGauge(std::string name, std::string help);
  Histogram& AddHistogram(std::string name, std::string help, std::span<const uint64_t> bounds,
                          double divisor);
  // Every value is rendered, 0 included (a closed set).
  LabelledCounter& AddLabelledCounter(std::string name, std::string help, std::string label,
                                      std::vector<std::string> values);

  // Every family, in registration order, each as HELP, TYPE and samples.
  std::string Render() const;
  void RenderTo(std::string& out) const;
  bool Has(std::string_view name) const;

 private:
  struct Family {
    std::string name;
    std::string help;
    Type type;
    Collect collect;
  };
  mutable std::mutex mu_;
  std::vector<Family> families_;
  std::deque<Counter> counters_;
  std::deque<Gauge> gauges_;
  std::deque<Histogram> histograms_;
  std::deque<LabelledCounter> labelled_;
};

// The process's registry: what modules register at start, rendered by the
// metrics listener with the server's own collectors.
Registry& Default();

}  // namespace coffre::metrics
