#include "app/runner.h"

#include <algorithm>

#include "app/operations.h"
#include "cards/card_rules.h"
#include "guard/guard.h"

namespace coffre::app {
namespace json = boost::json;

// ---------------------------------------------------------------- failures

Failure InvalidRequest(std::string m) {
  return {ErrorCode::kInvalidArgument, "invalid_request", std::move(m)};
}
Failure InvalidJson(std::string m) {
  return {ErrorCode::kInvalidArgument, "invalid_json", std::move(m)};
}
Failure InvalidValue(std::string m) {
  return {ErrorCode::kInvalidArgument, "invalid_value", std::move(m)};
}
Failure NotFound(std::string m) { return {ErrorCode::kNotFound, "not_found", std::move(m)}; }
Failure Forbidden(std::string m) {
  return {ErrorCode::kPermissionDenied, "forbidden", std::move(m)};
}
Failure Suspended(std::string m) {
  return {ErrorCode::kPermissionDenied, "suspended", std::move(m)};
}
Failure Unavailable(std::string m) { return {ErrorCode::kIoError, "unavailable", std::move(m)}; }
Failure Busy(std::string m, int64_t retry) {
  return {ErrorCode::kResourceExhausted, "busy", std::move(m), retry};
}
Failure Throttled(std::string m, int64_t retry) {
  return {ErrorCode::kResourceExhausted, "throttled", std::move(m), retry};
}
Failure PayloadTooLarge(std::string m) {
  return {ErrorCode::kInvalidArgument, "payload_too_large", std::move(m)};
}

Failure FailureFrom(const Error& e) {
  switch (e.code) {
    case ErrorCode::kInvalidArgument:
      return InvalidValue(e.message);
    case ErrorCode::kNotFound:
      return NotFound(e.message);
    case ErrorCode::kAlreadyExists:
      return {e.code, "already_exists", e.message};
    case ErrorCode::kPermissionDenied:
      return Forbidden(e.message);
    case ErrorCode::kUnauthenticated:
      return {e.code, "unauthenticated", "a valid credential is required"};
    case ErrorCode::kResourceExhausted:
      return Throttled(e.message, 0);
    case ErrorCode::kFailedPrecondition:
      return {e.code, "failed_precondition", e.message};
    case ErrorCode::kIoError:
      return Unavailable("storage is unavailable; nothing was done");
    case ErrorCode::kDataLoss:
      return {e.code, "internal", "stored data failed its integrity check"};
    case ErrorCode::kInternal:
      break;
  }
  return {ErrorCode::kInternal, "internal", "internal error"};
}

namespace {

constexpr std::string_view kSessionTokenPrefix = "coffre_st_";

std::string Prefixed(std::string_view prefix, std::string_view reason) {
  if (prefix.empty()) return std::string(reason);
  if (reason.empty()) return std::string(prefix);
  return std::string(prefix) + ": " + std::string(reason);
}

guard::Requester Who(const Caller& c) {
  guard::Requester who{{c.principal.name, c.principal.role}, std::nullopt};
  if (c.user) who.user = guard::Party{c.user->name, c.user->role};
  return who;
}

// A local caller is not restricted by the policy: every field clear.
policy::Decision LocalDecision(size_t views) {
  policy::Decision d;
  d.allowed = true;
  d.views.assign(views, policy::View::kClear);
  return d;
}

policy::Decision DecideOnCollection(const Caller& c, const policy::Policy& p, const vault::Vault& v,
                                    std::string_view collection, policy::Action action) {
  if (c.local) {
    const schema::Collection* coll = v.schema().Find(collection);
    return LocalDecision(coll == nullptr ? 0 : coll->fields.size());
  }
  policy::Actor who{c.principal.name, c.principal.role, &c.principal.attrs};
  if (c.user) {
    policy::Actor user{c.user->name, c.user->role, &c.user->attrs};
    return p.DecideOnBehalf(who, user, collection, action, c.purpose);
  }
  return p.Decide(who, collection, action, c.purpose);
}

policy::Decision DecideOnResource(const Caller& c, const policy::Policy& p,
                                  std::string_view resource, std::string_view action) {
  if (c.local) return LocalDecision(resource == policy::kResourceCards ? 1 : 0);
  policy::Actor who{c.principal.name, c.principal.role, &c.principal.attrs};
  std::optional<policy::Actor> for_user;
  if (c.user) for_user = policy::Actor{c.user->name, c.user->role, &c.user->attrs};
  return p.DecideResource(who, resource, action, c.purpose, for_user ? &*for_user : nullptr);
}

}  // namespace

Caller Caller::Local(uint32_t uid, std::string purpose) {
  Caller c;
  c.principal.name = std::string(kLocalPrincipal);
  c.principal.kind = auth::Kind::kHuman;
  c.principal.role = std::string(kLocalPrincipal);
  c.purpose = std::move(purpose);
  c.source = "local:uid=" + std::to_string(uid);
  c.address = c.source;
  c.local = true;
  return c;
}

// ---------------------------------------------------------------- context

Context::Context(Runner& r, const Services& s, const Caller& c, const Operation& op,
                 const policy::Policy& p, json::storage_ptr sp)
    : r_(r), s_(s), c_(c), op_(op), p_(&p), sp_(std::move(sp)) {}

std::optional<Outcome> Context::Decide() {
  switch (op_.target) {
    case Target::kNone:
      return std::nullopt;
    case Target::kCollection:
      d_ = DecideOnCollection(c_, *p_, s_.vault, e_.collection, op_.collection_action);
      break;
    case Target::kResource:
      d_ = DecideOnResource(c_, *p_, op_.resource, op_.resource_action);
      break;
    case Target::kAnyCollection: {
      // A right on at least one collection, checked before anything is
      // read, so that a caller without any learns nothing about the subject.
      std::string reason;
      for (const schema::Collection& coll : s_.vault.schema().collections()) {
        policy::Decision d =
            DecideOnCollection(c_, *p_, s_.vault, coll.name, op_.collection_action);
        if (d.allowed) {
          d_ = std::move(d);
          return std::nullopt;
        }
        if (reason.empty()) reason = d.reason;
      }
      return Deny(std::move(reason));
    }
  }
  if (!d_.allowed) return Deny(d_.reason);
  return std::nullopt;
}

policy::Decision Context::DecideCollection(std::string_view collection,
                                           policy::Action action) const {
  return DecideOnCollection(c_, *p_, s_.vault, collection, action);
}

policy::Decision Context::DecideResource(std::string_view resource, std::string_view action) const {
  return DecideOnResource(c_, *p_, resource, action);
}

std::optional<Failure> Context::Audit(audit::Entry e) { return r_.Audit(c_, std::move(e)); }

Outcome Context::Allowed(json::value result, Outcome::Kind kind) {
  e_.outcome = "allowed";
  if (!prefix_.empty()) e_.reason = Prefixed(prefix_, e_.reason);
  if (auto failed = Audit(std::move(e_))) return Outcome::Failed(std::move(*failed));
  // Constructed, not assigned: the result keeps its memory (an arena).
  return Outcome{.kind = kind, .result = std::move(result), .audited = "allowed"};
}

Outcome Context::AllowedText(std::string text, std::string_view content_type) {
  e_.outcome = "allowed";
  if (!prefix_.empty()) e_.reason = Prefixed(prefix_, e_.reason);
  if (auto failed = Audit(std::move(e_))) return Outcome::Failed(std::move(*failed));
  Outcome o;
  o.text = std::move(text);
  o.content_type = content_type;
  o.rendered = true;
  o.audited = "allowed";
  return o;
}

Outcome Context::Deny(std::string reason) {
  e_.outcome = "denied";
  e_.reason = Prefixed(prefix_, reason);
  e_.fields.clear();
  if (auto failed = Audit(std::move(e_))) return Outcome::Failed(std::move(*failed));
  Outcome o = Outcome::Failed(Forbidden(std::move(reason)));
  o.audited = "denied";
  return o;
}

Outcome Context::Fail(Failure f) {
  e_.outcome = f.denied() ? "denied" : "error";
  e_.reason = Prefixed(prefix_, f.name);
  e_.fields.clear();
  e_.subjects.clear();
  if (auto failed = Audit(std::move(e_))) return Outcome::Failed(std::move(*failed));
  Outcome o = Outcome::Failed(std::move(f));
  o.audited = o.failure->denied() ? "denied" : "error";
  return o;
}

namespace {

// A guard refusal: a denial without fields nor subjects.
Failure Refusal(const guard::Verdict& v, audit::Entry& e) {
  const bool suspended = v.kind == guard::Verdict::kSuspended;
  if (v.kind == guard::Verdict::kUnavailable) {
    e.outcome = "error";
    e.reason = "unavailable: quotas";
    e.fields.clear();
    e.subjects.clear();
    return Unavailable(v.message);
  }
  e.outcome = "denied";
  e.reason = (suspended ? "suspended: " : "quota_exceeded: ") + v.message;
  e.fields.clear();
  e.subjects.clear();
  if (suspended) return Suspended(v.message);
  return {ErrorCode::kResourceExhausted, "quota_exceeded", v.message,
          std::max<int64_t>(1, v.retry_after_seconds)};
}

}  // namespace

std::optional<Outcome> Context::Guard() {
  if (s_.guard == nullptr || e_.subjects.empty()) return std::nullopt;
  guard::Verdict v = s_.guard->Expose(*p_, Who(c_), e_.subjects);
  if (v.allowed()) return std::nullopt;
  Failure f = Refusal(v, e_);
  if (auto failed = Audit(std::move(e_))) return Outcome::Failed(std::move(*failed));
  Outcome o = Outcome::Failed(std::move(f));
  o.audited = "denied";
  return o;
}

std::optional<Outcome> Context::GuardSearch() {
  if (s_.guard == nullptr) return std::nullopt;
  guard::Verdict v = s_.guard->ChargeSearch(*p_, Who(c_));
  if (v.allowed()) return std::nullopt;
  Failure f = Refusal(v, e_);
  if (auto failed = Audit(std::move(e_))) return Outcome::Failed(std::move(*failed));
  Outcome o = Outcome::Failed(std::move(f));
  o.audited = "denied";
  return o;
}

// ---------------------------------------------------------------- runner

Runner::Runner(Services services) : s_(std::move(services)) {}
Runner::~Runner() = default;

Failure Runner::AuditUnavailable() {
  return Unavailable("the audit log is unavailable; nothing was returned");
}

audit::Entry Runner::BaseEntry(const Caller& c, std::string_view action,
                               std::string_view collection) const {
  audit::Entry e;
  e.principal = c.principal.name;
  if (c.user) e.on_behalf_of = c.user->name;
  e.action = std::string(action);
  e.collection = std::string(collection);
  e.purpose = c.purpose;
  e.source = c.source;
  e.request_id = c.request_id;
  return e;
}

std::optional<Failure> Runner::Audit(const Caller& c, audit::Entry e) {
  if (!e.purpose.empty() && !s_.policy()->KnowsPurpose(e.purpose)) e.purpose.clear();
  if (!e.collection.empty() && s_.vault.schema().Find(e.collection) == nullptr)
    e.collection.clear();
  if (c.deferred != nullptr) {
    c.deferred->push_back(std::move(e));
    return std::nullopt;
  }
  if (!s_.audit.Append(std::move(e))) return AuditUnavailable();
  return std::nullopt;
}

Failure Runner::Reject(const Caller& c, std::string_view action, Failure f) {
  audit::Entry e = BaseEntry(c, action);
  e.outcome = f.denied() ? "denied" : "error";
  e.reason = f.name;
  return Record(c, std::move(e), std::move(f));
}

Failure Runner::Deny(const Caller& c, std::string_view action, std::string reason) {
  audit::Entry e = BaseEntry(c, action);
  e.outcome = "denied";
  e.reason = reason;
  return Record(c, std::move(e), Forbidden(std::move(reason)));
}

Failure Runner::Record(const Caller& c, audit::Entry e, Failure f) {
  if (auto failed = Audit(c, std::move(e))) return std::move(*failed);
  CountDenial(c, f);
  return f;
}

void Runner::CountDenial(const Caller& c, const Failure& f) {
  if (f.denied() && s_.guard != nullptr) s_.guard->CountDenial(*s_.policy(), Who(c));
}

std::optional<Failure> Runner::ResolveUser(Caller& c, std::string_view name,
                                           std::string_view action) {
  std::shared_ptr<const policy::Policy> p = s_.policy();
  if (c.principal.kind != auth::Kind::kService || !p->AllowsDelegation(c.principal.role)) {
    return Deny(c, action, "role '" + c.principal.role + "' may not act on behalf of users");
  }
  auto user = s_.directory.GetUser(name);
  if (!user) {
    if (user.error().code == ErrorCode::kPermissionDenied) {
      audit::Entry e = BaseEntry(c, action);
      e.on_behalf_of = std::string(name);
      e.outcome = "denied";
      e.reason = "suspended";
      return Record(c, std::move(e), Suspended("the on-behalf-of user is suspended"));
    }
    if (user.error().code == ErrorCode::kNotFound ||
        user.error().code == ErrorCode::kInvalidArgument) {
      return Deny(c, action, "the on-behalf-of user is not a registered user");
    }
    return Reject(c, action, FailureFrom(user.error()));
  }
  c.user = std::move(*user);
  if (auto refused = RefuseIfGuardSuspended(c, action, c.user->name, true)) return refused;
  return std::nullopt;
}

std::optional<Failure> Runner::RefuseIfGuardSuspended(const Caller& c, std::string_view action,
                                                      std::string_view name, bool user) {
  // A shared store (cluster): the guard's marker, read from the store on
  // every request, holds on every node at once, whatever this node's
  // directory still has in memory (docs/adr/0042-guard-across-nodes.md).
  if (s_.guard == nullptr) return std::nullopt;
  auto marked = s_.guard->IsSuspended(name);
  if (!marked) return Unavailable("storage is unavailable; nothing was done");
  if (!*marked) return std::nullopt;
  audit::Entry e = BaseEntry(c, action);
  if (user) e.on_behalf_of = std::string(name);
  e.outcome = "denied";
  e.reason = "suspended";
  if (auto failed = Audit(c, std::move(e))) return failed;
  return Suspended(user ? "the on-behalf-of user is suspended" : "this principal is suspended");
}

std::optional<Failure> Runner::Screen(const Caller& c, const Operation& op,
                                      std::string_view collection, std::string_view body,
                                      std::string_view action) {
  // Incident 1: a card security code in any body is refused before
  // anything else reads it (docs/cards.md). The entry names the rule,
  // never a value. A record's fields are typed by their collection (a NIR
  // is no card number), as Vault::Put types them.
  const schema::Collection* typed = op.typed_body ? s_.vault.schema().Find(collection) : nullptr;
  auto why = typed != nullptr ? cards::FindSecurityCodeInRecordBody(body, *typed)
                              : cards::FindSecurityCodeInBody(body);
  if (!why) return std::nullopt;
  audit::Entry e = BaseEntry(c, action);
  e.outcome = "error";
  e.reason = "invalid_value: security_code";
  return Record(c, std::move(e), InvalidValue(std::move(*why)));
}

Outcome Runner::Run(const Caller& c, const Operation& op, const OpInput& in, json::storage_ptr sp) {
  std::shared_ptr<const policy::Policy> p = s_.policy();
  Context ctx(*this, s_, c, op, *p, std::move(sp));
  ctx.e_ = BaseEntry(c, op.audit_action,
                     op.target == Target::kCollection ? in.collection : std::string_view());
  if (!op.decide_in_run) {
    if (auto denied = ctx.Decide()) {
      if (denied->failure) CountDenial(c, *denied->failure);
      return std::move(*denied);
    }
  }
  Outcome out = op.run(ctx, in);
  if (out.failure && op.authenticated) CountDenial(c, *out.failure);
  return out;
}

Outcome Runner::Call(const Caller& c, std::string_view op_name, const OpInput& in) {
  const Operation* op = FindOperation(op_name);
  if (op == nullptr) return Outcome::Failed(NotFound("no such operation"));
  if (auto refused = Screen(c, *op, in.collection, in.body, op->audit_action)) {
    return Outcome::Failed(std::move(*refused));
  }
  return Run(c, *op, in);
}

std::optional<Failure> Runner::Authenticate(Caller& c, std::string_view token,
                                            const auth::ClientCertificateView* certificate) {
  auto unauthenticated = [&] {
    s_.audit.CountUnauthenticated(c.address);
    return Failure{ErrorCode::kUnauthenticated, "unauthenticated",
                   "a valid credential is required"};
  };
  const bool by_certificate = token.empty() && certificate != nullptr;
  if (!by_certificate && (token.empty() || token.size() > 256)) return unauthenticated();
  Result<auth::Principal> who = by_certificate ? s_.directory.AuthenticateCertificate(*certificate)
                                : token.substr(0, kSessionTokenPrefix.size()) == kSessionTokenPrefix
                                    ? s_.directory.AuthenticateSession(token)
                                    : s_.directory.AuthenticateApiKey(token);
  if (!who) {
    if (who.error().code == ErrorCode::kPermissionDenied) {
      // A suspended principal: known, so worth one entry each.
      audit::Entry e = BaseEntry(c, "authenticate");
      e.outcome = "denied";
      e.reason = "suspended";
      if (auto failed = Audit(c, std::move(e))) return failed;
      return Suspended("this principal is suspended");
    }
    if (who.error().code == ErrorCode::kUnauthenticated) return unauthenticated();
    return FailureFrom(who.error());
  }
  c.principal = std::move(*who);
  if (c.principal.kind == auth::Kind::kUser) return unauthenticated();  // no credential of its own
  if (auto refused = RefuseIfGuardSuspended(c, "authenticate", c.principal.name, false)) {
    return refused;
  }
  return std::nullopt;
}

}  // namespace coffre::app
