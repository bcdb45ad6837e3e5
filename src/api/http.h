// The HTTP request and response as the API sees them: plain values, with no
// Boost.Beast in sight, so handlers are testable and fuzzable without a
// socket (Beast lives only in src/server/https_server.cc).
//
//   Request req{.method = "GET", .target = "/healthz"};
//   Response res = api.Handle(req);   // res.status == 200
//
// Thread-safety: values; no shared state.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace coffre::api {

// The certificate a client presented over mTLS (serve --tls-client-ca),
// verified by the TLS layer against that file; one per connection.
struct ClientCertificate {
  std::string fingerprint;  // SHA-256, 64 lower-case hex digits
  std::string subject;      // RFC 2253
  std::string chain_pem;    // the certificate, then the chain the client sent
};

struct Request {
  std::string method;  // upper case: "GET"
  std::string target;  // origin form: "/v1/collections/people/search?x=1"
  // Header names in lower case, in arrival order.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string source;  // peer address ("127.0.0.1"), or "unix:uid=N"
  // The source as limits count it: the address, or an IPv6 address's /64,
  // which one client holds whole (server/client_address.h LimitKey). Login
  // throttles key on it; empty: `source`.
  std::string limit_key;
  // The connection's verified client certificate; null without one.
  std::shared_ptr<const ClientCertificate> client_certificate;
  // The server's id of this request (X-Request-Id of the answer), recorded
  // in its audit entries; empty when none (tests).
  std::string request_id;

  // The value of the first header named `lower_name`, if any.
  std::optional<std::string_view> Header(std::string_view lower_name) const {
    for (const auto& [name, value] : headers) {
      if (name == lower_name) return std::string_view(value);
    }
    return std::nullopt;
  }
  // How many headers are named `lower_name` (a repeated credential or
  // purpose header is refused rather than guessed at).
  size_t HeaderCount(std::string_view lower_name) const {
    size_t n = 0;
    for (const auto& h : headers) n += h.first == lower_name;
    return n;
  }
};

struct Response {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
  // Which route answered, for the server's metrics and access line
  // (api::MetricRouteOf): an index into api::MetricRoutes(); kNoRoute for none.
  uint16_t route = kNoRoute;
  static constexpr uint16_t kNoRoute = UINT16_MAX;
  // For the server's access line, never sent: who asked as the log may
  // name them (a staff or service principal's name, "user" for an end
  // user, "" when unauthenticated).
  std::string principal = {};
};

}  // namespace coffre::api
