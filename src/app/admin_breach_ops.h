// Local operations of issue 4 (entries of app/ops_admin.cc; the CLI reaches
// them over the admin socket while the server runs, or opens the data
// directory itself): breach reports written to a file, the art. 34
// notification list and bulk exports. Files are written by the process that
// holds the vault, at the absolute path the request names (created, never
// overwritten, mode 0600); the socket only carries summaries.
//
//   breach.report.file {principal, user?, from, to, format?: md|json|csv, contact?, lang?: en|fr,
//   out}
//                  -> {ok: true, people, canaries, records, entries, verified, out}
//                   | {ok: false, first_bad_seq, problem}        (nothing written)
//   breach.notify  {principal, user?, from, to, approval, recipient, out}
//                  -> {people, reachable, unreachable, erased, bytes, out}
//   bulk.export    {collection, approval, recipient, out}
//                  -> {records, subjects, audit_entries, bytes, out}
// `principal` may name an end user (kind user): the report then covers the
// requests made on its behalf; a name no audit entry has ever named is
// kNotFound. Times are RFC 3339 with any offset, or dates (UTC days,
// common/time_text.h); `recipient` is an
// X25519 public key in hex; `approval` an approval id in hex.
//
// Thread-safety: as Admin.
#pragma once

#include <boost/json.hpp>
#include <string_view>

#include "app/runtime.h"
#include "common/status.h"

namespace coffre::app {

// `op`: "breach.report" (the entry breach.report.file), "breach.notify",
// "bulk.export".
Result<boost::json::object> ExecuteBreachOp(Runtime& rt, std::string_view op,
                                            const boost::json::object& request,
                                            std::string_view source);

}  // namespace coffre::app
