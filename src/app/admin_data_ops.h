// The data operations of local callers, over the same JSON requests as
// app/admin.h: what `coffre put|get|find|export-subject|erase-subject|audit
// list|keys rotate` do, run by whichever process holds the vault (the
// running server, reached over its admin socket, or the CLI itself). The
// audit entry is the one these commands always wrote (principal `local`);
// the operation fills in what it is about.
//
//   record.put      {collection, record (a JSON object, as text), subject? (hex)}
//                   -> {id, subject}                      audited "create"
//   record.get      {collection, id (hex)} -> the record  audited "read", every field clear
//   record.find     {collection, field, value} -> {refs: [{id, subject}]}
//                                                         audited "search", the field clear
//   subject.export  {subject (hex)} -> {subject, records: [...]}   audited "export"
//   subject.erase   {subject (hex)} -> {subject, erased_records, destroyed_keys, erased_cards}
//                                                         audited "erase"
//   audit.list      {principal?, subject? (hex), from_ms?, to_ms?} -> {entries: [JSON text]}
//                                                         audited "audit.read", after the query
//   keys.rotate     {new_key_file? (absolute)} -> {rewrapped, key_file, retired_key_file?}
//                                                         audited "keys.rotate"
// Reads (get, find, export) go through the guard as principal `local` with
// role `local`: a policy that defines that role sets local callers' quotas;
// a canary read raises its alert (ADR 0023ops-local).
//
// Thread-safety: as Admin.
#pragma once

#include <boost/json.hpp>
#include <string_view>

#include "app/runtime.h"
#include "audit/entry.h"
#include "common/status.h"

namespace coffre::app {

bool IsDataOp(std::string_view op);

// Runs `op`; fills `entry`'s action and what it is about (collection,
// record id, subjects, fields; outcome "denied" and the reason when the
// guard refuses). The caller appends it.
Result<boost::json::object> ExecuteDataOp(Runtime& rt, std::string_view op,
                                          const boost::json::object& request, audit::Entry& entry);

}  // namespace coffre::app
