#include "app/admin_breach_ops.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "app/internal/input.h"
#include "approval/approvals.h"
#include "auth/principals.h"
#include "bulk/bulk_export.h"
#include "common/bytes.h"
#include "report/breach_report.h"
#include "report/notification_file.h"
#include "report/render.h"

namespace coffre::app {
namespace {

namespace json = boost::json;
using internal::OptionalString;
using internal::RequiredString;

Result<std::string> OutPath(const json::object& o) {
  Result<std::string> out = RequiredString(o, "out");
  if (out && !out->starts_with('/'))
    return Fail(ErrorCode::kInvalidArgument, "'out' must be an absolute path");
  return out;
}

Result<std::string> PublicKey(const json::object& o) {
  COFFRE_ASSIGN_OR_RETURN(std::string hex, RequiredString(o, "recipient"));
  auto key = FromHex(hex);
  if (!key || key->size() != crypto::kBoxPublicKeyBytes) {
    return Fail(ErrorCode::kInvalidArgument,
                "the recipient public key must be 64 hexadecimal characters");
  }
  return *key;
}

// The query of a request; `principal` may be an end user's name.
Result<report::BreachQuery> Query(Runtime& rt, const json::object& o) {
  COFFRE_ASSIGN_OR_RETURN(std::string principal, RequiredString(o, "principal"));
  COFFRE_ASSIGN_OR_RETURN(std::optional<std::string> user, OptionalString(o, "user"));
  COFFRE_ASSIGN_OR_RETURN(std::string from, RequiredString(o, "from"));
  COFFRE_ASSIGN_OR_RETURN(std::string to, RequiredString(o, "to"));
  if (!auth::ValidateName(principal))
    return Fail(ErrorCode::kInvalidArgument, "'principal' is not a principal name");
  if (user && !auth::ValidateName(*user))
    return Fail(ErrorCode::kInvalidArgument, "'user' is not a principal name");
  std::optional<std::string> who = principal;
  if (!user) {
    // An end user never makes a request itself: its report is that of the
    // requests made on its behalf (as GET /v1/audit?principal=).
    auto u = rt.directory().GetUser(principal);
    if (u || u.error().code == ErrorCode::kPermissionDenied) {
      user = principal;
      who.reset();
    }
  }
  return report::MakeQuery(std::move(who), std::move(user), from, to);
}

Result<report::BreachReport> Build(Runtime& rt, const report::BreachQuery& q) {
  // Everything appended so far is signed first, so the window is covered
  // by checkpoints the anchor also holds.
  COFFRE_TRY(rt.audit().Checkpoint());
  // Canaries are counted, never listed (docs/exfiltration.md).
  guard::CanarySet& canaries = rt.guard().canaries();
  return report::BuildBreachReport(
      rt.audit().store_reader(), rt.vault().schema(), rt.options().audit_anchor, q,
      rt.clock().NowUnixMillis(),
      {.is_canary = [&canaries](std::string_view subject) { return canaries.Contains(subject); },
       .chain_id = rt.audit().chain_id()});
}

json::object Failed(const report::BreachReport& r) {
  json::object out{{"ok", false}, {"problem", r.verification.problem}};
  if (r.verification.first_bad_seq) out["first_bad_seq"] = *r.verification.first_bad_seq;
  return out;
}

// Creates `path` (never overwrites, 0600) with `text`, durably.
Status WriteNewFile(const std::string& path, std::string_view text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return Fail(ErrorCode::kAlreadyExists, path + " already exists");
    return Fail(ErrorCode::kIoError, "cannot create " + path + ": " + std::strerror(errno));
  }
  while (!text.empty()) {
    ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      ::unlink(path.c_str());
      return Fail(ErrorCode::kIoError, "cannot write " + path);
    }
    text.remove_prefix(static_cast<size_t>(n));
  }
  bool ok = ::fsync(fd) == 0;
  ok = ::close(fd) == 0 && ok;
  if (!ok) return Fail(ErrorCode::kIoError, "cannot write " + path);
  return Ok();
}

Result<std::string> ApprovalId(const json::object& o) {
  COFFRE_ASSIGN_OR_RETURN(std::string hex, RequiredString(o, "approval"));
  return ParseId(hex, "approval id");
}

}  // namespace

Result<json::object> ExecuteBreachOp(Runtime& rt, std::string_view op, const json::object& req,
                                     std::string_view source) {
  approval::Approvals& approvals = rt.approvals();
  if (op == "breach.report") {
    COFFRE_ASSIGN_OR_RETURN(report::BreachQuery q, Query(rt, req));
    COFFRE_ASSIGN_OR_RETURN(std::optional<std::string> format_name, OptionalString(req, "format"));
    COFFRE_ASSIGN_OR_RETURN(report::Format format, report::ParseFormat(format_name.value_or("md")));
    COFFRE_ASSIGN_OR_RETURN(std::optional<std::string> contact, OptionalString(req, "contact"));
    COFFRE_ASSIGN_OR_RETURN(std::optional<std::string> lang_name, OptionalString(req, "lang"));
    COFFRE_ASSIGN_OR_RETURN(report::Lang lang, report::ParseLang(lang_name.value_or("en")));
    COFFRE_ASSIGN_OR_RETURN(std::string out, OutPath(req));
    COFFRE_ASSIGN_OR_RETURN(report::BreachReport r, Build(rt, q));
    if (!r.verification.ok) return Failed(r);
    COFFRE_TRY(WriteNewFile(
        out, report::Render(r, format, {.contact = contact.value_or(""), .lang = lang})));
    return json::object{{"ok", true},
                        {"people", r.subjects.size()},
                        {"canaries", r.canaries},
                        {"records", r.records},
                        {"entries", r.entries_exposing},
                        {"verified", r.verification.entries},
                        {"out", out}};
  }
  if (op == "breach.notify") {
    COFFRE_ASSIGN_OR_RETURN(report::BreachQuery q, Query(rt, req));
    COFFRE_ASSIGN_OR_RETURN(std::string approval_id, ApprovalId(req));
    COFFRE_ASSIGN_OR_RETURN(std::string recipient, PublicKey(req));
    COFFRE_ASSIGN_OR_RETURN(std::string out, OutPath(req));
    COFFRE_ASSIGN_OR_RETURN(report::BreachReport r, Build(rt, q));
    if (!r.verification.ok) return Failed(r);
    COFFRE_ASSIGN_OR_RETURN(report::NotificationResult n,
                            report::WriteNotificationFile(rt.vault(), rt.audit(), approvals, r,
                                                          {.approval_id = approval_id,
                                                           .recipient_public_key = recipient,
                                                           .out_path = out,
                                                           .source = std::string(source)}));
    return json::object{{"ok", true},
                        {"people", n.people},
                        {"reachable", n.reachable},
                        {"unreachable", n.unreachable},
                        {"erased", n.erased},
                        {"bytes", n.bytes},
                        {"out", out}};
  }
  if (op == "bulk.export") {
    COFFRE_ASSIGN_OR_RETURN(std::string collection, RequiredString(req, "collection"));
    COFFRE_ASSIGN_OR_RETURN(std::string approval_id, ApprovalId(req));
    COFFRE_ASSIGN_OR_RETURN(std::string recipient, PublicKey(req));
    COFFRE_ASSIGN_OR_RETURN(std::string out, OutPath(req));
    COFFRE_ASSIGN_OR_RETURN(bulk::ExportResult x,
                            bulk::Export(rt.vault(), rt.audit(), approvals,
                                         {.collection = collection,
                                          .approval_id = approval_id,
                                          .recipient_public_key = recipient,
                                          .out_path = out,
                                          .source = std::string(source),
                                          .is_canary = [&](std::string_view s) {
                                            return rt.guard().canaries().Contains(s);
                                          }}));
    return json::object{{"records", x.records},
                        {"subjects", x.subjects},
                        {"audit_entries", x.audit_entries},
                        {"bytes", x.bytes},
                        {"out", out}};
  }
  return Fail(ErrorCode::kInvalidArgument, "unknown operation");
}

}  // namespace coffre::app
