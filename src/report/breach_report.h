// The breach report (issue 4, docs/exfiltration.md "Breach report"): exactly
// whose data a principal, or an end user it acted for, received in a time
// window, with the fields and views, counts per data category, and what a
// notification to the supervisory authority needs. Built from the audit log
// alone, in one pass that verifies the chain from the signed checkpoint at
// or before `from` to the checkpoint after `to` and reads the entries as
// they are verified (the index is not trusted: a deleted index key cannot
// hide an exposure).
//
//   report::BreachQuery q{.principal = "support-app", .from_ms = t1, .to_ms = t2};
//   auto r = report::BuildBreachReport(log.reader(), schema, anchor_path, q,
//   clock.NowUnixMillis()); if (!r) return r.error();                       // could not run (I/O)
//   if (!r->verification.ok) ...                    // tampered log: no subjects
//   std::string text = report::RenderMarkdown(*r, {.contact = "dpo@example.org"});
//
// What counts as an exposure (docs/adr/0009-breach-reports-and-approvals.md):
// an entry of the principal (and user) in the window whose outcome is
// "allowed", that names subjects, and that either lists returned fields
// (read, search, export, update, bulk export, local reads) or is a read,
// search or export (ids alone prove that a person is in the vault). Denied
// requests and writes without returned fields expose nothing.
//
// Cost: one sequential read of the audit entries of the window (all
// principals), hashing each, split between the cores at stored checkpoints;
// no allocation per entry, about one per exposed subject. Memory:
// proportional to the exposed subjects.
//
// Thread-safety: BuildBreachReport reads the store only; safe alongside a
// running AuditLog (call AuditLog::Checkpoint() first so that the window
// is covered by signatures). A BreachReport is a plain value.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/verify.h"
#include "common/status.h"
#include "report/categories.h"
#include "schema/schema.h"
#include "storage/space_handle.h"
#include "storage/store.h"

namespace coffre::report {

struct BreachQuery {
  // Entries made by this principal; and/or made on behalf of this end user.
  // At least one of the two.
  std::optional<std::string> principal = std::nullopt;
  std::optional<std::string> user = std::nullopt;
  int64_t from_ms = 0;  // inclusive
  int64_t to_ms = 0;    // inclusive
};

// A field exposed to someone in the report: the table the exposures point
// into (one entry per field, not one per person and field).
struct ReportField {
  std::string collection;
  std::string field;
  Category category = Category::kOther;
  std::string Name() const { return collection + "." + field; }  // "people.email"
};

struct FieldExposure {
  uint32_t field = 0;  // index into BreachReport::fields
  char view = 'm';     // audit::kViewClear or kViewMasked; clear wins over masked
};

// One person. Indexes point into the report's tables, so that a person
// costs two small allocations, whatever the number of their fields: a
// report may list millions.
struct SubjectExposure {
  std::array<char, 16> subject{};     // raw id
  std::vector<uint32_t> collections;  // indexes into BreachReport::collections, ascending
  std::vector<FieldExposure> fields;  // ascending index (so by collection, then field)
  uint64_t actions = 0;               // bit i: BreachReport::actions[i]
  uint64_t entries = 0;               // exposing entries naming this subject
  int64_t first_ms = 0;
  int64_t last_ms = 0;

  std::string_view id() const { return {subject.data(), subject.size()}; }
};

struct CategoryCount {
  uint64_t people = 0;              // subjects with a field of this category exposed
  uint64_t people_clear = 0;        // ... of whom at least one such field in clear
  uint64_t records = 0;             // (subject, collection) pairs with such a field
  std::vector<std::string> fields;  // "collection.field", sorted
};

struct BreachReport {
  BreachQuery query;
  int64_t generated_ms = 0;
  std::string anchor_path;
  audit::VerifyReport verification;
  uint64_t entries_matched = 0;           // entries of the principal/user in the window
  uint64_t entries_exposing = 0;          // of which exposed data
  uint64_t entries_denied = 0;            // of which were denied
  std::vector<SubjectExposure> subjects;  // sorted by id; empty unless verified; never a canary
  // Canary records (BuildOptions::is_canary) whose ids the window's entries
  // name: planted people, not people exposed. Only their number is kept.
  uint64_t canaries = 0;
  std::array<CategoryCount, kCategoryCount> categories{};  // indexed by Category
  uint64_t records = 0;                  // distinct (subject, collection) pairs exposed
  std::vector<std::string> collections;  // collections with an exposure, sorted
  std::vector<std::string> actions;      // actions that exposed data, sorted (at most 64)
  std::vector<ReportField> fields;       // fields exposed, sorted by collection, then field
};

// A query from a request's text: RFC 3339 times with any offset, or dates
// (UTC days), `to` inclusive to the end of what it names (common/time_text.h).
// kInvalidArgument naming 'from' or 'to' (bad time, or `to` before `from`).
// Names are the caller's to check (auth::ValidateName).
Result<BreachQuery> MakeQuery(std::optional<std::string> principal, std::optional<std::string> user,
                              std::string_view from, std::string_view to);

// How the walk runs. The defaults suit production; tests split small logs.
struct BuildOptions {
  unsigned threads = 0;                 // 0: one per core, at most 4
  uint64_t min_part_entries = 100'000;  // audit::VerifyOptions
  // Whether a subject id (16 raw bytes) is a canary record (the guard's
  // CanarySet): counted in BreachReport::canaries, never listed. Null: none.
  std::function<bool(std::string_view subject)> is_canary = nullptr;
  // A cluster vault: this node's audit chain (audit::AuditLog::chain_id),
  // and `store` holds every chain (AuditLog::store_reader): every chain is
  // verified and walked (audit::VerifyAllChains). Empty: the embedded log.
  std::string chain_id;
};

// kInvalidArgument for a query without principal and user, or with
// to_ms < from_ms; kNotFound when no entry of the log has ever named the
// principal (or the user): a typo, not a quiet window, which gives a report
// of no one; kFailedPrecondition when there is nothing to verify against
// (no anchor, no key); I/O errors. A log that fails verification is not an
// error: the report says so (verification.ok false, with the problem and
// the first bad seq) and lists no subjects.
//
// "Never named" is decided by the index when it names them, else by a
// verified walk of the whole log (the index is not chained: deleting its
// keys must not turn a report into "no such principal"); that walk costs
// what `coffre audit verify` costs, on this error path only.
Result<BreachReport> BuildBreachReport(storage::SpaceHandle store, const schema::Schema& schema,
                                       const std::string& anchor_path, const BreachQuery& query,
                                       int64_t now_ms, const BuildOptions& options = {});

}  // namespace coffre::report
