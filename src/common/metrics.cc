// Process metrics and the Prometheus text format (common/metrics.h).
#include "common/metrics.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>

namespace coffre::metrics {
namespace {

std::string_view TypeName(Type t) {
  switch (t) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

[[noreturn]] void Misuse(std::string_view what, std::string_view name) {
  std::fprintf(stderr, "coffre: metrics: %.*s: %.*s\n", static_cast<int>(what.size()), what.data(),
               static_cast<int>(name.size()), name.data());
  std::abort();
}

bool IsNameStart(char c, bool colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
}

bool IsName(std::string_view name, bool colon) {
  if (name.empty() || !IsNameStart(name[0], colon)) return false;
  for (char c : name.substr(1)) {
    if (!IsNameStart(c, colon) && !(c >= '0' && c <= '9')) return false;
  }
  return true;
}

void AppendUnsigned(std::string& out, uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

}  // namespace

Histogram::Histogram(std::span<const uint64_t> bounds) noexcept : bounds_(bounds) {
  if (bounds.size() > kMaxBuckets) Misuse("too many histogram buckets", "");
  for (size_t i = 1; i < bounds.size(); ++i) {
    if (bounds[i] <= bounds[i - 1]) Misuse("histogram bounds must ascend", "");
  }
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  s.bounds = bounds_;
  s.cumulative.resize(bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = running;
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

LabelledCounter::LabelledCounter(std::string label, std::vector<std::string> values)
    : label_(std::move(label)),
      values_(std::move(values)),
      size_(values_.size()),
      counts_(std::make_unique<Counter[]>(values_.size())) {}

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // As Go's strconv.FormatFloat(v, 'g', -1, 64), which Prometheus' own
  // clients use (le="0.0001", le="1e-05"): the shortest digits, in
  // exponent form only for exponents below -4 or from 21 on.
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
  const std::string_view sci(buf, static_cast<size_t>(end - buf));
  const size_t e = sci.find('e');
  int exponent = 0;
  std::from_chars(sci.data() + e + 1 + (sci[e + 1] == '+'), sci.data() + sci.size(), exponent);
  if (exponent < -4 || exponent >= 21) return std::string(sci);
  auto [fend, fec] = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::fixed);
  return std::string(buf, fend);
}

bool IsMetricName(std::string_view name) { return IsName(name, true); }
bool IsLabelName(std::string_view name) { return IsName(name, false) && !name.starts_with("__"); }

void Writer::Line(std::string_view name, std::span<const Label> labels, const Label* extra) {
  out_ += name;
  if (!labels.empty() || extra != nullptr) {
    out_ += '{';
    bool first = true;
    auto add = [&](const Label& l) {
      if (!first) out_ += ',';
      first = false;
      out_ += l.name;
      out_ += "=\"";
      out_ += EscapeLabelValue(l.value);
      out_ += '"';
    };
    for (const Label& l : labels) add(l);
    if (extra != nullptr) add(*extra);
    out_ += '}';
  }
  out_ += ' ';
}

void Writer::Sample(std::string_view name, std::span<const Label> labels, double value) {
  Line(name, labels, nullptr);
  out_ += FormatValue(value);
  out_ += '\n';
}

void Writer::Sample(std::string_view name, std::span<const Label> labels, uint64_t value) {
  Line(name, labels, nullptr);
  AppendUnsigned(out_, value);
  out_ += '\n';
}

void Writer::HistogramSamples(std::string_view name, std::span<const Label> labels,
                              const Histogram::Snapshot& h, double divisor) {
  const std::string bucket = std::string(name) + "_bucket";
  for (size_t i = 0; i < h.cumulative.size(); ++i) {
    const std::string le =
        i < h.bounds.size() ? FormatValue(static_cast<double>(h.bounds[i]) / divisor) : "+Inf";
    const Label extra{"le", le};
    Line(bucket, labels, &extra);
    AppendUnsigned(out_, h.cumulative[i]);
    out_ += '\n';
  }
  Sample(std::string(name) + "_sum", labels, static_cast<double>(h.sum) / divisor);
  Sample(std::string(name) + "_count", labels, h.count());
}

void Registry::Add(std::string name, std::string help, Type type, Collect collect) {
  if (!IsMetricName(name)) Misuse("not a metric name", name);
  std::lock_guard lock(mu_);
  for (const Family& f : families_) {
    if (f.name == name) Misuse("registered twice", name);
  }
  families_.push_back({std::move(name), std::move(help), type, std::move(collect)});
}

Counter& Registry::AddCounter(std::string name, std::string help) {
  Counter* c;
  {
    std::lock_guard lock(mu_);
    c = &counters_.emplace_back();
  }
  const std::string n = name;
  Add(std::move(name), std::move(help), Type::kCounter,
      [c, n](Writer& w) { w.Sample(n, {}, c->value()); });
  return *c;
}

Gauge& Registry::AddGauge(std::string name, std::string help) {
  Gauge* g;
  {
    std::lock_guard lock(mu_);
    g = &gauges_.emplace_back();
  }
  const std::string n = name;
  Add(std::move(name), std::move(help), Type::kGauge,
      [g, n](Writer& w) { w.Sample(n, {}, static_cast<double>(g->value())); });
  return *g;
}

Histogram& Registry::AddHistogram(std::string name, std::string help,
                                  std::span<const uint64_t> bounds, double divisor) {
  Histogram* h;
  {
    std::lock_guard lock(mu_);
    h = &histograms_.emplace_back(bounds);
  }
  const std::string n = name;
  Add(std::move(name), std::move(help), Type::kHistogram,
      [h, n, divisor](Writer& w) { w.HistogramSamples(n, {}, h->Read(), divisor); });
  return *h;
}

LabelledCounter& Registry::AddLabelledCounter(std::string name, std::string help, std::string label,
                                              std::vector<std::string> values) {
  if (!IsLabelName(label)) Misuse("not a label name", label);
  LabelledCounter* c;
  {
    std::lock_guard lock(mu_);
    c = &labelled_.emplace_back(std::move(label), std::move(values));
  }
  const std::string n = name;
  Add(std::move(name), std::move(help), Type::kCounter, [c, n](Writer& w) {
    for (size_t i = 0; i < c->values().size(); ++i) {
      const Label l{c->label(), c->values()[i]};
      w.Sample(n, {&l, 1}, c->value(i));
    }
  });
  return *c;
}

void Registry::RenderTo(std::string& out) const {
  std::lock_guard lock(mu_);
  Writer w(out);
  for (const Family& f : families_) {
    out += "# HELP ";
    out += f.name;
    out += ' ';
    out += EscapeHelp(f.help);
    out += "\n# TYPE ";
    out += f.name;
    out += ' ';
    out += TypeName(f.type);
    out += '\n';
    f.collect(w);
  }
}

std::string Registry::Render() const {
  std::string out;
  RenderTo(out);
  return out;
}

bool Registry::Has(std::string_view name) const {
  std::lock_guard lock(mu_);
  for (const Family& f : families_) {
    if (f.name == name) return true;
  }
  return false;
}

Registry& Default() {
  static Registry* registry = new Registry();  // never destroyed: used until exit
  return *registry;
}

}  // namespace coffre::metrics
