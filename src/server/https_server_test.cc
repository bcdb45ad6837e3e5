#include "server/https_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "server/tls_material.h"

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
    std::string in;
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
};

class HttpsServerTest : public ::testing::Test {
 protected:
  void Start(Handler handler, InlineHandler inline_handler) {
    auto tls = GenerateSelfSigned(std::chrono::system_clock::now());
    ASSERT_TRUE(tls) << tls.error().ToString();
    HttpsOptions ho;
    ho.port = 0;
    ho.cert_pem = tls->cert_pem;
    ho.key_pem = tls->key_pem;
    ho.stop_on_signals = false;
    ho.worker_threads = 2;
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
  EXPECT_EQ(c.Exchange("GET", "/a"), head + "abc");
  EXPECT_EQ(c.Exchange("HEAD", "/a", /*head=*/true), head);
  EXPECT_EQ(c.Pending(), 0) << "a body followed the HEAD answer";
  EXPECT_EQ(c.Exchange("GET", "/empty"),
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
  const std::string over = big.Send("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: " +
                                    std::to_string((1u << 20) + 1) + "\r\n\r\n");
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
  const std::string got =
      c.Send("POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n"
             "GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(got.substr(0, 13), "HTTP/1.1 400 ");
  EXPECT_NE(got.find("\r\nConnection: close\r\n"), std::string::npos);
  EXPECT_TRUE(c.Closed());
  EXPECT_EQ(calls.load(), 0);
  Client chunked_last(server_->port());  // chunked as the last coding is fine
  ASSERT_TRUE(chunked_last.ok());
  EXPECT_EQ(chunked_last.Send("POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
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
  for (const char* target :
       {"/value", "/name", "/nul", "/control", "/length", "/encoding", "/cache", "/body", "/interim"}) {
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

}  // namespace
}  // namespace coffre::server
