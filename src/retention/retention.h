// Retention (issue 5, docs/retention.md): the sweeper that applies each
// collection's rule ([collections.NAME.retention], schema.h), per-subject
// legal holds, and the report of what will go and when.
//
//   retention::Retention r(vault, *vault.Grant("retention", kRetentionSpaces), audit_log, clock);
//   COFFRE_TRY(r.SetHold(subject, "dpo"));           // the subject is kept
//   COFFRE_ASSIGN_OR_RETURN(auto swept, r.Sweep());  // archive / delete what is due
//   COFFRE_ASSIGN_OR_RETURN(auto plan, r.Report(1000));
//
// A record's period counts from its rule's `from`: a date field of the
// record (midnight UTC of that day) or its last activity (Vault::
// LastActivity: its last write; reads do not count). When the date field is
// absent the record counts from its last activity, except in a `client`
// collection, where an absent end of relationship means the relationship
// goes on (the record is not due). Once `delete_after` has passed, the
// record, online or archived, is deleted by crypto-shredding (Vault::
// DeleteRecord / DeleteArchived shred the (subject, collection) data key
// with the subject's last record there; the spaces are compacted after a
// sweep that deleted or archived anything). Once only `archive_after` has passed, an online record
// moves to the archive (Vault::ArchiveRecord). Subjects under a legal hold are skipped. Each
// deletion and archive is audited as principal `coffre` (actions retention.delete /
// retention.archive; ids, never values).
//
// Thread-safety: safe for concurrent use; sweeps are serialised.
// Ownership: borrows the vault, the audit log and the clock, which must
// outlive it.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "audit/audit_log.h"
#include "common/clock.h"
#include "common/status.h"
#include "schema/schema.h"
#include "storage/space_handle.h"
#include "vault/vault.h"

namespace coffre::retention {

// The space retention owns (vault::Vault::Grant, ADR 0025): legal holds.
inline constexpr storage::SpaceSet kRetentionSpaces = storage::Spaces({storage::Space::kRetention});

// Retention's part of a subject's erasure (vault/eraser.h, ADR 0026): the
// subject's legal hold, if any, goes in the vault's batch (a hold on
// nobody would keep the erased subject's id). Registered by the
// composition root when it opens the vault; stateless.
class HoldEraser final : public vault::Eraser {
 public:
  std::string_view name() const override { return "holds"; }
  std::vector<storage::Space> spaces() const override { return {storage::Space::kRetention}; }
  Result<size_t> AddErasure(std::string_view subject, storage::Store& store,
                            storage::WriteBatch& batch) override;
};

// The principal and source retention work is audited under.
inline constexpr std::string_view kPrincipal = "coffre";
inline constexpr std::string_view kSource = "coffre:retention";

struct Hold {
  std::string subject;  // raw 16 bytes
  int64_t since = 0;    // unix seconds
  std::string by;       // principal name that set it
};

struct SweepResult {
  int64_t at = 0;  // unix seconds (the clock's now)
  size_t archived = 0;
  size_t deleted = 0;     // online and archived records shredded
  size_t held = 0;        // due records skipped because their subject is held
  size_t stamped = 0;     // records without a last activity, stamped now
  size_t skipped = 0;     // deleted or erased between the walk's scan and the work on them
  size_t unreadable = 0;  // records that do not open (kDataLoss): left in place, the sweep goes on
  std::vector<std::string> held_subjects;  // raw, distinct, of the held due records
};

// One record the report lists.
struct PlannedRecord {
  std::string id, subject;  // raw
  bool archived = false;    // where it is now
  std::string action;       // "archive" or "delete": what happens next
  int64_t due = 0;          // when (unix seconds)
  bool held = false;
  bool activity_unknown = false;  // counted from now: written before tracking
};

struct CollectionPlan {
  std::string collection;
  schema::RetentionRule rule;
  size_t online = 0, archived = 0;
  size_t due_now = 0;                  // next action already due (the next sweep does it)
  size_t held = 0;                     // of which held
  size_t undated = 0;                  // client records without an end of relationship: not due
  std::vector<PlannedRecord> records;  // soonest first, at most `limit`
  bool truncated = false;
};

struct Plan {
  int64_t now = 0;
  std::vector<CollectionPlan> collections;  // those with a rule, schema order
};

class Retention {
 public:
  // `holds`: the legal holds' space (kRetentionSpaces, vault::Vault::Grant).
  Retention(vault::Vault& vault, storage::SpaceHandle holds, audit::AuditLog& audit, Clock& clock)
      : vault_(vault), holds_(holds), audit_(audit), clock_(clock) {}

  // Legal holds. SetHold replaces an existing hold; ReleaseHold is
  // kNotFound when there is none. kNotFound as well for an unknown subject
  // (SetHold). Callers audit these (the API route, the admin operation).
  Status SetHold(std::string_view subject, std::string_view by);
  Status ReleaseHold(std::string_view subject);
  Result<std::optional<Hold>> GetHold(std::string_view subject);
  Result<std::vector<Hold>> ListHolds();

  // Applies every rule once, at the clock's now. A record deleted or erased
  // meanwhile is skipped, one that does not open is counted unreadable and
  // left; any other error stops the sweep (an audit entry that cannot be
  // made durable included); what was done before it stays done and audited.
  Result<SweepResult> Sweep();

  // What the rules will do, without doing it: per collection with a rule,
  // counts and up to `limit` records, soonest due first.
  Result<Plan> Report(size_t limit);

 private:
  struct Visit;
  // Calls `visit` for every record of every collection with a rule; counts
  // apart those gone since the scan and those that do not open.
  struct Missed {
    size_t gone = 0, unreadable = 0;
  };
  template <typename F>
  Status ForEachRecord(F&& visit, Missed& missed);
  // When the record's period starts: its date field, else its last
  // activity (nullopt and `activity_unknown` when never stamped), or
  // nullopt for a client without an end of relationship.
  Result<std::optional<int64_t>> BaseOf(const schema::Collection& c, const vault::Record& r,
                                        bool& activity_unknown);
  // One sweep's state, and its steps: a record's decision, re-checked
  // under act_mu_ (SweepRecord), then its archiving or deletion, audited (Act).
  struct Sweeping;
  Status SweepRecord(Sweeping& s, Visit& v);
  Status Act(Sweeping& s, const Visit& v, bool del);

  vault::Vault& vault_;
  storage::SpaceHandle holds_;
  audit::AuditLog& audit_;
  Clock& clock_;
  std::mutex sweep_mu_;
  // Held by SetHold's write and by a sweep from its last check of a
  // record to its action on it.
  std::mutex act_mu_;
};

}  // namespace coffre::retention
