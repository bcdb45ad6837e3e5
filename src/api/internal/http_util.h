// Small HTTP helpers of the API: targets, query strings, JSON bodies and
// error responses. Internal to the api module.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "api/http.h"
#include "common/status.h"

namespace coffre::api::internal {

// An HTTP failure on its way to the client: status, stable code, and a
// message that names the problem and never a personal value.
struct HttpError {
  int status = 500;
  std::string code;
  std::string message;
};

template <typename T>
using HttpResult = tl::expected<T, HttpError>;

inline tl::unexpected<HttpError> HttpFail(int status, std::string code, std::string message) {
  return tl::unexpected<HttpError>(HttpError{status, std::move(code), std::move(message)});
}

// A core error as the client sees it (the one place codes become statuses).
HttpError FromError(const Error& e);

Response JsonResponse(int status, const boost::json::value& body);
Response ErrorResponse(const HttpError& e);

// "/v1/x?a=1" -> ("/v1/x", "a=1").
std::pair<std::string_view, std::string_view> SplitTarget(std::string_view target);

// Path segments between slashes: "/v1/a/b" -> {"v1","a","b"}. nullopt for
// an empty segment ("//", trailing "/") or a percent sign: coffre's paths
// never need encoding, so none is decoded.
std::optional<std::vector<std::string_view>> PathSegments(std::string_view path);

// Decoded key/value pairs of a query string; kInvalidArgument for a bad
// escape or a repeated key.
Result<std::vector<std::pair<std::string, std::string>>> ParseQuery(std::string_view query);

// The body as a JSON object (400 invalid_json otherwise; 413 over the cap).
HttpResult<boost::json::object> ParseObjectBody(const Request& request, size_t max_bytes);

// 400 invalid_request unless every key of `object` is in `allowed` and every
// key of `required` is present.
HttpResult<void> CheckKeys(const boost::json::object& object,
                           std::initializer_list<std::string_view> allowed,
                           std::initializer_list<std::string_view> required);

// The string member `key` (400 if present with another type).
HttpResult<std::optional<std::string_view>> StringMember(const boost::json::object& object,
                                                         std::string_view key);

}  // namespace coffre::api::internal
