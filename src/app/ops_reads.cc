// Reads of the server's own state: the health probes, the OpenAPI
// document, the audit log and the alerts (docs/api.md).
//
//   health.get    GET /healthz          no caller, not audited
//   ready.get     GET /readyz           no caller; unavailable while the audit log cannot commit
//   openapi.get   GET /v1/openapi.json  audited as openapi.read
//   audit.list    GET /v1/audit         resource audit, action read
//   alerts.list   GET /v1/alerts        resource alerts, action read
#include <algorithm>

#include "app/internal/input.h"
#include "app/limits.h"
#include "app/operations.h"
#include "app/runner.h"
#include "audit/entry_json.h"
#include "auth/principals.h"
#include "guard/guard.h"

namespace coffre::app {
namespace {

namespace json = boost::json;
using internal::ParseQuery;
using internal::ParseQueryTime;

// A `limit` query parameter from 1 to kMaxAuditLimit.
std::optional<size_t> ParseLimit(std::string_view value) {
  bool ok = !value.empty() && value.size() <= 5 &&
            std::all_of(value.begin(), value.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
  if (!ok) return std::nullopt;
  size_t n = std::stoul(std::string(value));
  if (n < 1 || n > kMaxAuditLimit) return std::nullopt;
  return n;
}

Outcome Health(Context&, const OpInput&) {
  Outcome o;
  o.result = json::object{{"status", "ok"}};
  return o;
}

Outcome Ready(Context& ctx, const OpInput&) {
  // Readiness: whether requests can be served: unsealed, and audited.
  if (const std::atomic<bool>* sealed = ctx.services().sealed;
      sealed != nullptr && sealed->load(std::memory_order_relaxed)) {
    return Outcome::Failed(
        {ErrorCode::kFailedPrecondition, "sealed", "the vault is sealed: requests are refused"});
  }
  if (!ctx.services().audit.Health()) {
    return Outcome::Failed(Unavailable("the audit log cannot commit: requests are refused"));
  }
  Outcome o;
  o.result = json::object{{"status", "ready"}};
  return o;
}

Outcome OpenApi(Context& ctx, const OpInput&) {
  return ctx.AllowedText(std::string(ctx.services().openapi_json), "application/json");
}

Outcome ListAudit(Context& ctx, const OpInput& in) {
  auto params = ParseQuery(in.query);
  if (!params) return ctx.Fail(InvalidRequest(params.error().message));
  audit::Filter filter;
  size_t limit = kDefaultAuditLimit;
  for (const auto& [key, value] : *params) {
    if (key == "principal") {
      if (value.empty()) continue;
      // A name that no principal could have is a mistake, not an empty result.
      if (!auth::ValidateName(value))
        return ctx.Fail(InvalidRequest("'principal' is not a valid principal name"));
      // An end user never makes a request itself: its entries are those
      // made on its behalf.
      auto user = ctx.services().directory.GetUser(value);
      bool is_user = user || user.error().code == ErrorCode::kPermissionDenied;
      (is_user ? filter.on_behalf_of : filter.principal) = value;
    } else if (key == "subject") {
      if (value.empty()) continue;
      auto sid = internal::ParseHexId(value, "subject");
      if (!sid) return ctx.Fail(std::move(sid.error()));
      filter.subject = *sid;
    } else if (key == "from" || key == "to") {
      if (value.empty()) continue;
      auto t = ParseQueryTime(value, key);
      if (!t) return ctx.Fail(InvalidRequest(t.error().message));
      (key == "from" ? filter.from_ms : filter.to_ms) = *t;
    } else if (key == "limit") {
      auto n = ParseLimit(value);
      if (!n) return ctx.Fail(InvalidRequest("'limit' must be from 1 to 1000"));
      limit = *n;
    } else {
      return ctx.Fail(
          InvalidRequest("unknown query parameter (allowed: principal, subject, from, to, limit)"));
    }
  }
  filter.limit = limit;
  json::array entries;
  auto status = ctx.services().audit.Query(filter, [&](const audit::Entry& entry) {
    entries.push_back(audit::EntryToJson(entry));
    return true;
  });
  if (!status) return ctx.Fail(FailureFrom(status.error()));
  return ctx.Allowed(json::object{{"entries", std::move(entries)}});
}

Outcome ListAlerts(Context& ctx, const OpInput& in) {
  auto params = ParseQuery(in.query);
  if (!params) return ctx.Fail(InvalidRequest(params.error().message));
  guard::AlertFilter filter;
  filter.limit = kDefaultAuditLimit;
  for (const auto& [key, value] : *params) {
    if (key == "from" || key == "to") {
      if (value.empty()) continue;
      auto t = ParseQueryTime(value, key);
      if (!t) return ctx.Fail(InvalidRequest(t.error().message));
      // Alerts keep whole seconds: those the bound's millisecond falls in.
      (key == "from" ? filter.from : filter.to) = *t / 1000 - (*t % 1000 < 0);
    } else if (key == "limit") {
      auto n = ParseLimit(value);
      if (!n) return ctx.Fail(InvalidRequest("'limit' must be from 1 to 1000"));
      filter.limit = *n;
    } else {
      return ctx.Fail(InvalidRequest("unknown query parameter (allowed: from, to, limit)"));
    }
  }
  guard::Guard* g = ctx.services().guard;
  if (g == nullptr) return ctx.Fail(Unavailable("alerts are not kept by this server"));
  json::array alerts;
  auto status = g->alerts().List(filter, [&](const guard::Alert& a) {
    alerts.push_back(guard::AlertToJsonObject(a));
    return true;
  });
  if (!status) return ctx.Fail(FailureFrom(status.error()));
  return ctx.Allowed(json::object{{"alerts", std::move(alerts)}});
}

constexpr Operation kOps[] = {
    {.name = "health.get", .authenticated = false, .may_block = false, .run = Health},
    {.name = "ready.get", .authenticated = false, .may_block = false, .run = Ready},
    {.name = "openapi.get", .audit_action = "openapi.read", .may_block = false, .run = OpenApi},
    {.name = "audit.list",
     .audit_action = "audit.read",
     .target = Target::kResource,
     .resource = policy::kResourceAudit,
     .resource_action = "read",
     .input = InputShape::kQuery,
     .run = ListAudit},
    {.name = "alerts.list",
     .audit_action = "alerts.read",
     .target = Target::kResource,
     .resource = policy::kResourceAlerts,
     .resource_action = "read",
     .input = InputShape::kQuery,
     .run = ListAlerts},
};

}  // namespace

std::span<const Operation> ReadOperations() { return kOps; }

}  // namespace coffre::app
