// The local front end of the operation table (app/operations.h): runs one
// operation for a local caller (principal `local`: whoever can open the
// admin socket or read the key file; ADR 0024) through the runner
// (app/runner.h), from one JSON request. The CLI calls it on a directory no
// server holds; the server calls it for each line of its admin socket
// (server/admin_socket.h; the client is app/admin_channel.h): the same
// input gives the same result and the same audit entry either way.
//
//   Admin admin(runtime);
//   auto r = admin.Execute({{"op", "record.get"},
//                           {"input", {{"collection", "people"}, {"id", hex}}}}, getuid());
//   auto p = admin.Execute({{"op", "principal.add"}, {"name", "crm"}, {"kind", "service"},
//                           {"role", "crm_backend"}}, getuid());   // r->at("api_key") shown once
//
// A request is {"op": NAME, "input": {collection?, id?, query?, body? (JSON
// text)}} for any operation of the table, or, for the local operations
// whose input is a JSON object (src/app/ops_admin.cc: principal.*,
// policy.load, audit.verify, audit.scan, canary.add, alerts.scan,
// retention.*, cards.sweep, breach.report.file, breach.notify, bulk.export,
// keys.rotate, records.import, backup.create, tls.set), {"op": NAME, ...that object's members}.
// The answer is the operation's JSON result ({} when it has none; {"text": ...} when it is
// rendered text). Every call is audited as principal `local`, source "cli:uid=N".
//
// Thread-safety: Execute is safe from several threads (the runner is).
// Ownership: borrows the runtime, which must outlive it.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "app/operation.h"
#include "app/runner.h"
#include "app/runtime.h"
#include "common/status.h"

namespace coffre::app {

class Admin {
 public:
  explicit Admin(Runtime& runtime);
  ~Admin();
  Admin(const Admin&) = delete;
  Admin& operator=(const Admin&) = delete;

  // `fds`: descriptors the caller passed with the request (records.import:
  // input, rejects[, ids-out][, commit reports]); borrowed.
  Result<boost::json::object> Execute(const boost::json::object& request, uint32_t uid,
                                      std::span<const int> fds = {});

 private:
  Runtime& rt_;
  std::unique_ptr<Runner> runner_;
};

// The audited source of a local caller of uid `uid`: "cli:uid=N" (ADR 0007).
std::string LocalSource(uint32_t uid);

// The runtime whose services `s` are, for the local operations that need
// more than Services (a policy replaced, the card sweep, the key file):
// set while an Admin for it lives. Null otherwise.
Runtime* RuntimeServing(const Services& s);

}  // namespace coffre::app
