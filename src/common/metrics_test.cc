#include "common/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <thread>
#include <vector>

namespace coffre::metrics {
namespace {

constexpr uint64_t kBounds[] = {10, 100, 1000};

TEST(MetricsTest, CounterAndGaugeRenderWithHelpAndType) {
  Registry r;
  Counter& c = r.AddCounter("coffre_things_total", "Things done.");
  Gauge& g = r.AddGauge("coffre_level", "A level.");
  c.Add();
  c.Add(4);
  g.Set(-3);
  EXPECT_EQ(r.Render(),
            "# HELP coffre_things_total Things done.\n"
            "# TYPE coffre_things_total counter\n"
            "coffre_things_total 5\n"
            "# HELP coffre_level A level.\n"
            "# TYPE coffre_level gauge\n"
            "coffre_level -3\n");
}

TEST(MetricsTest, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  Registry r;
  Histogram& h = r.AddHistogram("coffre_wait_seconds", "Waits.", kBounds, kMicros);
  for (uint64_t v : {5, 10, 11, 100, 999, 1000, 1001, 50000}) h.Observe(v);
  EXPECT_EQ(r.Render(),
            "# HELP coffre_wait_seconds Waits.\n"
            "# TYPE coffre_wait_seconds histogram\n"
            "coffre_wait_seconds_bucket{le=\"1e-05\"} 2\n"
            "coffre_wait_seconds_bucket{le=\"0.0001\"} 4\n"
            "coffre_wait_seconds_bucket{le=\"0.001\"} 6\n"
            "coffre_wait_seconds_bucket{le=\"+Inf\"} 8\n"
            "coffre_wait_seconds_sum 0.053126\n"
            "coffre_wait_seconds_count 8\n");
}

TEST(MetricsTest, LabelValuesAndHelpAreEscaped) {
  std::string out;
  Writer w(out);
  const Label labels[] = {{"a", "back\\slash"}, {"b", "quo\"te"}, {"c", "new\nline"}};
  w.Sample("m", labels, uint64_t{1});
  EXPECT_EQ(out, "m{a=\"back\\\\slash\",b=\"quo\\\"te\",c=\"new\\nline\"} 1\n");
  EXPECT_EQ(EscapeHelp("a\\b\nc\"d"), "a\\\\b\\nc\"d");
}

TEST(MetricsTest, ValuesUseTheTextFormatsSpecialNumbers) {
  EXPECT_EQ(FormatValue(0.25), "0.25");
  EXPECT_EQ(FormatValue(1e300 * 1e300), "+Inf");
  EXPECT_EQ(FormatValue(-1e300 * 1e300), "-Inf");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
  EXPECT_EQ(FormatValue(3.0), "3");
  EXPECT_EQ(FormatValue(0.0001), "0.0001");
  EXPECT_EQ(FormatValue(0.00025), "0.00025");
  EXPECT_EQ(FormatValue(1e-05), "1e-05");
  EXPECT_EQ(FormatValue(-2.5), "-2.5");
  EXPECT_EQ(FormatValue(1e21), "1e+21");
  EXPECT_EQ(FormatValue(123456789.0), "123456789");
}

TEST(MetricsTest, LabelledCounterRendersEveryValue) {
  Registry r;
  LabelledCounter& c =
      r.AddLabelledCounter("coffre_alerts_total", "Alerts.", "kind", {"canary", "quota_hard"});
  c.Add(1, 2);
  c.Add(7);  // out of range: ignored, never out of bounds
  EXPECT_EQ(r.Render(),
            "# HELP coffre_alerts_total Alerts.\n"
            "# TYPE coffre_alerts_total counter\n"
            "coffre_alerts_total{kind=\"canary\"} 0\n"
            "coffre_alerts_total{kind=\"quota_hard\"} 2\n");
}

TEST(MetricsTest, CollectorsWriteAtRenderTime) {
  Registry r;
  int calls = 0;
  r.Add("coffre_now", "Collected.", Type::kGauge, [&](Writer& w) {
    ++calls;
    const Label l{"window", "1h"};
    w.Sample("coffre_now", {&l, 1}, 0.5);
  });
  EXPECT_TRUE(r.Has("coffre_now"));
  EXPECT_FALSE(r.Has("coffre_other"));
  EXPECT_EQ(
      r.Render(),
      "# HELP coffre_now Collected.\n# TYPE coffre_now gauge\ncoffre_now{window=\"1h\"} 0.5\n");
  EXPECT_EQ(calls, 1);
}

TEST(MetricsTest, NamesAreChecked) {
  EXPECT_TRUE(IsMetricName("coffre_http_requests_total"));
  EXPECT_TRUE(IsMetricName("job:rate5m"));
  EXPECT_FALSE(IsMetricName("9lives"));
  EXPECT_FALSE(IsMetricName("has-dash"));
  EXPECT_FALSE(IsMetricName(""));
  EXPECT_TRUE(IsLabelName("route"));
  EXPECT_FALSE(IsLabelName("a:b"));
  EXPECT_FALSE(IsLabelName("__reserved"));
}

TEST(MetricsDeathTest, MisuseAborts) {
  Registry r;
  r.AddCounter("coffre_once_total", "Once.");
  EXPECT_DEATH(r.AddCounter("coffre_once_total", "Twice."), "registered twice");
  EXPECT_DEATH(r.AddGauge("bad name", "x"), "not a metric name");
  constexpr uint64_t kDescending[] = {10, 5};
  EXPECT_DEATH(Histogram h(kDescending), "ascend");
}

TEST(MetricsTest, ConcurrentAddsAreAllCounted) {
  Registry r;
  Counter& c = r.AddCounter("coffre_c_total", "c");
  Histogram& h = r.AddHistogram("coffre_h_seconds", "h", kBounds, kMicros);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.Add();
        h.Observe(static_cast<uint64_t>(i % 2000));
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.value(), 40000u);
  const Histogram::Snapshot s = h.Read();
  EXPECT_EQ(s.count(), 40000u);
  // Per thread: 0..1999 five times; sum = 5 * 1999 * 2000 / 2.
  EXPECT_EQ(s.sum, 4u * 5u * 1999u * 1000u);
  EXPECT_EQ(s.cumulative[0], 4u * 5u * 11u);  // 0..10
}

}  // namespace
}  // namespace coffre::metrics
