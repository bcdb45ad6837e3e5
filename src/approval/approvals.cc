#include "approval/approvals.h"

#include <algorithm>
#include <boost/json.hpp>
#include <mutex>
#include <tuple>

#include "common/bytes.h"
#include "common/time_text.h"

namespace coffre::approval {
namespace {

namespace json = boost::json;
using storage::Space;

constexpr std::string_view kKeyPrefix = "approval/";

// One process owns the data directory: a process-wide lock serialises
// read-modify-write of approvals, whichever front end holds an Approvals.
std::mutex& StateMutex() {
  static std::mutex mu;
  return mu;
}

std::string Key(std::string_view id) { return std::string(kKeyPrefix) + ToHex(id); }

std::string Aad(std::string_view id) {
  std::string aad = "coffre.approval.v1";
  AppendLengthPrefixed(aad, id);
  return aad;
}

// Names as principals have them ([a-z0-9][a-z0-9._-]{0,63}): checked here
// so that no free text reaches the store or the audit log through params.
bool IsName(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              (i > 0 && (c == '.' || c == '_' || c == '-'));
    if (!ok) return false;
  }
  return true;
}

bool IsIdentifier(std::string_view s) {
  if (s.empty() || s.size() > 63 || !(s[0] >= 'a' && s[0] <= 'z')) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

json::object ToJson(const Approval& a) {
  json::object params;
  for (const auto& [k, v] : a.params) params[k] = v;
  return json::object{{"action", a.action},           {"params", std::move(params)},
                      {"requester", a.requester},     {"approver", a.approver},
                      {"created_ms", a.created_ms},   {"expires_ms", a.expires_ms},
                      {"approved_ms", a.approved_ms}, {"consumed_ms", a.consumed_ms}};
}

Result<Approval> FromJson(std::string_view id, std::string_view text) {
  const Error corrupt{ErrorCode::kDataLoss, "approval " + ToHex(id) + " is corrupt"};
  boost::system::error_code ec;
  json::value v = json::parse(json::string_view(text.data(), text.size()), ec);
  if (ec || !v.is_object()) return Fail(corrupt);
  const json::object& o = v.as_object();
  Approval a;
  a.id = std::string(id);
  auto str = [&](std::string_view k, std::string& out) {
    auto* p = o.if_contains(k);
    if (p == nullptr || !p->is_string()) return false;
    out = std::string(p->get_string());
    return true;
  };
  auto num = [&](std::string_view k, int64_t& out) {
    auto* p = o.if_contains(k);
    if (p == nullptr || !p->is_int64()) return false;
    out = p->get_int64();
    return true;
  };
  if (!str("action", a.action) || !str("requester", a.requester) || !str("approver", a.approver) ||
      !num("created_ms", a.created_ms) || !num("expires_ms", a.expires_ms) ||
      !num("approved_ms", a.approved_ms) || !num("consumed_ms", a.consumed_ms)) {
    return Fail(corrupt);
  }
  auto* params = o.if_contains("params");
  if (params == nullptr || !params->is_object()) return Fail(corrupt);
  for (const auto& kv : params->get_object()) {
    if (!kv.value().is_string()) return Fail(corrupt);
    a.params.emplace(std::string(kv.key()), std::string(kv.value().get_string()));
  }
  return a;
}

// A window's bound in its canonical text (common/time_text.h), which the
// report's query gives back (report::NotificationParams): any offset or a
// date is accepted, and the same window always reads the same.
Result<std::pair<int64_t, std::string>> CanonicalTime(const Params& p, std::string_view key,
                                                      std::string_view action) {
  auto it = p.find(key);
  if (it == p.end()) {
    return Fail(ErrorCode::kInvalidArgument,
                std::string(action) + ": parameter '" + std::string(key) + "' is required");
  }
  const TimeBound bound = key == "to" ? TimeBound::kTo : TimeBound::kFrom;
  COFFRE_ASSIGN_OR_RETURN(
      int64_t ms,
      ParseTime(it->second, bound, std::string(action) + ": '" + std::string(key) + "'"));
  return std::pair{ms, FormatTimeBound(ms, bound)};
}

}  // namespace

std::string_view StateName(State s) {
  switch (s) {
    case State::kPending:
      return "pending";
    case State::kApproved:
      return "approved";
    case State::kConsumed:
      return "consumed";
    case State::kExpired:
      return "expired";
  }
  return "expired";
}

State Approval::StateAt(int64_t now_ms) const {
  if (consumed_ms != 0) return State::kConsumed;
  if (now_ms >= expires_ms) return State::kExpired;
  if (!approver.empty()) return State::kApproved;
  return State::kPending;
}

Result<Params> CanonicalParams(std::string_view action, const Params& p) {
  auto only = [&](std::initializer_list<std::string_view> allowed) -> Status {
    for (const auto& [k, v] : p) {
      bool known = false;
      for (std::string_view a : allowed) known = known || k == a;
      if (!known) {
        return Fail(ErrorCode::kInvalidArgument,
                    std::string(action) + ": unknown parameter" +
                        (IsIdentifier(k) ? " '" + k + "'" : std::string()));
      }
    }
    return Ok();
  };
  Params out;
  if (action == kBulkExport) {
    COFFRE_TRY(only({"collection"}));
    auto it = p.find("collection");
    if (it == p.end())
      return Fail(ErrorCode::kInvalidArgument, "bulk_export: parameter 'collection' is required");
    if (!IsIdentifier(it->second)) {
      return Fail(ErrorCode::kInvalidArgument,
                  "bulk_export: 'collection' is not a collection name");
    }
    out.emplace("collection", it->second);
    return out;
  }
  if (action == kBreachNotification) {
    COFFRE_TRY(only({"principal", "user", "from", "to"}));
    bool any = false;
    for (std::string_view who : {"principal", "user"}) {
      auto it = p.find(who);
      if (it == p.end()) continue;
      if (!IsName(it->second)) {
        return Fail(ErrorCode::kInvalidArgument,
                    "breach_notification: '" + std::string(who) + "' is not a principal name");
      }
      out.emplace(std::string(who), it->second);
      any = true;
    }
    if (!any) {
      return Fail(ErrorCode::kInvalidArgument,
                  "breach_notification: parameter 'principal' is required");
    }
    COFFRE_ASSIGN_OR_RETURN(auto from, CanonicalTime(p, "from", action));
    COFFRE_ASSIGN_OR_RETURN(auto to, CanonicalTime(p, "to", action));
    if (to.first < from.first)
      return Fail(ErrorCode::kInvalidArgument, "breach_notification: 'to' is before 'from'");
    out.emplace("from", std::move(from.second));
    out.emplace("to", std::move(to.second));
    return out;
  }
  return Fail(ErrorCode::kInvalidArgument,
              "unknown approval action (known: bulk_export, breach_notification)");
}

Status Approvals::Store(const Approval& a) {
  std::string sealed = crypto::Seal(key_, json::serialize(ToJson(a)), Aad(a.id));
  auto batch = store_.NewBatch();
  batch->Put(Space::kCounters, Key(a.id), sealed);
  return store_.Write(*batch);
}

Result<Approval> Approvals::Change(std::string_view id,
                                   const std::function<Status(Approval&)>& change) {
  if (id.size() != kIdBytes) return Fail(ErrorCode::kInvalidArgument, "an approval id is 16 bytes");
  if (!store_.shared()) {
    std::lock_guard lock(StateMutex());
    COFFRE_ASSIGN_OR_RETURN(Approval a, Get(id));
    COFFRE_TRY(change(a));
    COFFRE_TRY(Store(a));
    return a;
  }
  // A cluster: another node may approve or consume the same approval at
  // the same moment; its lock makes the read-check-write one step.
  Approval changed;
  COFFRE_TRY(store_.Transact([&](storage::Transaction& t) -> Status {
    COFFRE_TRY(t.Lock("ap/" + ToHex(id)));
    COFFRE_ASSIGN_OR_RETURN(auto value, t.Get(Space::kCounters, Key(id)));
    if (!value) return Fail(ErrorCode::kNotFound, "no approval " + ToHex(id));
    auto text = crypto::Open(key_, *value, Aad(id), "approval");
    if (!text) return Fail(ErrorCode::kDataLoss, "approval " + ToHex(id) + " was altered or moved");
    COFFRE_ASSIGN_OR_RETURN(changed, FromJson(id, *text));
    COFFRE_TRY(change(changed));
    t.batch().Put(Space::kCounters, Key(id),
                  crypto::Seal(key_, json::serialize(ToJson(changed)), Aad(id)));
    return Ok();
  }));
  return changed;
}

Result<Approval> Approvals::Request(std::string_view action, const Params& params,
                                    std::string_view requester) {
  if (!IsName(requester))
    return Fail(ErrorCode::kInvalidArgument, "the requester is not a principal name");
  COFFRE_ASSIGN_OR_RETURN(Params canonical, CanonicalParams(action, params));
  Approval a;
  a.id = crypto::RandomString(kIdBytes);
  a.action = std::string(action);
  a.params = std::move(canonical);
  a.requester = std::string(requester);
  a.created_ms = clock_.NowUnixMillis();
  a.expires_ms = a.created_ms + kLifetimeMs;
  std::lock_guard lock(StateMutex());
  COFFRE_TRY(Store(a));
  return a;
}

Result<Approval> Approvals::Get(std::string_view id) {
  if (id.size() != kIdBytes) return Fail(ErrorCode::kInvalidArgument, "an approval id is 16 bytes");
  COFFRE_ASSIGN_OR_RETURN(auto value, store_.Get(Space::kCounters, Key(id)));
  if (!value) return Fail(ErrorCode::kNotFound, "no approval " + ToHex(id));
  auto text = crypto::Open(key_, *value, Aad(id), "approval");
  if (!text) return Fail(ErrorCode::kDataLoss, "approval " + ToHex(id) + " was altered or moved");
  return FromJson(id, *text);
}

Result<std::vector<Approval>> Approvals::List(std::optional<State> state, size_t limit,
                                              bool* more) {
  const int64_t now = clock_.NowUnixMillis();
  std::vector<Approval> out;
  std::optional<Error> failed;
  if (more != nullptr) *more = false;
  COFFRE_TRY(
      store_.Scan(Space::kCounters, kKeyPrefix, [&](std::string_view key, std::string_view value) {
        auto id = FromHex(key.substr(kKeyPrefix.size()));
        if (!id || id->size() != kIdBytes) {
          failed = Error{ErrorCode::kDataLoss, "an approval's key was altered"};
          return false;
        }
        auto text = crypto::Open(key_, value, Aad(*id), "approval");
        if (!text) {
          failed = Error{ErrorCode::kDataLoss, "approval " + ToHex(*id) + " was altered or moved"};
          return false;
        }
        auto a = FromJson(*id, *text);
        if (!a) {
          failed = a.error();
          return false;
        }
        if (!state || a->StateAt(now) == *state) out.push_back(std::move(*a));
        return true;
      }));
  if (failed) return Fail(*failed);
  std::sort(out.begin(), out.end(), [](const Approval& x, const Approval& y) {
    return std::tie(x.created_ms, x.id) < std::tie(y.created_ms, y.id);
  });
  if (out.size() > limit) {
    out.resize(limit);
    if (more != nullptr) *more = true;
  }
  return out;
}

Result<Approval> Approvals::Approve(std::string_view id, std::string_view approver) {
  if (!IsName(approver))
    return Fail(ErrorCode::kInvalidArgument, "the approver is not a principal name");
  return Change(id, [&](Approval& a) -> Status {
    if (a.requester == approver) {
      return Fail(
          ErrorCode::kPermissionDenied,
          "approval " + ToHex(id) + " must be approved by another principal than its requester");
    }
    const int64_t now = clock_.NowUnixMillis();
    State s = a.StateAt(now);
    if (s != State::kPending) {
      return Fail(ErrorCode::kFailedPrecondition,
                  "approval " + ToHex(id) + " is " + std::string(StateName(s)) + ", not pending");
    }
    a.approver = std::string(approver);
    a.approved_ms = now;
    return Ok();
  });
}

Result<Approval> Approvals::Consume(std::string_view id, std::string_view action,
                                    const Params& params) {
  COFFRE_ASSIGN_OR_RETURN(Params canonical, CanonicalParams(action, params));
  return Change(id, [&](Approval& a) -> Status {
    const std::string shown = "approval " + ToHex(id);
    if (a.action != action) {
      return Fail(ErrorCode::kPermissionDenied,
                  shown + " is for " + a.action + ", not " + std::string(action));
    }
    const int64_t now = clock_.NowUnixMillis();
    State s = a.StateAt(now);
    if (s != State::kApproved) {
      return Fail(ErrorCode::kPermissionDenied,
                  shown + " is " + std::string(StateName(s)) +
                      (s == State::kPending ? " (a second admin must approve it)" : ""));
    }
    if (a.params != canonical) {
      std::string which;
      for (const auto& [k, v] : a.params) {
        auto it = canonical.find(k);
        if (it == canonical.end() || it->second != v) which += (which.empty() ? "" : ", ") + k;
      }
      for (const auto& [k, v] : canonical) {
        if (!a.params.contains(k)) which += (which.empty() ? "" : ", ") + k;
      }
      return Fail(ErrorCode::kPermissionDenied,
                  shown + " was approved for other parameters (" + which + ")");
    }
    a.consumed_ms = now;
    return Ok();
  });
}

}  // namespace coffre::approval
