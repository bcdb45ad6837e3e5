#include "api/internal/http_util.h"

#include "common/names.h"

namespace coffre::api::internal {

HttpError FromError(const Error& e) {
  switch (e.code) {
    case ErrorCode::kInvalidArgument: return {422, "invalid_value", e.message};
    case ErrorCode::kNotFound: return {404, "not_found", e.message};
    case ErrorCode::kAlreadyExists: return {409, "already_exists", e.message};
    case ErrorCode::kPermissionDenied: return {403, "forbidden", e.message};
    case ErrorCode::kUnauthenticated: return {401, "unauthenticated", "a valid credential is required"};
    case ErrorCode::kResourceExhausted: return {429, "throttled", e.message};
    case ErrorCode::kFailedPrecondition: return {409, "failed_precondition", e.message};
    case ErrorCode::kIoError: return {503, "unavailable", "storage is unavailable; nothing was done"};
    case ErrorCode::kDataLoss:
      return {500, "internal", "stored data failed its integrity check"};
    case ErrorCode::kInternal: break;
  }
  return {500, "internal", "internal error"};
}

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

std::optional<std::vector<std::string_view>> PathSegments(std::string_view path) {
  if (path.empty() || path[0] != '/' || path.find('%') != std::string_view::npos) {
    return std::nullopt;
  }
  std::vector<std::string_view> out;
  size_t pos = 1;
  while (pos <= path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string_view::npos) next = path.size();
    if (next == pos) return std::nullopt;
    out.push_back(path.substr(pos, next - pos));
    pos = next + 1;
  }
  return out;
}

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%') {
      if (i + 2 >= s.size()) return Fail(ErrorCode::kInvalidArgument, "the query string has a bad escape");
      int hi = HexValue(s[i + 1]);
      int lo = HexValue(s[i + 2]);
      if (hi < 0 || lo < 0) return Fail(ErrorCode::kInvalidArgument, "the query string has a bad escape");
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

Result<std::vector<std::pair<std::string, std::string>>> ParseQuery(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t pos = 0;
  while (pos < query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string_view::npos) amp = query.size();
    std::string_view part = query.substr(pos, amp - pos);
    pos = amp + 1;
    if (part.empty()) continue;
    size_t eq = part.find('=');
    COFFRE_ASSIGN_OR_RETURN(std::string key, PercentDecode(part.substr(0, eq)));
    COFFRE_ASSIGN_OR_RETURN(std::string value,
                            PercentDecode(eq == std::string_view::npos ? "" : part.substr(eq + 1)));
    for (const auto& kv : out) {
      if (kv.first == key) {
        return Fail(ErrorCode::kInvalidArgument, "a query parameter is repeated");
      }
    }
    out.emplace_back(std::move(key), std::move(value));
  }
  return out;
}

HttpResult<boost::json::object> ParseObjectBody(const Request& request, size_t max_bytes) {
  if (request.body.size() > max_bytes) {
    return HttpFail(413, "payload_too_large", "the body is larger than 1 MiB");
  }
  boost::json::parse_options options;
  options.max_depth = 32;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(request.body, ec, {}, options);
  if (ec) return HttpFail(400, "invalid_json", "the body is not valid JSON");
  if (!v.is_object()) return HttpFail(400, "invalid_json", "the body must be a JSON object");
  return std::move(v.as_object());
}

HttpResult<void> CheckKeys(const boost::json::object& object,
                           std::initializer_list<std::string_view> allowed,
                           std::initializer_list<std::string_view> required) {
  std::string list;
  for (std::string_view a : allowed) {
    if (!list.empty()) list += ", ";
    list += a;
  }
  for (const auto& kv : object) {
    bool ok = false;
    for (std::string_view a : allowed) ok = ok || kv.key() == a;
    // The key is named only if it is an identifier: it is the client's text.
    if (!ok) {
      return HttpFail(400, "invalid_request",
                      "the body has an unknown key " + QuotedName(kv.key()) +
                          (list.empty() ? " (this route takes an empty object)" : " (allowed: " + list + ")"));
    }
  }
  for (std::string_view r : required) {
    if (!object.contains(r)) {
      return HttpFail(400, "invalid_request", "the body lacks '" + std::string(r) + "'");
    }
  }
  return {};
}

HttpResult<std::optional<std::string_view>> StringMember(const boost::json::object& object,
                                                         std::string_view key) {
  auto it = object.find(key);
  if (it == object.end()) return std::optional<std::string_view>();
  if (!it->value().is_string()) {
    return HttpFail(400, "invalid_request", "'" + std::string(key) + "' must be a string");
  }
  return std::optional<std::string_view>(it->value().get_string());
}

}  // namespace coffre::api::internal
