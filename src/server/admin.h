// Management operations (principals, policy, audit verification) as JSON
// requests, so that one code path serves both the CLI opening the vault
// itself and the CLI talking to a running server over its Unix socket.
//
//   Admin admin(runtime);
//   auto r = admin.Execute({{"op", "principal.add"}, {"name", "crm"}, {"kind", "service"},
//                           {"role", "crm_backend"}}, "cli:uid=1000");
//   // r->at("api_key") is shown once
//
// Operations (every one is audited with `source`):
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
//   breach.report, breach.notify, bulk.export: server/breach_ops.h
// Errors come back as Error values; over the socket as {"error": {code, message}}.
//
// Thread-safety: Execute is safe from several threads (the runtime is).
#pragma once

#include <string_view>

#include <boost/json.hpp>

#include "common/status.h"
#include "app/runtime.h"

namespace coffre::server {

class Admin {
 public:
  explicit Admin(app::Runtime& runtime) : rt_(runtime) {}

  Result<boost::json::object> Execute(const boost::json::object& request, std::string_view source);

 private:
  Result<boost::json::object> Dispatch(std::string_view op, const boost::json::object& request);
  app::Runtime& rt_;
};

// Error values to and from their JSON form on the socket.
boost::json::object ErrorToJson(const Error& e);
Error ErrorFromJson(const boost::json::value& v);

}  // namespace coffre::server
