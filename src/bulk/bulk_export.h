// Bulk export of a whole collection (docs/exfiltration.md, "Bulk export"):
// every record as NDJSON, encrypted to a recipient's X25519 public key
// (crypto/sealed_file.h), authorised by a two-person approval that it
// consumes, and audited so that the log lists every exported subject.
//
//   approval::Approvals approvals(store, keyring.secrets_key(), clock);
//   auto r = bulk::Export(vault, audit_log, approvals,
//                         {.collection = "people", .approval_id = id,
//                          .recipient_public_key = pk, .out_path = "/srv/out/people.sealed",
//                          .source = "cli:uid=1000"});
//
// Order of events, so that nothing leaves unrecorded: the output file is
// created (O_EXCL, 0600) before the approval is consumed, so a bad path
// wastes no approval; then, page by page (1,000 records), an audit entry
// (principal `local`, action `bulk_export`, the page's subjects, every field
// in clear, reason naming the approval and the part) is made durable before
// the page is sealed into the file. Memory is one page plus one 64 KiB
// chunk, whatever the collection's size. If anything fails, the partial
// file is removed; the approval stays consumed and the entries written so
// far stay in the log (over-recording is safe).
//
// Lines: {"collection":"people","id":"…","subject":"…","fields":{…}}, in
// record id order, plus "canary":true on the records of canary subjects:
// canaries stay in (leaving them out would tell the recipient which records
// are real), flagged inside the sealed file so that `coffre import
// NEWDIR COLLECTION FILE --format export` recreates them as canaries and
// keeps every record and subject id (docs/import.md, "Migrating a vault").
//
// Thread-safety: one export at a time per output file; safe alongside
// requests (pages are read with the vault's normal calls).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "approval/approvals.h"
#include "audit/audit_log.h"
#include "common/status.h"
#include "vault/vault.h"

namespace coffre::bulk {

struct ExportOptions {
  std::string collection;
  std::string approval_id;           // 16 raw bytes
  std::string recipient_public_key;  // 32 raw bytes (X25519)
  std::string out_path;
  std::string source;  // the audited source, "cli:uid=1000"
  size_t page_records = 1000;
  // Whether a subject (raw id) is a canary (guard::CanarySet::Contains);
  // unset: no record is flagged.
  std::function<bool(std::string_view subject)> is_canary;
};

struct ExportResult {
  uint64_t records = 0;
  uint64_t subjects = 0;       // subjects listed in the audit entries (per page, distinct)
  uint64_t audit_entries = 0;  // bulk_export entries written
  uint64_t bytes = 0;          // size of the sealed file
};

// kNotFound for an unknown collection or approval; kAlreadyExists when the
// output exists; kInvalidArgument for an unusable public key;
// kPermissionDenied when the approval does not authorise this export (not
// approved, expired, consumed, or for something else).
Result<ExportResult> Export(vault::Vault& vault, audit::AuditLog& log,
                            approval::Approvals& approvals, const ExportOptions& options);

}  // namespace coffre::bulk
