// Small HTTP helpers of the API: targets, JSON and error responses.
// Internal to the api module.
#pragma once

#include <boost/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

Response JsonResponse(int status, const boost::json::value& body);
Response ErrorResponse(const HttpError& e);

// "/v1/x?a=1" -> ("/v1/x", "a=1").
std::pair<std::string_view, std::string_view> SplitTarget(std::string_view target);

}  // namespace coffre::api::internal
