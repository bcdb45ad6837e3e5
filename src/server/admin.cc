#include "server/admin.h"

#include "audit/verify.h"
#include "common/bytes.h"
#include "common/clock.h"
#include "server/breach_ops.h"

namespace coffre::server {
namespace {

namespace json = boost::json;

Result<std::string> RequiredString(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_string()) {
    return Fail(ErrorCode::kInvalidArgument, "'" + std::string(key) + "' is required (a string)");
  }
  return std::string(it->value().get_string());
}

json::object PrincipalToJson(const auth::Principal& p) {
  json::object attrs;
  for (const auto& [k, v] : p.attrs) attrs[k] = v;
  return json::object{{"name", p.name},
                      {"kind", auth::KindName(p.kind)},
                      {"role", p.role},
                      {"attrs", std::move(attrs)},
                      {"suspended", p.suspended}};
}

json::value Time(int64_t t) { return json::value(FormatRfc3339(t)); }

Result<auth::Attributes> AttrsOf(const json::object& req) {
  auth::Attributes attrs;
  if (auto it = req.find("attrs"); it != req.end()) {
    if (!it->value().is_object())
      return Fail(ErrorCode::kInvalidArgument, "'attrs' must be an object");
    for (const auto& kv : it->value().get_object()) {
      if (!kv.value().is_string())
        return Fail(ErrorCode::kInvalidArgument, "attribute values must be strings");
      attrs.emplace(std::string(kv.key()), std::string(kv.value().get_string()));
    }
  }
  return attrs;
}

Result<std::string> OptionalString(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end()) return std::string();
  if (!it->value().is_string()) {
    return Fail(ErrorCode::kInvalidArgument, "'" + std::string(key) + "' must be a string");
  }
  return std::string(it->value().get_string());
}

// The target of a principal operation and what changed, for its audit
// entry (which has no field for a target): names, roles and attribute
// keys, never an attribute value or a secret.
std::string PrincipalAuditReason(std::string_view op, const json::object& req,
                                 const Result<json::object>& result) {
  auto name = req.find("name");
  if (name == req.end() || !name->value().is_string()) return {};
  // An invalid name could be anything typed by mistake: not written.
  if (!auth::ValidateName(name->value().get_string())) return "principal (invalid name)";
  std::string out = "principal " + std::string(name->value().get_string());
  if (!result) return out;
  if (op == "principal.update") {
    if (auto r = result->find("role"); r != result->end() && req.contains("role")) {
      out += "; role " + std::string(r->value().get_string());
    }
    for (std::string_view part : {"attrs", "remove_attrs"}) {
      auto it = req.find(part);
      if (it == req.end()) continue;
      std::string keys;
      if (it->value().is_object()) {
        for (const auto& kv : it->value().get_object())
          keys += (keys.empty() ? "" : ",") + std::string(kv.key());
      } else if (it->value().is_array()) {
        for (const auto& k : it->value().get_array()) {
          if (k.is_string()) keys += (keys.empty() ? "" : ",") + std::string(k.get_string());
        }
      }
      if (!keys.empty())
        out += (part == "attrs" ? "; attributes set " : "; attributes removed ") + keys;
    }
  }
  if (op == "principal.rotate-key") {
    auto until = result->find("previous_valid_until");
    out += until != result->end()
               ? "; old key valid until " + std::string(until->value().get_string())
               : "; old key revoked";
  }
  if (op == "principal.unlock") {
    out += result->at("was_locked").as_bool() ? "; was locked" : "; was not locked";
  }
  if (op == "principal.resume") out += "; quota windows cleared";
  return out;
}

json::object RuleToJson(const schema::RetentionRule& r) {
  json::object o{{"from", r.from}, {"delete_after", schema::FormatDuration(r.delete_after)}};
  o["archive_after"] = r.archive_after ? json::value(schema::FormatDuration(*r.archive_after)) : json::value(nullptr);
  o["category"] = r.category == schema::RetentionRule::Category::kNone ? json::value(nullptr)
                                                                      : json::value(schema::CategoryName(r.category));
  return o;
}

json::object PlanToJson(const retention::Plan& plan) {
  json::array collections;
  for (const retention::CollectionPlan& cp : plan.collections) {
    json::array records;
    for (const retention::PlannedRecord& p : cp.records) {
      json::object o{{"id", ToHex(p.id)},   {"subject", ToHex(p.subject)}, {"state", p.archived ? "archived" : "online"},
                     {"action", p.action}, {"due", Time(p.due)},          {"held", p.held}};
      if (p.activity_unknown) o["activity_unknown"] = true;
      records.push_back(std::move(o));
    }
    collections.push_back(json::object{{"collection", cp.collection},
                                       {"rule", RuleToJson(cp.rule)},
                                       {"online", cp.online},
                                       {"archived", cp.archived},
                                       {"due_now", cp.due_now},
                                       {"held", cp.held},
                                       {"undated", cp.undated},
                                       {"records", std::move(records)},
                                       {"truncated", cp.truncated}});
  }
  return json::object{{"now", Time(plan.now)}, {"collections", std::move(collections)}};
}

Result<std::string> SubjectOf(const json::object& req) {
  COFFRE_ASSIGN_OR_RETURN(std::string hex, RequiredString(req, "subject"));
  return ParseId(hex, "subject");
}

}  // namespace

json::object ErrorToJson(const Error& e) {
  return json::object{
      {"error", json::object{{"code", ErrorCodeName(e.code)}, {"message", e.message}}}};
}

Error ErrorFromJson(const json::value& v) {
  static const ErrorCode kAll[] = {
      ErrorCode::kInvalidArgument, ErrorCode::kNotFound,           ErrorCode::kAlreadyExists,
      ErrorCode::kPermissionDenied, ErrorCode::kFailedPrecondition, ErrorCode::kDataLoss,
      ErrorCode::kIoError,         ErrorCode::kInternal,           ErrorCode::kUnauthenticated,
      ErrorCode::kResourceExhausted};
  Error e{ErrorCode::kInternal, "the server answered with a malformed error"};
  if (!v.is_object() || !v.as_object().contains("error")) return e;
  const json::value& err = v.as_object().at("error");
  if (!err.is_object()) return e;
  const json::object& o = err.as_object();
  if (auto it = o.find("message"); it != o.end() && it->value().is_string()) {
    e.message = std::string(it->value().get_string());
  }
  if (auto it = o.find("code"); it != o.end() && it->value().is_string()) {
    for (ErrorCode c : kAll) {
      if (ErrorCodeName(c) == it->value().get_string()) e.code = c;
    }
  }
  return e;
}

Result<json::object> Admin::Execute(const json::object& request, std::string_view source) {
  auto op_it = request.find("op");
  if (op_it == request.end() || !op_it->value().is_string()) {
    return Fail(ErrorCode::kInvalidArgument, "the request names no operation");
  }
  std::string op(op_it->value().get_string());
  Result<json::object> result =
      IsBreachOp(op) ? ExecuteBreachOp(rt_, op, request, source) : Dispatch(op, request);

  audit::Entry e;
  e.principal = "local";
  e.action = op;
  e.source = std::string(source);
  if (op == "canary.add" && result) {
    // A count, never the canaries' ids: the audit log is readable without
    // the key, and canaries must not be listable.
    auto c = request.find("collection");
    if (c != request.end() && c->value().is_string() &&
        rt_.vault().schema().Find(std::string_view(c->value().get_string())) != nullptr) {
      e.collection = std::string(c->value().get_string());
    }
    e.reason = std::to_string(result->at("added").as_int64()) + " canaries added";
  }
  if (op == "retention.hold" || op == "retention.release") {
    // The subject the hold is about (an id, never a value).
    if (auto subject = SubjectOf(request)) e.subjects = {*subject};
  }
  if (op == "retention.run" && result) {
    e.reason = std::to_string(result->at("archived").to_number<int64_t>()) + " archived, " +
               std::to_string(result->at("deleted").to_number<int64_t>()) + " deleted, " +
               std::to_string(result->at("held").to_number<int64_t>()) + " held";
  }
  if (op.starts_with("principal.") && op != "principal.list") {
    e.reason = PrincipalAuditReason(op, request, result);
    if (!result) e.reason += "; " + std::string(ErrorCodeName(result.error().code));
  }
  if (op == "cards.sweep" && result) {
    e.reason = std::to_string(result->at("expired").to_number<int64_t>()) + " expired, " +
               std::to_string(result->at("evidence_deleted").to_number<int64_t>()) + " evidences deleted";
  }
  e.outcome = result ? "allowed" : "error";
  if (!result && e.reason.empty()) e.reason = std::string(ErrorCodeName(result.error().code));
  // Fail closed: an operation that cannot be audited reports failure (the
  // change, if any, is durable; the audit gap is reported to the caller).
  if (auto appended = rt_.audit().Append(std::move(e)); !appended) {
    return Fail(ErrorCode::kIoError, "the operation ran but could not be audited: " +
                                         appended.error().message);
  }
  return result;
}

Result<json::object> Admin::Dispatch(std::string_view op, const json::object& req) {
  auth::Directory& dir = rt_.directory();
  if (op == "principal.add") {
    auth::NewPrincipal spec;
    COFFRE_ASSIGN_OR_RETURN(spec.name, RequiredString(req, "name"));
    COFFRE_ASSIGN_OR_RETURN(std::string kind, RequiredString(req, "kind"));
    COFFRE_ASSIGN_OR_RETURN(spec.kind, auth::ParseKind(kind));
    COFFRE_ASSIGN_OR_RETURN(spec.role, RequiredString(req, "role"));
    if (!rt_.policy()->HasRole(spec.role)) {
      return Fail(ErrorCode::kInvalidArgument,
                  "role '" + spec.role + "' is not in the loaded policy (coffre policy load)");
    }
    COFFRE_ASSIGN_OR_RETURN(spec.attrs, AttrsOf(req));
    if (auto it = req.find("password"); it != req.end()) {
      if (!it->value().is_string()) return Fail(ErrorCode::kInvalidArgument, "'password' must be a string");
      spec.password = std::string(it->value().get_string());
    }
    COFFRE_ASSIGN_OR_RETURN(spec.totp_issuer, OptionalString(req, "totp_issuer"));
    COFFRE_ASSIGN_OR_RETURN(auth::AddResult added, dir.Add(spec));
    json::object out{{"name", added.principal.name},
                     {"kind", auth::KindName(added.principal.kind)},
                     {"role", added.principal.role}};
    if (!added.api_key.empty()) out["api_key"] = added.api_key;
    // The CLI shows these on standard error and drops them from its output.
    if (!added.otpauth_uri.empty()) {
      out["otpauth_uri"] = added.otpauth_uri;
      out["totp_key"] = added.totp_secret_base32;
    }
    return out;
  }
  if (op == "principal.list") {
    COFFRE_ASSIGN_OR_RETURN(auto all, dir.List());
    json::array list;
    for (const auth::Principal& p : all) list.push_back(PrincipalToJson(p));
    return json::object{{"principals", std::move(list)}};
  }
  if (op == "principal.suspend" || op == "principal.resume" || op == "principal.remove") {
    COFFRE_ASSIGN_OR_RETURN(std::string name, RequiredString(req, "name"));
    if (op == "principal.suspend") COFFRE_TRY(dir.Suspend(name));
    if (op == "principal.resume") {
      COFFRE_TRY(dir.Resume(name));
      // The windows start empty: a resumed principal is not suspended again
      // by the next new subject (ADR 0017 supersedes ADR 0008 on this).
      rt_.guard().quotas().Forget(name);
    }
    if (op == "principal.remove") COFFRE_TRY(dir.Remove(name));
    return json::object{{"name", name}};
  }
  if (op == "principal.update") {
    COFFRE_ASSIGN_OR_RETURN(std::string name, RequiredString(req, "name"));
    auth::PrincipalUpdate update;
    if (req.contains("role")) {
      COFFRE_ASSIGN_OR_RETURN(std::string role, RequiredString(req, "role"));
      if (!rt_.policy()->HasRole(role)) {
        return Fail(ErrorCode::kInvalidArgument,
                    "role '" + role + "' is not in the loaded policy (coffre policy load)");
      }
      update.role = std::move(role);
    }
    COFFRE_ASSIGN_OR_RETURN(update.set_attrs, AttrsOf(req));
    if (auto it = req.find("remove_attrs"); it != req.end()) {
      if (!it->value().is_array())
        return Fail(ErrorCode::kInvalidArgument, "'remove_attrs' must be an array");
      for (const auto& k : it->value().get_array()) {
        if (!k.is_string())
          return Fail(ErrorCode::kInvalidArgument, "'remove_attrs' must hold strings");
        update.remove_attrs.emplace_back(k.get_string());
      }
    }
    COFFRE_ASSIGN_OR_RETURN(auth::Principal p, dir.Update(name, update));
    return PrincipalToJson(p);
  }
  if (op == "principal.rotate-key") {
    COFFRE_ASSIGN_OR_RETURN(std::string name, RequiredString(req, "name"));
    int64_t grace = 0;
    if (auto it = req.find("grace_seconds"); it != req.end()) {
      if (!it->value().is_int64())
        return Fail(ErrorCode::kInvalidArgument, "'grace_seconds' must be an integer");
      grace = it->value().get_int64();
    }
    COFFRE_ASSIGN_OR_RETURN(auth::RotatedKey k, dir.RotateApiKey(name, grace));
    json::object out{{"name", name}, {"api_key", k.api_key}};
    if (k.previous_valid_until != 0) out["previous_valid_until"] = Time(k.previous_valid_until);
    return out;
  }
  if (op == "principal.reset-totp") {
    COFFRE_ASSIGN_OR_RETURN(std::string name, RequiredString(req, "name"));
    COFFRE_ASSIGN_OR_RETURN(std::string issuer, OptionalString(req, "totp_issuer"));
    COFFRE_ASSIGN_OR_RETURN(auth::TotpEnrolment t, dir.ResetTotp(name, issuer));
    return json::object{
        {"name", name}, {"otpauth_uri", t.otpauth_uri}, {"totp_key", t.totp_secret_base32}};
  }
  if (op == "principal.unlock") {
    COFFRE_ASSIGN_OR_RETURN(std::string name, RequiredString(req, "name"));
    COFFRE_ASSIGN_OR_RETURN(bool was_locked, dir.Unlock(name));
    return json::object{{"name", name}, {"was_locked", was_locked}};
  }
  if (op == "principal.usage") {
    COFFRE_ASSIGN_OR_RETURN(std::string name, RequiredString(req, "name"));
    COFFRE_ASSIGN_OR_RETURN(auth::Principal p, dir.Get(name));
    auto policy = rt_.policy();
    json::object out{{"name", p.name}, {"role", p.role}, {"suspended", p.suspended}};
    const policy::Limits* limits = policy->LimitsOf(p.role);
    if (limits == nullptr) {
      out["limits"] = nullptr;  // the role has no limits: nothing is counted
      return out;
    }
    guard::QuotaTracker::Usage u = rt_.guard().quotas().UsageOf(name, *limits);
    json::array subjects;
    for (size_t i = 0; i < limits->subjects.size(); ++i) {
      const policy::SubjectLimit& l = limits->subjects[i];
      subjects.push_back(json::object{
          {"window", l.window}, {"count", u.subjects[i]}, {"soft", l.soft}, {"hard", l.hard}});
    }
    out["subjects"] = std::move(subjects);
    out["searches"] = limits->searches
                          ? json::value(json::object{{"window", limits->searches->window},
                                                     {"count", u.searches},
                                                     {"max", limits->searches->max}})
                          : json::value(nullptr);
    out["denials"] = limits->denials ? json::value(json::object{{"window", limits->denials->window},
                                                                {"count", u.denials},
                                                                {"alert", limits->denials->alert}})
                                     : json::value(nullptr);
    return out;
  }
  if (op == "policy.load") {
    COFFRE_ASSIGN_OR_RETURN(std::string text, RequiredString(req, "text"));
    COFFRE_TRY(rt_.ReplacePolicy(text));
    json::array roles;
    for (const std::string& r : rt_.policy()->RoleNames()) roles.push_back(json::value(r));
    json::object out{{"roles", std::move(roles)}};
    json::array warnings;
    for (const std::string& r : rt_.policy()->RolesReadingWithoutLimits()) {
      warnings.push_back(json::value("role '" + r + "' may read people's data without subject limits"));
    }
    if (!warnings.empty()) out["warnings"] = std::move(warnings);
    return out;
  }
  if (op == "audit.verify") {
    // Entries appended so far are checkpointed first, so the whole log is
    // covered by signatures the anchor also holds.
    COFFRE_TRY(rt_.audit().Checkpoint());
    std::string anchor = rt_.options().audit_anchor;
    if (auto it = req.find("anchor"); it != req.end() && it->value().is_string()) {
      anchor = std::string(it->value().get_string());
    }
    COFFRE_ASSIGN_OR_RETURN(audit::VerifyReport r, audit::Verify(rt_.audit().reader(), anchor));
    json::object out{{"ok", r.ok}, {"entries", r.entries}, {"checkpoints", r.checkpoints},
                     {"anchored", r.anchored}};
    if (r.first_bad_seq) out["first_bad_seq"] = *r.first_bad_seq;
    if (!r.problem.empty()) out["problem"] = r.problem;
    return out;
  }
  if (op == "canary.add") {
    COFFRE_ASSIGN_OR_RETURN(std::string collection, RequiredString(req, "collection"));
    auto count = req.find("count");
    if (count == req.end() || !count->value().is_int64() || count->value().get_int64() < 1) {
      return Fail(ErrorCode::kInvalidArgument, "'count' must be a positive integer");
    }
    std::string domain;
    if (auto it = req.find("email_domain"); it != req.end()) {
      if (!it->value().is_string()) return Fail(ErrorCode::kInvalidArgument, "'email_domain' must be a string");
      domain = std::string(it->value().get_string());
    }
    std::optional<uint64_t> seed;
    if (auto it = req.find("seed"); it != req.end()) {
      if (!it->value().is_int64() || it->value().get_int64() < 0) {
        return Fail(ErrorCode::kInvalidArgument, "'seed' must be a non-negative integer");
      }
      seed = static_cast<uint64_t>(it->value().get_int64());
    }
    COFFRE_ASSIGN_OR_RETURN(size_t added,
                            rt_.guard().AddCanaries(collection, static_cast<uint64_t>(count->value().get_int64()),
                                                    domain, seed));
    return json::object{{"added", static_cast<int64_t>(added)}};
  }
  if (op == "alerts.list") {
    guard::AlertFilter filter;
    for (auto [key, field] : {std::pair{"from", &filter.from}, std::pair{"to", &filter.to}}) {
      if (auto it = req.find(key); it != req.end()) {
        if (!it->value().is_int64()) return Fail(ErrorCode::kInvalidArgument, "'" + std::string(key) + "' must be unix seconds");
        *field = it->value().get_int64();
      }
    }
    if (auto it = req.find("limit"); it != req.end()) {
      if (!it->value().is_int64() || it->value().get_int64() < 0) {
        return Fail(ErrorCode::kInvalidArgument, "'limit' must be a non-negative integer");
      }
      filter.limit = static_cast<size_t>(it->value().get_int64());
    }
    if (auto it = req.find("after_id"); it != req.end()) {
      if (!it->value().is_int64() || it->value().get_int64() < 0) {
        return Fail(ErrorCode::kInvalidArgument, "'after_id' must be a non-negative integer");
      }
      filter.after_id = static_cast<uint64_t>(it->value().get_int64());
    }
    json::array alerts;
    COFFRE_TRY(rt_.guard().alerts().List(filter, [&](const guard::Alert& a) {
      alerts.push_back(guard::AlertToJsonObject(a));
      return true;
    }));
    return json::object{{"alerts", std::move(alerts)}};
  }
  if (op == "retention.run") {
    COFFRE_ASSIGN_OR_RETURN(retention::SweepResult r, rt_.retention().Sweep());
    // The card sweep too (cards expire with their month; docs/retention.md).
    COFFRE_ASSIGN_OR_RETURN(cards::SweepStats c, rt_.SweepCards());
    json::array held;
    for (const std::string& s : r.held_subjects) held.push_back(json::value(ToHex(s)));
    return json::object{{"at", Time(r.at)},
                        {"archived", r.archived},
                        {"deleted", r.deleted},
                        {"held", r.held},
                        {"held_subjects", std::move(held)},
                        {"stamped", r.stamped},
                        {"skipped", r.skipped},
                        {"unreadable", r.unreadable},
                        {"cards", json::object{{"expired", c.expired},
                                               {"evidence_deleted", c.evidence_deleted},
                                               {"unreadable", c.unreadable}}}};
  }
  if (op == "cards.sweep") {
    COFFRE_ASSIGN_OR_RETURN(cards::SweepStats st, rt_.SweepCards());
    return json::object{{"at", Time(rt_.clock().NowUnixSeconds())},
                        {"scanned", st.scanned},
                        {"expired", st.expired},
                        {"evidence_deleted", st.evidence_deleted},
                        {"unreadable", st.unreadable},
                        {"evidence_months", rt_.cards().options().evidence_months}};
  }
  if (op == "retention.report") {
    size_t limit = 1000;
    if (auto it = req.find("limit"); it != req.end()) {
      if (!it->value().is_int64() || it->value().get_int64() < 1 || it->value().get_int64() > 100000) {
        return Fail(ErrorCode::kInvalidArgument, "'limit' must be an integer from 1 to 100000");
      }
      limit = static_cast<size_t>(it->value().get_int64());
    }
    COFFRE_ASSIGN_OR_RETURN(retention::Plan plan, rt_.retention().Report(limit));
    return PlanToJson(plan);
  }
  if (op == "retention.hold" || op == "retention.release") {
    COFFRE_ASSIGN_OR_RETURN(std::string subject, SubjectOf(req));
    if (op == "retention.hold") {
      COFFRE_TRY(rt_.retention().SetHold(subject, "local"));
    } else {
      COFFRE_TRY(rt_.retention().ReleaseHold(subject));
    }
    COFFRE_ASSIGN_OR_RETURN(auto hold, rt_.retention().GetHold(subject));
    json::object out{{"subject", ToHex(subject)}, {"held", hold.has_value()}};
    if (hold) {
      out["since"] = Time(hold->since);
      out["by"] = hold->by;
    }
    return out;
  }
  return Fail(ErrorCode::kInvalidArgument, "unknown operation");
}

}  // namespace coffre::server
