// records.import: the bulk importer (vault/importer.h) run for a local
// caller over the admin socket, on files the caller opened and passed as
// descriptors (SCM_RIGHTS; ADR 0024, point 6): the server never
// opens a path the caller names.
//
//   request  {collection, path, rejects_path, ids_out_path?, key_field?,
//             subject_key?, format? ("auto"|"csv"|"ndjson"|"export"),
//             threads?, chunk_rows?, commit_rows?, report_commits?}
//            the paths name the caller's files in messages and the stats
//   fds      [input, rejects, ids-out (iff ids_out_path), commit reports
//             (iff report_commits: one line per durable commit written there)]
//   answer   {imported, rejected, seconds, read, rejects_path, canaries}
//   audited  "import" on the collection, reason "N imported, M rejected..."
//            as `coffre import` writes it without a server
//
// Thread-safety: as Admin.
#pragma once

#include <boost/json.hpp>
#include <span>

#include "app/runtime.h"
#include "audit/entry.h"
#include "common/status.h"
#include "vault/importer.h"

namespace coffre::app {

Result<boost::json::object> ImportFromDescriptors(Runtime& rt, const boost::json::object& request,
                                                  std::span<const int> fds, audit::Entry& entry);

// The audit reason of an import, both ways (the CLI's direct path too).
std::string ImportAuditReason(const vault::ImportOptions& o, const vault::ImportStats& stats);

}  // namespace coffre::app
