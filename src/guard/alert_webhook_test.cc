// The alert webhook: URL rules, in-order delivery, back-off from 1 s to
// 5 min reset by a success, giving up after 24 h, the bounded queue that
// drops the oldest, Enqueue never blocking on a stuck endpoint, Stop during
// a back-off; then the real client against a loopback HTTP server and an
// HTTPS server whose certificate is (or is not) trusted.
#include "guard/alert_webhook.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>

#include "crypto/tls_material.h"
#include "server/https_server.h"

namespace coffre::guard {
namespace {

using namespace std::chrono_literals;
constexpr int64_t kStart = 1'800'000'000;

Alert Numbered(uint64_t id) {
  return Alert{.id = id,
               .time = kStart,
               .severity = Severity::kCritical,
               .kind = AlertKind::kCanary,
               .principal = "app",
               .detail = "test"};
}

// A transport that fails while `failing` is set, records what it delivered,
// and can be held (blocking Post) to simulate a stuck endpoint.
class FakeTransport final : public WebhookTransport {
 public:
  Status Post(std::string_view body) override {
    std::unique_lock lock(mu);
    ++posts;
    cv.notify_all();
    cv.wait(lock, [&] { return !held; });
    if (fail_next > 0) {
      --fail_next;
      return Fail(ErrorCode::kIoError, "down");
    }
    if (failing) return Fail(ErrorCode::kIoError, "down");
    delivered.emplace_back(body);
    cv.notify_all();
    return Ok();
  }
  std::mutex mu;
  std::condition_variable cv;
  bool failing = false;
  bool held = false;
  int fail_next = 0;  // fail this many posts, then succeed
  int posts = 0;
  std::vector<std::string> delivered;
};

struct Harness {
  FakeClock clock{kStart};
  FakeTransport* transport = nullptr;
  std::mutex waits_mu;
  std::vector<int64_t> waits;
  std::unique_ptr<AlertWebhook> hook;

  explicit Harness(size_t max_queue = 10'000, bool fake_waits = true) {
    auto t = std::make_unique<FakeTransport>();
    transport = t.get();
    WebhookOptions o;
    o.transport = std::move(t);
    o.clock = &clock;
    o.max_queue = max_queue;
    if (fake_waits) {
      o.wait_for_test = [this](int64_t ms) {
        {
          std::lock_guard lock(waits_mu);
          waits.push_back(ms);
        }
        clock.Advance(ms / 1000);
      };
    }
    auto h = AlertWebhook::Start(std::move(o));
    EXPECT_TRUE(h) << h.error().ToString();
    hook = std::move(*h);
  }

  // Waits (bounded) until `pred(stats)` holds.
  bool Until(const std::function<bool(const WebhookStats&)>& pred) {
    for (int i = 0; i < 2000; ++i) {
      if (pred(hook->stats())) return true;
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }
};

TEST(WebhookUrl, AcceptsHttpsAnywhereAndHttpOnLoopback) {
  auto u = ParseWebhookUrl("https://siem.example.org/hooks/coffre?x=1");
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_TRUE(u->https);
  EXPECT_EQ(u->host, "siem.example.org");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->target, "/hooks/coffre?x=1");
  u = ParseWebhookUrl("http://127.0.0.1:9000");
  ASSERT_TRUE(u);
  EXPECT_FALSE(u->https);
  EXPECT_EQ(u->port, 9000);
  EXPECT_EQ(u->target, "/");
  u = ParseWebhookUrl("http://[::1]:8080/a");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 8080);
  EXPECT_TRUE(ParseWebhookUrl("http://localhost/x"));
  EXPECT_TRUE(ParseWebhookUrl("http://127.255.0.9:81/x"));
  EXPECT_TRUE(ParseWebhookUrl("http://[::ffff:127.0.0.1]:81/x"));
  EXPECT_TRUE(ParseWebhookUrl("https://10.0.0.7:8443/x"));
  for (const char* bad :
       {"", "siem.example.org", "ftp://x.example.org/", "http://siem.example.org/",
        "http://10.0.0.7/", "https://user:pw@x.example.org/", "https://x.example.org:0/",
        "https://x.example.org:99999/", "https://x.example.org:/", "https:///path",
        "https://x.example.org/a b", "https://x.example.org/#frag", "https://[::1/",
        "https://x_y.example.org/",
        // Issue 13: names that only look like loopback addresses.
        "http://127.attacker.example/", "http://127.0.0.1.attacker.example/",
        "http://127.0.0.1.nip.io:8080/", "http://127/", "http://127.1/", "http://[::2]/",
        "http://[::ffff:10.0.0.1]/", "http://localhost.attacker.example/"}) {
    auto r = ParseWebhookUrl(bad);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    }
  }
}

TEST(AlertWebhook, DeliversInOrderTheStoredJson) {
  Harness h;
  for (uint64_t i = 1; i <= 5; ++i) h.hook->Enqueue(Numbered(i));
  ASSERT_TRUE(h.Until([](const WebhookStats& s) { return s.delivered == 5; }));
  std::lock_guard lock(h.transport->mu);
  ASSERT_EQ(h.transport->delivered.size(), 5u);
  for (uint64_t i = 1; i <= 5; ++i)
    EXPECT_EQ(h.transport->delivered[i - 1], AlertToJson(Numbered(i)));
}

TEST(AlertWebhook, BacksOffFromOneSecondToFiveMinutesAndResetsOnSuccess) {
  Harness h;
  {
    std::lock_guard lock(h.transport->mu);
    h.transport->fail_next = 12;
  }
  h.hook->Enqueue(Numbered(1));
  ASSERT_TRUE(h.Until([](const WebhookStats& s) { return s.delivered == 1; }));
  {
    std::lock_guard lock(h.transport->mu);
    h.transport->fail_next = 2;
  }
  h.hook->Enqueue(Numbered(2));
  ASSERT_TRUE(h.Until([](const WebhookStats& s) { return s.delivered == 2; }));
  EXPECT_EQ(h.hook->stats().failed_attempts, 14u);
  std::lock_guard lock(h.waits_mu);
  const std::vector<int64_t> expected = {1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000,
                                         256000, 300000, 300000, 300000,
                                         // after the success, the next failure waits 1 s again
                                         1000, 2000};
  EXPECT_EQ(h.waits, expected);
}

TEST(AlertWebhook, GivesUpOnAnAlertTwentyFourHoursAfterQueueingIt) {
  Harness h;
  {
    std::lock_guard lock(h.transport->mu);
    h.transport->failing = true;
  }
  h.hook->Enqueue(Numbered(1));
  ASSERT_TRUE(h.Until([](const WebhookStats& s) { return s.given_up == 1; }));
  WebhookStats s = h.hook->stats();
  EXPECT_EQ(s.delivered, 0u);
  EXPECT_EQ(s.queued, 0u);
  int64_t waited = 0;
  {
    std::lock_guard lock(h.waits_mu);
    for (int64_t w : h.waits) waited += w;
  }
  EXPECT_GE(waited, 24 * 3600 * 1000LL);
  EXPECT_LT(waited, 24 * 3600 * 1000LL + 300'000);
  // The endpoint comes back: a new alert is delivered at once.
  {
    std::lock_guard lock(h.transport->mu);
    h.transport->failing = false;
  }
  h.hook->Enqueue(Numbered(2));
  ASSERT_TRUE(h.Until([](const WebhookStats& st) { return st.delivered == 1; }));
}

TEST(AlertWebhook, AFullQueueDropsTheOldestAndEnqueueNeverBlocks) {
  Harness h(/*max_queue=*/100);
  {
    std::lock_guard lock(h.transport->mu);
    h.transport->held = true;  // the endpoint hangs
  }
  h.hook->Enqueue(Numbered(1));
  {
    std::unique_lock lock(h.transport->mu);
    ASSERT_TRUE(h.transport->cv.wait_for(lock, 10s, [&] { return h.transport->posts == 1; }));
  }
  auto start = std::chrono::steady_clock::now();
  for (uint64_t i = 2; i <= 1001; ++i) h.hook->Enqueue(Numbered(i));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  WebhookStats s = h.hook->stats();
  EXPECT_EQ(s.queued, 100u);
  EXPECT_EQ(s.dropped, 901u);  // alert 1 (in flight) and 2..901
  {
    std::lock_guard lock(h.transport->mu);
    h.transport->held = false;
  }
  h.transport->cv.notify_all();
  ASSERT_TRUE(
      h.Until([](const WebhookStats& st) { return st.queued == 0 && st.delivered == 101; }));
  std::lock_guard lock(h.transport->mu);
  // The one in flight was delivered; then the newest 100, in order.
  EXPECT_EQ(h.transport->delivered.front(), AlertToJson(Numbered(1)));
  EXPECT_EQ(h.transport->delivered[1], AlertToJson(Numbered(902)));
  EXPECT_EQ(h.transport->delivered.back(), AlertToJson(Numbered(1001)));
}

TEST(AlertWebhook, StopEndsARealBackOffAtOnce) {
  Harness h(10'000, /*fake_waits=*/false);
  {
    std::lock_guard lock(h.transport->mu);
    h.transport->failing = true;
  }
  h.hook->Enqueue(Numbered(1));
  ASSERT_TRUE(h.Until([](const WebhookStats& s) { return s.failed_attempts == 1; }));
  auto start = std::chrono::steady_clock::now();
  h.hook->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 900ms);
  h.hook->Enqueue(Numbered(2));  // after Stop: ignored, no crash
}

// A one-connection-at-a-time HTTP server on 127.0.0.1: answers `status` to
// each request and keeps what it received.
class TinyHttpServer {
 public:
  explicit TinyHttpServer(int status) : status_(status) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    EXPECT_EQ(::listen(fd_, 4), 0);
    thread_ = std::thread([this] { Serve(); });
  }
  ~TinyHttpServer() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  uint16_t port() const { return port_; }
  std::vector<std::string> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  void Serve() {
    while (true) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string in;
      char buf[4096];
      // Headers, then Content-Length bytes of body.
      while (true) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        in.append(buf, static_cast<size_t>(n));
        size_t end = in.find("\r\n\r\n");
        if (end == std::string::npos) continue;
        size_t cl = in.find("Content-Length: ");
        size_t want = cl == std::string::npos ? 0 : std::stoul(in.substr(cl + 16));
        if (in.size() >= end + 4 + want) break;
      }
      {
        std::lock_guard lock(mu_);
        requests_.push_back(in);
      }
      std::string out = "HTTP/1.1 " + std::to_string(status_) +
                        " X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      ::send(c, out.data(), out.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  }
  int status_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::mutex mu_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

TEST(HttpTransport, PostsTheJsonToALoopbackServer) {
  TinyHttpServer server(204);
  auto url = ParseWebhookUrl("http://127.0.0.1:" + std::to_string(server.port()) + "/hook?k=1");
  ASSERT_TRUE(url);
  auto t = MakeHttpTransport(*url, "", 5s);
  ASSERT_TRUE(t) << t.error().ToString();
  const std::string body = AlertToJson(Numbered(3));
  ASSERT_TRUE((*t)->Post(body));
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].rfind("POST /hook?k=1 HTTP/1.1\r\n", 0), 0u) << reqs[0];
  EXPECT_NE(reqs[0].find("Content-Type: application/json\r\n"), std::string::npos);
  EXPECT_NE(reqs[0].find("Host: 127.0.0.1:" + std::to_string(server.port()) + "\r\n"),
            std::string::npos);
  EXPECT_EQ(reqs[0].substr(reqs[0].size() - body.size()), body);
}

TEST(HttpTransport, FailsOnAnErrorStatusAClosedPortAndASilentServer) {
  TinyHttpServer failing(500);
  auto url = ParseWebhookUrl("http://127.0.0.1:" + std::to_string(failing.port()) + "/");
  auto t = MakeHttpTransport(*url, "", 5s);
  ASSERT_TRUE(t);
  Status s = (*t)->Post("{}");
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("HTTP 500"), std::string::npos) << s.error().message;

  // A port nobody listens on (bound, then closed).
  uint16_t closed_port;
  {
    TinyHttpServer gone(200);
    closed_port = gone.port();
  }
  auto closed = MakeHttpTransport(
      *ParseWebhookUrl("http://127.0.0.1:" + std::to_string(closed_port) + "/"), "", 5s);
  EXPECT_FALSE((*closed)->Post("{}"));

  // Accepts (the backlog) but never answers: the timeout ends the attempt.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ASSERT_EQ(::listen(fd, 4), 0);
  auto silent = MakeHttpTransport(
      *ParseWebhookUrl("http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/"), "", 1s);
  auto start = std::chrono::steady_clock::now();
  Status timed_out = (*silent)->Post("{}");
  EXPECT_FALSE(timed_out);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  ::close(fd);
}

TEST(HttpTransport, HttpsChecksTheServersCertificate) {
  auto tls = crypto::GenerateSelfSigned(std::chrono::system_clock::now());
  ASSERT_TRUE(tls) << tls.error().ToString();
  std::promise<std::string> got;
  std::atomic<bool> once{false};
  server::HttpsOptions ho;
  ho.port = 0;
  ho.cert_pem = tls->cert_pem;
  ho.key_pem = tls->key_pem;
  ho.stop_on_signals = false;
  ho.worker_threads = 2;
  auto srv = server::HttpsServer::Start(ho, [&](api::Request& r) {
    if (!once.exchange(true)) got.set_value(r.body);
    return api::Response{200, "{}", "application/json", {}};
  });
  ASSERT_TRUE(srv) << srv.error().ToString();
  std::thread runner([&] { (*srv)->Run(); });

  char tmpl[] = "/tmp/coffre-webhook-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string ca = std::string(tmpl) + "/ca.pem";
  std::ofstream(ca) << tls->cert_pem;
  const std::string port = std::to_string((*srv)->port());

  auto trusted = MakeHttpTransport(*ParseWebhookUrl("https://127.0.0.1:" + port + "/h"), ca, 10s);
  ASSERT_TRUE(trusted) << trusted.error().ToString();
  Status ok = (*trusted)->Post(R"({"id":1})");
  EXPECT_TRUE(ok) << (ok ? "" : ok.error().message);
  auto body = got.get_future();
  ASSERT_EQ(body.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(body.get(), R"({"id":1})");

  // The system's CAs do not know a self-signed certificate.
  auto untrusted = MakeHttpTransport(*ParseWebhookUrl("https://127.0.0.1:" + port + "/h"), "", 10s);
  ASSERT_TRUE(untrusted);
  Status refused = (*untrusted)->Post("{}");
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("TLS handshake failed"), std::string::npos)
      << refused.error().message;
  // The certificate names 127.0.0.1 and localhost, not 127.0.0.2.
  auto wrong_name =
      MakeHttpTransport(*ParseWebhookUrl("https://127.0.0.2:" + port + "/h"), ca, 10s);
  ASSERT_TRUE(wrong_name);
  EXPECT_FALSE((*wrong_name)->Post("{}"));

  EXPECT_FALSE(MakeHttpTransport(*ParseWebhookUrl("https://127.0.0.1:" + port + "/h"),
                                 std::string(tmpl) + "/none.pem", 1s));
  (*srv)->Stop();
  runner.join();
  std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace coffre::guard
