#include "api/internal/http_util.h"

namespace coffre::api::internal {

Response JsonResponse(int status, const boost::json::value& body) {
  Response r;
  r.status = status;
  r.body = boost::json::serialize(body);
  return r;
}

Response ErrorResponse(const HttpError& e) {
  boost::json::object error;
  error["code"] = e.code;
  error["message"] = e.message;
  Response r = JsonResponse(e.status, boost::json::object{{"error", std::move(error)}});
  if (e.status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

std::pair<std::string_view, std::string_view> SplitTarget(std::string_view target) {
  size_t q = target.find('?');
  if (q == std::string_view::npos) return {target, {}};
  return {target.substr(0, q), target.substr(q + 1)};
}

}  // namespace coffre::api::internal
