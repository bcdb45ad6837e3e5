#include "server/admin.h"

#include "audit/verify.h"
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
  e.outcome = result ? "allowed" : "error";
  if (!result) e.reason = std::string(ErrorCodeName(result.error().code));
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
    if (auto it = req.find("attrs"); it != req.end()) {
      if (!it->value().is_object()) return Fail(ErrorCode::kInvalidArgument, "'attrs' must be an object");
      for (const auto& kv : it->value().get_object()) {
        if (!kv.value().is_string()) {
          return Fail(ErrorCode::kInvalidArgument, "attribute values must be strings");
        }
        spec.attrs.emplace(std::string(kv.key()), std::string(kv.value().get_string()));
      }
    }
    if (auto it = req.find("password"); it != req.end()) {
      if (!it->value().is_string()) return Fail(ErrorCode::kInvalidArgument, "'password' must be a string");
      spec.password = std::string(it->value().get_string());
    }
    COFFRE_ASSIGN_OR_RETURN(auth::AddResult added, dir.Add(spec));
    json::object out{{"name", added.principal.name},
                     {"kind", auth::KindName(added.principal.kind)},
                     {"role", added.principal.role}};
    if (!added.api_key.empty()) out["api_key"] = added.api_key;
    if (!added.otpauth_uri.empty()) {
      out["otpauth_uri"] = added.otpauth_uri;
      out["qr"] = added.qr_text;
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
    if (op == "principal.resume") COFFRE_TRY(dir.Resume(name));
    if (op == "principal.remove") COFFRE_TRY(dir.Remove(name));
    return json::object{{"name", name}};
  }
  if (op == "policy.load") {
    COFFRE_ASSIGN_OR_RETURN(std::string text, RequiredString(req, "text"));
    COFFRE_TRY(rt_.ReplacePolicy(text));
    json::array roles;
    for (const std::string& r : rt_.policy()->RoleNames()) roles.push_back(json::value(r));
    return json::object{{"roles", std::move(roles)}};
  }
  if (op == "audit.verify") {
    // Entries appended so far are checkpointed first, so the whole log is
    // covered by signatures the anchor also holds.
    COFFRE_TRY(rt_.audit().Checkpoint());
    std::string anchor = rt_.options().audit_anchor;
    if (auto it = req.find("anchor"); it != req.end() && it->value().is_string()) {
      anchor = std::string(it->value().get_string());
    }
    COFFRE_ASSIGN_OR_RETURN(audit::VerifyReport r, audit::Verify(rt_.vault().store(), anchor));
    json::object out{{"ok", r.ok}, {"entries", r.entries}, {"checkpoints", r.checkpoints},
                     {"anchored", r.anchored}};
    if (r.first_bad_seq) out["first_bad_seq"] = *r.first_bad_seq;
    if (!r.problem.empty()) out["problem"] = r.problem;
    return out;
  }
  return Fail(ErrorCode::kInvalidArgument, "unknown operation");
}

}  // namespace coffre::server
