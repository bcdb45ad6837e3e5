// How every route turns an outcome into an audit entry and a response, so
// the rules are written once (api.cc and each family of extra_routes.h):
//
//   denied   403 forbidden with the policy's reason; no fields (nothing was
//            returned), subjects kept (whom the request aimed at);
//   failed   the error's status and code; no fields, no subjects;
//   refused  by the guard (quota or suspension): 429 with Retry-After, or
//            403 suspended; no fields, no subjects;
//   allowed  the response, once the entry is durable.
//
// Each appends the entry through `append` first, and answers what `append`
// returns instead when the entry is not durable (fail closed).
//
//   RouteCall call(c, "card.read");
//   if (!DecideResource(c, policy::kResourceCards, "read").allowed) return call.Deny(...);
//   call.entry().subjects = {card.subject};
//   if (auto refused = call.Guard()) return *refused;
//   return call.Allowed(JsonResponse(200, body));
//
// Internal to the api module. Not thread-safe: one RouteCall per request.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "api/http.h"
#include "api/internal/extra_routes.h"
#include "api/internal/http_util.h"
#include "audit/entry.h"
#include "guard/guard.h"
#include "policy/policy.h"

namespace coffre::api::internal {

using AppendEntry = std::function<std::optional<Response>(audit::Entry)>;

// `reason_prefix`, when set, goes before the reason in the entry only
// ("user u-7f3a: ..."); the client gets the reason alone.
Response AuditedDeny(const AppendEntry& append, audit::Entry e, std::string reason,
                     std::string_view reason_prefix = {});
// A 403 error is recorded as a denial, any other as an error; the entry's
// reason is the error code. With `retry_after` > 0, the response carries
// Retry-After.
Response AuditedFailure(const AppendEntry& append, audit::Entry e, const HttpError& error,
                        int64_t retry_after = 0, std::string_view reason_prefix = {});
Response AuditedRefusal(const AppendEntry& append, audit::Entry e, const guard::Verdict& v);
Response AuditedAllowed(const AppendEntry& append, audit::Entry e, Response r);

// The requester as the guard counts it: the principal, and the user it
// acts for.
guard::Requester RequesterOf(const auth::Principal& principal, const auth::Principal* user);

// The policy's decision on a resource (cards, credentials, ...) for a
// principal, the user it acts for (null if none) and a purpose; the second
// form for an extra route's call.
policy::Decision DecideResource(const policy::Policy& policy, const auth::Principal& principal,
                                const auth::Principal* user, std::string_view purpose,
                                std::string_view resource, std::string_view action);
policy::Decision DecideResource(const ExtraCall& c, std::string_view resource, std::string_view action);

// One extra-route call: its entry (from ExtraCall::entry, with `action`)
// and the four outcomes above. A reason prefix (e.g. "user u-7f3a") set
// once is kept in front of every reason.
class RouteCall {
 public:
  RouteCall(ExtraCall& c, std::string action);

  audit::Entry& entry() { return e_; }
  void SetReasonPrefix(std::string prefix) { prefix_ = std::move(prefix); }

  Response Deny(std::string reason);
  Response Failed(const HttpError& error, int64_t retry_after = 0);
  // Reason: the prefix and `detail` when either is set, else whatever
  // entry().reason holds.
  Response Allowed(Response r, std::string_view detail = {});
  // Quotas and canaries for entry().subjects, once the data is fetched and
  // before anything is returned; nullopt when allowed (or no guard).
  std::optional<Response> Guard();

 private:
  ExtraCall& c_;
  audit::Entry e_;
  std::string prefix_;
};

}  // namespace coffre::api::internal
