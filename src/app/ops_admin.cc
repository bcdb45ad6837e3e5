#include "app/admin.h"
#include "app/admin_breach_ops.h"
#include "app/admin_data_ops.h"
#include "app/admin_import_op.h"
#include "app/admin_tls_op.h"
#include "app/backup.h"
#include "app/internal/input.h"
#include "app/operation.h"
#include "app/runner.h"
#include "audit/verify.h"
#include "common/bytes.h"
#include "common/clock.h"
#include "crypto/tls_material.h"

namespace coffre::app {
namespace {

namespace json = boost::json;
using internal::OptionalString;
using internal::RequiredString;

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
  o["archive_after"] = r.archive_after ? json::value(schema::FormatDuration(*r.archive_after))
                                       : json::value(nullptr);
  o["category"] = r.category == schema::RetentionRule::Category::kNone
                      ? json::value(nullptr)
                      : json::value(schema::CategoryName(r.category));
  return o;
}

json::object PlanToJson(const retention::Plan& plan) {
  json::array collections;
  for (const retention::CollectionPlan& cp : plan.collections) {
    json::array records;
    for (const retention::PlannedRecord& p : cp.records) {
      json::object o{{"id", ToHex(p.id)},
                     {"subject", ToHex(p.subject)},
                     {"state", p.archived ? "archived" : "online"},
                     {"action", p.action},
                     {"due", Time(p.due)},
                     {"held", p.held}};
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

namespace {

// What the entry of `op` says beyond who and what (a reason, a count, the
// subject of a hold): names, ids and counts, never a value.
void Describe(Runtime& rt_, std::string_view op, const json::object& request,
              const Result<json::object>& result, audit::Entry& e) {
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
               std::to_string(result->at("evidence_deleted").to_number<int64_t>()) +
               " evidences deleted";
  }
}

Result<json::object> OpPrincipalAdd(Runtime& rt_, std::string_view op, const json::object& req) {
  (void)op;
  auth::Directory& dir = rt_.directory();
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
    if (!it->value().is_string())
      return Fail(ErrorCode::kInvalidArgument, "'password' must be a string");
    spec.password = std::string(it->value().get_string());
  }
  COFFRE_ASSIGN_OR_RETURN(auto totp_issuer, OptionalString(req, "totp_issuer"));
  spec.totp_issuer = totp_issuer.value_or("");
  // mTLS (docs/auth.md, "Client certificates"): a fingerprint, or a CA
  // (PEM text, read by the CLI) and a subject.
  COFFRE_ASSIGN_OR_RETURN(auto fingerprint, OptionalString(req, "cert_fingerprint"));
  COFFRE_ASSIGN_OR_RETURN(auto cert_ca, OptionalString(req, "cert_ca"));
  COFFRE_ASSIGN_OR_RETURN(auto cert_subject, OptionalString(req, "cert_subject"));
  if (fingerprint) {
    COFFRE_ASSIGN_OR_RETURN(spec.certificate.fingerprint,
                            crypto::NormalizeFingerprint(*fingerprint));
  }
  spec.certificate.ca_pem = cert_ca.value_or("");
  spec.certificate.subject = cert_subject.value_or("");
  COFFRE_ASSIGN_OR_RETURN(auth::AddResult added, dir.Add(spec));
  json::object out{{"name", added.principal.name},
                   {"kind", auth::KindName(added.principal.kind)},
                   {"role", added.principal.role}};
  if (!added.api_key.empty()) out["api_key"] = added.api_key;
  if (!spec.certificate.fingerprint.empty()) {
    out["cert_fingerprint"] = spec.certificate.fingerprint;
  } else if (!spec.certificate.subject.empty()) {
    out["cert_subject"] = spec.certificate.subject;
  }
  // The CLI shows these on standard error and drops them from its output.
  if (!added.otpauth_uri.empty()) {
    out["otpauth_uri"] = added.otpauth_uri;
    out["totp_key"] = added.totp_secret_base32;
  }
  return out;
}

Result<json::object> OpPrincipalList(Runtime& rt_, std::string_view op, const json::object& req) {
  (void)op;
  (void)req;
  auth::Directory& dir = rt_.directory();
  COFFRE_ASSIGN_OR_RETURN(auto all, dir.List());
  json::array list;
  for (const auth::Principal& p : all) list.push_back(PrincipalToJson(p));
  return json::object{{"principals", std::move(list)}};
}

Result<json::object> OpPrincipalSuspendFamily(Runtime& rt_, std::string_view op,
                                              const json::object& req) {
  auth::Directory& dir = rt_.directory();
  COFFRE_ASSIGN_OR_RETURN(std::string name, RequiredString(req, "name"));
  if (op == "principal.suspend") {
    COFFRE_TRY(dir.Suspend(name));
    // A cluster: every node refuses it from its next request (ADR 0042).
    COFFRE_TRY(rt_.guard().RecordSuspension(name));
  }
  if (op == "principal.resume") {
    // The windows start empty: a resumed principal is not suspended again
    // by the next new subject (ADR 0017 supersedes ADR 0008 on this). On a
    // cluster this also lifts the guard's suspension marker, so it comes
    // first: a failure leaves the principal suspended.
    COFFRE_TRY(rt_.guard().quotas().Forget(name));
    COFFRE_TRY(dir.Resume(name));
  }
  if (op == "principal.remove") {
    COFFRE_TRY(dir.Remove(name));
    // A cluster: a principal created later under the name starts afresh
    // (its stored state and marker would outlive it).
    if (rt_.guard().quotas().shared()) COFFRE_TRY(rt_.guard().quotas().Forget(name));
  }
  return json::object{{"name", name}};
}

Result<json::object> OpPrincipalUpdate(Runtime& rt_, std::string_view op, const json::object& req) {
  (void)op;
  auth::Directory& dir = rt_.directory();
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

Result<json::object> OpPrincipalRotateKey(Runtime& rt_, std::string_view op,
                                          const json::object& req) {
  (void)op;
  auth::Directory& dir = rt_.directory();
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

Result<json::object> OpPrincipalResetTotp(Runtime& rt_, std::string_view op,
                                          const json::object& req) {
  (void)op;
  auth::Directory& dir = rt_.directory();
  COFFRE_ASSIGN_OR_RETURN(std::string name, RequiredString(req, "name"));
  COFFRE_ASSIGN_OR_RETURN(auto given_issuer, OptionalString(req, "totp_issuer"));
  std::string issuer = given_issuer.value_or("");
  COFFRE_ASSIGN_OR_RETURN(auth::TotpEnrolment t, dir.ResetTotp(name, issuer));
  return json::object{
      {"name", name}, {"otpauth_uri", t.otpauth_uri}, {"totp_key", t.totp_secret_base32}};
}

Result<json::object> OpPrincipalUnlock(Runtime& rt_, std::string_view op, const json::object& req) {
  (void)op;
  auth::Directory& dir = rt_.directory();
  COFFRE_ASSIGN_OR_RETURN(std::string name, RequiredString(req, "name"));
  COFFRE_ASSIGN_OR_RETURN(bool was_locked, dir.Unlock(name));
  return json::object{{"name", name}, {"was_locked", was_locked}};
}

Result<json::object> OpPrincipalUsage(Runtime& rt_, std::string_view op, const json::object& req) {
  (void)op;
  auth::Directory& dir = rt_.directory();
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

Result<json::object> OpPolicyLoad(Runtime& rt_, std::string_view op, const json::object& req) {
  (void)op;
  COFFRE_ASSIGN_OR_RETURN(std::string text, RequiredString(req, "text"));
  COFFRE_TRY(rt_.ReplacePolicy(text));
  json::array roles;
  for (const std::string& r : rt_.policy()->RoleNames()) roles.push_back(json::value(r));
  json::object out{{"roles", std::move(roles)}};
  json::array warnings;
  for (const std::string& r : rt_.policy()->RolesReadingWithoutLimits()) {
    warnings.push_back(
        json::value("role '" + r + "' may read people's data without subject limits"));
  }
  if (!warnings.empty()) out["warnings"] = std::move(warnings);
  return out;
}

Result<json::object> OpAuditVerify(Runtime& rt_, std::string_view op, const json::object& req) {
  (void)op;
  // Entries appended so far are checkpointed first, so the whole log is
  // covered by signatures the anchor also holds.
  COFFRE_TRY(rt_.audit().Checkpoint());
  std::string anchor = rt_.options().audit_anchor;
  if (auto it = req.find("anchor"); it != req.end() && it->value().is_string()) {
    anchor = std::string(it->value().get_string());
  }
  // A cluster vault: every chain, and their completeness (docs/audit-cluster.md).
  COFFRE_ASSIGN_OR_RETURN(
      audit::VerifyReport r,
      audit::VerifyAllChains(rt_.audit().store_reader(), anchor, rt_.audit().chain_id()));
  json::object out{{"ok", r.ok},
                   {"entries", r.entries},
                   {"checkpoints", r.checkpoints},
                   {"anchored", r.anchored}};
  if (!rt_.audit().chain_id().empty()) out["chains"] = r.chains;
  if (!r.chain.empty()) out["chain"] = r.chain;
  if (r.first_bad_seq) out["first_bad_seq"] = *r.first_bad_seq;
  if (!r.problem.empty()) out["problem"] = r.problem;
  return out;
}

Result<json::object> OpCanaryAdd(Runtime& rt_, std::string_view op, const json::object& req) {
  (void)op;
  COFFRE_ASSIGN_OR_RETURN(std::string collection, RequiredString(req, "collection"));
  auto count = req.find("count");
  if (count == req.end() || !count->value().is_int64() || count->value().get_int64() < 1) {
    return Fail(ErrorCode::kInvalidArgument, "'count' must be a positive integer");
  }
  std::string domain;
  if (auto it = req.find("email_domain"); it != req.end()) {
    if (!it->value().is_string())
      return Fail(ErrorCode::kInvalidArgument, "'email_domain' must be a string");
    domain = std::string(it->value().get_string());
  }
  std::optional<uint64_t> seed;
  if (auto it = req.find("seed"); it != req.end()) {
    if (!it->value().is_int64() || it->value().get_int64() < 0) {
      return Fail(ErrorCode::kInvalidArgument, "'seed' must be a non-negative integer");
    }
    seed = static_cast<uint64_t>(it->value().get_int64());
  }
  COFFRE_ASSIGN_OR_RETURN(
      size_t added,
      rt_.guard().AddCanaries(collection, static_cast<uint64_t>(count->value().get_int64()), domain,
                              seed));
  return json::object{{"added", static_cast<int64_t>(added)}};
}

Result<json::object> OpAlertsList(Runtime& rt_, std::string_view op, const json::object& req) {
  (void)op;
  guard::AlertFilter filter;
  for (auto [key, field] : {std::pair{"from", &filter.from}, std::pair{"to", &filter.to}}) {
    if (auto it = req.find(key); it != req.end()) {
      if (!it->value().is_int64())
        return Fail(ErrorCode::kInvalidArgument, "'" + std::string(key) + "' must be unix seconds");
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

Result<json::object> OpRetentionRun(Runtime& rt_, std::string_view op, const json::object& req) {
  (void)op;
  (void)req;
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

Result<json::object> OpCardsSweep(Runtime& rt_, std::string_view op, const json::object& req) {
  (void)op;
  (void)req;
  COFFRE_ASSIGN_OR_RETURN(cards::SweepStats st, rt_.SweepCards());
  return json::object{{"at", Time(rt_.clock().NowUnixSeconds())},
                      {"scanned", st.scanned},
                      {"expired", st.expired},
                      {"evidence_deleted", st.evidence_deleted},
                      {"unreadable", st.unreadable},
                      {"evidence_months", rt_.cards().options().evidence_months}};
}

Result<json::object> OpRetentionReport(Runtime& rt_, std::string_view op, const json::object& req) {
  (void)op;
  size_t limit = 1000;
  if (auto it = req.find("limit"); it != req.end()) {
    if (!it->value().is_int64() || it->value().get_int64() < 1 ||
        it->value().get_int64() > 100000) {
      return Fail(ErrorCode::kInvalidArgument, "'limit' must be an integer from 1 to 100000");
    }
    limit = static_cast<size_t>(it->value().get_int64());
  }
  COFFRE_ASSIGN_OR_RETURN(retention::Plan plan, rt_.retention().Report(limit));
  return PlanToJson(plan);
}

Result<json::object> OpRetentionHoldFamily(Runtime& rt_, std::string_view op,
                                           const json::object& req) {
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

// The breach operations (app/admin_breach_ops.h), in the same shape.
Result<json::object> OpBreach(Runtime& rt, std::string_view op, const json::object& req,
                              std::string_view source) {
  return ExecuteBreachOp(rt, op == "breach.report.file" ? "breach.report" : op, req, source);
}

// A core error as a local caller sees it: the code's own name and the
// whole message (the caller is the operator; ADR 0024).
Failure LocalFailure(const Error& e) { return {e.code, ErrorCodeName(e.code), e.message}; }

using ManagementFn = Result<json::object> (*)(Runtime&, std::string_view, const json::object&);
using SourcedFn = Result<json::object> (*)(Runtime&, std::string_view, const json::object&,
                                           std::string_view);
using EntryFn = Result<json::object> (*)(Runtime&, std::string_view, const json::object&,
                                         audit::Entry&);

// What every local-only operation does around its body: refuse callers
// that are not local, parse the JSON object body, run, describe the entry,
// then end allowed (the runner audits) or audit the failure as these
// operations always did (reason: what it was about, then the error code).
template <typename Body>
Outcome RunLocal(Context& ctx, const OpInput& in, Body&& body) {
  const std::string_view op = ctx.operation().name;
  if (!ctx.caller().local) {
    return ctx.Deny("operation '" + std::string(op) +
                    "' is for local callers only (the admin socket, the CLI)");
  }
  Runtime* rt = RuntimeServing(ctx.services());
  if (rt == nullptr) return ctx.Fail(Unavailable("no runtime serves these local operations"));
  json::object req;
  if (!in.body.empty()) {
    boost::system::error_code ec;
    json::value v = json::parse(in.body, ec);
    if (ec || !v.is_object())
      return ctx.Fail(InvalidRequest("the request body is not a JSON object"));
    req = std::move(v.as_object());
  }
  audit::Entry& e = ctx.entry();
  Result<json::object> result = body(*rt, op, req, e);
  Describe(*rt, op, req, result, e);
  if (result) return ctx.Allowed(std::move(*result));
  if (e.outcome.empty()) e.outcome = "error";
  if (e.reason.empty()) e.reason = std::string(ErrorCodeName(result.error().code));
  Failure f = LocalFailure(result.error());
  const std::string_view audited = e.outcome == "denied" ? "denied" : "error";
  if (auto failed = ctx.Audit(std::move(e))) return Outcome::Failed(std::move(*failed));
  Outcome o = Outcome::Failed(std::move(f));
  o.audited = audited;
  return o;
}

template <ManagementFn Fn>
Outcome Management(Context& ctx, const OpInput& in) {
  return RunLocal(ctx, in,
                  [](Runtime& rt, std::string_view op, const json::object& req, audit::Entry&) {
                    return Fn(rt, op, req);
                  });
}

template <SourcedFn Fn>
Outcome Sourced(Context& ctx, const OpInput& in) {
  const std::string source = ctx.caller().source;
  return RunLocal(
      ctx, in, [&source](Runtime& rt, std::string_view op, const json::object& req, audit::Entry&) {
        return Fn(rt, op, req, source);
      });
}

template <EntryFn Fn>
Outcome WithEntry(Context& ctx, const OpInput& in) {
  return RunLocal(ctx, in,
                  [](Runtime& rt, std::string_view op, const json::object& req, audit::Entry& e) {
                    return Fn(rt, op, req, e);
                  });
}

// records.import (app/admin_import_op.h): the importer on the descriptors
// the caller passed with the request.
Outcome ImportOp(Context& ctx, const OpInput& in) {
  const std::span<const int> fds = in.fds;
  return RunLocal(ctx, in,
                  [fds](Runtime& rt, std::string_view, const json::object& req, audit::Entry& e) {
                    return ImportFromDescriptors(rt, req, fds, e);
                  });
}

// keys.resplit (app/admin_data_ops.h): the shares go to the directory
// whose descriptor the caller passed.
Outcome ResplitOp(Context& ctx, const OpInput& in) {
  const std::span<const int> fds = in.fds;
  return RunLocal(ctx, in,
                  [fds](Runtime& rt, std::string_view, const json::object& req, audit::Entry& e) {
                    return RotateMasterKeyToShares(rt, req, fds, e);
                  });
}

// tls.set (app/admin_tls_op.h): the certificate and key the caller passed.
Outcome TlsSetOp(Context& ctx, const OpInput& in) {
  const std::span<const int> fds = in.fds;
  return RunLocal(ctx, in,
                  [fds](Runtime& rt, std::string_view, const json::object& req, audit::Entry& e) {
                    return SetTlsFromDescriptors(rt, req, fds, e);
                  });
}

// backup.create (app/backup.h): a backup written into the one directory
// the caller created and passed as a descriptor (docs/backup.md): the
// server writes nowhere else, whatever its sandbox allows.
Outcome BackupOp(Context& ctx, const OpInput& in) {
  const std::span<const int> fds = in.fds;
  return RunLocal(ctx, in,
                  [fds](Runtime& rt, std::string_view, const json::object&,
                        audit::Entry& e) -> Result<json::object> {
                    if (fds.size() != 1) {
                      return Fail(ErrorCode::kInvalidArgument,
                                  "backup.create takes one descriptor: the empty directory to "
                                  "write the backup into");
                    }
                    return WriteBackup(rt, fds[0], e);
                  });
}

// Local-only operations: no policy target (the policy does not restrict
// local callers; RunLocal refuses anyone else), an optional JSON object body.
constexpr Operation Local(std::string_view name, std::string_view action, bool writes,
                          Outcome (*run)(Context&, const OpInput&)) {
  return {.name = name,
          .audit_action = action,
          .target = Target::kNone,
          .writes = writes,
          .input = InputShape::kOptionalBody,
          .run = run};
}

constexpr Operation kOps[] = {
    Local("principal.add", "principal.add", true, &Management<&OpPrincipalAdd>),
    Local("principal.list", "principal.list", false, &Management<&OpPrincipalList>),
    Local("principal.suspend", "principal.suspend", true, &Management<&OpPrincipalSuspendFamily>),
    Local("principal.resume", "principal.resume", true, &Management<&OpPrincipalSuspendFamily>),
    Local("principal.remove", "principal.remove", true, &Management<&OpPrincipalSuspendFamily>),
    Local("principal.update", "principal.update", true, &Management<&OpPrincipalUpdate>),
    Local("principal.rotate-key", "principal.rotate-key", true, &Management<&OpPrincipalRotateKey>),
    Local("principal.reset-totp", "principal.reset-totp", true, &Management<&OpPrincipalResetTotp>),
    Local("principal.unlock", "principal.unlock", true, &Management<&OpPrincipalUnlock>),
    Local("principal.usage", "principal.usage", false, &Management<&OpPrincipalUsage>),
    Local("policy.load", "policy.load", true, &Management<&OpPolicyLoad>),
    Local("audit.verify", "audit.verify", true, &Management<&OpAuditVerify>),
    Local("canary.add", "canary.add", true, &Management<&OpCanaryAdd>),
    // Every alert, by pages of `after_id` (GET /v1/alerts is alerts.list).
    Local("alerts.scan", "alerts.list", false, &Management<&OpAlertsList>),
    Local("retention.run", "retention.run", true, &Management<&OpRetentionRun>),
    Local("retention.report", "retention.report", false, &Management<&OpRetentionReport>),
    Local("retention.hold", "retention.hold", true, &Management<&OpRetentionHoldFamily>),
    Local("retention.release", "retention.release", true, &Management<&OpRetentionHoldFamily>),
    Local("cards.sweep", "cards.sweep", true, &Management<&OpCardsSweep>),
    // A report written to a file by the vault's process (POST
    // /v1/breach-reports, breach.report, answers it instead).
    Local("breach.report.file", "breach.report", true, &Sourced<&OpBreach>),
    Local("breach.notify", "breach.notify", true, &Sourced<&OpBreach>),
    Local("bulk.export", "bulk.export", true, &Sourced<&OpBreach>),
    Local("keys.rotate", "keys.rotate", true, &WithEntry<&RotateMasterKey>),
    Local("keys.resplit", "keys.rotate", true, &ResplitOp),
    // `coffre import` while a server runs: the files travel as descriptors.
    Local("records.import", "import", true, &ImportOp),
    // `coffre tls set`: the files travel as descriptors.
    Local("tls.set", "tls.set", true, &TlsSetOp),
    // `coffre backup`: an online backup into the caller's directory.
    Local("backup.create", "backup", false, &BackupOp),
    // The whole audit log, not pages of 1000 (GET /v1/audit is audit.list).
    Local("audit.scan", "audit.read", false, &WithEntry<&ScanAudit>),
};

}  // namespace

std::span<const Operation> AdminOperations() { return kOps; }

}  // namespace coffre::app
