// The per-person notification list of a breach (GDPR art. 34): for each
// person the breach report lists, their contact channels (email, phone,
// postal address: the schema's contact-type fields) decrypted from the
// vault, with what of theirs was exposed, as NDJSON sealed to a recipient's
// X25519 public key (crypto/sealed_file.h). Only the command line makes it,
// under an approved `breach_notification` approval for the same principal,
// user and window, which it consumes.
//
//   auto r = report::WriteNotificationFile(vault, audit_log, approvals, breach_report,
//                                          {.approval_id = id, .recipient_public_key = pk,
//                                           .out_path = "/srv/out/notify.sealed",
//                                           .source = "cli:uid=1000"});
//
// Lines: first {"notification":"coffre art. 34 list v1","principal":…,
// "user":…,"from":…,"to":…,"people":N}, then per person
// {"subject":"…","contact":{"people.email":"…",…},
//  "exposed":{"people.email":"masked",…},"categories":["contact",…]}
// ("erased":true and no contact for a person erased since).
//
// Order of events: the output file is created before the approval is
// consumed; each page of 1,000 people is decrypted, then its decryption is
// audited (principal `local`, action `read`, the page's subjects and the
// contact fields in clear, reason naming the approval) before the page is
// sealed into the file. A failure removes the partial file.
//
// Thread-safety: as the vault and the audit log.
#pragma once

#include <cstdint>
#include <string>

#include "approval/approvals.h"
#include "audit/audit_log.h"
#include "report/breach_report.h"
#include "vault/vault.h"

namespace coffre::report {

struct NotificationOptions {
  std::string approval_id;           // 16 raw bytes
  std::string recipient_public_key;  // 32 raw bytes
  std::string out_path;
  std::string source;  // audited source
  size_t page_people = 1000;
};

struct NotificationResult {
  uint64_t people = 0;       // lines written after the header
  uint64_t reachable = 0;    // with at least one contact channel
  uint64_t unreachable = 0;  // in the vault, without any contact channel
  uint64_t erased = 0;       // erased since the exposure
  uint64_t bytes = 0;
};

// The approval parameters a report's query corresponds to (for
// `breach_notification`): principal, user, from, to.
approval::Params NotificationParams(const BreachQuery& query);

// kDataLoss when the report's verification failed; kPermissionDenied when
// the approval does not authorise it; kAlreadyExists when the output
// exists; kInvalidArgument for an unusable public key.
Result<NotificationResult> WriteNotificationFile(vault::Vault& vault, audit::AuditLog& log,
                                                 approval::Approvals& approvals,
                                                 const BreachReport& report,
                                                 const NotificationOptions& options);

}  // namespace coffre::report
