// Policies: who may do what to which collection or resource, seeing which
// fields how, on which rows, for which purpose. Pure evaluation: no clock,
// no store, no I/O except LoadFile reading the policy file.
//
// A policy is a TOML file (docs/policy.md; examples/people-policy.toml),
// checked against the vault's schema when it is loaded: every role,
// collection, field, action, view, purpose and key it names must exist, so
// a typo is a load error, never a silently granted or dropped right.
// Everything not granted is denied.
//
//   auto schema = schema::Schema::LoadFile("examples/people.toml");
//   auto policy = Policy::LoadFile("examples/people-policy.toml", *schema);
//   if (!policy) report(policy.error());
//   Attributes attrs = {{"agency", "A042"}};
//   Actor who{.name = "alice", .role = "adviser", .attrs = &attrs};
//   Decision d = policy->Decide(who, "people", Action::kRead, "follow_up");
//   if (!d.allowed) return Forbidden(d.reason);        // 403, audited
//   if (!InScope(d, record.fields)) return Forbidden(OutOfScopeReason(d, record.fields));
//   for each field i: d.views[i] is kClear, kMasked (schema::Mask) or kNone
//
// On behalf of a user (X-Coffre-On-Behalf-Of): a service whose role has
// `delegation = true` gets the intersection of its rights and the user's:
// DecideOnBehalf(service, user, ...). With `delegation = "required"` it gets
// nothing without a user: Decide and DecideResource deny (a shared back end
// must not read beyond the user it serves).
//
// Quotas: a role may carry limits ([roles.NAME.limits]): distinct subjects
// exposed per sliding window (soft: alert, hard: suspend), a search cap, a
// denial alert threshold and what a canary hit does. The policy only states
// them; src/guard counts.
//   if (const Limits* l = policy->LimitsOf("support_agent")) l->subjects[0].hard;  // 100
//
// Reasons are safe to send to the client and to write to the audit log:
// they name roles, actions, collections, fields, attributes and known
// purposes, never a value (not even an attribute value or an unknown
// purpose as the client spelled it).
//
// Thread-safety: a Policy is immutable after loading; copies share the same
// rules and are cheap. Decide* and InScope are const and safe from any
// thread. An Actor borrows its strings and attributes for the call only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "schema/schema.h"

namespace coffre::policy {

enum class Action { kCreate, kRead, kUpdate, kDelete, kSearch, kExport };

// Ordered from weakest to strongest: the intersection of two views is the
// smaller one.
enum class View { kNone, kMasked, kClear };

std::string_view ActionName(Action a);  // "create", "read", ...
std::string_view ViewName(View v);      // "none", "masked", "clear"

// Non-collection resources and the actions the policy may grant on them.
//   audit       read     the audit log (GET /v1/audit, breach reports)
//   alerts      read     quota and canary alerts
//   principals  read, manage   principals and their credentials
//   cards       create, read, complete, delete; with a view masked | clear
//   approvals   manage   two-person approvals (request, approve, read)
//   retention   read, manage   legal holds on subjects (docs/retention.md)
//   archive     read     archived records, in clear (docs/retention.md)
inline constexpr std::string_view kResourceAudit = "audit";
inline constexpr std::string_view kResourceAlerts = "alerts";
inline constexpr std::string_view kResourcePrincipals = "principals";
inline constexpr std::string_view kResourceCards = "cards";
inline constexpr std::string_view kResourceApprovals = "approvals";
// End users' passwords (src/credentials): set, verify, reset, read (metadata).
inline constexpr std::string_view kResourceCredentials = "credentials";

// Card numbers in clear (incident 1): only a role named `payment` using
// the purpose `payment` may see them, for the `cards` resource and for
// `pan` fields of any collection. A policy granting a clear view of either
// to another role or purpose is refused at load (an explicit `pan =
// "clear"` or `view = "clear"`; a "*" = "clear" default gives pan fields
// masked), and every decision caps those views at masked unless the
// acting principal's role is `payment` and the purpose `payment` (ADR 0010).
inline constexpr std::string_view kPaymentRole = "payment";
inline constexpr std::string_view kPaymentPurpose = "payment";
inline constexpr std::string_view kResourceRetention = "retention";
inline constexpr std::string_view kResourceArchive = "archive";

using Attributes = std::map<std::string, std::string, std::less<>>;

// The principal asking. Borrowed, not owned: the strings and the attribute
// map must outlive the Decide* call (not the Decision, which copies what it
// keeps).
struct Actor {
  std::string_view name;
  std::string_view role;
  const Attributes* attrs = nullptr;  // null: no attributes
};

// One row-scope condition: records must have `field` equal to `value`, the
// canonical form of the actor's attribute `attribute`.
struct RowScope {
  std::string role;  // whose grant it comes from (for the reason)
  std::string field;
  std::string attribute;  // the attribute's name in the policy
  std::string value;      // canonical; never put it in a message
};

struct Decision {
  bool allowed = false;
  // Why it was denied, for the 403 body and the audit entry; empty if allowed.
  std::string reason;
  // Collections: one view per schema field, in schema order. Resources: one
  // view for `cards` (the card number's), none for the others. Empty if
  // denied.
  std::vector<View> views;
  // Conditions every record touched must meet (all of them). Empty if
  // denied or unscoped.
  std::vector<RowScope> scopes;
};

// Quotas of a role ([roles.NAME.limits]; docs/policy.md, docs/exfiltration.md).
// Windows are whole minutes, written "10m", "1h", "24h" or "7d".
struct SubjectLimit {
  int64_t window_seconds = 0;
  std::string window;  // as written in the policy ("1h"), for alerts
  uint64_t soft = 0;   // exposing subject soft+1 raises a warning
  uint64_t hard = 0;   // a request that would expose subject hard+1 is refused and suspends
};

struct SearchCap {
  int64_t window_seconds = 0;
  std::string window;
  uint64_t max = 0;  // searches per window, matching or not; then 429
};

struct DenialAlert {
  int64_t window_seconds = 0;
  std::string window;
  uint64_t alert = 0;  // this many denials (403) in the window raise a warning
};

enum class OnCanary { kSuspend, kAlert };

struct Limits {
  std::vector<SubjectLimit> subjects;  // by increasing window, distinct windows
  std::optional<SearchCap> searches;
  std::optional<DenialAlert> denials;
  OnCanary on_canary = OnCanary::kSuspend;
};

// Bounds of the limits a policy may state (a load error outside them).
inline constexpr int64_t kMaxSubjectWindowSeconds = 7 * 24 * 3600;
inline constexpr int64_t kMaxCounterWindowSeconds = 24 * 3600;  // searches, denials
inline constexpr uint64_t kMaxHardLimit = 1'000'000;

// "10m" -> 600, "1h" -> 3600, "7d" -> 604800: a positive integer without
// leading zeros and one unit of m, h or d. kInvalidArgument otherwise
// (the message describes the form, never echoes the text).
Result<int64_t> ParseWindow(std::string_view text);

class Policy {
 public:
  // Parses and checks `toml` against `schema`. `origin` names the file in
  // error messages ("people-policy.toml:12:5: role 'adviser': ...").
  [[nodiscard]] static Result<Policy> Parse(std::string_view toml, const schema::Schema& schema,
                                            std::string_view origin = "policy");
  [[nodiscard]] static Result<Policy> LoadFile(const std::string& path,
                                               const schema::Schema& schema);
  // No purposes and no roles: every decision is a denial. A vault that was
  // initialised without --policy holds this until `policy load`.
  static Policy DenyAll();

  // The TOML text it was parsed from, so a vault can store its policy.
  const std::string& text() const;

  bool HasRole(std::string_view role) const;
  bool AllowsDelegation(std::string_view role) const;  // false for unknown roles
  // delegation = "required": the role acts only on behalf of a user; every
  // Decide and DecideResource without one is denied. False for unknown roles.
  bool RequiresDelegation(std::string_view role) const;
  bool KnowsPurpose(std::string_view purpose) const;
  std::vector<std::string> RoleNames() const;     // sorted
  std::vector<std::string> PurposeNames() const;  // sorted

  // The role's limits; null when the role has none (or is unknown): nothing
  // is counted for it.
  const Limits* LimitsOf(std::string_view role) const;
  // What a canary hit does to a principal of `role`: the role's on_canary,
  // kSuspend for a role without limits (and for an unknown role).
  OnCanary OnCanaryOf(std::string_view role) const;
  // Roles that may read, search or export a collection and have no subject
  // limit: `coffre policy load` warns about them. Sorted.
  std::vector<std::string> RolesReadingWithoutLimits() const;

  // May `who` perform `action` on `collection` for `purpose`? An empty
  // purpose and an unknown purpose are denials with distinct reasons.
  Decision Decide(const Actor& who, std::string_view collection, Action action,
                  std::string_view purpose) const;

  // `service` acting on behalf of `user`: denied unless the service's role
  // allows delegation and both are allowed; then views are the weaker of
  // the two, and both sets of row scopes apply, each with its own actor's
  // attributes.
  Decision DecideOnBehalf(const Actor& service, const Actor& user, std::string_view collection,
                          Action action, std::string_view purpose) const;

  // The same for a resource (kResource*) and one of its actions ("read",
  // "manage"...). With `on_behalf_of`, the intersection as above.
  Decision DecideResource(const Actor& who, std::string_view resource, std::string_view action,
                          std::string_view purpose, const Actor* on_behalf_of = nullptr) const;

  struct Rules;  // defined in policy/internal/rules.h

 private:
  explicit Policy(std::shared_ptr<const Rules> rules) : rules_(std::move(rules)) {}
  std::shared_ptr<const Rules> rules_;
};

// The first scope of `d` that `fields` fails, or null if it meets all of
// them. `fields` is any range of elements with `name` and `value` members
// holding canonical values, such as vault::Record::fields; a field absent
// from the record fails its scope.
template <typename Fields>
const RowScope* FirstViolatedScope(const Decision& d, const Fields& fields) {
  for (const RowScope& scope : d.scopes) {
    bool met = false;
    for (const auto& f : fields) {
      if (f.name == scope.field) {
        met = f.value == scope.value;
        break;
      }
    }
    if (!met) return &scope;
  }
  return nullptr;
}

// True if `d` allows and the record meets every row scope. For read,
// update, delete and export, a record out of scope is a denial (403, with
// OutOfScopeReason); for search, out-of-scope results are left out; for
// create and update, check the record as it would be written too.
template <typename Fields>
bool InScope(const Decision& d, const Fields& fields) {
  return d.allowed && FirstViolatedScope(d, fields) == nullptr;
}

// "record outside the row scope agency = principal.agency of role 'adviser'".
std::string OutOfScopeReason(const RowScope& scope);

template <typename Fields>
std::string OutOfScopeReason(const Decision& d, const Fields& fields) {
  if (!d.allowed) return d.reason;
  const RowScope* s = FirstViolatedScope(d, fields);
  return s == nullptr ? std::string() : OutOfScopeReason(*s);
}

}  // namespace coffre::policy
