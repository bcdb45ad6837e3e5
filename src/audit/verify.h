// Verification of an audit log (docs/audit-log.md, "What verify
// concludes"). Needs only the public key: taken from the anchor file
// (outside the data directory) or given by the operator, never from the
// store, so re-signing by someone holding the data directory is caught.
//
//   auto report = audit::Verify(*store, dir + ".audit-anchor");
//   if (!report) return report.error();      // could not read store or anchor
//   if (!report->ok) std::cerr << report->problem << "\n";   // "entry 42 was altered"
//
// A window, for the breach report: verification starts at a signed
// checkpoint whose signed time is before `from_ms` (or at entry 1) and ends
// at the first checkpoint whose entry's verified time is after `to_ms`, or at the
// end of the log when there is none (then removed tail entries, which may
// have been in the window, are caught). Both ends are decided by verified
// times, never by the stored entries' times alone: shifting the time of a
// few entries cannot move the walk past any entry of the window.
// A checkpoint is stamped at or after its entry, and entry times never go
// backwards (docs/audit-log.md):
//
//   audit::Verify(*store, anchor, {.from_ms = t1, .to_ms = t2});
//
// With `visit`, every entry checked is handed over as it is checked, so a
// breach report reads each entry once, for both purposes:
//
//   audit::Verify(*store, anchor, {.from_ms = t1, .to_ms = t2, .threads = 2,
//                                  .visit = [&](size_t part, const audit::EntryView& e) { ... }});
//
// Thread-safety: reads the store only; safe alongside a running AuditLog
// (entries appended meanwhile may or may not be seen). Starts its own
// threads when asked to (VerifyOptions::threads) and joins them.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "audit/entry.h"
#include "common/status.h"
#include "storage/space_handle.h"
#include "storage/store.h"

namespace coffre::audit {

struct VerifyOptions {
  // Ed25519 public key (32 raw bytes). Required when the anchor is missing;
  // when both exist they must agree.
  std::optional<std::string> public_key = std::nullopt;
  std::optional<int64_t> from_ms = std::nullopt;
  std::optional<int64_t> to_ms = std::nullopt;
  // Walk in up to this many parts at once (threads), split at stored
  // checkpoints; parts under min_part_entries are not split off. Findings
  // are the same as one walk's.
  unsigned threads = 1;
  uint64_t min_part_entries = 100'000;  // tests lower it
  // Called with each entry once its bytes decode and its stored hash
  // continues the chain. With threads > 1, parts (0, 1, ...: consecutive seq
  // ranges, in order) are visited concurrently, each in seq order; without,
  // everything is part 0. A later finding (a checkpoint that does not
  // match) can still fail the report: trust what was visited only when the
  // report is ok. The view borrows bytes valid during the call only.
  std::function<void(size_t part, const EntryView& entry)> visit = nullptr;
};

struct VerifyReport {
  bool ok = false;
  bool anchored = false;            // an anchor file was read
  uint64_t first_seq = 0;           // first entry checked
  uint64_t last_seq = 0;            // last entry checked
  uint64_t entries = 0;             // entries checked
  uint64_t checkpoints = 0;         // stored checkpoints verified
  uint64_t anchor_checkpoints = 0;  // anchor checkpoints verified
  uint64_t unsigned_tail = 0;       // entries after the last verified checkpoint
  // A window: the signed checkpoint the walk started from (its hash is the
  // chain's starting point); nullopt when it started at entry 1.
  std::optional<uint64_t> start_checkpoint_seq;
  int64_t start_checkpoint_time_ms = 0;
  // The checkpoint at which a window's walk stopped; nullopt when it went
  // to the end of the log.
  std::optional<uint64_t> end_checkpoint_seq;
  std::optional<uint64_t> first_bad_seq;
  // A cluster vault (VerifyAllChains): the chains verified, and the chain
  // (hex) a finding is in.
  uint64_t chains = 0;
  std::string chain;
  // Empty when ok; else names the first problem, e.g. "entry 42 was altered",
  // "entry 42 is missing", "entries after 1200 were removed (anchor
  // checkpoint 2000)", "checkpoint 3000 signature invalid".
  std::string problem;
};

// Result error only when the check could not run (I/O, no public key);
// findings go into the report.
Result<VerifyReport> Verify(storage::SpaceHandle store, const std::string& anchor_path,
                            const VerifyOptions& options = {});

// Verification of a cluster vault's log (docs/audit-cluster.md, "What
// verify concludes"): every chain named by the chain registry in the store,
// by this node's `<anchor_path>.chains` file, and this node's own (`chain`,
// 16 raw bytes), each as Verify does (this node's against its anchor, the
// others against the anchor's public key, or options.public_key), then
// their completeness: every anchored chain still registered, every
// registered chain's entry 1 the registered one, every checkpoint this node
// saw of another chain still there. A finding names the chain: "chain
// <hex>: entry 42 was altered". The sums of entries and checkpoints cover
// every chain; seqs and window ends are this node's chain's. With `visit`,
// the chains are walked one after another (parts as in Verify, per chain).
// An empty `chain` is the embedded vault: Verify.
Result<VerifyReport> VerifyAllChains(storage::SpaceHandle store, const std::string& anchor_path,
                                     std::string_view chain, const VerifyOptions& options = {});

// Whether the by-principal index holds an entry made by principal `name`
// (as_user false) or on behalf of end user `name` (as_user true). The index
// is not chained: "yes" is as good as the index (a planted key can only
// make a name look used), "no" proves nothing (keys can be deleted), so a
// caller that must be sure walks the verified log (Verify with `visit`).
// The chain hash h_seq stored with entry `seq` (32 bytes; 32 zero bytes for
// seq 0), as stored: not verified. nullopt when the entry is absent;
// kDataLoss when its value is malformed. A backup manifest names the chain's
// head by it, and a restore checks that the restored log holds that head
// (docs/backup.md).
Result<std::optional<std::string>> StoredChainHash(storage::SpaceHandle store, uint64_t seq);

Result<bool> IndexNames(storage::SpaceHandle store, bool as_user, std::string_view name);

}  // namespace coffre::audit
