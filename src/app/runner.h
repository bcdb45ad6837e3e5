// The runner: every operation of the table (app/operations.h), for every
// front end, through one pipeline (ADR 0023):
//
//   authenticate -> screen -> decide -> scope -> execute -> guard -> audit
//
// The HTTP front end (src/api) authenticates a bearer token
// (Runner::Authenticate), maps the route to an operation and calls Run; a
// local front end (admin socket, CLI) makes a Caller::Local and calls Call:
//
//   app::Runner runner(services);
//   app::Caller me = app::Caller::Local(getuid());
//   app::Outcome out = runner.Call(me, "audit.list", {.query = "limit=10"});
//   if (!out.ok()) return ExitCodeOf(out.failure->code);
//   print(boost::json::serialize(out.result));
//
// Every call is audited once it names an operation: an entry with the
// operation's action, the caller (principal, on-behalf-of user, purpose,
// source), the subjects exposed and the fields shown. A call whose entry
// cannot be made durable fails with `unavailable` and returns no data.
//
// Thread-safety: Run/Call/Authenticate are safe from many threads at once.
// Ownership: the Runner borrows everything in Services, which must outlive it.
#pragma once

#include <atomic>
#include <boost/json.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "app/operation.h"
#include "audit/audit_log.h"
#include "auth/principals.h"
#include "common/clock.h"
#include "policy/policy.h"
#include "vault/vault.h"

namespace coffre::guard {
class Guard;
}  // namespace coffre::guard
namespace coffre::cards {
class Cards;
}  // namespace coffre::cards
namespace coffre::credentials {
class Credentials;
}  // namespace coffre::credentials
namespace coffre::approval {
class Approvals;
}  // namespace coffre::approval
namespace coffre::retention {
class Retention;
}  // namespace coffre::retention

namespace coffre::app {

// The principal name a local caller (admin socket, CLI) is audited under.
inline constexpr std::string_view kLocalPrincipal = "local";

// What the runner works on. Null services: their operations answer
// `unavailable` (some tests).
struct Services {
  vault::Vault& vault;
  auth::Directory& directory;
  audit::AuditLog& audit;
  // The policy in force (replaced atomically by `coffre policy load`).
  std::function<std::shared_ptr<const policy::Policy>()> policy;
  Clock& clock;
  std::string_view openapi_json;  // the OpenAPI document (openapi.get)
  guard::Guard* guard = nullptr;
  cards::Cards* cards = nullptr;
  credentials::Credentials* credentials = nullptr;
  retention::Retention* retention = nullptr;
  approval::Approvals* approvals = nullptr;
  // Failed logins, one line each (tests). Null: the process log (common/log.h).
  std::function<void(std::string_view)> log = nullptr;
  // Non-null and true: the vault is sealed, and /readyz answers 503 with
  // code `sealed` (set by the server; the metric coffre_sealed reads it).
  const std::atomic<bool>* sealed = nullptr;
};

// Who is asking. Made by the front end; the runner fills `principal` for
// token callers (Authenticate) and `user` (ResolveUser).
struct Caller {
  auth::Principal principal;
  std::optional<auth::Principal> user;  // acting on behalf of (HTTP only)
  std::string purpose;
  std::string source;      // the audit entry's source: "https:ADDR", "local:uid=N"
  std::string address;     // the peer as given ("127.0.0.1"): unauthenticated counts, logs
  std::string limit_key;   // what login throttles count by (HTTP: address or /64; empty: address)
  std::string request_id;  // the server's X-Request-Id, put in the audit entries ("": none)
  // A local caller (Caller::Local): a process of the vault's own uid,
  // which holds the key file anyway. The policy does not restrict it (all
  // fields clear, no row scope); its quotas are the policy's limits for
  // the role `local` if any. Audited as principal `local`.
  bool local = false;
  // Non-null: the entries of this call are moved here instead of appended
  // (reads on I/O threads, ADR 0014); the front end makes them durable
  // before answering, or answers AuditUnavailable().
  std::vector<audit::Entry>* deferred = nullptr;

  static Caller Local(uint32_t uid, std::string purpose = {});
};

class Runner;

// What an operation's Run sees: the services, the caller, the policy and
// decision the runner took, and the audit entry being built. One per call.
class Context {
 public:
  const Services& services() const { return s_; }
  const Caller& caller() const { return c_; }
  const policy::Policy& policy() const { return *p_; }
  const Operation& operation() const { return op_; }
  // The runner's decision on the operation's target (allowed; with views
  // and row scopes). For decide_in_run operations, what Decide() took.
  const policy::Decision& decision() const { return d_; }
  audit::Entry& entry() { return e_; }
  // Where the result's memory comes from (a stack arena on the GET path).
  boost::json::storage_ptr storage() const { return sp_; }

  // The operation's declared decision, for decide_in_run operations; a
  // denial is audited and returned.
  std::optional<Outcome> Decide();
  // Other decisions an operation needs (on one collection, a resource).
  policy::Decision DecideCollection(std::string_view collection, policy::Action action) const;
  policy::Decision DecideResource(std::string_view resource, std::string_view action) const;

  // Endings, each audited: the result (its entry "allowed"), a denial
  // (403 forbidden: "denied", no fields), a failure (denied if
  // Failure::denied(), else "error"; no fields, no subjects).
  Outcome Allowed(boost::json::value result, Outcome::Kind kind = Outcome::Kind::kOk);
  Outcome AllowedText(std::string text, std::string_view content_type);
  Outcome Deny(std::string reason);
  Outcome Fail(Failure f);
  // The guard (quotas, canaries) on entry().subjects, before anything is
  // returned; nullopt when allowed (or no guard). And the search cap.
  std::optional<Outcome> Guard();
  std::optional<Outcome> GuardSearch();
  // A prefix kept in front of every reason in the entry ("user u-7f3a"):
  // before a denial's reason, a failure's code, an allowed entry's reason.
  void SetReasonPrefix(std::string prefix) { prefix_ = std::move(prefix); }
  // Appends another entry (or defers it) as the runner does.
  std::optional<Failure> Audit(audit::Entry e);

 private:
  friend class Runner;
  Context(Runner& r, const Services& s, const Caller& c, const Operation& op,
          const policy::Policy& p, boost::json::storage_ptr sp);

  Runner& r_;
  const Services& s_;
  const Caller& c_;
  const Operation& op_;
  const policy::Policy* p_;
  policy::Decision d_;
  audit::Entry e_;
  boost::json::storage_ptr sp_;
  std::string prefix_;
};

class Runner {
 public:
  explicit Runner(Services services);
  ~Runner();
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  const Services& services() const { return s_; }

  // Establishes `c.principal` from an API key or a session token, else
  // (no token) from the connection's verified client certificate bound to
  // a service (mTLS; docs/adr/0033); nullopt when done. A suspended
  // principal is audited ("authenticate", denied) and answered
  // `suspended`; an unknown credential `unauthenticated` (counted per
  // `c.address`, never audited one by one).
  std::optional<Failure> Authenticate(Caller& c, std::string_view token,
                                      const auth::ClientCertificateView* certificate = nullptr);

  // Sets `c.user` (a service acting on behalf of the end user `name`),
  // checking delegation; failures audited under `action` and returned.
  std::optional<Failure> ResolveUser(Caller& c, std::string_view name, std::string_view action);

  // The card security-code screen (docs/cards.md, incident 1), on any body
  // before anything else reads it; the refusal audited as `action`.
  std::optional<Failure> Screen(const Caller& c, const Operation& op, std::string_view collection,
                                std::string_view body, std::string_view action);

  // Runs `op` for `c`: decide -> scope -> execute -> guard -> audit. `sp`:
  // where the result's memory comes from (default: the heap).
  Outcome Run(const Caller& c, const Operation& op, const OpInput& in,
              boost::json::storage_ptr sp = {});

  // For local front ends: finds the operation by name (not_found if none),
  // screens the body, then Run.
  Outcome Call(const Caller& c, std::string_view op_name, const OpInput& in);

  // Audits a refusal made before any operation ran (no such route, a
  // missing purpose): `action` is the entry's action ("request").
  Failure Reject(const Caller& c, std::string_view action, Failure f);
  // The same for a denial: `reason` in the entry and the answer.
  Failure Deny(const Caller& c, std::string_view action, std::string reason);

  // Appends an entry for `c` (or defers it: Caller::deferred); the failure
  // to return instead when it is not durable. Names a client chose (a
  // purpose, a collection) are recorded only when declared.
  std::optional<Failure> Audit(const Caller& c, audit::Entry e);
  // The caller's base entry: principal, user, purpose, source, `action`.
  audit::Entry BaseEntry(const Caller& c, std::string_view action,
                         std::string_view collection = {}) const;

  // The failure when the audit log cannot make an entry durable.
  static Failure AuditUnavailable();

 private:
  friend class Context;
  // A shared store: the guard's suspension marker of `name` (the principal,
  // or the on-behalf-of user when `user`) refuses the request, audited as
  // `action`; kIoError "unavailable" when it cannot be read.
  std::optional<Failure> RefuseIfGuardSuspended(const Caller& c, std::string_view action,
                                                std::string_view name, bool user);
  Failure Record(const Caller& c, audit::Entry e, Failure f);
  // Every denial counts against the principal's (and user's) threshold.
  void CountDenial(const Caller& c, const Failure& f);

  Services s_;
};

}  // namespace coffre::app
