// The guard: what the API asks after the policy allowed a request and
// before it answers (DESIGN.md, "quota" on the path of a request;
// docs/exfiltration.md). It counts exposures, searches and denials against
// the roles' limits (QuotaTracker), recognises canaries (CanarySet),
// suspends principals and users in the directory (stored: survives a
// restart), audits those suspensions as principal "coffre", and raises
// alerts (AlertLog, then the webhook if any).
//
//   auto guard = Guard::Open({.vault = v, .directory = dir, .audit = log, .clock = clock,
//                             .alerts = *v.Grant("guard", guard::kAlertSpaces)});
//   Requester who{{"support-app", "support_agent"}, std::nullopt};
//   Verdict v = (*guard)->Expose(*policy, who, entry.subjects);
//   if (!v.allowed()) return v.kind == Verdict::kSuspended ? 403 suspended : 429 quota_exceeded;
//
// - Expose: a hard limit that the response would exceed refuses it (nothing
//   counted), suspends whoever's limit it is and raises a critical alert;
//   a soft limit crossed raises a warning; a canary in the response raises
//   a critical alert and, unless that party's role says on_canary =
//   "alert", suspends the principal and the user; the response itself goes
//   out unchanged (refusing it would reveal the canary).
// - ChargeSearch: the search cap, matching or not; 429 with Retry-After
//   when reached, a warning at the first refusal of a window.
// - CountDenial: every denial (403); a warning when a role's threshold is
//   reached in its window.
// Failures to store an alert or a suspension are written to the server log
// (`log`) and do not let a refused request through.
//
// Cluster (docs/adr/0042-guard-across-nodes.md): when the store is shared(),
// the quotas are counted in it (quota_tracker.h, "Cluster"), a hard refusal
// commits the party's suspension marker in the same transaction, before the
// response, and IsSuspended (asked by the runner on every request) reads it
// from the store: every node refuses the party from its next request on.
// A store error refuses the request (Verdict::kUnavailable, 503). The
// canary set is reloaded from the store at most once a second.
//
// Thread-safety: every method is safe from many threads. Suspensions are
// serialised, so concurrent refusals of one principal suspend it, audit it
// and alert about it once.
// Ownership: borrows the vault, directory, audit log and clock (which must
// outlive it); owns the tracker, the canary set, the alert log and the
// webhook.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "audit/audit_log.h"
#include "auth/principals.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/status.h"
#include "guard/alert_log.h"
#include "guard/alert_webhook.h"
#include "guard/canary_set.h"
#include "guard/quota_tracker.h"
#include "policy/policy.h"
#include "vault/vault.h"

namespace coffre::guard {

// Name of the principal under which the guard's own actions are audited.
inline constexpr std::string_view kGuardPrincipal = "coffre";

struct Party {
  std::string_view name;
  std::string_view role;
};

// Who a request is counted for: the authenticated principal and, for a
// delegated request, the registered end user.
struct Requester {
  Party principal;
  std::optional<Party> user;
};

struct Verdict {
  // kUnavailable: a shared store could not count the request (refused).
  enum Kind { kAllowed, kSuspended, kQuotaExceeded, kUnavailable };
  Kind kind = kAllowed;
  std::string message;              // for the client: names roles and limits, never data
  int64_t retry_after_seconds = 0;  // kQuotaExceeded
  bool allowed() const { return kind == kAllowed; }
};

struct GuardOptions {
  vault::Vault& vault;
  auth::Directory& directory;
  audit::AuditLog& audit;
  Clock& clock;
  // The alert log's spaces (kAlertSpaces, vault::Vault::Grant).
  storage::SpaceHandle alerts;
  // Alerts are also POSTed here when set (WebhookOptions::url not empty).
  std::optional<WebhookOptions> webhook = std::nullopt;
  // Problems the guard cannot report otherwise (an alert not stored); no
  // personal value. Default: the process log (common/log.h).
  std::function<void(std::string_view)> log = nullptr;
};

class Guard {
 public:
  static Result<std::unique_ptr<Guard>> Open(GuardOptions options);
  ~Guard();

  Verdict Expose(const policy::Policy& policy, const Requester& who,
                 std::span<const std::string> subjects);
  Verdict ChargeSearch(const policy::Policy& policy, const Requester& who);
  void CountDenial(const policy::Policy& policy, const Requester& who);

  // Shared store: whether `name` carries the guard's suspension marker
  // (read from the store, never cached); false on an embedded vault, where
  // the directory's own flag is all there is.
  Result<bool> IsSuspended(std::string_view name) { return quotas_.IsSuspended(name); }
  // Shared store: `principal suspend` by an administrator, so that every
  // node refuses the name at once too. Ok and nothing otherwise.
  [[nodiscard]] Status RecordSuspension(std::string_view name) {
    return quotas_.MarkSuspended(name, "admin");
  }

  // `coffre canary add` in the process that owns the vault: writes them and
  // adds them to the live set. Returns how many were added.
  Result<size_t> AddCanaries(std::string_view collection, uint64_t count,
                             std::string_view email_domain,
                             std::optional<uint64_t> seed = std::nullopt);

  AlertLog& alerts() { return *alerts_; }
  CanarySet& canaries() { return canaries_; }
  QuotaTracker& quotas() { return quotas_; }
  // Null without a webhook.
  AlertWebhook* webhook() { return webhook_.get(); }

 private:
  explicit Guard(GuardOptions options);
  void Raise(Alert alert);
  // Suspends `name` unless it already is, and audits it.
  enum class Suspension { kNow, kAlready, kFailed };
  // `marked`: the shared store's marker is already committed.
  Suspension Suspend(std::string_view name, const std::string& why, bool marked = false);
  // Shared store: reloads the canary set when it is a second old.
  void RefreshCanaries();
  // To GuardOptions::log if set, else to the process log.
  void Log(log::Level level, std::string_view event, std::string_view message,
           log::Fields fields = {}) const;

  GuardOptions options_;
  QuotaTracker quotas_;
  CanarySet canaries_;
  std::unique_ptr<AlertLog> alerts_;
  std::unique_ptr<AlertWebhook> webhook_;
  std::mutex suspend_mu_;
  std::atomic<int64_t> canaries_loaded_ms_{0};
};

}  // namespace coffre::guard
