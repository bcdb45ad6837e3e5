#include "guard/guard.h"

#include <span>

#include "common/metrics.h"

namespace coffre::guard {
namespace {

// Alerts raised, by kind (label values in AlertKind order).
metrics::LabelledCounter& g_alerts = metrics::Default().AddLabelledCounter(
    "coffre_alerts_total", "Alerts raised by the guard, by kind.", "kind",
    {std::string(KindName(AlertKind::kQuotaSoft)), std::string(KindName(AlertKind::kQuotaHard)),
     std::string(KindName(AlertKind::kSearchCap)), std::string(KindName(AlertKind::kDenials)),
     std::string(KindName(AlertKind::kCanary))});

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

// "principal 'crm' (role 'crm_backend')" / "user 'alice' (role 'adviser')"
std::string Describe(const Requester& who, size_t index) {
  const Party& p = index == 0 ? who.principal : *who.user;
  return std::string(index == 0 ? "principal " : "user ") + Quote(p.name) + " (role " +
         Quote(p.role) + ")";
}

const Party& PartyOf(const Requester& who, size_t index) {
  return index == 0 ? who.principal : *who.user;
}

}  // namespace

Guard::Guard(GuardOptions options)
    : options_(std::move(options)), quotas_(options_.clock, options_.alerts) {}

Guard::~Guard() {
  if (webhook_) webhook_->Stop();
}

Result<std::unique_ptr<Guard>> Guard::Open(GuardOptions options) {
  std::unique_ptr<Guard> g(new Guard(std::move(options)));
  COFFRE_TRY(g->canaries_.Load(g->options_.vault));
  g->canaries_loaded_ms_ = g->options_.clock.NowUnixMillis();
  COFFRE_ASSIGN_OR_RETURN(g->alerts_, AlertLog::Open(g->options_.alerts, g->options_.clock));
  if (g->options_.webhook &&
      (!g->options_.webhook->url.empty() || g->options_.webhook->transport)) {
    WebhookOptions wo = std::move(*g->options_.webhook);
    g->options_.webhook.reset();
    if (wo.clock == nullptr) wo.clock = &g->options_.clock;
    COFFRE_ASSIGN_OR_RETURN(g->webhook_, AlertWebhook::Start(std::move(wo)));
  }
  return g;
}

void Guard::Log(log::Level level, std::string_view event, std::string_view message,
                log::Fields fields) const {
  if (options_.log) {
    options_.log(message);
  } else {
    log::Write(level, event, message, std::span<const log::Field>(fields.begin(), fields.size()));
  }
}

void Guard::Raise(Alert alert) {
  g_alerts.Add(static_cast<size_t>(alert.kind));
  auto stored = alerts_->Raise(std::move(alert));
  if (!stored) {
    Log(log::Level::kError, "guard.alert_failed",
        "an alert could not be stored: " + stored.error().message);
    return;
  }
  Log(log::Level::kWarn, "guard.alert",
      "alert " + std::to_string(stored->id) + " (" + std::string(SeverityName(stored->severity)) +
          ", " + std::string(KindName(stored->kind)) + ")",
      {{"alert_id", stored->id},
       {"severity", SeverityName(stored->severity)},
       {"kind", KindName(stored->kind)}});
  if (webhook_) webhook_->Enqueue(*stored);
}

void Guard::RefreshCanaries() {
  if (!quotas_.shared()) return;
  const int64_t now = options_.clock.NowUnixMillis();
  int64_t loaded = canaries_loaded_ms_.load();
  if (now - loaded < 1000 && now >= loaded) return;
  // One thread reloads; the others keep the set they have.
  if (!canaries_loaded_ms_.compare_exchange_strong(loaded, now)) return;
  if (auto s = canaries_.Load(options_.vault); !s) {
    Log(log::Level::kError, "guard.canaries_failed",
        "the canary set could not be reloaded: " + s.error().message);
  }
}

Guard::Suspension Guard::Suspend(std::string_view name, const std::string& why, bool marked) {
  std::lock_guard lock(suspend_mu_);
  if (!marked) {
    // Shared store: the marker every node reads before the directory's
    // own flag reaches it.
    if (auto m = quotas_.MarkSuspended(name, "guard"); !m) {
      Log(log::Level::kError, "guard.suspend_failed",
          "a principal could not be suspended: " + m.error().message);
      return Suspension::kFailed;
    }
  }
  auto current = options_.directory.Get(name);
  if (current && current->suspended) return Suspension::kAlready;
  if (auto s = options_.directory.Suspend(name); !s) {
    Log(log::Level::kError, "guard.suspend_failed",
        "a principal could not be suspended: " + s.error().message);
    return Suspension::kFailed;
  }
  audit::Entry e;
  e.principal = std::string(kGuardPrincipal);
  e.action = "principal.suspend";
  e.outcome = "allowed";
  e.reason = why;
  e.source = "coffre:guard";
  if (auto appended = options_.audit.Append(std::move(e)); !appended) {
    Log(log::Level::kError, "guard.suspend_audit_failed",
        "a suspension could not be audited: " + appended.error().message);
  }
  return Suspension::kNow;
}

Verdict Guard::Expose(const policy::Policy& policy, const Requester& who,
                      std::span<const std::string> subjects) {
  Verdict v;
  if (subjects.empty()) return v;
  Counted counted[2] = {{who.principal.name, policy.LimitsOf(who.principal.role)}, {}};
  size_t n = 1;
  if (who.user) counted[n++] = {who.user->name, policy.LimitsOf(who.user->role)};
  ExposureOutcome out = quotas_.ChargeSubjects(std::span<const Counted>(counted, n), subjects);
  if (out.error) {
    Log(log::Level::kError, "guard.quota_unavailable",
        "a request was refused: its quota could not be counted: " + out.error->message);
    v.kind = Verdict::kUnavailable;
    v.message = "quotas cannot be counted now; nothing was returned";
    return v;
  }
  if (!out.suspended.empty()) {
    // A refusal on some node already suspended this party (shared store).
    v.kind = Verdict::kSuspended;
    v.message =
        std::string(out.suspended.front() == 0 ? "this principal" : "the on-behalf-of user") +
        " is suspended until an administrator resumes it";
    return v;
  }

  auto alert_for = [&](Severity severity, AlertKind kind) {
    Alert a;
    a.severity = severity;
    a.kind = kind;
    a.principal = std::string(who.principal.name);
    if (who.user) a.user = std::string(who.user->name);
    return a;
  };

  if (out.refused()) {
    bool suspended_party[2] = {false, false};
    for (const Crossing& c : out.hard) {
      if (suspended_party[c.who]) continue;  // a second window of the same party
      suspended_party[c.who] = true;
      const Party& party = PartyOf(who, c.who);
      const std::string what = Describe(who, c.who) + " would have been exposed to " +
                               std::to_string(c.count) + " distinct subjects in " + c.window +
                               ", over the hard limit of " + std::to_string(c.limit);
      // Concurrent refusals of one party: the first suspends and alerts.
      const Suspension s = Suspend(party.name, "quota_hard: " + what, quotas_.shared());
      if (s != Suspension::kAlready) {
        Alert a = alert_for(Severity::kCritical, AlertKind::kQuotaHard);
        a.window = c.window;
        a.count = c.count;
        a.limit = c.limit;
        a.suspended = s == Suspension::kNow;
        a.detail =
            what + (a.suspended ? "; suspended until an administrator resumes it"
                                : "; the suspension could not be stored (see the server log)");
        Raise(std::move(a));
      }
      if (v.message.empty()) {
        v.message = std::string(c.who == 0 ? "this principal" : "the on-behalf-of user") +
                    " reached the hard limit of role " + Quote(party.role) + " (" +
                    std::to_string(c.limit) + " people per " + c.window +
                    ") and is suspended until an administrator resumes it";
      }
    }
    v.kind = Verdict::kSuspended;
    return v;
  }

  for (const Crossing& c : out.soft) {
    Alert a = alert_for(Severity::kWarning, AlertKind::kQuotaSoft);
    a.window = c.window;
    a.count = c.count;
    a.limit = c.limit;
    a.detail = Describe(who, c.who) + " was exposed to " + std::to_string(c.count) +
               " distinct subjects in " + c.window + ", over the soft limit of " +
               std::to_string(c.limit);
    Raise(std::move(a));
  }

  RefreshCanaries();
  if (size_t hits = canaries_.Count(subjects); hits > 0) {
    Alert a = alert_for(Severity::kCritical, AlertKind::kCanary);
    a.count = hits;
    a.detail = "a response carried " + std::to_string(hits) + " canary record" +
               (hits > 1 ? "s" : "") + " to " + Describe(who, 0) +
               (who.user ? " on behalf of " + Describe(who, 1) : std::string());
    std::string suspended;
    for (size_t i = 0; i < n; ++i) {
      const Party& party = PartyOf(who, i);
      if (policy.OnCanaryOf(party.role) != policy::OnCanary::kSuspend) continue;
      if (Suspend(party.name, "canary: a response carried a canary record to " +
                                  Describe(who, i)) == Suspension::kFailed) {
        continue;
      }
      a.suspended = true;
      suspended += (suspended.empty() ? "" : " and ") + Quote(party.name);
    }
    a.detail +=
        a.suspended ? "; suspended " + suspended : "; not suspended (on_canary = \"alert\")";
    Raise(std::move(a));
  }
  return v;
}

Verdict Guard::ChargeSearch(const policy::Policy& policy, const Requester& who) {
  Verdict v;
  Counted counted[2] = {{who.principal.name, policy.LimitsOf(who.principal.role)}, {}};
  size_t n = 1;
  if (who.user) counted[n++] = {who.user->name, policy.LimitsOf(who.user->role)};
  SearchOutcome out = quotas_.ChargeSearch(std::span<const Counted>(counted, n));
  if (out.error) {
    Log(log::Level::kError, "guard.quota_unavailable",
        "a search was refused: its quota could not be counted: " + out.error->message);
    v.kind = Verdict::kUnavailable;
    v.message = "quotas cannot be counted now; nothing was returned";
    return v;
  }
  if (!out.suspended.empty()) {
    v.kind = Verdict::kSuspended;
    v.message =
        std::string(out.suspended.front() == 0 ? "this principal" : "the on-behalf-of user") +
        " is suspended until an administrator resumes it";
    return v;
  }
  for (const Crossing& c : out.alerts) {
    Alert a;
    a.severity = Severity::kWarning;
    a.kind = AlertKind::kSearchCap;
    a.principal = std::string(who.principal.name);
    if (who.user) a.user = std::string(who.user->name);
    a.window = c.window;
    a.count = c.count;
    a.limit = c.limit;
    a.detail = Describe(who, c.who) + " reached its search cap of " + std::to_string(c.limit) +
               " per " + c.window + "; further searches are refused until the window moves on";
    Raise(std::move(a));
  }
  if (out.refused()) {
    const Crossing& c = out.over.front();
    v.kind = Verdict::kQuotaExceeded;
    v.retry_after_seconds = out.retry_after_seconds;
    v.message = std::string(c.who == 0 ? "this principal" : "the on-behalf-of user") +
                " reached the search cap of role " + Quote(PartyOf(who, c.who).role) + " (" +
                std::to_string(c.limit) + " searches per " + c.window + "); retry later";
  }
  return v;
}

void Guard::CountDenial(const policy::Policy& policy, const Requester& who) {
  Counted counted[2] = {{who.principal.name, policy.LimitsOf(who.principal.role)}, {}};
  size_t n = 1;
  if (who.user) counted[n++] = {who.user->name, policy.LimitsOf(who.user->role)};
  for (const Crossing& c : quotas_.CountDenial(std::span<const Counted>(counted, n))) {
    Alert a;
    a.severity = Severity::kWarning;
    a.kind = AlertKind::kDenials;
    a.principal = std::string(who.principal.name);
    if (who.user) a.user = std::string(who.user->name);
    a.window = c.window;
    a.count = c.count;
    a.limit = c.limit;
    a.detail =
        Describe(who, c.who) + " was denied " + std::to_string(c.count) + " times in " + c.window;
    Raise(std::move(a));
  }
}

Result<size_t> Guard::AddCanaries(std::string_view collection, uint64_t count,
                                  std::string_view email_domain, std::optional<uint64_t> seed) {
  COFFRE_ASSIGN_OR_RETURN(auto added, guard::AddCanaries(options_.vault, collection, count,
                                                         email_domain, &canaries_, seed));
  return added.size();
}

}  // namespace coffre::guard
