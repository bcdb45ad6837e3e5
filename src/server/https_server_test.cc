#include "server/https_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <filesystem>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "crypto/tls_material.h"

namespace coffre::server {
namespace {

using namespace std::chrono_literals;

// A bare TLS 1.2+ client over one keep-alive connection (no certificate
// check: what is tested is the server's request handling).
class Client {
 public:
  explicit Client(uint16_t port) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    // A server that fails to answer or to close fails the test, not hangs it.
    timeval timeout{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ok_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    ok_ = ok_ && SSL_connect(ssl_) == 1;
  }
  ~Client() {
    SSL_free(ssl_);
    ::close(fd_);
    SSL_CTX_free(ctx_);
  }
  bool ok() const { return ok_; }

  // Sends `method` `path` and returns the whole response as sent (status
  // line, headers, and the body the Content-Length announces unless
  // `head`), or "" if the connection broke first.
  std::string Exchange(const std::string& method, const std::string& path, bool head = false) {
    return Send(method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", head);
  }

  // Sends `req` as it is and returns the response, as Exchange does.
  std::string Send(const std::string& req, bool head = false) {
    if (SSL_write(ssl_, req.data(), static_cast<int>(req.size())) <= 0) return "";
    return Receive(head);
  }

  // Sends `prefix`, then `piece` again and again (up to `most` bytes in
  // all) until the server answers or stops reading; returns the response.
  std::string SendUntilAnswered(const std::string& prefix, const std::string& piece, size_t most) {
    timeval timeout{2, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    if (SSL_write(ssl_, prefix.data(), static_cast<int>(prefix.size())) <= 0) return "";
    for (size_t sent = prefix.size(); sent < most; sent += piece.size()) {
      // Stop once answered (or closed), or when the server stops reading.
      pollfd p{fd_, POLLIN | POLLOUT, 0};
      if (::poll(&p, 1, 2000) != 1 || (p.revents & POLLOUT) == 0) break;
      if ((p.revents & POLLIN) != 0 && Answered()) break;
      if (SSL_write(ssl_, piece.data(), static_cast<int>(piece.size())) <= 0) break;
    }
    return Receive(false);
  }

  // Reads what is there without waiting: true if the server answered or
  // closed; false if it sent only TLS 1.3 session tickets.
  bool Answered() {
    const int flags = ::fcntl(fd_, F_GETFL);
    ::fcntl(fd_, F_SETFL, flags | O_NONBLOCK);
    char buf[4096];
    const int got = SSL_read(ssl_, buf, sizeof buf);
    const bool tickets_only = got <= 0 && SSL_get_error(ssl_, got) == SSL_ERROR_WANT_READ;
    if (got > 0) early_.append(buf, static_cast<size_t>(got));
    ::fcntl(fd_, F_SETFL, flags);
    return !tickets_only;
  }

  std::string Receive(bool head) {
    std::string in = std::move(early_);
    early_.clear();
    char buf[4096];
    for (;;) {
      size_t end = in.find("\r\n\r\n");
      if (end != std::string::npos) {
        size_t n = 0;
        size_t cl = in.find("\r\nContent-Length: ");
        if (cl != std::string::npos && cl < end && !head) n = std::stoul(in.substr(cl + 18));
        if (in.size() >= end + 4 + n) return in;  // more would be a stray byte: see Pending
      }
      int got = SSL_read(ssl_, buf, sizeof buf);
      if (got <= 0) return "";
      in.append(buf, static_cast<size_t>(got));
    }
  }

  // Bytes already received and not yet read (a body sent after a HEAD
  // answer would show here).
  int Pending() { return SSL_pending(ssl_); }

  // True once the server has closed the connection.
  bool Closed() {
    char b;
    return SSL_read(ssl_, &b, 1) <= 0;
  }

  // Sends GET `path` and returns "STATUS BODY", or "" if the connection broke.
  std::string Get(const std::string& path) {
    const std::string in = Exchange("GET", path);
    const size_t end = in.find("\r\n\r\n");
    if (in.size() < 12 || end == std::string::npos) return "";
    return in.substr(9, 3) + " " + in.substr(end + 4);
  }

 private:
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
  bool ok_ = false;
  std::string early_;  // read by Answered, not yet returned
};

// The response without its X-Request-Id line, which must be there: 16
// lower-case hex characters made by the server.
std::string WithoutRequestId(const std::string& response) {
  static const std::regex kLine("\r\nX-Request-Id: ([0-9a-f]{16})\r\n");
  std::smatch m;
  if (!std::regex_search(response, m, kLine)) return "(no X-Request-Id) " + response;
  return response.substr(0, m.position(0)) + "\r\n" + response.substr(m.position(0) + m.length(0));
}

class HttpsServerTest : public ::testing::Test {
 protected:
  void Start(Handler handler, InlineHandler inline_handler,
             const std::function<void(HttpsOptions&)>& adjust = nullptr) {
    // A client writing to a connection the server closed gets EPIPE, not a
    // signal that ends the test.
    ::signal(SIGPIPE, SIG_IGN);
    auto tls = crypto::GenerateSelfSigned(std::chrono::system_clock::now());
    ASSERT_TRUE(tls) << tls.error().ToString();
    HttpsOptions ho;
    ho.port = 0;
    ho.cert_pem = tls->cert_pem;
    ho.key_pem = tls->key_pem;
    ho.stop_on_signals = false;
    ho.worker_threads = 2;
    if (adjust) adjust(ho);
    auto srv = HttpsServer::Start(ho, std::move(handler), std::move(inline_handler));
    ASSERT_TRUE(srv) << srv.error().ToString();
    server_ = std::move(*srv);
    runner_ = std::thread([this] { server_->Run(); });
  }
  void TearDown() override {
    if (server_) server_->Stop();
    if (runner_.joinable()) runner_.join();
  }
  static api::Response Text(int status, std::string body) {
    return api::Response{status, std::move(body), "text/plain", {}};
  }

  std::unique_ptr<HttpsServer> server_;
  std::thread runner_;
};

// The inline handler takes what it claims, on the I/O thread, and may
// answer later from another thread; the rest goes to the workers. Both
// kinds interleave on one keep-alive connection, each answered in turn.
TEST_F(HttpsServerTest, InlineRequestsAnswerLaterFromAnotherThreadAndTheRestGoToWorkers) {
  std::atomic<int> worker_calls{0};
  std::mutex mu;
  std::vector<std::thread> repliers;
  Start(
      [&](api::Request& r) {
        ++worker_calls;
        return Text(200, "worker " + r.target);
      },
      [&](api::Request& r, Reply& reply) {
        if (r.target.rfind("/inline", 0) != 0) return false;
        if (r.target == "/inline/now") {
          reply(Text(200, "now"));
          return true;
        }
        if (r.target == "/inline/throw") throw std::runtime_error("handler bug");
        if (r.target == "/inline/reply-then-throw") {
          reply(Text(200, "first"));
          throw std::runtime_error("handler bug after its reply");
        }
        std::lock_guard lock(mu);
        repliers.emplace_back([reply, target = r.target] {
          std::this_thread::sleep_for(50ms);
          reply(Text(target == "/inline/fail" ? 503 : 200, "later " + target));
        });
        return true;
      });
  Client c(server_->port());
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c.Get("/inline/a"), "200 later /inline/a");
  EXPECT_EQ(c.Get("/other"), "200 worker /other");
  EXPECT_EQ(c.Get("/inline/now"), "200 now");
  EXPECT_EQ(c.Get("/inline/fail"), "503 later /inline/fail");
  EXPECT_EQ(c.Get("/inline/b"), "200 later /inline/b");
  EXPECT_EQ(c.Get("/inline/throw").substr(0, 4), "500 ");
  EXPECT_EQ(c.Get("/inline/reply-then-throw"), "200 first");  // one answer only
  EXPECT_EQ(c.Get("/inline/now"), "200 now");
  EXPECT_EQ(c.Get("/other2"), "200 worker /other2");
  EXPECT_EQ(worker_calls.load(), 2);
  std::lock_guard lock(mu);
  for (auto& t : repliers) t.join();
}

// A graceful stop waits for an inline request whose answer is pending
// (its audit entry being made durable): the client gets it.
TEST_F(HttpsServerTest, StopWaitsForAPendingInlineAnswer) {
  std::mutex mu;
  std::condition_variable taken;
  std::optional<Reply> pending;
  Start([&](api::Request&) { return Text(200, "worker"); },
        [&](api::Request&, Reply& reply) {
          std::lock_guard lock(mu);
          pending = std::move(reply);
          taken.notify_all();
          return true;
        });
  Client c(server_->port());
  ASSERT_TRUE(c.ok());
  std::future<std::string> answer = std::async(std::launch::async, [&] { return c.Get("/slow"); });
  Reply reply;
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(taken.wait_for(lock, 10s, [&] { return pending.has_value(); }));
    reply = std::move(*pending);
    pending.reset();
  }
  server_->Stop();
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(answer.wait_for(0s), std::future_status::timeout) << "answered before the reply";
  reply(Text(200, "durable"));
  reply = nullptr;  // the connection is the server's again
  ASSERT_EQ(answer.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(answer.get(), "200 durable");
  runner_.join();  // Run returned: drained
  server_.reset();
}

// The response as it goes on the wire: status line, the security headers
// on every answer, the handler's own headers, a length, and exactly that
// many bytes; a HEAD answer has the same headers and no body, so the next
// answer on the connection starts where it should.
TEST_F(HttpsServerTest, ResponsesAreFramedExactlyAndHeadGetsNoBody) {
  Start(
      [&](api::Request& r) {
        if (r.target == "/empty") return api::Response{204, "", "application/json", {}};
        api::Response ok = Text(200, "abc");
        ok.headers.emplace_back("X-Test", "1");
        return ok;
      },
      nullptr);
  Client c(server_->port());
  ASSERT_TRUE(c.ok());
  const std::string head =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nCache-Control: no-store\r\n"
      "X-Content-Type-Options: nosniff\r\nStrict-Transport-Security: max-age=31536000\r\n"
      "X-Test: 1\r\nContent-Length: 3\r\n\r\n";
  EXPECT_EQ(WithoutRequestId(c.Exchange("GET", "/a")), head + "abc");
  EXPECT_EQ(WithoutRequestId(c.Exchange("HEAD", "/a", /*head=*/true)), head);
  EXPECT_EQ(c.Pending(), 0) << "a body followed the HEAD answer";
  EXPECT_EQ(
      WithoutRequestId(c.Exchange("GET", "/empty")),
      "HTTP/1.1 204 No Content\r\nCache-Control: no-store\r\n"
      "X-Content-Type-Options: nosniff\r\nStrict-Transport-Security: max-age=31536000\r\n\r\n");
  EXPECT_EQ(c.Get("/a"), "200 abc");  // the connection is still in step
}

// What a handler gets: the method and target as sent, header names in
// lower case with their values, the body whole, whether it came with a
// length or chunked; a body over the limit is refused before any handler.
TEST_F(HttpsServerTest, RequestsReachTheHandlerWholeWithLowerCaseHeaderNames) {
  Start(
      [&](api::Request& r) {
        std::string seen = r.method + " " + r.target + " [" + r.body + "]";
        for (const auto& [name, value] : r.headers) seen += " " + name + "=" + value;
        return Text(200, seen);
      },
      nullptr);
  Client c(server_->port());
  ASSERT_TRUE(c.ok());
  auto body_of = [](const std::string& response) {
    size_t end = response.find("\r\n\r\n");
    return end == std::string::npos ? std::string("(none)") : response.substr(end + 4);
  };
  EXPECT_EQ(body_of(c.Send("POST /p?q=1 HTTP/1.1\r\nHost: h\r\nX-Mixed-Case: A b\r\n"
                           "Content-Length: 5\r\n\r\nhello")),
            "POST /p?q=1 [hello] host=h x-mixed-case=A b content-length=5");
  EXPECT_EQ(body_of(c.Send("PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")),
            "PUT /c [abcde] host=h transfer-encoding=chunked");
  EXPECT_EQ(c.Get("/after"), "200 GET /after [] host=127.0.0.1");  // still in step

  Client big(server_->port());
  ASSERT_TRUE(big.ok());
  const std::string over =
      big.Send("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: " + std::to_string((1u << 20) + 1) +
               "\r\n\r\n");
  EXPECT_EQ(over.substr(0, 13), "HTTP/1.1 413 ");
  Client chunked(server_->port());
  ASSERT_TRUE(chunked.ok());
  std::string req = "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string piece(64 * 1024, 'x');
  for (int i = 0; i < 17; ++i) req += "10000\r\n" + piece + "\r\n";  // 17 x 64 KiB > 1 MiB
  req += "0\r\n\r\n";
  EXPECT_EQ(chunked.Send(req).substr(0, 13), "HTTP/1.1 413 ");
}

// A transfer coding that does not end in chunked leaves the body's length
// unknown; the request is refused (400) and the connection closed, so what
// follows it is never read as a request of its own (smuggling).
TEST_F(HttpsServerTest, ATransferCodingOtherThanChunkedIsRefusedAndNothingIsSmuggled) {
  std::atomic<int> calls{0};
  Start(
      [&](api::Request&) {
        ++calls;
        return Text(200, "handled");
      },
      nullptr);
  Client c(server_->port());
  ASSERT_TRUE(c.ok());
  const std::string got = c.Send(
      "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n"
      "GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(got.substr(0, 13), "HTTP/1.1 400 ");
  EXPECT_NE(got.find("\r\nConnection: close\r\n"), std::string::npos);
  EXPECT_TRUE(c.Closed());
  EXPECT_EQ(calls.load(), 0);
  Client chunked_last(server_->port());  // chunked as the last coding is fine
  ASSERT_TRUE(chunked_last.ok());
  EXPECT_EQ(chunked_last
                .Send("POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "0\r\n\r\n")
                .substr(0, 13),
            "HTTP/1.1 200 ");
}

// A header a handler set that would split the response (CR or LF in it, or
// a name that is not a token) is never sent: the answer is a plain 500 and
// the connection closes.
TEST_F(HttpsServerTest, AHeaderThatWouldSplitTheResponseBecomesA500) {
  Start(
      [&](api::Request& r) {
        api::Response bad = Text(200, "abc");
        if (r.target == "/value") bad.headers.emplace_back("X-Test", "1\r\nSet-Cookie: injected=1");
        if (r.target == "/name") bad.headers.emplace_back("X Test", "1");
        if (r.target == "/nul") bad.headers.emplace_back("X-Test", std::string("1\0", 2));
        if (r.target == "/control") bad.headers.emplace_back("X-Test", "1\x01");
        if (r.target == "/length") bad.headers.emplace_back("Content-Length", "0");
        if (r.target == "/encoding") bad.headers.emplace_back("transfer-encoding", "chunked");
        if (r.target == "/cache") bad.headers.emplace_back("Cache-control", "public");
        if (r.target == "/body") bad = api::Response{204, "abc", "text/plain", {}};
        if (r.target == "/interim") bad = api::Response{101, "", "text/plain", {}};
        return bad;
      },
      nullptr);
  for (const char* target : {"/value", "/name", "/nul", "/control", "/length", "/encoding",
                             "/cache", "/body", "/interim"}) {
    Client c(server_->port());
    ASSERT_TRUE(c.ok());
    const std::string got = c.Exchange("GET", target);
    EXPECT_EQ(got.substr(0, 13), "HTTP/1.1 500 ") << target;
    EXPECT_EQ(got.find("injected"), std::string::npos) << target;
    EXPECT_EQ(got.find("X-Test"), std::string::npos) << target;
    EXPECT_EQ(got.find("public"), std::string::npos) << target;
    EXPECT_EQ(got.find("chunked"), std::string::npos) << target;
    EXPECT_EQ(got.find("Content-Length: 0"), std::string::npos) << target;
    EXPECT_NE(got.find("\r\nConnection: close\r\n"), std::string::npos) << target;
    EXPECT_TRUE(c.Closed()) << target;
  }
}

// Every answer carries an id made by the server, a new one each time; a
// client's own X-Request-Id is not echoed (it could carry anything).
TEST_F(HttpsServerTest, EveryAnswerCarriesANewRequestId) {
  Start([&](api::Request&) { return Text(404, "no"); }, nullptr);
  Client c(server_->port());
  ASSERT_TRUE(c.ok());
  static const std::regex kId("\r\nX-Request-Id: ([0-9a-f]{16})\r\n");
  std::smatch a, b;
  const std::string first = c.Exchange("GET", "/x?email=someone");
  const std::string second =
      c.Send("GET /y HTTP/1.1\r\nHost: h\r\nX-Request-Id: client-chosen\r\n\r\n");
  ASSERT_TRUE(std::regex_search(first, a, kId)) << first;
  ASSERT_TRUE(std::regex_search(second, b, kId)) << second;
  EXPECT_NE(a[1].str(), b[1].str());
  EXPECT_EQ(second.find("client-chosen"), std::string::npos);
}

// A chunk extension or a trailer that never ends is refused once the read
// buffer is full (400, closed), not read without bound before any
// credential (1.5 GiB from one connection in 17 s before the fix).
TEST_F(HttpsServerTest, ChunkExtensionsAndTrailersCannotGrowTheReadBuffer) {
  std::atomic<int> calls{0};
  Start(
      [&](api::Request&) {
        ++calls;
        return Text(200, "handled");
      },
      nullptr);
  const std::string head = "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string filler(4 << 10, 'a');
  struct Case {
    const char* what;
    std::string prefix;
  };
  for (const Case& k : {Case{"extension", head + "1;ext="}, Case{"trailer", head + "0\r\nX-Long: "},
                        Case{"extension after a chunk", head + "3\r\nabc\r\n1;e="}}) {
    Client c(server_->port());
    ASSERT_TRUE(c.ok());
    const std::string got = c.SendUntilAnswered(k.prefix, filler, 8u << 20);
    EXPECT_EQ(got.substr(0, 13), "HTTP/1.1 400 ") << k.what << ": " << got.substr(0, 200);
    EXPECT_NE(got.find("\r\nConnection: close\r\n"), std::string::npos) << k.what;
    EXPECT_TRUE(c.Closed()) << k.what;
  }
  EXPECT_EQ(calls.load(), 0);
  Client fine(server_->port());  // a short extension is still fine
  ASSERT_TRUE(fine.ok());
  EXPECT_EQ(fine.Send(head + "3;name=value\r\nabc\r\n0\r\n\r\n").substr(0, 13), "HTTP/1.1 200 ");
}

// Trailer fields are never merged into the headers: a credential or a
// purpose sent only as a trailer would pass a proxy that inspects headers.
// Any trailer field is refused (400) before the handler sees the request.
TEST_F(HttpsServerTest, ARequestWithATrailerIsRefused) {
  std::atomic<int> calls{0};
  Start(
      [&](api::Request& r) {
        ++calls;
        std::string seen;
        for (const auto& [name, value] : r.headers) seen += name + ";";
        return Text(200, seen);
      },
      nullptr);
  for (const char* trailer :
       {"Authorization: Bearer coffre_sk_x", "X-Coffre-Purpose: admin", "X-Other: 1"}) {
    Client c(server_->port());
    ASSERT_TRUE(c.ok());
    const std::string got =
        c.Send(std::string(
                   "POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTrailer: x\r\n\r\n"
                   "3\r\nabc\r\n0\r\n") +
               trailer + "\r\n\r\n");
    EXPECT_EQ(got.substr(0, 13), "HTTP/1.1 400 ") << trailer;
    EXPECT_NE(got.find("trailer"), std::string::npos) << got;
    EXPECT_TRUE(c.Closed()) << trailer;
  }
  EXPECT_EQ(calls.load(), 0);
}

// A connection that never starts TLS holds its slot for the short
// pre-handshake timeout only.
TEST_F(HttpsServerTest, SilentConnectionsAreClosedBeforeTheHandshakeTimeout) {
  Start([&](api::Request&) { return Text(200, "ok"); }, nullptr,
        [](HttpsOptions& o) { o.pre_handshake_timeout = 300ms; });
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(server_->port());
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  const auto start = std::chrono::steady_clock::now();
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 4000), 1) << "still open after 4 s";
  char b;
  EXPECT_LE(::recv(fd, &b, 1, 0), 0);  // closed, nothing sent
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  ::close(fd);
  Client c(server_->port());  // a client that speaks at once is served
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c.Get("/"), "200 ok");
}

int OpenDescriptors() {
  int n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

double CpuSeconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Out of descriptors, accept fails with EMFILE. Accepting again at once
// spun a core at 100% while clients waited; the server now backs off,
// closes waiting clients with its reserve descriptor (told, not left
// hanging), and serves again once descriptors are free.
TEST_F(HttpsServerTest, OutOfDescriptorsTheServerBacksOffAndRecovers) {
  Start([&](api::Request&) { return Text(200, "ok"); }, nullptr);
  // Every thread of the server started and served before descriptors run
  // out (the sanitizers' runtime needs a pipe the first time it checks a
  // type): two connections, one per I/O thread, each answered by a worker.
  for (int i = 0; i < 2; ++i) {
    Client warm(server_->port());
    ASSERT_TRUE(warm.ok());
    ASSERT_EQ(warm.Get("/"), "200 ok");
  }
  std::this_thread::sleep_for(300ms);
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  constexpr int kClients = 24;
  std::vector<int> clients;
  for (int i = 0; i < kClients; ++i) clients.push_back(::socket(AF_INET, SOCK_STREAM, 0));
  // Room for two accepted connections, then the server is out.
  rlimit low{static_cast<rlim_t>(OpenDescriptors() + 2), saved.rlim_max};
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(server_->port());
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int fd : clients) ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  std::this_thread::sleep_for(200ms);
  const double cpu_before = CpuSeconds();
  std::this_thread::sleep_for(2s);
  const double cpu = CpuSeconds() - cpu_before;
  // Some waiting clients were closed at once (EOF or reset).
  int closed = 0;
  for (int fd : clients) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 0) == 1) ++closed;
  }
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  EXPECT_LT(cpu, 0.1) << "the accept loop spins while out of descriptors";
  EXPECT_GE(closed, 1) << "no waiting client was told";
  for (int fd : clients) ::close(fd);
  // Descriptors are back: served again within the longest back-off.
  const auto start = std::chrono::steady_clock::now();
  Client c(server_->port());
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c.Get("/"), "200 ok");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

}  // namespace
}  // namespace coffre::server
