// The HTTP request and response as the API sees them: plain values, with no
// Boost.Beast in sight, so handlers are testable and fuzzable without a
// socket (Beast lives only in src/server/https_server.cc).
//
//   Request req{.method = "GET", .target = "/healthz"};
//   Response res = api.Handle(req);   // res.status == 200
//
// Thread-safety: values; no shared state.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace coffre::api {

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
  // For the server's access line, never sent: the pattern of the route that
  // answered (api/routes.h; "" when none matched) and who asked as the log
  // may name them (a staff or service principal's name, "user" for an end
  // user, "" when unauthenticated).
  std::string_view route = {};
  std::string principal = {};
};

}  // namespace coffre::api
