// Breach reports and two-person approvals (docs/api.md, issue 4):
//
//   breach.report     POST /v1/breach-reports             resource audit, action read
//   approval.create   POST /v1/approvals                  resource approvals, action manage
//   approval.list     GET  /v1/approvals[?state=&limit=]  resource approvals, action manage
//   approval.get      GET  /v1/approvals/{id}             resource approvals, action manage
//   approval.approve  POST /v1/approvals/{id}/approve     resource approvals, action manage;
//                                                         a human principal (password and
//                                                         TOTP), never the requester
//
// A report carries ids, field names and counts only: it is computed from
// the audit log, which holds no personal value. Approvals are made by
// principals acting for themselves: a service acting on behalf of a user
// cannot ask for or give one (two people means two accountable principals).
#include <algorithm>

#include "app/internal/input.h"
#include "app/operations.h"
#include "app/runner.h"
#include "approval/approvals.h"
#include "common/bytes.h"
#include "common/time_text.h"
#include "guard/guard.h"
#include "report/breach_report.h"
#include "report/render.h"

namespace coffre::app {
namespace {

namespace json = boost::json;
using internal::CheckKeys;
using internal::OpResult;
using internal::ParseObjectBody;
using internal::StringMember;

constexpr size_t kMaxContactBytes = 1000;
constexpr size_t kDefaultApprovalLimit = 100;
constexpr size_t kMaxApprovalLimit = 1000;

OpResult<std::optional<std::string>> OptionalName(const json::object& body, std::string_view key) {
  auto v = StringMember(body, key);
  if (!v) return tl::unexpected(std::move(v.error()));
  if (!*v) return std::optional<std::string>();
  if (!auth::ValidateName(**v)) {
    return tl::unexpected(
        InvalidRequest("'" + std::string(key) + "' is not a valid principal name"));
  }
  return std::optional<std::string>(std::string(**v));
}

// ---------------------------------------------------------------- reports

Outcome BreachReport(Context& ctx, const OpInput& in) {
  const Services& s = ctx.services();
  auto body = ParseObjectBody(in.body);
  if (!body) return ctx.Fail(std::move(body.error()));
  if (auto k = CheckKeys(*body, {"principal", "user", "from", "to", "format", "contact", "lang"},
                         {"principal", "from", "to"});
      !k) {
    return ctx.Fail(std::move(k.error()));
  }
  auto principal = OptionalName(*body, "principal");
  if (!principal) return ctx.Fail(std::move(principal.error()));
  auto user = OptionalName(*body, "user");
  if (!user) return ctx.Fail(std::move(user.error()));
  auto from = StringMember(*body, "from");
  auto to = StringMember(*body, "to");
  auto format_name = StringMember(*body, "format");
  auto contact = StringMember(*body, "contact");
  auto lang_name = StringMember(*body, "lang");
  for (auto* m : {&from, &to, &format_name, &contact, &lang_name}) {
    if (!*m) return ctx.Fail(std::move(m->error()));
  }
  auto format = report::ParseFormat(format_name->value_or("json"));
  if (!format) return ctx.Fail(InvalidRequest("'format' must be json, md or csv"));
  auto lang = report::ParseLang(lang_name->value_or("en"));
  if (!lang) return ctx.Fail(InvalidRequest("'lang' must be en or fr"));
  if (*contact && (*contact)->size() > kMaxContactBytes) {
    return ctx.Fail(InvalidRequest("'contact' is longer than 1000 bytes"));
  }
  std::optional<std::string> who = **principal;
  std::optional<std::string> for_user = *user;
  if (!for_user) {
    // A registered end user's report covers the requests made on its
    // behalf (as audit.list with principal=).
    auto u = s.directory.GetUser(*who);
    if (u || u.error().code == ErrorCode::kPermissionDenied) {
      for_user = who;
      who.reset();
    }
  }
  auto query = report::MakeQuery(who, for_user, **from, **to);
  if (!query) return ctx.Fail(InvalidRequest(query.error().message));
  // Everything appended so far is signed first: the window is covered by
  // checkpoints the anchor holds too.
  if (auto st = s.audit.Checkpoint(); !st) return ctx.Fail(FailureFrom(st.error()));
  // Canaries are counted, never listed: the running guard's set, else the
  // vault's (servers without a guard, in tests).
  std::optional<guard::CanarySet> loaded;
  const guard::CanarySet* canaries = nullptr;
  if (s.guard != nullptr) {
    canaries = &s.guard->canaries();
  } else {
    loaded.emplace();
    if (auto st = loaded->Load(s.vault); !st) return ctx.Fail(FailureFrom(st.error()));
    canaries = &*loaded;
  }
  auto r = report::BuildBreachReport(
      s.audit.store_reader(), s.vault.schema(), s.audit.anchor_path(), *query,
      s.clock.NowUnixMillis(),
      {.is_canary = [canaries](std::string_view subject) { return canaries->Contains(subject); },
       .chain_id = s.audit.chain_id()});
  if (!r) return ctx.Fail(FailureFrom(r.error()));
  if (!r->verification.ok) {
    return ctx.Fail({ErrorCode::kDataLoss, "integrity_failure",
                     "the audit log fails verification: " + r->verification.problem});
  }
  std::string text =
      report::Render(*r, *format, {.contact = std::string(contact->value_or("")), .lang = *lang});
  ctx.entry().reason = std::to_string(r->subjects.size()) + " people";
  return ctx.AllowedText(std::move(text), report::ContentType(*format));
}

// ---------------------------------------------------------------- approvals

json::value Time(int64_t ms) {
  return ms == 0 ? json::value(nullptr) : json::value(FormatRfc3339(ms / 1000));
}

json::object ApprovalToJson(const approval::Approval& a, int64_t now_ms) {
  json::object params;
  for (const auto& [k, v] : a.params) params[k] = v;
  return json::object{
      {"id", ToHex(a.id)},
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

Failure ApprovalError(const Error& e) {
  if (e.code == ErrorCode::kInvalidArgument) return InvalidRequest(e.message);
  return FailureFrom(e);
}

// Every approval operation: the caller acts for itself; the store.
// Why an operation on approvals is refused before it starts: approvals are
// asked for and given by principals acting for themselves, and a runner
// may keep none (some tests).
std::optional<Outcome> Refused(Context& ctx) {
  if (ctx.caller().user) {
    return ctx.Deny(
        "approvals are asked for and given by principals acting for themselves, not on behalf of a "
        "user");
  }
  if (ctx.services().approvals == nullptr) {
    return ctx.Fail(Unavailable("approvals are not kept by this server"));
  }
  return std::nullopt;
}

// What waits (state=pending), or any state.
Outcome ListApprovals(Context& ctx, const OpInput& in) {
  if (auto refused = Refused(ctx)) return std::move(*refused);
  approval::Approvals& approvals = *ctx.services().approvals;
  const int64_t now = ctx.services().clock.NowUnixMillis();
  auto params = internal::ParseQuery(in.query);
  if (!params) return ctx.Fail(InvalidRequest(params.error().message));
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
      if (!known)
        return ctx.Fail(InvalidRequest("'state' must be pending, approved, consumed or expired"));
    } else if (key == "limit") {
      bool ok =
          !value.empty() && value.size() <= 4 &&
          std::all_of(value.begin(), value.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
      size_t n = ok ? std::stoul(value) : 0;
      if (n < 1 || n > kMaxApprovalLimit)
        return ctx.Fail(InvalidRequest("'limit' must be from 1 to 1000"));
      limit = n;
    } else {
      return ctx.Fail(InvalidRequest("unknown query parameter (allowed: state, limit)"));
    }
  }
  bool more = false;
  auto list = approvals.List(state, limit, &more);
  if (!list) return ctx.Fail(ApprovalError(list.error()));
  json::array out;
  for (const approval::Approval& a : *list) out.push_back(ApprovalToJson(a, now));
  ctx.entry().reason = std::to_string(list->size()) + " approvals";
  return ctx.Allowed(json::object{{"approvals", std::move(out)}, {"truncated", more}});
}

Outcome CreateApproval(Context& ctx, const OpInput& in) {
  if (auto refused = Refused(ctx)) return std::move(*refused);
  const Services& s = ctx.services();
  approval::Approvals& approvals = *s.approvals;
  const int64_t now = s.clock.NowUnixMillis();
  auto body = ParseObjectBody(in.body);
  if (!body) return ctx.Fail(std::move(body.error()));
  if (auto k = CheckKeys(*body, {"action", "params"}, {"action", "params"}); !k)
    return ctx.Fail(std::move(k.error()));
  auto name = StringMember(*body, "action");
  if (!name) return ctx.Fail(std::move(name.error()));
  const json::value& pv = body->at("params");
  if (!pv.is_object()) return ctx.Fail(InvalidRequest("'params' must be an object of strings"));
  approval::Params params;
  for (const auto& kv : pv.get_object()) {
    if (!kv.value().is_string())
      return ctx.Fail(InvalidRequest("'params' must be an object of strings"));
    params.emplace(std::string(kv.key()), std::string(kv.value().get_string()));
  }
  if (**name == approval::kBulkExport) {
    auto it = params.find("collection");
    if (it != params.end() && s.vault.schema().Find(it->second) == nullptr) {
      return ctx.Fail(InvalidValue("bulk_export: no such collection"));
    }
  }
  auto a = approvals.Request(**name, params, ctx.caller().principal.name);
  if (!a) return ctx.Fail(ApprovalError(a.error()));
  ctx.entry().reason = "approval " + ToHex(a->id) + " (" + a->action + ")";
  return ctx.Allowed(ApprovalToJson(*a, now), Outcome::Kind::kCreated);
}

// The approval id, named in the entry's reason; the failure audited.
tl::expected<std::string, Outcome> ApprovalId(Context& ctx, const OpInput& in) {
  auto id = ParseId(in.id, "approval id");
  if (!id) return tl::unexpected(ctx.Fail(InvalidRequest(id.error().message)));
  ctx.entry().reason = "approval " + ToHex(*id);
  return std::move(*id);
}

Outcome GetApproval(Context& ctx, const OpInput& in) {
  if (auto refused = Refused(ctx)) return std::move(*refused);
  approval::Approvals& approvals = *ctx.services().approvals;
  const int64_t now = ctx.services().clock.NowUnixMillis();
  auto id = ApprovalId(ctx, in);
  if (!id) return std::move(id.error());
  auto a = approvals.Get(*id);
  if (!a) return ctx.Fail(ApprovalError(a.error()));
  return ctx.Allowed(ApprovalToJson(*a, now));
}

Outcome Approve(Context& ctx, const OpInput& in) {
  if (auto refused = Refused(ctx)) return std::move(*refused);
  approval::Approvals& approvals = *ctx.services().approvals;
  const int64_t now = ctx.services().clock.NowUnixMillis();
  auto id = ApprovalId(ctx, in);
  if (!id) return std::move(id.error());
  // Two people: a service key is a program's credential, which one
  // administrator could hold twice; a human principal logs in with a
  // password and a TOTP code of their own (issue 13).
  const auth::Principal& me = ctx.caller().principal;
  if (me.kind != auth::Kind::kHuman) {
    return ctx.Deny("approvals are given by a human principal (password and TOTP login), not a " +
                    std::string(auth::KindName(me.kind)));
  }
  auto a = approvals.Approve(*id, me.name);
  if (!a) {
    if (a.error().code == ErrorCode::kPermissionDenied) return ctx.Deny(a.error().message);
    return ctx.Fail(ApprovalError(a.error()));
  }
  ctx.entry().reason += " (" + a->action + ", requested by " + a->requester + ")";
  return ctx.Allowed(ApprovalToJson(*a, now));
}

constexpr Operation kOps[] = {
    {.name = "approval.approve",
     .audit_action = "approval.approve",
     .target = Target::kResource,
     .resource = policy::kResourceApprovals,
     .resource_action = "manage",
     .writes = true,
     .run = Approve},
    {.name = "approval.create",
     .audit_action = "approval.request",
     .target = Target::kResource,
     .resource = policy::kResourceApprovals,
     .resource_action = "manage",
     .writes = true,
     .input = InputShape::kBody,
     .run = CreateApproval},
    {.name = "approval.get",
     .audit_action = "approval.read",
     .target = Target::kResource,
     .resource = policy::kResourceApprovals,
     .resource_action = "manage",
     .run = GetApproval},
    {.name = "approval.list",
     .audit_action = "approval.list",
     .target = Target::kResource,
     .resource = policy::kResourceApprovals,
     .resource_action = "manage",
     .input = InputShape::kQuery,
     .run = ListApprovals},
    {.name = "breach.report",
     .audit_action = "breach_report",
     .target = Target::kResource,
     .resource = policy::kResourceAudit,
     .resource_action = "read",
     .writes = true,
     .input = InputShape::kBody,
     .run = BreachReport},
};

}  // namespace

std::span<const Operation> ReportOperations() { return kOps; }

}  // namespace coffre::app
