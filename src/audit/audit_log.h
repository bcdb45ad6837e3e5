// The tamper-evident audit log (docs/audit-log.md). Every request, allowed
// or denied, appends an Entry; entries are hash-chained, and every N entries
// a checkpoint over the chain is signed with Ed25519 and also appended to an
// anchor file outside the data directory. Verification lives in verify.h.
//
//   // store: vault.Grant("audit", kAuditSpaces), from the composition root
//   auto log = audit::AuditLog::Open(store, crypto::SigningKey::FromSeed(
//                                              keyring.audit_signing_seed()),
//                                    {.anchor_path = dir + ".audit-anchor"});
//   if (!log) return log.error();
//   auto seq = (*log)->Append(entry);     // durable on return, or an error:
//   if (!seq) return seq.error();         // then fail the request (fail closed)
//   ...
//   (*log)->CountUnauthenticated("https:203.0.113.9");   // bad credential
//   (*log)->Flush();                      // about once a second (timer)
//   (*log)->Checkpoint();                 // at shutdown
//
// Thread-safety: all methods are safe to call from many threads at once.
// One committer thread, owned by the log, writes every entry: whatever is
// queued while it writes goes into its next group. A second thread, the
// syncer, makes the written groups durable (one sync for every group written
// while the previous sync ran, ADR 0014) and only then completes them.
// Blocking calls wait for their group; AppendBatchAsync returns at once and
// is told when its group is durable (a server thread that must not block,
// docs/audit-log.md).
// Ownership: the caller owns the Store, which must outlive the AuditLog.
// The AuditLog owns its SigningKey. One AuditLog per store at a time.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "audit/entry.h"
#include "common/clock.h"
#include "common/status.h"
#include "crypto/crypto.h"
#include "storage/space_handle.h"
#include "storage/store.h"

namespace coffre::audit {

// The spaces the audit log owns (vault::Vault::Grant, ADR 0025); verify and
// the breach report read them through AuditLog::reader().
inline constexpr storage::SpaceSet kAuditSpaces = storage::Spaces(
    {storage::Space::kAudit, storage::Space::kAuditByPrincipal, storage::Space::kAuditBySubject});

namespace internal {
struct Checkpoint;
struct ChainsFile;
class ChainStore;
}  // namespace internal

struct Options {
  // Anchor file, outside the data directory (default chosen by the front
  // ends: DIR.audit-anchor). Required.
  std::string anchor_path;
  // Also send each checkpoint line to syslog (LOG_AUTHPRIV, ident
  // "coffre-audit") for forwarding to another host.
  bool anchor_syslog = false;
  // A checkpoint at least every this many entries.
  uint64_t checkpoint_every = 1000;
  // Flush() checkpoints unsigned entries older than this.
  int64_t checkpoint_interval_ms = 10'000;
  // Distinct unauthenticated sources counted per minute; the rest are
  // counted under "other".
  size_t max_unauthenticated_sources = 1024;
  // Start a new anchor for a non-empty log whose anchor is missing (after
  // restoring a backup; keep the old anchor as evidence). Off: refuse.
  bool recreate_anchor = false;
  Clock* clock = nullptr;  // nullptr: DefaultClock()
  // A cluster vault (docs/audit-cluster.md): this node's chain id, 16 raw
  // bytes (the node id). The log then writes its own chain under the
  // chain's prefix, registers it with its first entry, keeps the registry
  // in `<anchor_path>.chains`, stamps entries with the store's clock when
  // the store is shared, and Query merges every chain. Empty: the embedded
  // vault's one chain, its layout unchanged.
  std::string chain_id;
};

// Query filter. Times are inclusive, in ms since the epoch.
struct Filter {
  std::optional<std::string> principal = std::nullopt;     // entries made by this principal
  std::optional<std::string> on_behalf_of = std::nullopt;  // entries made for this end user
  std::optional<std::string> subject = std::nullopt;  // 16 raw bytes: entries touching this subject
  int64_t from_ms = 0;
  int64_t to_ms = INT64_MAX;
  size_t limit = 0;  // 0: no limit
};

// Return false to stop.
using EntryVisitor = std::function<bool(const Entry& entry)>;

class AuditLog {
 public:
  // Opens the log in `store`, continuing its chain. Fails with:
  //   kDataLoss           the entries since the last checkpoint do not chain
  //                       to it, a checkpoint does not verify under
  //                       `signing_key`, or the anchor holds a checkpoint the
  //                       log lacks (truncated or rewritten log);
  //   kFailedPrecondition the anchor belongs to another key, or is missing
  //                       for a non-empty log (see Options::recreate_anchor);
  //   kInvalidArgument    no anchor path, checkpoint_every of 0;
  //   kIoError            storage or anchor file failure.
  static Result<std::unique_ptr<AuditLog>> Open(storage::SpaceHandle store,
                                                crypto::SigningKey signing_key, Options options);
  // Tries to checkpoint the tail (errors ignored: the tail is still chained
  // and is checked at the next Open). Call Checkpoint() to see errors.
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Numbers, stamps, chains and durably writes `entry`; returns its seq.
  // Blocks until the entry is in a synced write. kInvalidArgument for an
  // entry ValidateEntry refuses; kIoError when it cannot be made durable:
  // the caller must then fail its request.
  Result<uint64_t> Append(Entry entry);

  // Appends `entries` together, in order, in one durable write (all or
  // none); returns the seq of the last one. For operations that record many
  // entries at once (a bulk export's parts; benchmarks filling a log).
  // kInvalidArgument, naming the index, if any entry is refused.
  Result<uint64_t> AppendBatch(std::vector<Entry> entries);

  // AppendBatch without waiting: validates and queues `entries` (an error,
  // and nothing queued, for an entry ValidateEntry refuses), then returns.
  // `done` gets the seq of the last entry once the batch is durable, or the
  // error that kept it from being so (`done` is required: kInvalidArgument
  // without one). It runs on the log's syncer thread (ADR 0014): it
  // must be quick, must not throw, and must not call the log's blocking
  // methods (they would wait for the thread that runs it).
  using DoneCallback = std::function<void(const Result<uint64_t>&)>;
  [[nodiscard]] Status AppendBatchAsync(std::vector<Entry> entries, DoneCallback done);

  // Counts one failed authentication from `source` (no I/O). Summaries are
  // written by the first Append or Flush after the minute ends.
  void CountUnauthenticated(std::string_view source);

  // Writes the summaries of past minutes and, if the oldest unsigned entry
  // is older than checkpoint_interval_ms, a checkpoint. Call periodically.
  [[nodiscard]] Status Flush();

  // Writes pending summaries (all minutes, including the current one) and a
  // checkpoint over every entry (no-op if the last entry is checkpointed).
  [[nodiscard]] Status Checkpoint();

  // Visits the entries matching `filter` in (time, seq) order; on a cluster
  // vault, every chain's, merged in (time, chain, seq) order.
  [[nodiscard]] Status Query(const Filter& filter, const EntryVisitor& visit);

  // The Ed25519 public key (32 bytes) that verifies the checkpoints.
  const std::string& public_key() const { return signing_key_.public_key(); }
  // Seq of the last durable entry (0 when empty): entries written but not
  // yet synced are not counted, and Query does not show them.
  uint64_t last_seq() const;
  // Whether the log can make entries durable, for readiness (/readyz): an
  // error once a sync or an anchor write failed (every later append fails
  // until the log is reopened), or while the last group written failed
  // (cleared by the next group that commits). The error names no value.
  [[nodiscard]] Status Health() const;
  // The anchor file (outside the data directory) that verification reads.
  const std::string& anchor_path() const { return options_.anchor_path; }
  // The log's spaces, for reading only: what Verify and the breach report
  // (src/report) walk.
  // On a cluster vault: this node's chain only (what backups name).
  storage::SpaceHandle reader() const { return store_.ReadOnly(); }
  // The audit spaces as stored, every chain of a cluster vault included:
  // what VerifyAllChains and the breach report walk. reader() for the
  // embedded vault.
  storage::SpaceHandle store_reader() const { return raw_.ReadOnly(); }
  // This node's chain (16 raw bytes); empty for the embedded vault.
  const std::string& chain_id() const { return options_.chain_id; }

 private:
  struct Request;
  AuditLog(storage::SpaceHandle raw, std::unique_ptr<internal::ChainStore> chain,
           crypto::SigningKey key, Options options);
  Status Recover();
  // A cluster vault: opens (or creates) `<anchor>.chains` after Recover.
  Status OpenChainsFile();
  // A cluster vault: anchors the registry rows and the other chains'
  // latest checkpoints not yet in `<anchor>.chains`.
  Status SyncChains();
  Status MergedQuery(const Filter& filter, const EntryVisitor& visit);
  // Flush without the registry.
  Status FlushEntries();
  // Validation and the pending summaries for AppendBatch(Async); sets
  // `summaries` to their number.
  Result<std::vector<Entry>> PrepareBatch(std::vector<Entry> batch, size_t& summaries);
  // Queues `req` with `entries`, of which the first `summaries` are
  // unauthenticated summaries (put back into the counters on failure).
  void Enqueue(Request& req, std::vector<Entry> entries, size_t summaries, bool checkpoint);
  // Queues and waits: the seq of the last entry, or the commit's error.
  Result<uint64_t> Submit(std::vector<Entry> entries, size_t summaries, bool checkpoint);
  // A group written (unsynced) by the committer, or refused, waiting for
  // the syncer to complete it in order (ADR 0014).
  struct Written;
  // The committer thread: writes what is queued, group by group, unsynced,
  // and hands each group to the syncer, until stopping_ and the queue is
  // empty.
  void RunCommitter();
  // Committer only: numbers, chains and writes one group (sync=false), then
  // advances the chain state; `mu_` is not held. Fills the checkpoints to
  // anchor once the group is durable.
  // After a failed write to a shared store: the chain state as stored.
  Status Resync();
  Status CommitGroup(std::vector<Request*>& group, std::vector<internal::Checkpoint>& checkpoints);
  // The syncer thread: syncs what the committer wrote, anchors its
  // checkpoints, then completes the submissions, until the committer has
  // stopped and nothing is left.
  void RunSyncer();
  // Syncer, with mu_ held by `lock`: wakes an idle committer if anything is
  // queued (releasing and retaking `lock` to notify).
  void WakeCommitterForQueued(std::unique_lock<std::mutex>& lock);
  // Sets results (on failure), then wakes or calls back each request.
  void Complete(std::vector<Request*>& group, const Status& s);
  std::vector<Entry> TakeUnauthenticatedSummaries(bool all);
  Status QueryIndex(storage::Space space, const std::string& prefix, const Filter& filter,
                    const EntryVisitor& visit);
  Status QueryByTime(const Filter& filter, const EntryVisitor& visit);

  // The store as given, and (a cluster vault) this node's chain in it:
  // store_ is then a handle on chain_store_.
  storage::SpaceHandle raw_;
  std::unique_ptr<internal::ChainStore> chain_store_;
  storage::SpaceHandle store_;
  crypto::SigningKey signing_key_;
  const Options options_;
  Clock& clock_;

  mutable std::mutex mu_;
  std::deque<Request*> queue_;
  std::condition_variable queued_;
  bool committer_idle_ = false;  // waiting on queued_: the next Enqueue wakes it
  bool stopping_ = false;
  std::thread committer_;
  // Groups written by the committer, oldest first, for the syncer.
  std::deque<std::unique_ptr<Written>> written_;
  std::condition_variable written_cv_;
  bool syncer_idle_ = false;      // waiting on written_cv_ for a group
  bool syncer_waiting_ = false;   // waiting on written_cv_ for written_through_
  uint64_t enqueued_ = 0;         // submissions queued, ever
  uint64_t written_through_ = 0;  // submissions handed to the syncer, ever
  bool committer_done_ = false;   // RunCommitter returned: the syncer may stop
  std::thread syncer_;
  // The last seq covered by a finished sync: what readers may see.
  uint64_t durable_seq_ = 0;
  // Chain state: changed only by the committer, read under mu_.
  uint64_t last_seq_ = 0;
  std::string last_hash_;
  int64_t last_time_ms_ = 0;
  uint64_t last_checkpoint_seq_ = 0;
  int64_t last_checkpoint_time_ms_ = 0;
  // Set when a sync failed, or the anchor could not be written after a
  // durable batch: every later append fails until the log is reopened.
  // Under mu_.
  std::optional<Error> broken_;
  // A shared store's write failed, and may have landed anyway (a commit
  // whose outcome is unknown): the next group first takes the chain state
  // from the stored head (Resync). Committer thread only.
  bool resync_ = false;
  // Whether the last group completed failed (Health); any thread.
  std::atomic<bool> last_group_failed_{false};
  bool opened_ = false;  // Recover succeeded

  // `<anchor>.chains` as anchored so far (a cluster vault).
  std::mutex chains_mu_;
  std::unique_ptr<internal::ChainsFile> chains_;

  std::mutex counters_mu_;
  // minute (unix minutes) -> source -> failures
  std::map<int64_t, std::map<std::string, uint64_t, std::less<>>> unauthenticated_;
};

}  // namespace coffre::audit
