#include "api/internal/audited.h"

#include <algorithm>

namespace coffre::api::internal {
namespace {

std::string Prefixed(std::string_view prefix, std::string_view reason) {
  if (prefix.empty()) return std::string(reason);
  if (reason.empty()) return std::string(prefix);
  return std::string(prefix) + ": " + std::string(reason);
}

}  // namespace

Response AuditedDeny(const AppendEntry& append, audit::Entry e, std::string reason,
                     std::string_view reason_prefix) {
  e.outcome = "denied";
  e.reason = Prefixed(reason_prefix, reason);
  e.fields.clear();
  if (auto failed = append(std::move(e))) return *failed;
  return ErrorResponse({403, "forbidden", std::move(reason)});
}

Response AuditedFailure(const AppendEntry& append, audit::Entry e, const HttpError& error,
                        int64_t retry_after, std::string_view reason_prefix) {
  e.outcome = error.status == 403 ? "denied" : "error";
  e.reason = Prefixed(reason_prefix, error.code);
  e.fields.clear();
  e.subjects.clear();
  if (auto failed = append(std::move(e))) return *failed;
  Response r = ErrorResponse(error);
  if (retry_after > 0) r.headers.emplace_back("Retry-After", std::to_string(retry_after));
  return r;
}

Response AuditedRefusal(const AppendEntry& append, audit::Entry e, const guard::Verdict& v) {
  const bool suspended = v.kind == guard::Verdict::kSuspended;
  e.outcome = "denied";
  e.reason = (suspended ? "suspended: " : "quota_exceeded: ") + v.message;
  e.fields.clear();
  e.subjects.clear();
  if (auto failed = append(std::move(e))) return *failed;
  if (suspended) return ErrorResponse({403, "suspended", v.message});
  Response r = ErrorResponse({429, "quota_exceeded", v.message});
  r.headers.emplace_back("Retry-After", std::to_string(std::max<int64_t>(1, v.retry_after_seconds)));
  return r;
}

Response AuditedAllowed(const AppendEntry& append, audit::Entry e, Response r) {
  e.outcome = "allowed";
  if (auto failed = append(std::move(e))) return *failed;
  return r;
}

guard::Requester RequesterOf(const auth::Principal& principal, const auth::Principal* user) {
  guard::Requester who{{principal.name, principal.role}, std::nullopt};
  if (user != nullptr) who.user = guard::Party{user->name, user->role};
  return who;
}

policy::Decision DecideResource(const policy::Policy& policy, const auth::Principal& principal,
                                const auth::Principal* user, std::string_view purpose,
                                std::string_view resource, std::string_view action) {
  policy::Actor who{principal.name, principal.role, &principal.attrs};
  std::optional<policy::Actor> for_user;
  if (user != nullptr) for_user = policy::Actor{user->name, user->role, &user->attrs};
  return policy.DecideResource(who, resource, action, purpose, for_user ? &*for_user : nullptr);
}

policy::Decision DecideResource(const ExtraCall& c, std::string_view resource, std::string_view action) {
  return DecideResource(c.policy, c.principal, c.user, c.purpose, resource, action);
}

RouteCall::RouteCall(ExtraCall& c, std::string action) : c_(c), e_(c.entry) { e_.action = std::move(action); }

Response RouteCall::Deny(std::string reason) { return AuditedDeny(c_.audit, e_, std::move(reason), prefix_); }

Response RouteCall::Failed(const HttpError& error, int64_t retry_after) {
  return AuditedFailure(c_.audit, e_, error, retry_after, prefix_);
}

Response RouteCall::Allowed(Response r, std::string_view detail) {
  if (!prefix_.empty() || !detail.empty()) e_.reason = Prefixed(prefix_, detail);
  return AuditedAllowed(c_.audit, e_, std::move(r));
}

std::optional<Response> RouteCall::Guard() {
  if (c_.services.guard == nullptr || e_.subjects.empty()) return std::nullopt;
  guard::Verdict v = c_.services.guard->Expose(c_.policy, RequesterOf(c_.principal, c_.user), e_.subjects);
  if (v.allowed()) return std::nullopt;
  return AuditedRefusal(c_.audit, e_, v);
}

}  // namespace coffre::api::internal
