// The table of operations: every operation of coffre, one entry each
// (app/operation.h), whatever front end calls it (ADR 0023).
//
//   const Operation* op = FindOperation("record.get");   // null: no such op
//   for (const Operation* op : AllOperations()) ...
//
// Adding an operation: write it in the family's file (src/app/ops_*.cc),
// as one `Operation` in the family's static array; a new family defines
// `std::span<const Operation> XxxOperations()` in its own file and adds
// one line to kFamilies in src/app/operations.cc. Names are unique (a
// test checks it).
//
// Thread-safety: immutable after the first call (a function-local static).
#pragma once

#include <span>
#include <string_view>
#include <vector>

#include "app/operation.h"

namespace coffre::app {

// Null when no operation has that name.
const Operation* FindOperation(std::string_view name);
// Every operation, sorted by name.
const std::vector<const Operation*>& AllOperations();

// The families (one file each).
std::span<const Operation> RecordOperations();  // ops_records.cc: record.*, search, subject.*
std::span<const Operation>
ReadOperations();  // ops_reads.cc: audit.list, alerts.list, openapi.get, health
std::span<const Operation> SessionOperations();     // ops_sessions.cc: session.create
std::span<const Operation> ReportOperations();      // ops_reports.cc: breach.report, approval.*
std::span<const Operation> CardOperations();        // ops_cards.cc: card.*
std::span<const Operation> CredentialOperations();  // ops_credentials.cc: credential.*
std::span<const Operation>
RetentionOperations();                         // ops_retention.cc: retention.hold.*, archive.get
std::span<const Operation> AdminOperations();  // ops_admin.cc: local callers only (app/admin.h)

}  // namespace coffre::app
