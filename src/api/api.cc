#include "api/api.h"

#include <algorithm>
#include <deque>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "api/internal/audited.h"
#include "api/internal/extra_routes.h"
#include "api/internal/http_util.h"
#include "api/record_json.h"
#include "audit/entry_json.h"
#include "cards/card_rules.h"
#include "cards/cards.h"
#include "common/bytes.h"
#include "common/hash_slots.h"
#include "common/time_text.h"
#include "guard/guard.h"
#include "schema/mask.h"

namespace coffre::api {
namespace {

namespace json = boost::json;
using internal::AppendEntry;
using internal::AuditedDeny;
using internal::AuditedFailure;
using internal::AuditedRefusal;
using internal::RequesterOf;
using internal::ErrorResponse;
using internal::FromError;
using internal::HttpError;
using internal::HttpFail;
using internal::HttpResult;
using internal::JsonResponse;
using policy::Action;
using policy::View;

constexpr std::string_view kSessionTokenPrefix = "coffre_st_";

// Who is asking, established before any route runs.
struct Caller {
  auth::Principal principal;
  std::optional<auth::Principal> user;  // X-Coffre-On-Behalf-Of
  std::string purpose;
  std::string source;  // "https:ADDRESS"
};

enum class RouteKind { kRecords, kRecord, kSearch, kSubject, kAudit, kAlerts };

struct Route {
  RouteKind kind;
  std::string_view collection;
  std::string_view id;  // record or subject id, as given
};

std::optional<Route> MatchRoute(std::string_view path) {
  auto segments = internal::PathSegments(path);
  if (!segments) return std::nullopt;
  const auto& s = *segments;
  if (s.empty() || s[0] != "v1") return std::nullopt;
  if (s.size() == 2 && s[1] == "audit") return Route{RouteKind::kAudit, {}, {}};
  if (s.size() == 2 && s[1] == "alerts") return Route{RouteKind::kAlerts, {}, {}};
  if (s.size() == 3 && s[1] == "subjects") return Route{RouteKind::kSubject, {}, s[2]};
  if (s.size() >= 4 && s[1] == "collections") {
    if (s.size() == 4 && s[3] == "records") return Route{RouteKind::kRecords, s[2], {}};
    if (s.size() == 4 && s[3] == "search") return Route{RouteKind::kSearch, s[2], {}};
    if (s.size() == 5 && s[3] == "records") return Route{RouteKind::kRecord, s[2], s[4]};
  }
  return std::nullopt;
}

// The methods each route answers, for 405 and Allow.
std::string_view AllowedMethods(RouteKind kind) {
  switch (kind) {
    case RouteKind::kRecords: return "POST";
    case RouteKind::kRecord: return "GET, PATCH, DELETE";
    case RouteKind::kSearch: return "POST";
    case RouteKind::kSubject: return "GET, DELETE";
    case RouteKind::kAudit: return "GET";
    case RouteKind::kAlerts: return "GET";
  }
  return "";
}

bool MethodIn(std::string_view allowed, std::string_view method) {
  size_t pos = 0;
  while (pos < allowed.size()) {
    size_t comma = allowed.find(',', pos);
    if (comma == std::string_view::npos) comma = allowed.size();
    if (allowed.substr(pos, comma - pos) == method) return true;
    pos = comma + 2;
  }
  return false;
}


HttpResult<std::string> ParseHexId(std::string_view hex, std::string_view what) {
  auto id = ParseId(hex, what);
  if (!id) return HttpFail(400, "invalid_request", id.error().message);
  return std::move(*id);
}

// A `from` or `to` query parameter, in ms (common/time_text.h). Form
// decoding turns an unescaped '+' into a space, and a time holds no space:
// "10:00:00+01:00" typed into a URL arrives as "10:00:00 01:00", read back.
Result<int64_t> ParseQueryTime(std::string value, std::string_view key) {
  std::replace(value.begin(), value.end(), ' ', '+');
  return ParseTime(value, key == "to" ? TimeBound::kTo : TimeBound::kFrom, key);
}

bool IEqualsPrefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

}  // namespace

struct Api::Impl {
  Services s;
  // Requests with a large body being handled (Services::max_large_bodies).
  HashSlots large_bodies;

  explicit Impl(Services services) : s(std::move(services)), large_bodies(s.max_large_bodies) {}

  // ---------------------------------------------------------------- audit

  audit::Entry BaseEntry(const Caller& c, std::string action, std::string_view collection) const {
    audit::Entry e;
    e.principal = c.principal.name;
    if (c.user) e.on_behalf_of = c.user->name;
    e.action = std::move(action);
    e.collection = std::string(collection);
    e.purpose = c.purpose;
    e.source = c.source;
    return e;
  }

  // Appends `e`; the request fails (503) if the entry is not durable.
  // Names a client chose (a purpose, a collection) are recorded only when
  // the policy or the schema declares them: anything else could be a
  // personal value typed in the wrong place. On-behalf-of users and
  // principals are set only once resolved in the directory.
  // With a deferral in force on this thread (HandleDeferred), the entry is
  // kept for the caller, which holds the response until it is durable.
  std::optional<Response> Audit(audit::Entry e) {
    if (!e.purpose.empty() && !s.policy()->KnowsPurpose(e.purpose)) e.purpose.clear();
    if (!e.collection.empty() && s.vault.schema().Find(e.collection) == nullptr) e.collection.clear();
    if (t_deferred != nullptr) {
      t_deferred->push_back(std::move(e));
      return std::nullopt;
    }
    if (!s.audit.Append(std::move(e))) return AuditUnavailable();
    return std::nullopt;
  }

  static Response AuditUnavailable() {
    return ErrorResponse({503, "unavailable", "the audit log is unavailable; nothing was returned"});
  }

  // The entries of the request being handled on this thread by
  // HandleDeferred; null otherwise. Every append of a route goes through
  // Audit(), so one scope covers all of them, extra routes included.
  static thread_local std::vector<audit::Entry>* t_deferred;

  AppendEntry Appender() {
    return [this](audit::Entry e) { return Audit(std::move(e)); };
  }

  Response Deny(audit::Entry e, std::string reason) { return AuditedDeny(Appender(), std::move(e), std::move(reason)); }

  Response Failed(audit::Entry e, const HttpError& error) { return AuditedFailure(Appender(), std::move(e), error); }

  // 405 with the route's own methods in Allow (RFC 9110, 15.5.6).
  static Response WithAllow(Response r, std::string_view allowed) {
    r.headers.emplace_back("Allow", std::string(allowed));
    return r;
  }
  Response MethodNotAllowed(audit::Entry e, std::string_view allowed) {
    return WithAllow(Failed(std::move(e), {405, "method_not_allowed", "this route answers " + std::string(allowed)}),
                     allowed);
  }

  Response Allowed(audit::Entry e, int status, const json::value& body) {
    e.outcome = "allowed";
    if (auto failed = Audit(std::move(e))) return *failed;
    if (status == 204) return Response{204, "", "application/json", {}};
    return JsonResponse(status, body);
  }

  // ---------------------------------------------------------------- guard

  // Quotas and canaries (src/guard), once the policy allowed and the data
  // was fetched, before anything is returned: `e.subjects` are exposed.
  // A refusal is audited as a denial without subjects.
  std::optional<Response> Guard(const Caller& c, const policy::Policy& p, audit::Entry& e) {
    if (s.guard == nullptr) return std::nullopt;
    guard::Verdict v = s.guard->Expose(p, Who(c), e.subjects);
    if (v.allowed()) return std::nullopt;
    return Refuse(std::move(e), v);
  }

  // The search cap, before a search runs (matching or not).
  std::optional<Response> GuardSearch(const Caller& c, const policy::Policy& p, audit::Entry& e) {
    if (s.guard == nullptr) return std::nullopt;
    guard::Verdict v = s.guard->ChargeSearch(p, Who(c));
    if (v.allowed()) return std::nullopt;
    return Refuse(std::move(e), v);
  }

  // A value for a unique field asks "is this value in the vault?": 409
  // answers yes (issue 13, membership test). Such writes are charged to the
  // search cap, matching or not, as searches are (so the cap's 429 does not
  // answer either); nullopt when there is none or it is not reached.
  std::optional<Response> GuardUniqueProbe(const Caller& c, const policy::Policy& p,
                                           const schema::Collection& coll,
                                           const std::vector<vault::NamedInput>& inputs,
                                           audit::Entry& e) {
    if (UniqueInputs(coll, inputs).empty()) return std::nullopt;
    return GuardSearch(c, p, e);
  }

  static std::vector<const vault::NamedInput*> UniqueInputs(
      const schema::Collection& coll, const std::vector<vault::NamedInput>& inputs) {
    std::vector<const vault::NamedInput*> out;
    for (const vault::NamedInput& in : inputs) {
      const schema::FieldDef* def = coll.Find(in.first);
      if (def != nullptr && def->unique && in.second.kind != schema::Input::Kind::kNull)
        out.push_back(&in);
    }
    return out;
  }

  // A write refused for a unique clash tells the caller that someone holds
  // the value: the holder's subject is exposed, counted in quotas like a
  // read (a hard limit refuses the answer and suspends) and named in the
  // audit entry, which records the clash as an error.
  Response Clash(const Caller& c, const policy::Policy& p, const schema::Collection& coll,
                 const std::vector<vault::NamedInput>& inputs, audit::Entry e,
                 const HttpError& error) {
    std::vector<std::string> holders;
    for (const vault::NamedInput* in : UniqueInputs(coll, inputs)) {
      auto refs = s.vault.Find(coll.name, in->first, in->second, 1);
      if (!refs || refs->empty()) continue;  // not this field, or gone meanwhile
      if (std::find(holders.begin(), holders.end(), refs->front().subject) == holders.end()) {
        holders.push_back(refs->front().subject);
      }
    }
    e.subjects = holders;
    e.fields.clear();
    if (auto refused = Guard(c, p, e)) return *refused;
    e.outcome = "error";
    e.reason = error.code;
    if (auto failed = Audit(std::move(e))) return *failed;
    return ErrorResponse(error);
  }

  static guard::Requester Who(const Caller& c) { return RequesterOf(c.principal, c.user ? &*c.user : nullptr); }

  Response Refuse(audit::Entry e, const guard::Verdict& v) { return AuditedRefusal(Appender(), std::move(e), v); }

  // ---------------------------------------------------------------- policy

  policy::Decision Decide(const Caller& c, const policy::Policy& p, std::string_view collection,
                          Action action) const {
    policy::Actor who{c.principal.name, c.principal.role, &c.principal.attrs};
    if (c.user) {
      policy::Actor user{c.user->name, c.user->role, &c.user->attrs};
      return p.DecideOnBehalf(who, user, collection, action, c.purpose);
    }
    return p.Decide(who, collection, action, c.purpose);
  }

  // The decision on a resource that is not a collection (audit, alerts, cards).
  static policy::Decision DecideOn(const Caller& c, const policy::Policy& p, std::string_view resource,
                                   std::string_view action) {
    return internal::DecideResource(p, c.principal, c.user ? &*c.user : nullptr, c.purpose, resource, action);
  }

  // The record as the decision's views show it; `shown` lists the fields
  // returned, for the audit entry.
  // `sp`: where the object's memory comes from (a request-local arena on the
  // GET path; it must outlive the object).
  json::object Show(const schema::Collection& c, const vault::Record& r,
                    const std::vector<View>& views, std::vector<audit::FieldView>& shown,
                    std::string_view field_prefix = {}, const json::storage_ptr& sp = {}) const {
    json::object fields(sp);
    for (const vault::FieldValue& f : r.fields) {
      const schema::FieldDef* def = c.Find(f.name);
      if (def == nullptr) continue;
      size_t i = static_cast<size_t>(def - c.fields.data());
      View v = i < views.size() ? views[i] : View::kNone;
      if (v == View::kNone) continue;
      std::string audit_name = std::string(field_prefix) + f.name;
      if (v == View::kMasked) {
        fields[f.name] = schema::Mask(*def, f.value);
        shown.push_back({std::move(audit_name), audit::kViewMasked});
      } else {
        fields[f.name] = FieldToJson(def, f.value);
        shown.push_back({std::move(audit_name), audit::kViewClear});
      }
    }
    json::object out(sp);
    out["id"] = ToHex(r.id);
    out["subject"] = ToHex(r.subject);
    out["fields"] = std::move(fields);
    return out;
  }

  // The record `id` (raw) of `collection`, loaded and checked against the
  // decision's row scope. Sets `e.record_id`. On failure, the response to
  // send (the error or denial already audited).
  tl::expected<vault::Record, Response> LoadInScope(std::string_view collection, const std::string& id,
                                                    const policy::Decision& d, audit::Entry& e) {
    e.record_id = id;
    auto rec = s.vault.Get(collection, id);
    if (!rec) return tl::unexpected(Failed(std::move(e), FromError(rec.error())));
    if (const policy::RowScope* out = policy::FirstViolatedScope(d, rec->fields)) {
      return tl::unexpected(Deny(std::move(e), policy::OutOfScopeReason(*out)));
    }
    return std::move(*rec);
  }

  // ---------------------------------------------------------------- entry

  Response Handle(const Request& req) {
    auto [path, query] = internal::SplitTarget(req.target);
    if (path == "/healthz") {
      if (req.method != "GET" && req.method != "HEAD") {
        return WithAllow(ErrorResponse({405, "method_not_allowed", "use GET"}), "GET, HEAD");
      }
      return JsonResponse(200, json::object{{"status", "ok"}});
    }
    // Readiness: whether requests can be served, i.e. audited. /healthz
    // says the process answers; /readyz says 503 while the audit log cannot
    // commit, when every other request fails with 503 too (docs/api.md).
    if (path == "/readyz") {
      if (req.method != "GET" && req.method != "HEAD") {
        return WithAllow(ErrorResponse({405, "method_not_allowed", "use GET"}), "GET, HEAD");
      }
      if (!s.audit.Health()) {
        return ErrorResponse(
            {503, "unavailable", "the audit log cannot commit: requests are refused"});
      }
      return JsonResponse(200, json::object{{"status", "ready"}});
    }
    if (path == "/v1/sessions") {
      if (req.method != "POST") return WithAllow(ErrorResponse({405, "method_not_allowed", "use POST"}), "POST");
      // Before any credential, nothing larger than a login is parsed: the
      // security-code scan and the login each build the body's JSON, and
      // 64 workers parsing 1 MiB bodies at once took 1 GiB (issue 13).
      if (req.body.size() > kMaxLoginBodyBytes) {
        s.audit.CountUnauthenticated(req.source);
        return ErrorResponse({413, "payload_too_large", "a login body is at most 4 KiB"});
      }
      if (auto why = cards::FindSecurityCodeInBody(req.body)) {
        s.audit.CountUnauthenticated(req.source);  // no principal yet: counted, as failed logins are
        return ErrorResponse({422, "invalid_value", std::move(*why)});
      }
      return Login(req);
    }

    Caller c;
    c.source = "https:" + req.source;
    if (auto denied = Authenticate(req, c)) return *denied;
    Response r = Serve(req, c, path, query);
    // Every denial counts against the principal's (and user's) threshold.
    if (r.status == 403 && s.guard != nullptr) s.guard->CountDenial(*s.policy(), Who(c));
    return r;
  }

  // The routes of an authenticated caller.
  Response Serve(const Request& req, Caller& c, std::string_view path, std::string_view query) {
    if (path == "/v1/openapi.json") {
      audit::Entry e = BaseEntry(c, "openapi.read", {});
      if (req.method != "GET") return MethodNotAllowed(std::move(e), "GET");
      e.outcome = "allowed";
      if (auto failed = Audit(std::move(e))) return *failed;
      Response r;
      r.body = std::string(s.openapi_json);
      return r;
    }

    std::optional<Route> route = MatchRoute(path);
    audit::Entry e = BaseEntry(c, "request", {});
    // Routes of other translation units (breach reports, approvals).
    const std::optional<std::string_view> extra = route ? std::nullopt : internal::ExtraRouteMethods(path);
    if (!route && !extra) return Failed(std::move(e), {404, "not_found", "no such route"});
    const std::string_view allowed = route ? AllowedMethods(route->kind) : *extra;
    if (!MethodIn(allowed, req.method)) return MethodNotAllowed(std::move(e), allowed);
    // A large body is parsed (scan, then route) by a bounded number of
    // requests at once, so memory stays bounded whatever the concurrency.
    std::optional<HashSlot> body_slot;
    if (req.body.size() > kLargeBodyBytes) {
      body_slot.emplace(large_bodies);
      if (!body_slot->held()) {
        return AuditedFailure(Appender(), std::move(e),
                              {503, "busy", "too many large requests at once; retry later"}, 1);
      }
    }
    // Incident 1: a card security code in any body, of any route, is
    // refused before anything else reads it (docs/cards.md). The entry
    // names the rule, never a value. A record's fields are typed by their
    // collection (a NIR is no card number), as Vault::Put types them.
    const schema::Collection* typed = nullptr;
    if (route && (route->kind == RouteKind::kRecords || route->kind == RouteKind::kRecord)) {
      typed = s.vault.schema().Find(route->collection);
    }
    if (auto why = typed != nullptr ? cards::FindSecurityCodeInRecordBody(req.body, *typed)
                                    : cards::FindSecurityCodeInBody(req.body)) {
      e.outcome = "error";
      e.reason = "invalid_value: security_code";
      if (auto failed = Audit(std::move(e))) return *failed;
      return ErrorResponse({422, "invalid_value", std::move(*why)});
    }

    // Purpose, then the end user a service acts for.
    if (req.HeaderCount("x-coffre-purpose") != 1 || req.Header("x-coffre-purpose")->empty()) {
      return Deny(std::move(e), "X-Coffre-Purpose is required (exactly once)");
    }
    c.purpose = std::string(*req.Header("x-coffre-purpose"));
    e.purpose = c.purpose;
    if (req.HeaderCount("x-coffre-on-behalf-of") > 0) {
      if (auto denied = ResolveUser(req, c, e)) return *denied;
    }

    std::shared_ptr<const policy::Policy> p = s.policy();
    if (extra) {
      internal::ExtraCall call{req, path, c.principal, c.user ? &*c.user : nullptr, c.purpose, *p, s, e,
                               Appender()};
      return internal::HandleExtraRoute(call);
    }
    switch (route->kind) {
      case RouteKind::kRecords: return CreateRecord(req, c, *p, *route);
      case RouteKind::kRecord:
        if (req.method == "GET") return GetRecord(c, *p, *route);
        if (req.method == "PATCH") return UpdateRecord(req, c, *p, *route);
        return DeleteRecord(c, *p, *route);
      case RouteKind::kSearch: return Search(req, c, *p, *route);
      case RouteKind::kSubject:
        if (req.method == "GET") return ExportSubject(c, *p, *route);
        return EraseSubject(c, *p, *route);
      case RouteKind::kAudit: return ReadAudit(query, c, *p);
      case RouteKind::kAlerts: return ReadAlerts(query, c, *p);
    }
    return ErrorResponse({500, "internal", "internal error"});
  }

  // nullopt when `c.principal` is set; otherwise the response to send.
  std::optional<Response> Authenticate(const Request& req, Caller& c) {
    auto unauthenticated = [&] {
      s.audit.CountUnauthenticated(req.source);
      return ErrorResponse({401, "unauthenticated", "a valid credential is required"});
    };
    if (req.HeaderCount("authorization") != 1) return unauthenticated();
    std::string_view header = *req.Header("authorization");
    if (!IEqualsPrefix(header, "bearer ")) return unauthenticated();
    std::string_view token = header.substr(7);
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    if (token.empty() || token.size() > 256) return unauthenticated();
    Result<auth::Principal> who = token.substr(0, kSessionTokenPrefix.size()) == kSessionTokenPrefix
                                      ? s.directory.AuthenticateSession(token)
                                      : s.directory.AuthenticateApiKey(token);
    if (!who) {
      if (who.error().code == ErrorCode::kPermissionDenied) {
        // A suspended principal: known, so worth one entry each.
        audit::Entry e = BaseEntry(c, "authenticate", {});
        e.outcome = "denied";
        e.reason = "suspended";
        if (auto failed = Audit(std::move(e))) return failed;
        return ErrorResponse({403, "suspended", "this principal is suspended"});
      }
      if (who.error().code == ErrorCode::kUnauthenticated) return unauthenticated();
      return ErrorResponse(FromError(who.error()));
    }
    c.principal = std::move(*who);
    if (c.principal.kind == auth::Kind::kUser) return unauthenticated();  // no credential of its own
    return std::nullopt;
  }

  std::optional<Response> ResolveUser(const Request& req, Caller& c, audit::Entry& e) {
    if (req.HeaderCount("x-coffre-on-behalf-of") != 1) {
      return Deny(e, "X-Coffre-On-Behalf-Of may be sent once");
    }
    std::shared_ptr<const policy::Policy> p = s.policy();
    if (c.principal.kind != auth::Kind::kService || !p->AllowsDelegation(c.principal.role)) {
      return Deny(e, "role '" + c.principal.role + "' may not act on behalf of users");
    }
    std::string_view name = *req.Header("x-coffre-on-behalf-of");
    auto user = s.directory.GetUser(name);
    if (!user) {
      if (user.error().code == ErrorCode::kPermissionDenied) {
        e.on_behalf_of = std::string(name);
        e.outcome = "denied";
        e.reason = "suspended";
        if (auto failed = Audit(e)) return failed;
        return ErrorResponse({403, "suspended", "the on-behalf-of user is suspended"});
      }
      if (user.error().code == ErrorCode::kNotFound || user.error().code == ErrorCode::kInvalidArgument) {
        return Deny(e, "the on-behalf-of user is not a registered user");
      }
      return Failed(e, FromError(user.error()));
    }
    c.user = std::move(*user);
    e.on_behalf_of = c.user->name;
    return std::nullopt;
  }

  // One line per failed login. People type passwords into name fields: a
  // name is written only when it is a principal's.
  void LogFailedLogin(const auth::LoginNote& note, std::string_view name, std::string_view source,
                      const Error& error) {
    std::string line = "coffre: failed login: ";
    line += note.registered ? "principal " + std::string(name) : std::string("unregistered name");
    line += " from ";
    line += source;
    line += ": ";
    line += note.refusal.empty() ? ErrorCodeName(error.code) : note.refusal;
    if (s.log) {
      s.log(line);
    } else {
      line += '\n';
      std::cerr << line << std::flush;
    }
  }

  Response Login(const Request& req) {
    auto body = internal::ParseObjectBody(req, kMaxBodyBytes);
    if (!body) return ErrorResponse(body.error());
    if (auto k = internal::CheckKeys(*body, {"name", "password", "totp"}, {"name", "password", "totp"}); !k) {
      return ErrorResponse(k.error());
    }
    auto name = internal::StringMember(*body, "name");
    auto password = internal::StringMember(*body, "password");
    auto totp = internal::StringMember(*body, "totp");
    if (!name) return ErrorResponse(name.error());
    if (!password) return ErrorResponse(password.error());
    if (!totp) return ErrorResponse(totp.error());
    int64_t retry_after = 0;
    auth::LoginNote note;
    const std::string& throttled_as = req.limit_key.empty() ? req.source : req.limit_key;
    auto login = s.directory.Login({**name, **password, **totp, throttled_as}, &retry_after, &note);
    if (!login) LogFailedLogin(note, **name, req.source, login.error());
    if (!login) {
      switch (login.error().code) {
        case ErrorCode::kUnauthenticated:
          s.audit.CountUnauthenticated(req.source);
          return ErrorResponse({401, "unauthenticated", "invalid credentials"});
        case ErrorCode::kResourceExhausted: {
          s.audit.CountUnauthenticated(req.source);
          Response r = ErrorResponse({429, "throttled", "too many failed logins; retry later"});
          r.headers.emplace_back("Retry-After", std::to_string(std::max<int64_t>(1, retry_after)));
          return r;
        }
        case ErrorCode::kPermissionDenied:
          return ErrorResponse({403, "suspended", "this principal is suspended"});
        case ErrorCode::kInvalidArgument:
          s.audit.CountUnauthenticated(req.source);
          return ErrorResponse({401, "unauthenticated", "invalid credentials"});
        default: return ErrorResponse(FromError(login.error()));
      }
    }
    Caller c;
    c.principal = login->principal;
    c.source = "https:" + req.source;
    audit::Entry e = BaseEntry(c, "login", {});
    return Allowed(std::move(e), 201,
                   json::object{{"token", login->session_token},
                                {"expires_at", FormatRfc3339(login->expires_at)}});
  }

  // ---------------------------------------------------------------- records

  Response GetRecord(const Caller& c, const policy::Policy& p, const Route& r) {
    audit::Entry e = BaseEntry(c, "read", r.collection);
    policy::Decision d = Decide(c, p, r.collection, Action::kRead);
    if (!d.allowed) return Deny(std::move(e), d.reason);
    auto id = ParseHexId(r.id, "record id");
    if (!id) return Failed(std::move(e), id.error());
    auto rec = LoadInScope(r.collection, *id, d, e);
    if (!rec) return std::move(rec.error());
    const schema::Collection* coll = s.vault.schema().Find(r.collection);
    // The busiest route: the response object lives in one arena on the
    // stack (no allocation per field), and is serialised without a copy.
    // Masked or not, these bytes hold no more than the response does.
    unsigned char arena[4096];
    json::monotonic_resource mr(arena, sizeof arena);
    json::value shown(Show(*coll, *rec, d.views, e.fields, {}, json::storage_ptr(&mr)));
    e.subjects = {rec->subject};
    if (auto refused = Guard(c, p, e)) return *refused;
    return Allowed(std::move(e), 200, shown);
  }

  Response CreateRecord(const Request& req, const Caller& c, const policy::Policy& p, const Route& r) {
    audit::Entry e = BaseEntry(c, "create", r.collection);
    policy::Decision d = Decide(c, p, r.collection, Action::kCreate);
    if (!d.allowed) return Deny(std::move(e), d.reason);
    auto body = internal::ParseObjectBody(req, kMaxBodyBytes);
    if (!body) return Failed(std::move(e), body.error());
    if (auto k = internal::CheckKeys(*body, {"fields", "subject"}, {"fields"}); !k) {
      return Failed(std::move(e), k.error());
    }
    const json::value& fields_value = body->at("fields");
    if (!fields_value.is_object()) {
      return Failed(std::move(e), {400, "invalid_request", "'fields' must be an object"});
    }
    auto inputs = FieldsFromObject(fields_value.get_object());
    if (!inputs) return Failed(std::move(e), {400, "invalid_request", inputs.error().message});
    std::optional<std::string> subject;
    auto subject_text = internal::StringMember(*body, "subject");
    if (!subject_text) return Failed(std::move(e), subject_text.error());
    if (*subject_text) {
      auto sid = ParseHexId(**subject_text, "subject");
      if (!sid) return Failed(std::move(e), sid.error());
      subject = *sid;
    }
    if (!d.scopes.empty()) {
      const schema::Collection* coll = s.vault.schema().Find(r.collection);
      auto fields = s.vault.Validate(*coll, *inputs);
      if (!fields) return Failed(std::move(e), FromError(fields.error()));
      if (const policy::RowScope* out = policy::FirstViolatedScope(d, *fields)) {
        return Deny(std::move(e), policy::OutOfScopeReason(*out));
      }
    }
    const schema::Collection* coll = s.vault.schema().Find(r.collection);
    if (coll != nullptr) {
      if (auto refused = GuardUniqueProbe(c, p, *coll, *inputs, e)) return *refused;
    }
    auto ref = s.vault.Put(r.collection, *inputs, subject);
    if (!ref) {
      HttpError err = FromError(ref.error());
      if (ref.error().code == ErrorCode::kNotFound) err = {422, "invalid_value", "unknown subject"};
      if (ref.error().code == ErrorCode::kAlreadyExists && coll != nullptr) {
        return Clash(c, p, *coll, *inputs, std::move(e), err);
      }
      return Failed(std::move(e), err);
    }
    e.record_id = ref->id;
    e.subjects = {ref->subject};
    return Allowed(std::move(e), 201, RefToJson(*ref));
  }

  Response UpdateRecord(const Request& req, const Caller& c, const policy::Policy& p, const Route& r) {
    audit::Entry e = BaseEntry(c, "update", r.collection);
    policy::Decision d = Decide(c, p, r.collection, Action::kUpdate);
    if (!d.allowed) return Deny(std::move(e), d.reason);
    auto id = ParseHexId(r.id, "record id");
    if (!id) return Failed(std::move(e), id.error());
    e.record_id = *id;  // also on the entries of a bad body
    auto body = internal::ParseObjectBody(req, kMaxBodyBytes);
    if (!body) return Failed(std::move(e), body.error());
    if (auto k = internal::CheckKeys(*body, {"fields"}, {"fields"}); !k) return Failed(std::move(e), k.error());
    const json::value& fields_value = body->at("fields");
    if (!fields_value.is_object()) {
      return Failed(std::move(e), {400, "invalid_request", "'fields' must be an object"});
    }
    auto inputs = FieldsFromObject(fields_value.get_object());
    if (!inputs) return Failed(std::move(e), {400, "invalid_request", inputs.error().message});
    auto old = LoadInScope(r.collection, *id, d, e);
    if (!old) return std::move(old.error());
    // The record as it would be written must stay in scope too.
    const schema::Collection* coll = s.vault.schema().Find(r.collection);
    for (const policy::RowScope& scope : d.scopes) {
      for (const auto& [name, input] : *inputs) {
        if (name != scope.field) continue;
        const schema::FieldDef* def = coll->Find(name);
        bool removes = input.kind == schema::Input::Kind::kNull ||
                       (input.kind == schema::Input::Kind::kString && input.text.empty());
        if (removes) return Deny(std::move(e), policy::OutOfScopeReason(scope));
        auto canonical = schema::Normalize(*def, input);
        if (!canonical) return Failed(std::move(e), FromError(canonical.error()));
        if (*canonical != scope.value) return Deny(std::move(e), policy::OutOfScopeReason(scope));
      }
    }
    // A PATCH answers with the record: it exposes its subject, counted
    // before anything is written (ADR 0008).
    e.subjects = {old->subject};
    if (auto refused = Guard(c, p, e)) return *refused;
    if (auto refused = GuardUniqueProbe(c, p, *coll, *inputs, e)) return *refused;
    auto updated = s.vault.Update(r.collection, *id, *inputs);
    if (!updated) {
      if (updated.error().code == ErrorCode::kAlreadyExists) {
        return Clash(c, p, *coll, *inputs, std::move(e), FromError(updated.error()));
      }
      return Failed(std::move(e), FromError(updated.error()));
    }
    json::value shown(Show(*coll, *updated, d.views, e.fields));
    e.subjects = {updated->subject};
    return Allowed(std::move(e), 200, shown);
  }

  Response DeleteRecord(const Caller& c, const policy::Policy& p, const Route& r) {
    audit::Entry e = BaseEntry(c, "delete", r.collection);
    policy::Decision d = Decide(c, p, r.collection, Action::kDelete);
    if (!d.allowed) return Deny(std::move(e), d.reason);
    auto id = ParseHexId(r.id, "record id");
    if (!id) return Failed(std::move(e), id.error());
    auto old = LoadInScope(r.collection, *id, d, e);
    if (!old) return std::move(old.error());
    if (auto done = s.vault.DeleteRecord(r.collection, *id); !done) {
      return Failed(std::move(e), FromError(done.error()));
    }
    e.subjects = {old->subject};
    return Allowed(std::move(e), 204, nullptr);
  }

  Response Search(const Request& req, const Caller& c, const policy::Policy& p, const Route& r) {
    audit::Entry e = BaseEntry(c, "search", r.collection);
    policy::Decision d = Decide(c, p, r.collection, Action::kSearch);
    if (!d.allowed) return Deny(std::move(e), d.reason);
    auto body = internal::ParseObjectBody(req, kMaxBodyBytes);
    if (!body) return Failed(std::move(e), body.error());
    if (auto k = internal::CheckKeys(*body, {"field", "value", "limit"}, {"field", "value"}); !k) {
      return Failed(std::move(e), k.error());
    }
    auto field = internal::StringMember(*body, "field");
    if (!field) return Failed(std::move(e), field.error());
    size_t limit = kDefaultSearchLimit;
    if (auto it = body->find("limit"); it != body->end()) {
      if (!it->value().is_int64() || it->value().get_int64() < 1 ||
          it->value().get_int64() > static_cast<int64_t>(kDefaultSearchLimit)) {
        return Failed(std::move(e), {400, "invalid_request", "'limit' must be an integer from 1 to 100"});
      }
      limit = static_cast<size_t>(it->value().get_int64());
    }
    const json::value& value = body->at("value");
    schema::Input input;
    if (value.is_string()) {
      input = schema::Input::String(value.get_string());
    } else if (value.is_int64()) {
      input = schema::Input::Integer(value.get_int64());
    } else if (value.is_bool()) {
      input = schema::Input::Boolean(value.get_bool());
    } else {
      return Failed(std::move(e), {400, "invalid_request", "'value' must be a string, integer or boolean"});
    }
    const schema::Collection* coll = s.vault.schema().Find(r.collection);
    const schema::FieldDef* def = coll ? coll->Find(**field) : nullptr;
    if (def == nullptr) {
      return Failed(std::move(e), {422, "invalid_value", "no such field in collection '" + coll->name + "'"});
    }
    // Searching by a field one cannot see would answer "is this value
    // here?" about it.
    size_t fi = static_cast<size_t>(def - coll->fields.data());
    if (fi >= d.views.size() || d.views[fi] == View::kNone) {
      return Deny(std::move(e), "role '" + c.principal.role + "' may not search by field '" +
                                    def->name + "', which it cannot see");
    }
    e.fields = {{def->name, d.views[fi] == View::kClear ? audit::kViewClear : audit::kViewMasked}};
    if (auto refused = GuardSearch(c, p, e)) return *refused;
    // Under a row scope, the limit applies to the hits in scope: candidates
    // are filtered first, up to a bound on the records opened per search.
    const bool scoped = !d.scopes.empty();
    auto refs = s.vault.Find(coll->name, def->name, input, scoped ? kMaxScopedSearchCandidates + 1 : limit + 1);
    if (!refs) return Failed(std::move(e), FromError(refs.error()));
    bool truncated = refs->size() > (scoped ? kMaxScopedSearchCandidates : limit);
    if (scoped && truncated) refs->resize(kMaxScopedSearchCandidates);
    json::array results;
    for (const vault::RecordRef& ref : *refs) {
      if (scoped) {
        auto rec = s.vault.Get(coll->name, ref.id);
        if (!rec) continue;  // erased meanwhile
        if (!policy::InScope(d, rec->fields)) continue;
      }
      if (results.size() == limit) {
        truncated = true;
        break;
      }
      results.push_back(RefToJson(ref));
      e.subjects.push_back(ref.subject);
    }
    if (auto refused = Guard(c, p, e)) return *refused;
    return Allowed(std::move(e), 200, json::object{{"results", std::move(results)}, {"truncated", truncated}});
  }

  // ---------------------------------------------------------------- subjects

  // A right on at least one collection, checked before anything is read, so
  // that a caller without any learns nothing about the subject.
  bool AnyCollectionAllows(const Caller& c, const policy::Policy& p, Action action,
                           std::string* reason) const {
    for (const schema::Collection& coll : s.vault.schema().collections()) {
      policy::Decision d = Decide(c, p, coll.name, action);
      if (d.allowed) return true;
      if (reason->empty()) *reason = d.reason;
    }
    return false;
  }

  Response ExportSubject(const Caller& c, const policy::Policy& p, const Route& r) {
    audit::Entry e = BaseEntry(c, "export", {});
    std::string reason;
    if (!AnyCollectionAllows(c, p, Action::kExport, &reason)) return Deny(std::move(e), reason);
    auto subject = ParseHexId(r.id, "subject");
    if (!subject) return Failed(std::move(e), subject.error());
    auto records = s.vault.ExportSubject(*subject);
    if (!records) return Failed(std::move(e), FromError(records.error()));
    if (records->empty()) return Failed(std::move(e), {404, "not_found", "no such subject"});
    std::map<std::string, policy::Decision, std::less<>> decisions;
    json::array out;
    std::vector<audit::FieldView> shown;
    for (const vault::Record& rec : *records) {
      auto it = decisions.find(rec.collection);
      if (it == decisions.end()) {
        it = decisions.emplace(rec.collection, Decide(c, p, rec.collection, Action::kExport)).first;
      }
      const policy::Decision& d = it->second;
      if (!d.allowed) return Deny(std::move(e), d.reason);
      if (const policy::RowScope* o = policy::FirstViolatedScope(d, rec.fields)) {
        return Deny(std::move(e), policy::OutOfScopeReason(*o));
      }
      const schema::Collection* coll = s.vault.schema().Find(rec.collection);
      json::object o = Show(*coll, rec, d.views, shown, rec.collection + ".");
      o["collection"] = rec.collection;
      o.erase("subject");
      out.push_back(std::move(o));
    }
    // GDPR art. 15(1)(c): to whom the data were disclosed. From the audit
    // log's by-subject index: every allowed request that returned some of
    // the person's data, most recent kMaxExportAccesses.
    std::deque<json::object> accesses;
    bool accesses_truncated = false;
    audit::Filter filter;
    filter.subject = *subject;
    auto status = s.audit.Query(filter, [&](const audit::Entry& entry) {
      if (entry.outcome != "allowed" || entry.fields.empty()) return true;
      json::object a;
      a["time"] = FormatRfc3339(entry.time_ms / 1000);
      a["principal"] = entry.principal;
      a["on_behalf_of"] =
          entry.on_behalf_of.empty() ? json::value(nullptr) : json::value(entry.on_behalf_of);
      a["purpose"] = entry.purpose;
      a["action"] = entry.action;
      json::array fields;
      for (const audit::FieldView& f : entry.fields) fields.push_back(json::string(f.field));
      a["fields"] = std::move(fields);
      accesses.push_back(std::move(a));
      if (accesses.size() > kMaxExportAccesses) {
        accesses.pop_front();
        accesses_truncated = true;
      }
      return true;
    });
    if (!status) return Failed(std::move(e), FromError(status.error()));
    json::array access_list;
    for (json::object& a : accesses) access_list.push_back(std::move(a));
    e.subjects = {*subject};
    e.fields = std::move(shown);
    if (auto refused = Guard(c, p, e)) return *refused;
    return Allowed(std::move(e), 200,
                   json::object{{"subject", ToHex(*subject)},
                                {"records", std::move(out)},
                                {"accesses", std::move(access_list)},
                                {"accesses_truncated", accesses_truncated}});
  }

  Response EraseSubject(const Caller& c, const policy::Policy& p, const Route& r) {
    audit::Entry e = BaseEntry(c, "erase", {});
    std::string reason;
    if (!AnyCollectionAllows(c, p, Action::kDelete, &reason)) return Deny(std::move(e), reason);
    auto subject = ParseHexId(r.id, "subject");
    if (!subject) return Failed(std::move(e), subject.error());
    // Online and archived records go alike (Vault::EraseSubject), so the
    // caller must be allowed to delete each of them.
    auto records = s.vault.ArchivedOfSubject(*subject);
    if (!records) return Failed(std::move(e), FromError(records.error()));
    if (auto online = s.vault.ExportSubject(*subject)) {
      records->insert(records->end(), std::make_move_iterator(online->begin()),
                      std::make_move_iterator(online->end()));
    } else if (online.error().code != ErrorCode::kNotFound) {
      return Failed(std::move(e), FromError(online.error()));
    }
    // The subject's payment cards go with it: erasing them takes the right
    // to delete cards too.
    size_t cards = 0;
    if (s.cards != nullptr) {
      auto n = s.cards->CountOfSubject(*subject);
      if (!n) return Failed(std::move(e), FromError(n.error()));
      cards = *n;
    }
    if (records->empty() && cards == 0) return Failed(std::move(e), {404, "not_found", "no such subject"});
    for (const vault::Record& rec : *records) {
      policy::Decision d = Decide(c, p, rec.collection, Action::kDelete);
      if (!d.allowed) return Deny(std::move(e), d.reason);
      if (const policy::RowScope* o = policy::FirstViolatedScope(d, rec.fields)) {
        return Deny(std::move(e), policy::OutOfScopeReason(*o));
      }
    }
    if (cards > 0) {
      policy::Decision d = DecideOn(c, p, policy::kResourceCards, "delete");
      if (!d.allowed) return Deny(std::move(e), "the subject has payment cards: " + d.reason);
    }
    e.subjects = {*subject};
    auto erased = s.vault.EraseSubject(*subject);
    if (!erased) return Failed(std::move(e), FromError(erased.error()));
    return Allowed(std::move(e), 200,
                   json::object{{"subject", ToHex(*subject)},
                                {"erased_records", erased->records},
                                {"erased_cards", erased->cards}});
  }

  // ---------------------------------------------------------------- audit

  Response ReadAudit(std::string_view query, const Caller& c, const policy::Policy& p) {
    audit::Entry e = BaseEntry(c, "audit.read", {});
    policy::Decision d = DecideOn(c, p, policy::kResourceAudit, "read");
    if (!d.allowed) return Deny(std::move(e), d.reason);
    auto params = internal::ParseQuery(query);
    if (!params) return Failed(std::move(e), {400, "invalid_request", params.error().message});
    audit::Filter filter;
    size_t limit = kDefaultAuditLimit;
    for (const auto& [key, value] : *params) {
      if (key == "principal") {
        if (value.empty()) continue;
        // A name that no principal could have is a mistake, not an empty result.
        if (!auth::ValidateName(value)) {
          return Failed(std::move(e), {400, "invalid_request", "'principal' is not a valid principal name"});
        }
        // An end user never makes a request itself: its entries are those
        // made on its behalf.
        auto user = s.directory.GetUser(value);
        bool is_user = user || user.error().code == ErrorCode::kPermissionDenied;
        (is_user ? filter.on_behalf_of : filter.principal) = value;
      } else if (key == "subject") {
        if (value.empty()) continue;
        auto sid = ParseHexId(value, "subject");
        if (!sid) return Failed(std::move(e), sid.error());
        filter.subject = *sid;
      } else if (key == "from" || key == "to") {
        if (value.empty()) continue;
        auto t = ParseQueryTime(value, key);
        if (!t) return Failed(std::move(e), {400, "invalid_request", t.error().message});
        (key == "from" ? filter.from_ms : filter.to_ms) = *t;
      } else if (key == "limit") {
        size_t n = 0;
        bool ok = !value.empty() && value.size() <= 5 &&
                  std::all_of(value.begin(), value.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
        if (ok) n = std::stoul(value);
        if (!ok || n < 1 || n > kMaxAuditLimit) {
          return Failed(std::move(e), {400, "invalid_request", "'limit' must be from 1 to 1000"});
        }
        limit = n;
      } else {
        return Failed(std::move(e), {400, "invalid_request",
                                     "unknown query parameter (allowed: principal, subject, from, to, limit)"});
      }
    }
    filter.limit = limit;
    json::array entries;
    auto status = s.audit.Query(filter, [&](const audit::Entry& entry) {
      entries.push_back(audit::EntryToJson(entry));
      return true;
    });
    if (!status) return Failed(std::move(e), FromError(status.error()));
    return Allowed(std::move(e), 200, json::object{{"entries", std::move(entries)}});
  }

  // ---------------------------------------------------------------- alerts

  Response ReadAlerts(std::string_view query, const Caller& c, const policy::Policy& p) {
    audit::Entry e = BaseEntry(c, "alerts.read", {});
    policy::Decision d = DecideOn(c, p, policy::kResourceAlerts, "read");
    if (!d.allowed) return Deny(std::move(e), d.reason);
    auto params = internal::ParseQuery(query);
    if (!params) return Failed(std::move(e), {400, "invalid_request", params.error().message});
    guard::AlertFilter filter;
    filter.limit = kDefaultAuditLimit;
    for (const auto& [key, value] : *params) {
      if (key == "from" || key == "to") {
        if (value.empty()) continue;
        auto t = ParseQueryTime(value, key);
        if (!t) return Failed(std::move(e), {400, "invalid_request", t.error().message});
        // Alerts keep whole seconds: those the bound's millisecond falls in.
        (key == "from" ? filter.from : filter.to) = *t / 1000 - (*t % 1000 < 0);
      } else if (key == "limit") {
        size_t n = 0;
        bool ok = !value.empty() && value.size() <= 5 &&
                  std::all_of(value.begin(), value.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
        if (ok) n = std::stoul(value);
        if (!ok || n < 1 || n > kMaxAuditLimit) {
          return Failed(std::move(e), {400, "invalid_request", "'limit' must be from 1 to 1000"});
        }
        filter.limit = n;
      } else {
        return Failed(std::move(e), {400, "invalid_request", "unknown query parameter (allowed: from, to, limit)"});
      }
    }
    if (s.guard == nullptr) return Failed(std::move(e), {503, "unavailable", "alerts are not kept by this server"});
    json::array alerts;
    auto status = s.guard->alerts().List(filter, [&](const guard::Alert& a) {
      alerts.push_back(guard::AlertToJsonObject(a));
      return true;
    });
    if (!status) return Failed(std::move(e), FromError(status.error()));
    return Allowed(std::move(e), 200, json::object{{"alerts", std::move(alerts)}});
  }
};

thread_local std::vector<audit::Entry>* Api::Impl::t_deferred = nullptr;

Api::Api(Services services) : impl_(std::make_unique<Impl>(std::move(services))) {}
Api::~Api() = default;

bool Api::IsNonBlocking(const Request& request) {
  auto [path, query] = internal::SplitTarget(request.target);
  if (path == "/healthz" || path == "/readyz") return true;
  if (request.method != "GET") return false;
  if (path == "/v1/openapi.json") return true;
  std::optional<Route> route = MatchRoute(path);
  return route && route->kind == RouteKind::kRecord;
}

Response Api::AuditUnavailable() { return Impl::AuditUnavailable(); }

Response Api::HandleDeferred(const Request& request, std::vector<audit::Entry>& deferred) {
  struct Scope {
    explicit Scope(std::vector<audit::Entry>* d) : previous(Impl::t_deferred) { Impl::t_deferred = d; }
    ~Scope() { Impl::t_deferred = previous; }
    std::vector<audit::Entry>* previous;
  } scope(&deferred);
  return Handle(request);
}

Response Api::Handle(const Request& request) {
  try {
    return impl_->Handle(request);
  } catch (...) {
    // Boost.JSON may throw on allocation; nothing is half-written (every
    // write is one batch), and nothing of the exception reaches the client.
    // Entries already collected by HandleDeferred stay with the caller.
    return internal::ErrorResponse({500, "internal", "internal error"});
  }
}

}  // namespace coffre::api
