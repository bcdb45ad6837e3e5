// RequestMetrics (the per-route counters of the HTTPS server) and the
// metrics listener, over a real loopback socket.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "server/metrics_listener.h"
#include "server/request_metrics.h"

namespace coffre::server {
namespace {

using std::chrono::microseconds;

std::string Render(const RequestMetrics& m) {
  std::string out;
  metrics::Writer w(out);
  m.CollectCounts(w);
  m.CollectLatency(w);
  return out;
}

TEST(RequestMetricsTest, CountsByRouteMethodAndStatus) {
  RequestMetrics m({{"/healthz", "GET"}, {"/v1/cards/{token}", "DELETE"}});
  m.Record(0, 200, microseconds(50));
  m.Record(0, 200, microseconds(300));
  m.Record(1, 404, microseconds(2000));
  m.Record(7, 413, microseconds(10));  // past the table: unmatched
  m.Record(uint16_t{65535}, 400, microseconds(10));
  const std::string out = Render(m);
  EXPECT_NE(
      out.find("coffre_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} 2\n"),
      std::string::npos)
      << out;
  EXPECT_NE(out.find("coffre_http_requests_total{route=\"/v1/cards/{token}\",method=\"DELETE\","
                     "status=\"404\"} 1\n"),
            std::string::npos);
  EXPECT_NE(out.find("{route=\"unmatched\",method=\"other\",status=\"413\"} 1\n"),
            std::string::npos);
  EXPECT_NE(out.find("{route=\"unmatched\",method=\"other\",status=\"400\"} 1\n"),
            std::string::npos);
  // Buckets: 50 us <= 100 us; 300 us <= 500 us.
  EXPECT_NE(out.find("coffre_http_request_duration_seconds_bucket{route=\"/healthz\",method="
                     "\"GET\",le=\"0.0001\"} 1\n"),
            std::string::npos);
  EXPECT_NE(out.find("coffre_http_request_duration_seconds_bucket{route=\"/healthz\",method="
                     "\"GET\",le=\"0.0005\"} 2\n"),
            std::string::npos);
  EXPECT_NE(out.find("coffre_http_request_duration_seconds_sum{route=\"/healthz\",method=\"GET\"} "
                     "0.00035\n"),
            std::string::npos);
  // Nothing for what was never counted.
  EXPECT_EQ(out.find("status=\"500\""), std::string::npos);
}

TEST(RequestMetricsTest, UnknownStatusesCountUnderTheirClass) {
  EXPECT_EQ(RequestMetrics::StatusLabel(RequestMetrics::StatusSlot(200)), "200");
  EXPECT_EQ(RequestMetrics::StatusLabel(RequestMetrics::StatusSlot(503)), "503");
  EXPECT_EQ(RequestMetrics::StatusLabel(RequestMetrics::StatusSlot(418)), "4xx");
  EXPECT_EQ(RequestMetrics::StatusLabel(RequestMetrics::StatusSlot(599)), "5xx");
  EXPECT_EQ(RequestMetrics::StatusLabel(RequestMetrics::StatusSlot(302)), "3xx");
  EXPECT_EQ(RequestMetrics::StatusLabel(RequestMetrics::StatusSlot(100)), "1xx");
  EXPECT_EQ(RequestMetrics::StatusLabel(RequestMetrics::StatusSlot(0)), "1xx");
  EXPECT_EQ(RequestMetrics::StatusLabel(RequestMetrics::StatusSlot(999)), "5xx");
  for (int s = -5; s < 1000; ++s)
    EXPECT_LT(RequestMetrics::StatusSlot(s), RequestMetrics::kStatusSlots);
}

TEST(RequestMetricsTest, ConcurrentRecordsAreAllCounted) {
  RequestMetrics m({{"/healthz", "GET"}});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5000; ++i) m.Record(0, 200, microseconds(i));
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_NE(Render(m).find("status=\"200\"} 20000\n"), std::string::npos);
}

int Connect(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  return fd;
}

std::string Exchange(uint16_t port, const std::string& request) {
  const int fd = Connect(port);
  EXPECT_EQ(::send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

TEST(MetricsListenerTest, AnswersGetMetricsOnly) {
  std::atomic<int> renders{0};
  auto l = MetricsListener::Start({.address = "127.0.0.1", .port = 0}, [&] {
    ++renders;
    return std::string("# TYPE x counter\nx 1\n");
  });
  ASSERT_TRUE(l) << l.error().message;
  const uint16_t port = (*l)->port();
  ASSERT_NE(port, 0);
  std::string ok = Exchange(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(ok.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << ok;
  EXPECT_NE(ok.find("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
            std::string::npos);
  EXPECT_NE(ok.find("Content-Length: 21\r\n"), std::string::npos);
  EXPECT_EQ(ok.substr(ok.size() - 21), "# TYPE x counter\nx 1\n");
  EXPECT_EQ(Exchange(port, "GET /metrics?x=1 HTTP/1.0\r\n\r\n").rfind("HTTP/1.1 200", 0), 0u);
  std::string head = Exchange(port, "HEAD /metrics HTTP/1.1\r\n\r\n");
  EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_EQ(head.find("x 1"), std::string::npos);
  EXPECT_EQ(Exchange(port, "GET / HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 404", 0), 0u);
  std::string post = Exchange(port, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(post.rfind("HTTP/1.1 405", 0), 0u);
  EXPECT_NE(post.find("Allow: GET, HEAD\r\n"), std::string::npos);
  EXPECT_EQ(Exchange(port, "garbage\r\n\r\n").rfind("HTTP/1.1 400", 0), 0u);
  EXPECT_EQ(Exchange(port, "GET /metrics HTTP/2\r\n\r\n").rfind("HTTP/1.1 400", 0), 0u);
  EXPECT_EQ(Exchange(port, std::string(9000, 'a')).rfind("HTTP/1.1 431", 0), 0u);
  EXPECT_EQ(renders.load(), 3) << "rendered for GET and HEAD of /metrics only";
}

TEST(MetricsListenerTest, AnIdleClientIsDroppedAndStopDoesNotWaitForIt) {
  auto l = MetricsListener::Start(
      {.address = "127.0.0.1", .port = 0, .io_timeout = std::chrono::milliseconds(300)},
      [] { return std::string("x 1\n"); });
  ASSERT_TRUE(l);
  const int idle = Connect((*l)->port());
  char c;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(::recv(idle, &c, 1, 0), 0) << "closed after the timeout";
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  ::close(idle);
  EXPECT_EQ(Exchange((*l)->port(), "GET /metrics HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 200", 0), 0u);
  // Stop while a client holds the listener: it returns at once.
  auto slow =
      MetricsListener::Start({.address = "127.0.0.1", .port = 0}, [] { return std::string(); });
  ASSERT_TRUE(slow);
  const int holder = Connect((*slow)->port());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const auto stop_start = std::chrono::steady_clock::now();
  (*slow)->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - stop_start, std::chrono::milliseconds(1500));
  ::close(holder);
}

TEST(MetricsListenerTest, BadAddressesAreRefused) {
  auto bad =
      MetricsListener::Start({.address = "localhost", .port = 0}, [] { return std::string(); });
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  auto first =
      MetricsListener::Start({.address = "127.0.0.1", .port = 0}, [] { return std::string(); });
  ASSERT_TRUE(first);
  auto taken = MetricsListener::Start({.address = "127.0.0.1", .port = (*first)->port()},
                                      [] { return std::string(); });
  ASSERT_FALSE(taken);
  EXPECT_EQ(taken.error().code, ErrorCode::kIoError);
  auto v6 = MetricsListener::Start({.address = "::1", .port = 0}, [] { return std::string(); });
  if (v6) EXPECT_NE((*v6)->port(), 0);  // where IPv6 loopback exists
}

}  // namespace
}  // namespace coffre::server
