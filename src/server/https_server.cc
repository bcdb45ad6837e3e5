// The only translation unit that includes Boost.Beast (slow to compile).
#include "server/https_server.h"

#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cassert>
#include <cctype>
#include <csignal>
#include <cstring>
#include <optional>
#include <thread>
#include <vector>

namespace coffre::server {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

// TLS 1.2 suites with forward secrecy and AEAD only; TLS 1.3 suites are
// OpenSSL's defaults (all AEAD).
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

std::string ErrorBody(std::string_view code, std::string_view message) {
  std::string body = R"({"error":{"code":")";
  body += code;
  body += R"(","message":")";
  body += message;
  body += R"("}})";
  return body;
}

// A header name is an RFC 9110 token (ASCII letters, digits and
// !#$%&'*+-.^_`|~); a value is visible ASCII, spaces, tabs and obs-text,
// never CR, LF, NUL or another control character (no response splitting,
// whatever a handler puts there).
bool IsTokenChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9')) return true;
  return c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

bool IsHeaderName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), IsTokenChar);
}

bool IsHeaderValue(std::string_view value) {
  return std::all_of(value.begin(), value.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u == '\t' || (u >= 0x20 && u != 0x7f);
  });
}

bool EqualsLowerAscii(std::string_view name, std::string_view lower) {
  return name.size() == lower.size() &&
         std::equal(name.begin(), name.end(), lower.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == b;
         });
}

// Headers the server writes itself: the framing and the security headers.
// A handler that sets one would send it twice or contradict the framing.
bool IsServerHeader(std::string_view name) {
  for (std::string_view own : {"content-length", "transfer-encoding", "connection", "content-type",
                               "cache-control", "x-content-type-options",
                               "strict-transport-security"}) {
    if (EqualsLowerAscii(name, own)) return true;
  }
  return false;
}

void AppendHeader(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += ": ";
  out += value;
  out += "\r\n";
}

// Formats `response` as one HTTP/1.1 message (status line, headers, body)
// into `out`, reusing its capacity. Written by hand rather than through
// Beast's serializer, which allocates a node per header and walks a
// buffer-sequence view on every write (~5% of the server's CPU under
// bench/http); the bytes are the same as Beast's. The answer to a HEAD
// request has the headers of the GET answer and no body (RFC 9110 9.3.2).
// False if the handler's answer cannot be sent as it is (then nothing is
// formatted): a header that is not a valid field, or one the server writes
// itself; a status that is not a final one (1xx would leave the client
// waiting for another answer); a body with a status that has none.
bool FormatResponse(const api::Response& response, bool keep_alive, bool head, std::string& out) {
  for (const auto& [name, value] : response.headers) {
    if (!IsHeaderName(name) || !IsHeaderValue(value) || IsServerHeader(name)) return false;
  }
  if (!IsHeaderValue(response.content_type)) return false;
  const int status = response.status;
  if (status < 200 || status > 599) return false;
  // 204 and 304 carry no body and no Content-Length (RFC 9110 8.6).
  const bool bodiless = status == 204 || status == 304;
  if (bodiless && !response.body.empty()) return false;
  out.clear();
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += http::obsolete_reason(http::int_to_status(static_cast<unsigned>(status)));
  out += "\r\n";
  if (!bodiless) AppendHeader(out, "Content-Type", response.content_type);
  // Personal data must not be kept by caches or proxies.
  AppendHeader(out, "Cache-Control", "no-store");
  AppendHeader(out, "X-Content-Type-Options", "nosniff");
  AppendHeader(out, "Strict-Transport-Security", "max-age=31536000");
  for (const auto& [name, value] : response.headers) AppendHeader(out, name, value);
  if (!bodiless) AppendHeader(out, "Content-Length", std::to_string(response.body.size()));
  if (!keep_alive) AppendHeader(out, "Connection", "close");
  out += "\r\n";
  if (!head) out += response.body;
  return true;
}

// Parses a request straight into an api::Request: header names lower-cased
// as they arrive, no field container in between (Beast's parser<> kept a
// heap node per header, which OnRead then copied again). Limits, framing,
// chunked bodies and keep-alive stay Beast's (basic_parser).
class RequestParser final : public http::basic_parser<true> {
 public:
  explicit RequestParser(size_t max_body_bytes) : max_body_bytes_(max_body_bytes) {}
  api::Request& request() { return req_; }
  http::verb verb() const { return verb_; }

 private:
  void on_request_impl(http::verb method, beast::string_view method_str, beast::string_view target,
                       int, beast::error_code&) override {
    verb_ = method;
    req_.method.assign(method_str.data(), method_str.size());
    req_.target.assign(target.data(), target.size());
    req_.headers.reserve(8);
  }
  void on_response_impl(int, beast::string_view, int, beast::error_code& ec) override {
    ec = http::error::bad_version;  // a request parser never sees a status line
  }
  void on_field_impl(http::field f, beast::string_view name, beast::string_view value,
                     beast::error_code&) override {
    if (f == http::field::transfer_encoding) transfer_encoding_ = true;
    auto& [lower, v] = req_.headers.emplace_back();
    lower.resize(name.size());
    for (size_t i = 0; i < name.size(); ++i) {
      lower[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(name[i])));
    }
    v.assign(value.data(), value.size());
  }
  void on_header_impl(beast::error_code& ec) override {
    // A transfer coding that does not end in chunked leaves the body's
    // length unknown: Beast would read no body and take what follows as
    // the next request (smuggling). RFC 9112 6.3: 400, and close.
    if (transfer_encoding_ && !chunked()) ec = http::error::bad_transfer_encoding;
  }
  void on_body_init_impl(const boost::optional<std::uint64_t>& length, beast::error_code&) override {
    if (length) req_.body.reserve(static_cast<size_t>(std::min<std::uint64_t>(*length, max_body_bytes_)));
  }
  size_t on_body_impl(beast::string_view body, beast::error_code&) override {
    req_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
  size_t on_chunk_body_impl(std::uint64_t, beast::string_view body, beast::error_code& ec) override {
    return on_body_impl(body, ec);  // chunks are appended as a length-framed body is
  }
  void on_finish_impl(beast::error_code&) override {}

  size_t max_body_bytes_;
  bool transfer_encoding_ = false;
  api::Request req_;
  http::verb verb_ = http::verb::unknown;
};

class Server;

// What sessions count on the server. Shared, so that a session destroyed
// with its io_context (pending handlers at shutdown) never touches a
// destroyed server.
struct Counters {
  std::atomic<int> in_flight{0};       // requests not yet answered
  std::atomic<size_t> connections{0};  // live sessions
};

std::vector<std::unique_ptr<net::io_context>> MakeContexts(int n) {
  std::vector<std::unique_ptr<net::io_context>> v;
  for (int i = 0; i < n; ++i) v.push_back(std::make_unique<net::io_context>(1));
  return v;
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, ssl::context& ctx, Server& server);
  ~Session();
  void Start();

 private:
  void OnHandshake(beast::error_code ec);
  void DoRead();
  void OnRead(beast::error_code ec, size_t);
  void Write(api::Response response, bool keep_alive, bool head = false);
  void OnWrite(bool keep_alive, beast::error_code ec, size_t);
  void DoClose();

  beast::ssl_stream<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
  std::optional<RequestParser> parser_;
  // The response being written; wiped once written (it holds what the
  // caller was shown), its capacity reused unless it grew past kKeptOutBytes.
  std::string out_;
  static constexpr size_t kKeptOutBytes = 64u << 10;
  Server& server_;
  std::shared_ptr<Counters> counters_;
  std::string peer_;
  // A request of this session is being handled or answered: counted in the
  // server's in_flight until its response is written (a graceful stop
  // waits for it).
  bool in_flight_ = false;
};

class Server final : public HttpsServer {
 public:
  Server(const HttpsOptions& o, Handler handler, InlineHandler inline_handler)
      : options_(o),
        handler_(std::move(handler)),
        inline_handler_(std::move(inline_handler)),
        iocs_(MakeContexts(o.io_threads)),
        ioc_(*iocs_[0]),
        tls_(ssl::context::tls_server),
        acceptor_(ioc_),
        workers_(static_cast<size_t>(o.worker_threads)),
        signals_(ioc_) {}

  Status Listen() {
    beast::error_code ec;
    tls_.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                         ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                         ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                     ec);
    SSL_CTX* native = tls_.native_handle();
    if (ec || SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1) {
      return Fail(ErrorCode::kInternal, "cannot configure TLS");
    }
    SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                    SSL_OP_NO_COMPRESSION);
    tls_.use_certificate_chain(net::buffer(options_.cert_pem), ec);
    if (ec) return Fail(ErrorCode::kInvalidArgument, "the TLS certificate cannot be used");
    tls_.use_private_key(net::buffer(options_.key_pem), ssl::context::pem, ec);
    if (ec) return Fail(ErrorCode::kInvalidArgument, "the TLS private key cannot be used");

    auto address = net::ip::make_address(options_.address, ec);
    if (ec) return Fail(ErrorCode::kInvalidArgument, "not an IP address: " + options_.address);
    tcp::endpoint endpoint(address, options_.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      return Fail(ErrorCode::kIoError, "cannot listen on " + options_.address + ":" +
                                           std::to_string(options_.port) + ": " + ec.message());
    }
    port_ = acceptor_.local_endpoint().port();
    return Ok();
  }

  uint16_t port() const override { return port_; }

  void Run() override {
    if (options_.stop_on_signals) {
      signals_.add(SIGTERM);
      signals_.add(SIGINT);
      signals_.async_wait([this](beast::error_code ec, int) {
        if (!ec) BeginStop();
      });
    }
    DoAccept();
    std::vector<std::thread> threads;
    // Each context runs until stopped, even while it has no connection.
    std::vector<net::executor_work_guard<net::io_context::executor_type>> busy;
    for (auto& ctx : iocs_) busy.push_back(net::make_work_guard(*ctx));
    for (size_t i = 1; i < iocs_.size(); ++i) threads.emplace_back([this, i] { iocs_[i]->run(); });
    ioc_.run();
    for (auto& ctx : iocs_) ctx->stop();
    for (auto& t : threads) t.join();
    workers_.join();
  }

  void Stop() override {
    net::post(ioc_, [this] { BeginStop(); });
  }

  // --- used by sessions ---
  const HttpsOptions& options() const { return options_; }
  ssl::context& tls() { return tls_; }
  bool draining() const { return draining_.load(); }
  net::thread_pool& workers() { return workers_; }
  const std::shared_ptr<Counters>& counters() { return counters_; }

  api::Response Handle(api::Request& request) {
    try {
      return handler_(request);
    } catch (...) {
      // A handler must not throw; if one does, the request fails closed.
      return InternalError();
    }
  }

  // Offers `request` to the inline handler with `offered`; true if it took
  // it (it then calls `offered`, now or later). `fallback`, the same
  // one-shot reply, answers 500 if the handler throws.
  bool HandleInline(api::Request& request, Reply& offered, Reply& fallback) {
    if (!inline_handler_) return false;
    try {
      return inline_handler_(request, offered);
    } catch (...) {
      fallback(InternalError());
      return true;
    }
  }

  static api::Response InternalError() {
    return api::Response{500, ErrorBody("internal", "internal error"), "application/json", {}};
  }

 private:
  void DoAccept() {
    // Connections are spread over the contexts in turn; each context has
    // one thread, so a session needs no strand.
    net::io_context& next = *iocs_[next_context_++ % iocs_.size()];
    acceptor_.async_accept(next, [this](beast::error_code ec, tcp::socket socket) {
      if (ec) {
        if (!acceptor_.is_open()) return;  // stopping
      } else if (counters_->connections.load() < options_.max_connections) {
        std::make_shared<Session>(std::move(socket), tls_, *this)->Start();
      }  // else: over the cap, the socket closes here
      DoAccept();
    });
  }

  void BeginStop() {
    if (draining_.exchange(true)) return;
    beast::error_code ignored;
    acceptor_.close(ignored);
    signals_.cancel(ignored);
    drain_deadline_ = std::chrono::steady_clock::now() + options_.drain_timeout;
    PollDrained();
  }

  // Requests in flight finish their durable work and their responses are
  // written; then the loops stop. Connections idle in keep-alive are
  // dropped: nothing of theirs is pending.
  void PollDrained() {
    if (counters_->in_flight.load() == 0 || std::chrono::steady_clock::now() >= drain_deadline_) {
      for (auto& ctx : iocs_) ctx->stop();
      return;
    }
    drain_timer_.emplace(ioc_, std::chrono::milliseconds(10));
    drain_timer_->async_wait([this](beast::error_code) { PollDrained(); });
  }

  HttpsOptions options_;
  Handler handler_;
  InlineHandler inline_handler_;
  // One io_context per I/O thread (concurrency hint 1): no locking between
  // I/O threads and no strands; the first also runs the acceptor, the
  // signals and the drain timer.
  std::vector<std::unique_ptr<net::io_context>> iocs_;
  net::io_context& ioc_;
  size_t next_context_ = 0;  // used by the accept handler only
  ssl::context tls_;
  tcp::acceptor acceptor_;
  net::thread_pool workers_;
  net::signal_set signals_;
  std::optional<net::steady_timer> drain_timer_;
  std::chrono::steady_clock::time_point drain_deadline_;
  std::atomic<bool> draining_{false};
  std::shared_ptr<Counters> counters_ = std::make_shared<Counters>();
  uint16_t port_ = 0;
};

Session::Session(tcp::socket&& socket, ssl::context& ctx, Server& server)
    : stream_(std::move(socket), ctx), server_(server), counters_(server.counters()) {
  counters_->connections.fetch_add(1);
  // Asio turns on SSL_MODE_RELEASE_BUFFERS: OpenSSL then frees its ~17 KiB
  // read and write buffers after every record and allocates them again for
  // the next, a malloc/free pair each way per request (~3% of the server's
  // CPU under bench/http). A connection keeps them instead: ~34 KiB more
  // per open connection (bench/credentials checks the flood's peak RSS
  // against its stated per-connection budget).
  SSL_clear_mode(stream_.native_handle(), SSL_MODE_RELEASE_BUFFERS);
}

Session::~Session() {
  OPENSSL_cleanse(out_.data(), out_.size());  // a write cut short at shutdown
  if (in_flight_) counters_->in_flight.fetch_sub(1);
  counters_->connections.fetch_sub(1);
}

void Session::Start() {
  net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
    beast::error_code ec;
    // Responses go out whole, as soon as they are written: without this,
    // the tail segment of a response larger than one segment waits for the
    // client's delayed ACK (Nagle's algorithm), up to 40 ms.
    beast::get_lowest_layer(self->stream_).socket().set_option(tcp::no_delay(true), ec);
    ec = {};
    auto endpoint = beast::get_lowest_layer(self->stream_).socket().remote_endpoint(ec);
    if (!ec) self->peer_ = endpoint.address().to_string();
    beast::get_lowest_layer(self->stream_).expires_after(self->server_.options().handshake_timeout);
    self->stream_.async_handshake(ssl::stream_base::server,
                                  beast::bind_front_handler(&Session::OnHandshake, self));
  });
}

void Session::OnHandshake(beast::error_code ec) {
  if (ec) return;  // failed handshakes (old TLS versions, scanners) just close
  DoRead();
}

void Session::DoRead() {
  parser_.emplace(server_.options().max_body_bytes);
  parser_->body_limit(server_.options().max_body_bytes);
  parser_->header_limit(static_cast<uint32_t>(server_.options().max_header_bytes));
  beast::get_lowest_layer(stream_).expires_after(server_.options().idle_timeout);
  http::async_read(stream_, buffer_, *parser_,
                   beast::bind_front_handler(&Session::OnRead, shared_from_this()));
}

void Session::OnRead(beast::error_code ec, size_t) {
  if (ec == http::error::body_limit) {
    return Write({413, ErrorBody("payload_too_large", "the body is larger than 1 MiB"),
                  "application/json", {}},
                 false);
  }
  if (ec == http::error::header_limit) {
    return Write({431, ErrorBody("invalid_request", "the request headers are too large"),
                  "application/json", {}},
                 false);
  }
  if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
      ec == net::error::operation_aborted || ec == net::ssl::error::stream_truncated ||
      ec == net::error::eof || ec == net::error::connection_reset) {
    return DoClose();
  }
  if (ec) {
    if (ec.category() == http::make_error_code(http::error::bad_method).category()) {
      return Write({400, ErrorBody("invalid_request", "malformed HTTP request"),
                    "application/json", {}},
                   false);
    }
    return DoClose();
  }

  api::Request request = std::move(parser_->request());
  request.source = peer_;
  const bool keep_alive = parser_->keep_alive() && !server_.draining();
  const bool head = parser_->verb() == http::verb::head;

  counters_->in_flight.fetch_add(1);
  in_flight_ = true;
  // Answered once, by the inline handler (on this thread or the audit
  // log's) or by a worker; the write runs on this session's I/O thread.
  // One-shot: a second call (a handler that replied, then threw) is ignored.
  auto answered = std::make_shared<std::atomic<bool>>(false);
  Reply reply = [self = shared_from_this(), keep_alive, head, answered](api::Response response) {
    if (answered->exchange(true)) return;
    net::dispatch(self->stream_.get_executor(), [self, response = std::move(response), keep_alive, head]() mutable {
      self->Write(std::move(response), keep_alive, head);
    });
  };
  Reply offered = reply;  // the inline handler may move its copy away
  if (server_.HandleInline(request, offered, reply)) return;
  net::post(server_.workers(), [self = shared_from_this(), request = std::move(request),
                                reply = std::move(reply)]() mutable {
    reply(self->server_.Handle(request));
  });
}

void Session::Write(api::Response response, bool keep_alive, bool head) {
  keep_alive = keep_alive && !server_.draining();
  if (!FormatResponse(response, keep_alive, head, out_)) {
    keep_alive = false;
    const bool formatted = FormatResponse(Server::InternalError(), keep_alive, head, out_);
    assert(formatted);
    (void)formatted;
  }
  beast::get_lowest_layer(stream_).expires_after(server_.options().idle_timeout);
  net::async_write(stream_, net::buffer(out_),
                   beast::bind_front_handler(&Session::OnWrite, shared_from_this(), keep_alive));
}

void Session::OnWrite(bool keep_alive, beast::error_code ec, size_t) {
  OPENSSL_cleanse(out_.data(), out_.size());
  out_.clear();
  if (out_.capacity() > kKeptOutBytes) std::string().swap(out_);
  if (in_flight_) {
    in_flight_ = false;
    counters_->in_flight.fetch_sub(1);
  }
  if (ec) return;
  if (!keep_alive) return DoClose();
  DoRead();
}

void Session::DoClose() {
  beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(5));
  stream_.async_shutdown([self = shared_from_this()](beast::error_code) {
    beast::error_code ignored;
    beast::get_lowest_layer(self->stream_).socket().shutdown(tcp::socket::shutdown_both, ignored);
  });
}

}  // namespace

Result<std::unique_ptr<HttpsServer>> HttpsServer::Start(const HttpsOptions& options,
                                                        Handler handler, InlineHandler inline_handler) {
  if (options.io_threads < 1 || options.worker_threads < 1) {
    return Fail(ErrorCode::kInvalidArgument, "the server needs at least one thread of each kind");
  }
  auto server = std::make_unique<Server>(options, std::move(handler), std::move(inline_handler));
  COFFRE_TRY(server->Listen());
  return std::unique_ptr<HttpsServer>(std::move(server));
}

}  // namespace coffre::server
