// An alert: a quota crossed, a search cap reached, a run of denials, a
// canary read (docs/exfiltration.md, "Alerts"). Plain value, with its JSON
// form, the one stored, served by GET /v1/alerts, printed by `coffre alerts`
// and POSTed to the webhook:
//
//   {"id":7,"time":"2026-11-22T08:00:00Z","severity":"warning",
//    "kind":"quota_soft","principal":"support-app","user":"alice",
//    "window":"1h","count":51,"limit":50,"action":"none","detail":"..."}
//
// Every key is always present; `user`, `window`, `count` and `limit` are
// null when they do not apply. An alert never carries a personal value:
// names of principals and roles, counts, windows; never a subject id (the
// audit log has those) and never a canary's id.
//
//   Alert a{.severity = Severity::kWarning, .kind = AlertKind::kQuotaSoft,
//           .principal = "support-app", .window = "1h", .count = 51, .limit = 50};
//   std::string text = AlertToJson(a);
//   Result<Alert> back = AlertFromJson(text);
//
// Thread-safety: plain values and free functions.
#pragma once

#include <boost/json/fwd.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace coffre::guard {

enum class Severity { kWarning, kCritical };
enum class AlertKind { kQuotaSoft, kQuotaHard, kSearchCap, kDenials, kCanary };

std::string_view SeverityName(Severity s);  // "warning", "critical"
std::string_view KindName(AlertKind k);     // "quota_soft", "quota_hard", ...

struct Alert {
  uint64_t id = 0;   // set when stored (AlertLog::Raise)
  int64_t time = 0;  // unix seconds, set when stored
  Severity severity = Severity::kWarning;
  AlertKind kind = AlertKind::kQuotaSoft;
  std::string principal;              // who made the request
  std::optional<std::string> user;    // the on-behalf-of user, if any
  std::optional<std::string> window;  // "1h" for quotas, caps and denials
  std::optional<uint64_t> count;      // what was reached
  std::optional<uint64_t> limit;      // the policy's value
  bool suspended = false;             // "action": "suspended" or "none"
  std::string detail;                 // a sentence naming roles and limits

  bool operator==(const Alert&) const = default;
};

boost::json::object AlertToJsonObject(const Alert& a);
std::string AlertToJson(const Alert& a);
// Parses the stored form (kDataLoss for anything else: it comes from disk).
Result<Alert> AlertFromJson(std::string_view text);

}  // namespace coffre::guard
