// Operations for local callers (principal `local`: whoever can open the
// admin socket or read the key file; ADR 0023ops-local) as JSON requests,
// so that one code path serves both the CLI opening the vault itself and
// the CLI talking to a running server over its Unix socket
// (app/admin_channel.h): the same input, the same result, the same audit
// entry either way.
//
//   Admin admin(runtime);
//   auto r = admin.Execute({{"op", "principal.add"}, {"name", "crm"}, {"kind", "service"},
//                           {"role", "crm_backend"}}, "cli:uid=1000");
//   // r->at("api_key") is shown once
//
// Operations (every one is audited as principal `local` with `source`):
//   principal.add     {name, kind, role, attrs?: {k: v}, password?} ->
//                     {name, kind, role, api_key? | otpauth_uri?, qr?}
//   principal.list    {} -> {principals: [{name, kind, role, attrs, suspended}]}
//   principal.suspend | principal.resume | principal.remove  {name} -> {name}
//   policy.load       {text} -> {roles: [...], warnings?: [...]}  (roles reading without limits)
//   audit.verify      {anchor?} -> {ok, entries, checkpoints, first_bad_seq?, problem?}
//   canary.add        {collection, count, email_domain?, seed?} -> {added}   (ids never leave the vault)
//   alerts.list       {from?, to?, limit?, after_id?} (unix seconds) -> {alerts: [...]}
//   retention.run     {} -> {at, archived, deleted, held, held_subjects, stamped,
//                     cards: {expired, evidence_deleted, unreadable}}  (the card sweep too)
//   retention.report  {limit?} -> docs/retention.md, "Report"
//   retention.hold | retention.release  {subject (hex)} -> {subject, held, since?, by?}
//   cards.sweep       {} -> {at, scanned, expired, evidence_deleted, unreadable, evidence_months}
//                     (the card sweep now: Runtime::SweepCards, docs/cards.md)
//   breach.report, breach.notify, bulk.export: app/admin_breach_ops.h
//   record.put, record.get, record.find, subject.export, subject.erase,
//   audit.list, keys.rotate: app/admin_data_ops.h (reads count in the
//                     quotas of the policy's role `local`, if it has one)
// Errors come back as Error values; over the socket as {"error": {code, message}}.
//
// Thread-safety: Execute is safe from several threads (the runtime is).
#pragma once

#include <string_view>

#include <boost/json.hpp>

#include "common/status.h"
#include "app/runtime.h"
#include "audit/entry.h"

namespace coffre::app {

class Admin {
 public:
  explicit Admin(Runtime& runtime) : rt_(runtime) {}

  Result<boost::json::object> Execute(const boost::json::object& request, std::string_view source);

 private:
  Result<boost::json::object> Dispatch(std::string_view op, const boost::json::object& request);
  // What the entry of `op` says beyond who and what (a reason, a count).
  void Describe(std::string_view op, const boost::json::object& request,
                const Result<boost::json::object>& result, audit::Entry& e);
  Runtime& rt_;
};

// The audited principal of every local caller.
inline constexpr std::string_view kLocalPrincipal = "local";

}  // namespace coffre::app
