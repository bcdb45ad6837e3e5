// The webhook's HTTP(S) client, the guard module's only Boost.Beast
// translation unit (Beast compiles slowly). One connection per POST: alerts
// are rare, and a fresh connection never inherits a broken one's state.
// Each step is asynchronous on a private io_context run up to one deadline
// for the whole attempt; past it the socket is closed and the attempt fails.
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <optional>

#include "guard/alert_webhook.h"

namespace coffre::guard {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using Deadline = std::chrono::steady_clock::time_point;

constexpr size_t kMaxResponseBytes = 64 * 1024;

class HttpTransport final : public WebhookTransport {
 public:
  HttpTransport(WebhookUrl url, std::optional<ssl::context> tls, std::chrono::seconds timeout)
      : url_(std::move(url)), tls_(std::move(tls)), timeout_(timeout) {}

  Status Post(std::string_view body) override {
    try {
      return PostOnce(body);
    } catch (const std::exception&) {
      return Failure("the HTTP client failed");
    }
  }

 private:
  Status Failure(std::string_view what) const {
    return Fail(ErrorCode::kIoError, "alert webhook " + url_.host + ": " + std::string(what));
  }

  // Runs one asynchronous step started by `start` until it completes or the
  // deadline passes (then `cancel` runs and the step fails).
  template <typename Start, typename Cancel>
  beast::error_code Step(net::io_context& ioc, Deadline deadline, Start start, Cancel cancel) {
    std::optional<beast::error_code> result;
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc.restart();
    ioc.run_until(deadline);
    if (!result) {
      cancel();
      ioc.restart();
      ioc.run();
      return net::error::timed_out;
    }
    return *result;
  }

  http::request<http::string_body> Request(std::string_view body) const {
    http::request<http::string_body> req{http::verb::post, url_.target, 11};
    std::string host = url_.host.find(':') != std::string::npos ? "[" + url_.host + "]" : url_.host;
    if (url_.port != (url_.https ? 443 : 80)) host += ":" + std::to_string(url_.port);
    req.set(http::field::host, host);
    req.set(http::field::user_agent, "coffre-alerts");
    req.set(http::field::content_type, "application/json");
    req.body() = std::string(body);
    req.prepare_payload();
    return req;
  }

  template <typename Stream>
  Status Exchange(net::io_context& ioc, Deadline deadline, Stream& stream, std::string_view body) {
    auto close = [&] {
      beast::error_code ignored;
      beast::get_lowest_layer(stream).close(ignored);
    };
    auto req = Request(body);
    beast::error_code ec = Step(
        ioc, deadline, [&](auto h) { http::async_write(stream, req, h); }, close);
    if (ec) return Failure("sending failed: " + ec.message());
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxResponseBytes);
    ec = Step(
        ioc, deadline, [&](auto h) { http::async_read(stream, buffer, parser, h); }, close);
    if (ec) return Failure("no valid answer: " + ec.message());
    close();
    unsigned status = parser.get().result_int();
    if (status < 200 || status > 299) return Failure("answered HTTP " + std::to_string(status));
    return Ok();
  }

  Status PostOnce(std::string_view body) {
    net::io_context ioc;
    const Deadline deadline = std::chrono::steady_clock::now() + timeout_;
    tcp::resolver resolver(ioc);
    tcp::resolver::results_type endpoints;
    beast::error_code ec = Step(
        ioc, deadline,
        [&](auto h) {
          resolver.async_resolve(
              url_.host, std::to_string(url_.port),
              [&endpoints, h](beast::error_code e, tcp::resolver::results_type r) mutable {
                endpoints = std::move(r);
                h(e);
              });
        },
        [&] { resolver.cancel(); });
    if (ec) return Failure("cannot resolve the host: " + ec.message());

    if (!url_.https) {
      tcp::socket socket(ioc);
      // Plain http goes to loopback only (ParseWebhookUrl): a name such as
      // localhost is trusted only for the loopback addresses it resolves to.
      const auto loopback_only = [](const beast::error_code&, const tcp::endpoint& e) {
        return e.address().is_loopback() ||
               (e.address().is_v6() && e.address().to_v6().is_v4_mapped() &&
                net::ip::make_address_v4(net::ip::v4_mapped, e.address().to_v6()).is_loopback());
      };
      ec = Step(
          ioc, deadline, [&](auto h) { net::async_connect(socket, endpoints, loopback_only, h); },
          [&] {
            beast::error_code ignored;
            socket.close(ignored);
          });
      if (ec) return Failure("cannot connect: " + ec.message());
      return Exchange(ioc, deadline, socket, body);
    }

    ssl::stream<tcp::socket> stream(ioc, *tls_);
    SSL* ssl_handle = stream.native_handle();
    beast::error_code not_ip;
    net::ip::make_address(url_.host, not_ip);
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl_handle);
    if (not_ip) {
      if (SSL_set_tlsext_host_name(ssl_handle, url_.host.c_str()) != 1 ||
          X509_VERIFY_PARAM_set1_host(param, url_.host.c_str(), 0) != 1) {
        return Failure("cannot set the expected host name");
      }
    } else if (X509_VERIFY_PARAM_set1_ip_asc(param, url_.host.c_str()) != 1) {
      return Failure("cannot set the expected IP address");
    }
    auto close = [&] {
      beast::error_code ignored;
      stream.lowest_layer().close(ignored);
    };
    ec = Step(
        ioc, deadline, [&](auto h) { net::async_connect(stream.lowest_layer(), endpoints, h); },
        close);
    if (ec) return Failure("cannot connect: " + ec.message());
    ec = Step(
        ioc, deadline, [&](auto h) { stream.async_handshake(ssl::stream_base::client, h); }, close);
    if (ec) return Failure("TLS handshake failed: " + ec.message());
    return Exchange(ioc, deadline, stream, body);
  }

  WebhookUrl url_;
  std::optional<ssl::context> tls_;
  std::chrono::seconds timeout_;
};

}  // namespace

Result<std::unique_ptr<WebhookTransport>> MakeHttpTransport(const WebhookUrl& url,
                                                            const std::string& ca_file,
                                                            std::chrono::seconds timeout) {
  std::optional<ssl::context> tls;
  if (url.https) {
    tls.emplace(ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(tls->native_handle(), TLS1_2_VERSION);
    tls->set_verify_mode(ssl::verify_peer);
    beast::error_code ec;
    if (ca_file.empty()) {
      tls->set_default_verify_paths(ec);
    } else {
      tls->load_verify_file(ca_file, ec);
    }
    if (ec) {
      return Fail(ErrorCode::kInvalidArgument,
                  "--alert-webhook: cannot load the CA certificates" +
                      (ca_file.empty() ? std::string() : " from " + ca_file) + ": " + ec.message());
    }
  } else if (!ca_file.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "--alert-webhook-ca is for an https URL");
  }
  return std::unique_ptr<WebhookTransport>(new HttpTransport(url, std::move(tls), timeout));
}

}  // namespace coffre::guard
