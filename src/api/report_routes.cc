// Breach reports and two-person approvals over HTTP (docs/api.md, issue 4):
//
//   POST /v1/breach-reports           resource audit, action read
//   POST /v1/approvals                resource approvals, action manage
//   GET  /v1/approvals[?state=&limit=] resource approvals, action manage
//   GET  /v1/approvals/{id}           resource approvals, action manage
//   POST /v1/approvals/{id}/approve   resource approvals, action manage;
//                                     a human principal (password and
//                                     TOTP), never the requester
//
// A report carries ids, field names and counts only: it is computed from
// the audit log, which holds no personal value. Approvals are made by
// principals acting for themselves: a service acting on behalf of a user
// cannot ask for or give one (two people means two accountable principals).
#include <algorithm>
#include <boost/json.hpp>

#include "api/internal/audited.h"
#include "api/internal/extra_routes.h"
#include "api/internal/http_util.h"
#include "approval/approvals.h"
#include "common/bytes.h"
#include "common/clock.h"
#include "guard/guard.h"
#include "report/breach_report.h"
#include "report/render.h"

namespace coffre::api::internal {
namespace {

namespace json = boost::json;

constexpr size_t kMaxContactBytes = 1000;
constexpr size_t kDefaultApprovalLimit = 100;
constexpr size_t kMaxApprovalLimit = 1000;

enum class Kind { kBreachReports, kApprovals, kApproval, kApprove };

struct Match {
  Kind kind;
  std::string_view id;
};

std::optional<Match> MatchExtra(std::string_view path) {
  auto segments = PathSegments(path);
  if (!segments) return std::nullopt;
  const auto& s = *segments;
  if (s.size() < 2 || s[0] != "v1") return std::nullopt;
  if (s.size() == 2 && s[1] == "breach-reports") return Match{Kind::kBreachReports, {}};
  if (s[1] != "approvals") return std::nullopt;
  if (s.size() == 2) return Match{Kind::kApprovals, {}};
  if (s.size() == 3) return Match{Kind::kApproval, s[2]};
  if (s.size() == 4 && s[3] == "approve") return Match{Kind::kApprove, s[2]};
  return std::nullopt;
}

HttpResult<std::optional<std::string>> OptionalName(const json::object& body, std::string_view key) {
  auto v = StringMember(body, key);
  if (!v) return tl::unexpected(v.error());
  if (!*v) return std::optional<std::string>();
  if (!auth::ValidateName(**v)) {
    return HttpFail(400, "invalid_request", "'" + std::string(key) + "' is not a valid principal name");
  }
  return std::optional<std::string>(std::string(**v));
}

// ---------------------------------------------------------------- reports

Response BreachReport(ExtraCall& c) {
  RouteCall call(c, "breach_report");
  policy::Decision d = DecideResource(c, policy::kResourceAudit, "read");
  if (!d.allowed) return call.Deny(d.reason);
  auto body = ParseObjectBody(c.request, kMaxBodyBytes);
  if (!body) return call.Failed(body.error());
  if (auto k = CheckKeys(*body, {"principal", "user", "from", "to", "format", "contact", "lang"},
                         {"principal", "from", "to"});
      !k) {
    return call.Failed(k.error());
  }
  auto principal = OptionalName(*body, "principal");
  if (!principal) return call.Failed(principal.error());
  auto user = OptionalName(*body, "user");
  if (!user) return call.Failed(user.error());
  auto from = StringMember(*body, "from");
  auto to = StringMember(*body, "to");
  auto format_name = StringMember(*body, "format");
  auto contact = StringMember(*body, "contact");
  auto lang_name = StringMember(*body, "lang");
  for (const auto* m : {&from, &to, &format_name, &contact, &lang_name}) {
    if (!*m) return call.Failed(m->error());
  }
  auto format = report::ParseFormat(format_name->value_or("json"));
  if (!format) return call.Failed({400, "invalid_request", "'format' must be json, md or csv"});
  auto lang = report::ParseLang(lang_name->value_or("en"));
  if (!lang) return call.Failed({400, "invalid_request", "'lang' must be en or fr"});
  if (*contact && (*contact)->size() > kMaxContactBytes) {
    return call.Failed({400, "invalid_request", "'contact' is longer than 1000 bytes"});
  }
  std::optional<std::string> who = **principal;
  std::optional<std::string> for_user = *user;
  if (!for_user) {
    // A registered end user's report covers the requests made on its
    // behalf (as GET /v1/audit?principal=).
    auto u = c.services.directory.GetUser(*who);
    if (u || u.error().code == ErrorCode::kPermissionDenied) {
      for_user = who;
      who.reset();
    }
  }
  auto query = report::MakeQuery(who, for_user, **from, **to);
  if (!query) return call.Failed({400, "invalid_request", query.error().message});
  // Everything appended so far is signed first: the window is covered by
  // checkpoints the anchor holds too.
  if (auto s = c.services.audit.Checkpoint(); !s) return call.Failed(FromError(s.error()));
  // Canaries are counted, never listed: the running guard's set, else the
  // vault's (servers without a guard, in tests).
  std::optional<guard::CanarySet> loaded;
  const guard::CanarySet* canaries = nullptr;
  if (c.services.guard != nullptr) {
    canaries = &c.services.guard->canaries();
  } else {
    loaded.emplace();
    if (auto s = loaded->Load(c.services.vault); !s) return call.Failed(FromError(s.error()));
    canaries = &*loaded;
  }
  auto r = report::BuildBreachReport(
      c.services.audit.reader(), c.services.vault.schema(), c.services.audit.anchor_path(), *query,
      c.services.clock.NowUnixMillis(),
      {.is_canary = [canaries](std::string_view subject) { return canaries->Contains(subject); }});
  if (!r) return call.Failed(FromError(r.error()));
  if (!r->verification.ok) {
    std::string message = "the audit log fails verification: " + r->verification.problem;
    return call.Failed({500, "integrity_failure", std::move(message)});
  }
  Response out;
  out.status = 200;
  out.content_type = std::string(report::ContentType(*format));
  out.body = report::Render(*r, *format, {.contact = std::string(contact->value_or("")), .lang = *lang});
  call.entry().reason = std::to_string(r->subjects.size()) + " people";
  return call.Allowed(std::move(out));
}

// ---------------------------------------------------------------- approvals

json::value Time(int64_t ms) { return ms == 0 ? json::value(nullptr) : json::value(FormatRfc3339(ms / 1000)); }

json::object ApprovalToJson(const approval::Approval& a, int64_t now_ms) {
  json::object params;
  for (const auto& [k, v] : a.params) params[k] = v;
  return json::object{{"id", ToHex(a.id)},
                      {"action", a.action},
                      {"params", std::move(params)},
                      {"state", approval::StateName(a.StateAt(now_ms))},
                      {"requester", a.requester},
                      {"approver", a.approver.empty() ? json::value(nullptr) : json::value(a.approver)},
                      {"created_at", Time(a.created_ms)},
                      {"expires_at", Time(a.expires_ms)},
                      {"approved_at", Time(a.approved_ms)},
                      {"consumed_at", Time(a.consumed_ms)}};
}

HttpError ApprovalError(const Error& e) {
  if (e.code == ErrorCode::kInvalidArgument) return {400, "invalid_request", e.message};
  return FromError(e);
}

// GET /v1/approvals: what waits (state=pending), or any state.
Response ListApprovals(RouteCall& call, ExtraCall& c, approval::Approvals& approvals, int64_t now) {
  auto params = ParseQuery(SplitTarget(c.request.target).second);
  if (!params) return call.Failed({400, "invalid_request", params.error().message});
  std::optional<approval::State> state;
  size_t limit = kDefaultApprovalLimit;
  for (const auto& [key, value] : *params) {
    if (key == "state") {
      if (value.empty()) continue;
      bool known = false;
      for (approval::State st : {approval::State::kPending, approval::State::kApproved,
                                 approval::State::kConsumed, approval::State::kExpired}) {
        if (value == approval::StateName(st)) {
          state = st;
          known = true;
        }
      }
      if (!known) {
        return call.Failed(
            {400, "invalid_request", "'state' must be pending, approved, consumed or expired"});
      }
    } else if (key == "limit") {
      bool ok =
          !value.empty() && value.size() <= 4 &&
          std::all_of(value.begin(), value.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
      size_t n = ok ? std::stoul(value) : 0;
      if (n < 1 || n > kMaxApprovalLimit) {
        return call.Failed({400, "invalid_request", "'limit' must be from 1 to 1000"});
      }
      limit = n;
    } else {
      return call.Failed(
          {400, "invalid_request", "unknown query parameter (allowed: state, limit)"});
    }
  }
  bool more = false;
  auto list = approvals.List(state, limit, &more);
  if (!list) return call.Failed(ApprovalError(list.error()));
  json::array out;
  for (const approval::Approval& a : *list) out.push_back(ApprovalToJson(a, now));
  call.entry().reason = std::to_string(list->size()) + " approvals";
  return call.Allowed(
      JsonResponse(200, json::object{{"approvals", std::move(out)}, {"truncated", more}}));
}

Response Approvals(ExtraCall& c, const Match& m) {
  const bool list = m.kind == Kind::kApprovals && c.request.method == "GET";
  const char* action = list                         ? "approval.list"
                       : m.kind == Kind::kApprovals ? "approval.request"
                       : m.kind == Kind::kApprove   ? "approval.approve"
                                                    : "approval.read";
  RouteCall call(c, action);
  policy::Decision d = DecideResource(c, policy::kResourceApprovals, "manage");
  if (!d.allowed) return call.Deny(d.reason);
  if (c.user != nullptr) {
    return call.Deny("approvals are asked for and given by principals acting for themselves, not on behalf of a user");
  }
  if (c.services.approvals == nullptr) return call.Failed({503, "unavailable", "approvals are not kept by this server"});
  approval::Approvals& approvals = *c.services.approvals;
  const int64_t now = c.services.clock.NowUnixMillis();

  if (list) return ListApprovals(call, c, approvals, now);
  if (m.kind == Kind::kApprovals) {
    auto body = ParseObjectBody(c.request, kMaxBodyBytes);
    if (!body) return call.Failed(body.error());
    if (auto k = CheckKeys(*body, {"action", "params"}, {"action", "params"}); !k) return call.Failed(k.error());
    auto name = StringMember(*body, "action");
    if (!name) return call.Failed(name.error());
    const json::value& pv = body->at("params");
    if (!pv.is_object()) return call.Failed({400, "invalid_request", "'params' must be an object of strings"});
    approval::Params params;
    for (const auto& kv : pv.get_object()) {
      if (!kv.value().is_string()) return call.Failed({400, "invalid_request", "'params' must be an object of strings"});
      params.emplace(std::string(kv.key()), std::string(kv.value().get_string()));
    }
    if (**name == approval::kBulkExport) {
      auto it = params.find("collection");
      if (it != params.end() && c.services.vault.schema().Find(it->second) == nullptr) {
        return call.Failed({422, "invalid_value", "bulk_export: no such collection"});
      }
    }
    auto a = approvals.Request(**name, params, c.principal.name);
    if (!a) return call.Failed(ApprovalError(a.error()));
    call.entry().reason = "approval " + ToHex(a->id) + " (" + a->action + ")";
    return call.Allowed(JsonResponse(201, ApprovalToJson(*a, now)));
  }

  auto id = ParseId(m.id, "approval id");
  if (!id) return call.Failed({400, "invalid_request", id.error().message});
  call.entry().reason = "approval " + ToHex(*id);
  if (m.kind == Kind::kApproval) {
    auto a = approvals.Get(*id);
    if (!a) return call.Failed(ApprovalError(a.error()));
    return call.Allowed(JsonResponse(200, ApprovalToJson(*a, now)));
  }
  // Two people: a service key is a program's credential, which one
  // administrator could hold twice; a human principal logs in with a
  // password and a TOTP code of their own (issue 13).
  if (c.principal.kind != auth::Kind::kHuman) {
    return call.Deny("approvals are given by a human principal (password and TOTP login), not a " +
                     std::string(auth::KindName(c.principal.kind)));
  }
  auto a = approvals.Approve(*id, c.principal.name);
  if (!a) {
    if (a.error().code == ErrorCode::kPermissionDenied) return call.Deny(a.error().message);
    return call.Failed(ApprovalError(a.error()));
  }
  call.entry().reason += " (" + a->action + ", requested by " + a->requester + ")";
  return call.Allowed(JsonResponse(200, ApprovalToJson(*a, now)));
}

}  // namespace

std::optional<std::string_view> ReportRouteMethods(std::string_view path) {
  auto m = MatchExtra(path);
  if (!m) return std::nullopt;
  switch (m->kind) {
    case Kind::kApprovals: return "GET, POST";
    case Kind::kBreachReports:
    case Kind::kApprove: return "POST";
    case Kind::kApproval: return "GET";
  }
  return std::nullopt;
}

Response HandleReportRoute(ExtraCall& c) {
  auto m = MatchExtra(c.path);
  if (!m) return ErrorResponse({404, "not_found", "no such route"});
  if (m->kind == Kind::kBreachReports) return BreachReport(c);
  return Approvals(c, *m);
}

}  // namespace coffre::api::internal
