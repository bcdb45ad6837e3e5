// The only translation unit that includes Boost.Beast (slow to compile).
#include "server/https_server.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
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

#include "common/log.h"
#include "server/admission.h"
#include "server/client_address.h"
#include "server/request_metrics.h"

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
  for (std::string_view own :
       {"content-length", "transfer-encoding", "connection", "content-type", "cache-control",
        "x-content-type-options", "strict-transport-security", "x-request-id"}) {
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
bool FormatResponse(const api::Response& response, bool keep_alive, bool head,
                    std::string_view request_id, std::string& out) {
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
  AppendHeader(out, "X-Request-Id", request_id);
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
  bool trailer() const { return trailer_; }

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
                     beast::error_code& ec) override {
    // After the header section, fields come from a chunked body's trailer.
    // Never merged into the headers: a credential or purpose sent there
    // would pass any proxy that inspects headers. Refused (400).
    if (header_done_) {
      trailer_ = true;
      ec = http::error::bad_field;
      return;
    }
    if (f == http::field::transfer_encoding) transfer_encoding_ = true;
    auto& [lower, v] = req_.headers.emplace_back();
    lower.resize(name.size());
    for (size_t i = 0; i < name.size(); ++i) {
      lower[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(name[i])));
    }
    v.assign(value.data(), value.size());
  }
  void on_header_impl(beast::error_code& ec) override {
    header_done_ = true;
    // A transfer coding that does not end in chunked leaves the body's
    // length unknown: Beast would read no body and take what follows as
    // the next request (smuggling). RFC 9112 6.3: 400, and close.
    if (transfer_encoding_ && !chunked()) ec = http::error::bad_transfer_encoding;
  }
  void on_body_init_impl(const boost::optional<std::uint64_t>& length,
                         beast::error_code&) override {
    if (length)
      req_.body.reserve(static_cast<size_t>(std::min<std::uint64_t>(*length, max_body_bytes_)));
  }
  size_t on_body_impl(beast::string_view body, beast::error_code&) override {
    req_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
  size_t on_chunk_body_impl(std::uint64_t, beast::string_view body,
                            beast::error_code& ec) override {
    return on_body_impl(body, ec);  // chunks are appended as a length-framed body is
  }
  void on_finish_impl(beast::error_code&) override {}

  size_t max_body_bytes_;
  bool transfer_encoding_ = false;
  bool header_done_ = false;
  bool trailer_ = false;
  api::Request req_;
  http::verb verb_ = http::verb::unknown;
};

// A request id: 64 random bits in hex, made by the server (a client's
// X-Request-Id is not taken: it could carry anything into the log).
std::string NewRequestId() {
  unsigned char raw[8];
  if (RAND_bytes(raw, sizeof raw) != 1) {
    static std::atomic<uint64_t> fallback{0};
    const uint64_t n = fallback.fetch_add(1);
    std::memcpy(raw, &n, sizeof raw);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id(16, '0');
  for (size_t i = 0; i < sizeof raw; ++i) {
    id[2 * i] = kHex[raw[i] >> 4];
    id[2 * i + 1] = kHex[raw[i] & 0x0f];
  }
  return id;
}

// What the access line of an answer says about its request (its route
// and principal come with the answer: api::Response).
struct Trace {
  std::string id = NewRequestId();
  std::string method;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
};

IpAddress FromAsio(const net::ip::address& a) {
  if (a.is_v4()) return IpAddress::V4(a.to_v4().to_bytes().data());
  return IpAddress::V6(a.to_v6().to_bytes().data());
}

class Server;

// What sessions count on the server. Shared, so that a session destroyed
// with its io_context (pending handlers at shutdown) never touches a
// destroyed server.
struct Counters {
  explicit Counters(Admission::Limits limits) : admission(limits) {}
  std::atomic<int> in_flight{0};  // requests not yet answered
  Admission admission;            // connection slots of live sessions
};

std::vector<std::unique_ptr<net::io_context>> MakeContexts(int n) {
  std::vector<std::unique_ptr<net::io_context>> v;
  v.reserve(n);
  for (int i = 0; i < n; ++i) v.push_back(std::make_unique<net::io_context>(1));
  return v;
}

Admission::Limits LimitsOf(const HttpsOptions& o) {
  return {.max_connections = o.max_connections,
          .per_source = o.max_connections_per_source,
          .max_pending = o.max_pending_handshakes != 0
                             ? o.max_pending_handshakes
                             : std::max<size_t>(1, o.max_connections / 2)};
}

// The read buffer holds a request's header section, then what a read
// brings beyond what the parser consumed: a chunk header or the trailer
// section must fit in it (the body goes straight to the request).
size_t ReadBufferLimit(const HttpsOptions& o) { return o.max_header_bytes + (16u << 10); }

std::string PemOf(X509* cert) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return {};
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, n > 0 ? static_cast<size_t>(n) : 0);
}

// The certificate the client of `ssl` sent (verified by the handshake),
// with the chain it sent; null if it sent none.
std::shared_ptr<const api::ClientCertificate> PeerCertificate(SSL* ssl) {
  X509* leaf = SSL_get0_peer_certificate(ssl);
  if (leaf == nullptr) return nullptr;
  auto out = std::make_shared<api::ClientCertificate>();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (X509_digest(leaf, EVP_sha256(), md, &n) != 1) return nullptr;
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned i = 0; i < n; ++i) {
    out->fingerprint += kHex[md[i] >> 4];
    out->fingerprint += kHex[md[i] & 15];
  }
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!bio || X509_NAME_print_ex(bio.get(), X509_get_subject_name(leaf), 0, XN_FLAG_RFC2253) < 0)
    return nullptr;
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  out->subject.assign(data, len > 0 ? static_cast<size_t>(len) : 0);
  out->chain_pem = PemOf(leaf);
  // On a server, the peer chain does not hold the leaf.
  if (STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl); chain != nullptr) {
    for (int i = 0; i < sk_X509_num(chain); ++i) out->chain_pem += PemOf(sk_X509_value(chain, i));
  }
  return out;
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, std::shared_ptr<ssl::context> ctx, Server& server, IpAddress peer,
          bool peer_trusted, Admission::Slot slot);
  ~Session();
  void Start();

 private:
  void WaitFirstByte();
  void ReadProxyHeader();
  void OnProxyHeader(beast::error_code ec, size_t);
  void Handshake();
  void OnHandshake(beast::error_code ec);
  void DoRead();
  void OnRead(beast::error_code ec, size_t);
  void Refuse(int status, std::string_view code, std::string_view message, const Trace& trace,
              std::vector<std::pair<std::string, std::string>> headers = {});
  Trace TraceOfParsed();
  void Write(const api::Response& response, bool keep_alive, bool head, const Trace& trace);
  void OnWrite(bool keep_alive, beast::error_code ec, size_t);
  void DoClose();

  // The TLS context current when the connection was accepted: kept alive
  // while the connection lives, whatever certificate is loaded since.
  std::shared_ptr<ssl::context> tls_;
  beast::ssl_stream<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
  std::optional<RequestParser> parser_;
  // The response being written; wiped once written (it holds what the
  // caller was shown), its capacity reused unless it grew past kKeptOutBytes.
  std::string out_;
  static constexpr size_t kKeptOutBytes = 64u << 10;
  Server& server_;
  std::shared_ptr<Counters> counters_;
  Admission::Slot slot_;
  // The client as the connection names it: its peer, or the source of its
  // PROXY header. `client_trusted_`: a trusted proxy, whose
  // X-Forwarded-For is taken.
  IpAddress client_;
  bool client_trusted_;
  net::steady_timer pre_handshake_timer_;
  bool pre_handshake_done_ = false;
  uint8_t proxy_fixed_[kProxyV2FixedBytes] = {};
  std::string proxy_rest_;
  // The client's verified certificate (mTLS), once per connection; null
  // without one.
  std::shared_ptr<const api::ClientCertificate> client_certificate_;
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
        acceptor_(ioc_),
        accept_timer_(ioc_),
        workers_(static_cast<size_t>(o.worker_threads)),
        signals_(ioc_),
        counters_(std::make_shared<Counters>(LimitsOf(o))) {}

  ~Server() override {
    OPENSSL_cleanse(options_.key_pem.data(), options_.key_pem.size());
    if (reserve_fd_ >= 0) ::close(reserve_fd_);
  }

  Status Listen() {
    COFFRE_ASSIGN_OR_RETURN(trust_, ProxyTrust::Parse(options_.trusted_proxies));
    if (options_.proxy_protocol && trust_.empty()) {
      return Fail(ErrorCode::kInvalidArgument,
                  "--proxy-protocol needs at least one --trusted-proxy");
    }
    if (options_.max_connections == 0) {
      return Fail(ErrorCode::kInvalidArgument, "the server needs at least one connection slot");
    }
    beast::error_code ec;
    // Loaded (or refused): the server keeps no copy of the PEM.
    auto tls = MakeContext(options_.cert_pem, options_.key_pem, options_.client_ca_pem);
    OPENSSL_cleanse(options_.key_pem.data(), options_.key_pem.size());
    std::string().swap(options_.key_pem);
    if (!tls) return Fail(tls.error());
    tls_.store(std::move(*tls));

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
    // Kept for a descriptor shortage (see BackOff).
    reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    return Ok();
  }

  uint16_t port() const override { return port_; }

  Status SetCertificate(const std::string& cert_pem, const std::string& key_pem) override {
    COFFRE_ASSIGN_OR_RETURN(auto tls, MakeContext(cert_pem, key_pem, options_.client_ca_pem));
    tls_.store(std::move(tls));
    return Ok();
  }

  void Run() override {
    if (options_.stop_on_signals) {
      signals_.add(SIGTERM);
      signals_.add(SIGINT);
    }
    if (options_.on_sighup) signals_.add(SIGHUP);
    if (options_.stop_on_signals || options_.on_sighup) WaitSignal();
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
  const ProxyTrust& trust() const { return trust_; }
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

  // The access line of an answer (docs/operations.md, "Logs"): the route
  // template, never the path (it holds ids), nor a query string, a client
  // address or an end user's name. Formatted on this thread's stack and
  // buffered: no allocation, no system call (common/log.h).
  bool LogsAnswers() const { return options_.access_log && log::Enabled(log::Level::kInfo); }
  void LogAnswer(int status, const Trace& trace, const api::Response& response, size_t bytes_out,
                 std::chrono::steady_clock::duration elapsed) const {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count();
    log::Info("http.request", "",
              {{"method", trace.method.empty() ? std::string_view("-") : trace.method},
               {"route", response.route < options_.route_names.size()
                             ? options_.route_names[response.route]
                             : std::string_view("-")},
               {"status", status},
               {"duration_us", us},
               {"principal", response.principal.empty() ? std::string_view("-")
                                                        : std::string_view(response.principal)},
               {"request_id", trace.id},
               {"bytes_out", bytes_out}});
  }

 private:
  // A context of the server's TLS settings presenting `cert_pem` (the
  // certificate, then its chain) with `key_pem`.
  static Result<std::shared_ptr<ssl::context>> MakeContext(const std::string& cert_pem,
                                                           const std::string& key_pem,
                                                           const std::string& client_ca_pem) {
    auto tls = std::make_shared<ssl::context>(ssl::context::tls_server);
    beast::error_code ec;
    tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                         ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                         ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                     ec);
    SSL_CTX* native = tls->native_handle();
    if (ec || SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1) {
      return Fail(ErrorCode::kInternal, "cannot configure TLS");
    }
    SSL_CTX_set_options(
        native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
    tls->use_certificate_chain(net::buffer(cert_pem), ec);
    if (ec) return Fail(ErrorCode::kInvalidArgument, "the TLS certificate cannot be used");
    // The private key's numbers go to OpenSSL's secure heap when it has one
    // (mapped apart, locked when allowed, left out of core dumps).
    if (CRYPTO_secure_malloc_initialized() == 0) (void)CRYPTO_secure_malloc_init(1u << 16, 32);
    tls->use_private_key(net::buffer(key_pem), ssl::context::pem, ec);
    if (ec) return Fail(ErrorCode::kInvalidArgument, "the TLS private key cannot be used");
    if (SSL_CTX_check_private_key(native) != 1) {
      return Fail(ErrorCode::kInvalidArgument,
                  "the TLS private key does not match the certificate");
    }
    if (!client_ca_pem.empty()) COFFRE_TRY(RequestClientCertificates(native, client_ca_pem));
    return tls;
  }

  // mTLS: the handshake asks for a client certificate issued by one of
  // `ca_pem`'s certificates (named in the request) and verifies one sent
  // (chain, dates, client purpose), failing the handshake if it does not
  // verify; a client may send none (it then needs an API key or a session).
  static Status RequestClientCertificates(SSL_CTX* native, const std::string& ca_pem) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(
        BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size())), BIO_free);
    X509_STORE* store = SSL_CTX_get_cert_store(native);
    int added = 0;
    while (X509* ca = bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr) {
      const bool ok = X509_STORE_add_cert(store, ca) == 1 && SSL_CTX_add_client_CA(native, ca) == 1;
      X509_free(ca);
      if (!ok) return Fail(ErrorCode::kInvalidArgument, "--tls-client-ca: a CA cannot be used");
      ++added;
    }
    ERR_clear_error();
    if (added == 0) {
      return Fail(ErrorCode::kInvalidArgument, "--tls-client-ca holds no PEM X.509 certificate");
    }
    X509_VERIFY_PARAM_set_purpose(SSL_CTX_get0_param(native), X509_PURPOSE_SSL_CLIENT);
    SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
    // Resumed sessions keep the certificate verified in the first one.
    static constexpr unsigned char kContext[] = "coffre-mtls";
    SSL_CTX_set_session_id_context(native, kContext, sizeof kContext - 1);
    return Ok();
  }

  // SIGTERM and SIGINT stop; SIGHUP runs on_sighup on a worker (it reads
  // files and may take a while) and waits again.
  void WaitSignal() {
    signals_.async_wait([this](beast::error_code ec, int signal) {
      if (ec) return;
      if (signal == SIGHUP) {
        net::post(workers_, [this] { options_.on_sighup(); });
        return WaitSignal();
      }
      BeginStop();
    });
  }

  void DoAccept() {
    // Connections are spread over the contexts in turn; each context has
    // one thread, so a session needs no strand.
    net::io_context& next = *iocs_[next_context_++ % iocs_.size()];
    acceptor_.async_accept(next, [this](beast::error_code ec, tcp::socket socket) {
      if (ec) {
        if (!acceptor_.is_open()) return;  // stopping
        if (ec == net::error::no_descriptors || ec == net::error::no_buffer_space ||
            ec == net::error::no_memory || ec.value() == ENFILE) {
          return BackOff();
        }
      } else {
        accept_backoff_ = kMinAcceptBackoff;
        Admit(std::move(socket));
      }
      DoAccept();
    });
  }

  void Admit(tcp::socket socket) {
    beast::error_code ec;
    const auto endpoint = socket.remote_endpoint(ec);
    if (ec) return;  // already gone
    const IpAddress peer = FromAsio(endpoint.address());
    const bool trusted = trust_.Trusts(peer);
    auto slot = counters_->admission.Admit(peer.LimitKey(), trusted);
    if (!slot) return;  // over a cap: the socket closes here
    std::make_shared<Session>(std::move(socket), tls_.load(), *this, peer, trusted,
                              std::move(*slot))
        ->Start();
  }

  // Out of descriptors (or kernel memory): accepting again at once would
  // fail again at once, a core spinning while clients wait. The reserve
  // descriptor is given up to accept and close one waiting client (told
  // at once, not left in the backlog), then taken back, and accepting
  // resumes after a delay that doubles up to kMaxAcceptBackoff.
  void BackOff() {
    if (reserve_fd_ >= 0) {
      ::close(reserve_fd_);
      reserve_fd_ = -1;
    }
    const int shed =
        ::accept4(acceptor_.native_handle(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (shed >= 0) ::close(shed);
    reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    accept_timer_.expires_after(accept_backoff_);
    accept_backoff_ = std::min(accept_backoff_ * 2, kMaxAcceptBackoff);
    accept_timer_.async_wait([this](beast::error_code ec) {
      if (!ec && acceptor_.is_open()) DoAccept();
    });
  }

  void BeginStop() {
    if (draining_.exchange(true)) return;
    beast::error_code ignored;
    acceptor_.close(ignored);
    accept_timer_.cancel();
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

  static constexpr std::chrono::milliseconds kMinAcceptBackoff{10};
  static constexpr std::chrono::milliseconds kMaxAcceptBackoff{500};

  HttpsOptions options_;
  ProxyTrust trust_;
  Handler handler_;
  InlineHandler inline_handler_;
  // One io_context per I/O thread (concurrency hint 1): no locking between
  // I/O threads and no strands; the first also runs the acceptor, the
  // signals and the drain timer.
  std::vector<std::unique_ptr<net::io_context>> iocs_;
  net::io_context& ioc_;
  size_t next_context_ = 0;  // used by the accept handler only
  // Swapped whole by SetCertificate; each accepted connection takes the
  // current one (one atomic load per connection, none per request).
  std::atomic<std::shared_ptr<ssl::context>> tls_;
  tcp::acceptor acceptor_;
  net::steady_timer accept_timer_;
  std::chrono::milliseconds accept_backoff_ = kMinAcceptBackoff;
  int reserve_fd_ = -1;
  net::thread_pool workers_;
  net::signal_set signals_;
  std::optional<net::steady_timer> drain_timer_;
  std::chrono::steady_clock::time_point drain_deadline_;
  std::atomic<bool> draining_{false};
  std::shared_ptr<Counters> counters_;
  uint16_t port_ = 0;
};

Session::Session(tcp::socket&& socket, std::shared_ptr<ssl::context> ctx, Server& server,
                 IpAddress peer, bool peer_trusted, Admission::Slot slot)
    : tls_(std::move(ctx)),
      stream_(std::move(socket), *tls_),
      buffer_(ReadBufferLimit(server.options())),
      server_(server),
      counters_(server.counters()),
      slot_(std::move(slot)),
      client_(peer),
      client_trusted_(peer_trusted),
      pre_handshake_timer_(stream_.get_executor()) {
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
  counters_->admission.Release(slot_);
}

void Session::Start() {
  net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
    beast::error_code ec;
    // Responses go out whole, as soon as they are written: without this,
    // the tail segment of a response larger than one segment waits for the
    // client's delayed ACK (Nagle's algorithm), up to 40 ms.
    beast::get_lowest_layer(self->stream_).socket().set_option(tcp::no_delay(true), ec);
    if (self->server_.options().proxy_protocol && self->client_trusted_)
      return self->ReadProxyHeader();
    self->WaitFirstByte();
  });
}

// A connection that sends nothing holds a slot for pre_handshake_timeout
// only, not for the whole handshake timeout.
void Session::WaitFirstByte() {
  pre_handshake_timer_.expires_after(server_.options().pre_handshake_timeout);
  pre_handshake_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (ec || self->pre_handshake_done_) return;
    self->pre_handshake_done_ = true;
    beast::error_code ignored;
    beast::get_lowest_layer(self->stream_).socket().close(ignored);
  });
  beast::get_lowest_layer(stream_).socket().async_wait(
      tcp::socket::wait_read, [self = shared_from_this()](beast::error_code ec) {
        if (self->pre_handshake_done_) return;  // timed out
        self->pre_handshake_done_ = true;
        self->pre_handshake_timer_.cancel();
        if (ec) return;
        self->Handshake();
      });
}

// From a trusted proxy, with --proxy-protocol: the PROXY v2 header comes
// before TLS and names the client.
void Session::ReadProxyHeader() {
  auto& tcp_stream = beast::get_lowest_layer(stream_);
  tcp_stream.expires_after(server_.options().pre_handshake_timeout);
  net::async_read(tcp_stream, net::buffer(proxy_fixed_),
                  [self = shared_from_this()](beast::error_code ec, size_t) {
                    if (ec) return;
                    auto rest = ParseProxyV2Fixed(self->proxy_fixed_);
                    if (!rest) return;  // closes: not a PROXY v2 header
                    self->proxy_rest_.resize(*rest);
                    net::async_read(beast::get_lowest_layer(self->stream_),
                                    net::buffer(self->proxy_rest_),
                                    beast::bind_front_handler(&Session::OnProxyHeader, self));
                  });
}

void Session::OnProxyHeader(beast::error_code ec, size_t) {
  if (ec) return;
  auto source = ParseProxyV2Source(proxy_fixed_, proxy_rest_);
  if (!source) return;
  if (*source) {
    client_ = **source;
    client_trusted_ = server_.trust().Trusts(client_);
    // From now on the connection counts as its client's.
    if (!client_trusted_ && !counters_->admission.Rekey(slot_, client_.LimitKey())) return;
  }
  Handshake();
}

void Session::Handshake() {
  beast::get_lowest_layer(stream_).expires_after(server_.options().handshake_timeout);
  stream_.async_handshake(ssl::stream_base::server,
                          beast::bind_front_handler(&Session::OnHandshake, shared_from_this()));
}

void Session::OnHandshake(beast::error_code ec) {
  if (ec) return;  // failed handshakes (old TLS versions, scanners) just close
  counters_->admission.HandshakeDone(slot_);
  // With --tls-client-ca, a certificate the client sent was verified
  // against it during the handshake (else the handshake failed).
  if (!server_.options().client_ca_pem.empty()) {
    client_certificate_ = PeerCertificate(stream_.native_handle());
  }
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

// What was parsed of a request the server refuses (maybe nothing).
Trace Session::TraceOfParsed() {
  Trace trace;
  if (parser_) trace.method = parser_->request().method.substr(0, 16);
  return trace;
}

// Answers a request the server refuses by itself, and closes.
void Session::Refuse(int status, std::string_view code, std::string_view message,
                     const Trace& trace, std::vector<std::pair<std::string, std::string>> headers) {
  Write({status, ErrorBody(code, message), "application/json", std::move(headers)}, false, false,
        trace);
}

void Session::OnRead(beast::error_code ec, size_t) {
  if (ec == http::error::body_limit) {
    return Refuse(413, "payload_too_large", "the body is larger than 1 MiB", TraceOfParsed());
  }
  if (ec == http::error::header_limit) {
    return Refuse(431, "invalid_request", "the request headers are too large", TraceOfParsed());
  }
  if (parser_->trailer()) {
    return Refuse(400, "invalid_request", "a chunked body's trailer fields are not accepted",
                  TraceOfParsed());
  }
  if (ec == http::error::buffer_overflow) {
    return Refuse(400, "invalid_request", "a chunk header or the trailer section is too long",
                  TraceOfParsed());
  }
  if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
      ec == net::error::operation_aborted || ec == net::ssl::error::stream_truncated ||
      ec == net::error::eof || ec == net::error::connection_reset) {
    return DoClose();
  }
  if (ec) {
    if (ec.category() == http::make_error_code(http::error::bad_method).category()) {
      return Refuse(400, "invalid_request", "malformed HTTP request", TraceOfParsed());
    }
    return DoClose();
  }

  api::Request request = std::move(parser_->request());
  Trace trace;
  trace.method = request.method.substr(0, 16);
  request.request_id = trace.id;
  // The client: the peer, the PROXY header's source, or, from a trusted
  // proxy, the right-most X-Forwarded-For address it does not trust.
  IpAddress client = client_;
  if (client_trusted_) {
    std::vector<std::string_view> forwarded;
    for (const auto& [name, value] : request.headers) {
      if (name == "x-forwarded-for") forwarded.emplace_back(value);
    }
    client = server_.trust().ClientOf(client_, forwarded);
    if (!server_.trust().Trusts(client) && !counters_->admission.Rekey(slot_, client.LimitKey())) {
      return Refuse(429, "throttled", "too many connections from this source", trace,
                    {{"Retry-After", "1"}});
    }
  }
  request.source = client.ToString();
  request.limit_key = client.LimitKey();
  request.client_certificate = client_certificate_;
  const bool keep_alive = parser_->keep_alive() && !server_.draining();
  const bool head = parser_->verb() == http::verb::head;

  counters_->in_flight.fetch_add(1);
  in_flight_ = true;
  // Answered once, by the inline handler (on this thread or the audit
  // log's) or by a worker; the write runs on this session's I/O thread.
  // One-shot: a second call (a handler that replied, then threw) is ignored.
  auto answered = std::make_shared<std::atomic<bool>>(false);
  Reply reply = [self = shared_from_this(), keep_alive, head, answered,
                 trace = std::move(trace)](api::Response response) {
    if (answered->exchange(true)) return;
    net::dispatch(self->stream_.get_executor(),
                  [self, response = std::move(response), keep_alive, head, trace]() mutable {
                    self->Write(response, keep_alive, head, trace);
                  });
  };
  Reply offered = reply;  // the inline handler may move its copy away
  if (server_.HandleInline(request, offered, reply)) return;
  net::post(server_.workers(),
            [self = shared_from_this(), request = std::move(request),
             reply = std::move(reply)]() mutable { reply(self->server_.Handle(request)); });
}

void Session::Write(const api::Response& response, bool keep_alive, bool head, const Trace& trace) {
  keep_alive = keep_alive && !server_.draining();
  int status = response.status;
  if (!FormatResponse(response, keep_alive, head, trace.id, out_)) {
    keep_alive = false;
    status = 500;
    const bool formatted =
        FormatResponse(Server::InternalError(), keep_alive, head, trace.id, out_);
    assert(formatted);
    (void)formatted;
  }
  // The access line and the metrics share one reading of the clock, taken
  // only when either is on.
  const bool logged = server_.LogsAnswers();
  RequestMetrics* metrics = server_.options().request_metrics;
  if (logged || metrics != nullptr) {
    const auto elapsed = std::chrono::steady_clock::now() - trace.start;
    if (logged) server_.LogAnswer(status, trace, response, out_.size(), elapsed);
    if (metrics != nullptr) metrics->Record(response.route, status, elapsed);
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
                                                        Handler handler,
                                                        InlineHandler inline_handler) {
  if (options.io_threads < 1 || options.worker_threads < 1) {
    return Fail(ErrorCode::kInvalidArgument, "the server needs at least one thread of each kind");
  }
  auto server = std::make_unique<Server>(options, std::move(handler), std::move(inline_handler));
  COFFRE_TRY(server->Listen());
  return std::unique_ptr<HttpsServer>(std::move(server));
}

}  // namespace coffre::server
