#include "guard/alert.h"

#include <boost/json.hpp>

#include "common/clock.h"

namespace coffre::guard {
namespace {

namespace json = boost::json;

constexpr AlertKind kKinds[] = {AlertKind::kQuotaSoft, AlertKind::kQuotaHard, AlertKind::kSearchCap,
                                AlertKind::kDenials, AlertKind::kCanary};

Error Malformed(std::string_view what) {
  return Error{ErrorCode::kDataLoss, "stored alert is malformed: " + std::string(what)};
}

}  // namespace

std::string_view SeverityName(Severity s) {
  return s == Severity::kCritical ? "critical" : "warning";
}

std::string_view KindName(AlertKind k) {
  switch (k) {
    case AlertKind::kQuotaSoft:
      return "quota_soft";
    case AlertKind::kQuotaHard:
      return "quota_hard";
    case AlertKind::kSearchCap:
      return "search_cap";
    case AlertKind::kDenials:
      return "denials";
    case AlertKind::kCanary:
      return "canary";
  }
  return "unknown";
}

json::object AlertToJsonObject(const Alert& a) {
  json::object o;
  o["id"] = a.id;
  o["time"] = FormatRfc3339(a.time);
  o["severity"] = SeverityName(a.severity);
  o["kind"] = KindName(a.kind);
  o["principal"] = a.principal;
  o["user"] = a.user ? json::value(*a.user) : json::value(nullptr);
  o["window"] = a.window ? json::value(*a.window) : json::value(nullptr);
  o["count"] = a.count ? json::value(*a.count) : json::value(nullptr);
  o["limit"] = a.limit ? json::value(*a.limit) : json::value(nullptr);
  o["action"] = a.suspended ? "suspended" : "none";
  o["detail"] = a.detail;
  return o;
}

std::string AlertToJson(const Alert& a) { return json::serialize(AlertToJsonObject(a)); }

Result<Alert> AlertFromJson(std::string_view text) {
  json::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return Fail(Malformed("not a JSON object"));
  const json::object& o = v.get_object();
  if (o.size() != 11) return Fail(Malformed("wrong keys"));
  auto str = [&](std::string_view key) -> const json::string* {
    const json::value* m = o.if_contains(key);
    return m != nullptr && m->is_string() ? &m->get_string() : nullptr;
  };
  auto uint = [&](std::string_view key, std::optional<uint64_t>& out) -> bool {
    const json::value* m = o.if_contains(key);
    if (m == nullptr) return false;
    if (m->is_null()) return true;
    if (m->is_uint64())
      out = m->get_uint64();
    else if (m->is_int64() && m->get_int64() >= 0)
      out = static_cast<uint64_t>(m->get_int64());
    else
      return false;
    return true;
  };
  auto opt_str = [&](std::string_view key, std::optional<std::string>& out) -> bool {
    const json::value* m = o.if_contains(key);
    if (m == nullptr) return false;
    if (m->is_null()) return true;
    if (!m->is_string()) return false;
    out = std::string(m->get_string());
    return true;
  };
  Alert a;
  std::optional<uint64_t> id;
  if (!uint("id", id) || !id) return Fail(Malformed("id"));
  a.id = *id;
  const json::string* time = str("time");
  if (time == nullptr) return Fail(Malformed("time"));
  auto t = ParseRfc3339(std::string_view(*time), "time");
  if (!t || *t < 0) return Fail(Malformed("time"));  // alerts are raised after 1970
  a.time = *t;
  const json::string* severity = str("severity");
  if (severity == nullptr || (*severity != "warning" && *severity != "critical")) {
    return Fail(Malformed("severity"));
  }
  a.severity = *severity == "critical" ? Severity::kCritical : Severity::kWarning;
  const json::string* kind = str("kind");
  bool known = false;
  for (AlertKind k : kKinds) {
    if (kind != nullptr && *kind == KindName(k)) {
      a.kind = k;
      known = true;
    }
  }
  if (!known) return Fail(Malformed("kind"));
  const json::string* principal = str("principal");
  if (principal == nullptr) return Fail(Malformed("principal"));
  a.principal = std::string(*principal);
  if (!opt_str("user", a.user) || !opt_str("window", a.window))
    return Fail(Malformed("user or window"));
  if (!uint("count", a.count) || !uint("limit", a.limit)) return Fail(Malformed("count or limit"));
  const json::string* action = str("action");
  if (action == nullptr || (*action != "none" && *action != "suspended"))
    return Fail(Malformed("action"));
  a.suspended = *action == "suspended";
  const json::string* detail = str("detail");
  if (detail == nullptr) return Fail(Malformed("detail"));
  a.detail = std::string(*detail);
  return a;
}

}  // namespace coffre::guard
