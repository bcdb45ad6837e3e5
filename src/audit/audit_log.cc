#include "audit/audit_log.h"

#include <syslog.h>

#include <algorithm>
#include <chrono>
#include <semaphore>
#include <thread>

#include "audit/internal/anchor.h"
#include "audit/internal/chain.h"
#include "audit/internal/chain_store.h"
#include "audit/internal/chains_file.h"
#include "audit/internal/format.h"
#include "audit/internal/seek.h"
#include "common/bytes.h"
#include "common/metrics.h"

namespace coffre::audit {

using storage::Space;

namespace {

// Entries per group commit; a larger queue waits for the next group.
constexpr size_t kMaxGroupEntries = 4096;
// Pending minutes of unauthenticated counts kept apart; older ones are
// merged (only reached when nobody calls Flush).
constexpr size_t kMaxPendingMinutes = 16;
constexpr size_t kQueryChunk = 256;

Error Corrupt(const std::string& what) { return Error{ErrorCode::kDataLoss, "audit log: " + what}; }

// Commit latency, in microseconds: 100 us to 5 s.
constexpr uint64_t kCommitBoundsUs[] = {100,    250,    500,     1000,    2500,
                                        5000,   10000,  25000,   50000,   100000,
                                        250000, 500000, 1000000, 2500000, 5000000};
metrics::Histogram& g_commit_seconds = metrics::Default().AddHistogram(
    "coffre_audit_commit_seconds",
    "Time from queuing audit entries to their durable (synced) write, per submission: what a "
    "request waits for its audit trail.",
    kCommitBoundsUs, metrics::kMicros);
metrics::Counter& g_commit_failures = metrics::Default().AddCounter(
    "coffre_audit_commit_failures_total",
    "Audit submissions that could not be made durable (their requests failed closed).");

}  // namespace

// One submission, queued for the committer thread. A blocking caller
// (Append, AppendBatch, Flush, Checkpoint) keeps it on its stack and sleeps
// on `wake`; an asynchronous one (AppendBatchAsync) gives it to the queue,
// and the syncer calls `done` and deletes it. Each blocking caller is
// woken alone: a shared condition variable woke every waiter at every
// commit, and they all fought for mu_ again (measured by bench/http).
struct AuditLog::Request {
  std::vector<Entry> entries;
  bool checkpoint = false;
  // The unauthenticated summaries at the front of `entries` (minute,
  // source, count), put back into the counters if the group fails.
  std::vector<std::pair<int64_t, std::string>> minute_source;
  std::vector<uint64_t> counts;
  Result<uint64_t> result = 0;
  // Set: asynchronous (heap-allocated, owned by the queue once submitted).
  DoneCallback done;
  // Blocking: released once `result` is set.
  std::binary_semaphore wake{0};
  // When it was queued: its commit latency, from here to durable.
  std::chrono::steady_clock::time_point queued_at;
};

struct AuditLog::Written {
  std::vector<Request*> group;
  // Failed before or while writing: completed with it, nothing to sync.
  Status status = Ok();
  // Signed in this group; anchored once it is durable.
  std::vector<internal::Checkpoint> checkpoints;
  uint64_t last_seq = 0;  // the chain's last seq after this group
};

namespace {

storage::SpaceHandle ChainHandle(const storage::SpaceHandle& raw,
                                 const std::unique_ptr<internal::ChainStore>& chain) {
  if (!chain) return raw;
  return storage::SpaceHandle(*chain, raw.owner(), raw.writable(),
                              raw.readable() & ~raw.writable());
}

}  // namespace

AuditLog::AuditLog(storage::SpaceHandle raw, std::unique_ptr<internal::ChainStore> chain,
                   crypto::SigningKey key, Options options)
    : raw_(raw),
      chain_store_(std::move(chain)),
      store_(ChainHandle(raw_, chain_store_)),
      signing_key_(std::move(key)),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : DefaultClock()) {}

Result<std::unique_ptr<AuditLog>> AuditLog::Open(storage::SpaceHandle store,
                                                 crypto::SigningKey signing_key, Options options) {
  if (options.anchor_path.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "the audit log needs an anchor path");
  }
  if (options.checkpoint_every == 0) {
    return Fail(ErrorCode::kInvalidArgument, "audit checkpoint_every must be at least 1");
  }
  std::unique_ptr<internal::ChainStore> chain;
  if (!options.chain_id.empty()) {
    if (options.chain_id.size() != kIdBytes) {
      return Fail(ErrorCode::kInvalidArgument, "an audit chain id is 16 bytes (the node id)");
    }
    chain = std::make_unique<internal::ChainStore>(store, options.chain_id);
  }
  std::unique_ptr<AuditLog> log(
      new AuditLog(store, std::move(chain), std::move(signing_key), std::move(options)));
  COFFRE_TRY(log->Recover());
  if (log->chain_store_) {
    if (log->last_seq_ == 0) {
      // An empty chain that the registry says had entries was removed: a
      // new entry 1 would hide that (docs/audit-cluster.md).
      COFFRE_ASSIGN_OR_RETURN(auto row,
                              log->raw_.Get(Space::kAudit, internal::RegistryKey(log->chain_id())));
      if (row) {
        return Fail(Corrupt("this node's chain " + ToHex(log->chain_id()) +
                            " is empty but registered with a first entry: it was removed (run "
                            "coffre audit verify)"));
      }
    }
    COFFRE_TRY(log->OpenChainsFile());
    COFFRE_TRY(log->SyncChains());
  }
  log->durable_seq_ = log->last_seq_;
  log->syncer_ = std::thread([raw = log.get()] { raw->RunSyncer(); });
  try {
    log->committer_ = std::thread([raw = log.get()] { raw->RunCommitter(); });
  } catch (...) {
    // No committer: stop the syncer before the log goes away.
    {
      std::lock_guard lock(log->mu_);
      log->committer_done_ = true;
    }
    log->written_cv_.notify_one();
    log->syncer_.join();
    return Fail(ErrorCode::kInternal, "audit log: cannot start the committer thread");
  }
  log->opened_ = true;  // only now: the destructor's checkpoint needs both threads
  return log;
}

AuditLog::~AuditLog() {
  // Best effort: the tail stays chained and Open checks it anyway. A log
  // whose Open failed must not write anything (and has no committer).
  if (!opened_) return;
  (void)Checkpoint();
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  queued_.notify_one();
  committer_.join();  // it tells the syncer, which drains what is left
  syncer_.join();
}

Status AuditLog::Health() const {
  {
    std::lock_guard lock(mu_);
    if (broken_) return Fail(*broken_);
  }
  if (last_group_failed_.load()) return Fail(ErrorCode::kIoError, "the last audit write failed");
  return Ok();
}

uint64_t AuditLog::last_seq() const {
  std::lock_guard lock(mu_);
  return durable_seq_;
}

namespace {

// An empty log (no head) against its anchor: a new anchor is made, an
// existing one must hold no checkpoint (else the log was removed).
Status RecoverEmpty(storage::SpaceHandle store, const std::string& anchor, bool anchor_exists,
                    std::string_view public_key) {
  COFFRE_ASSIGN_OR_RETURN(auto first, internal::EntryAtOrAfter(store, 1));
  if (first) return Fail(Corrupt("entries exist but the head is missing"));
  if (!anchor_exists) return internal::CreateAnchor(anchor, public_key);
  COFFRE_ASSIGN_OR_RETURN(auto last_anchored, internal::ReadLastAnchorCheckpoint(anchor));
  if (last_anchored) {
    return Fail(Corrupt("the log is empty but anchor " + anchor + " holds checkpoint " +
                        std::to_string(last_anchored->seq) + ": the log was removed or replaced"));
  }
  return Ok();
}

// Where recovery's walk to the head starts: after the last stored
// checkpoint (verified, with the entry it covers), or at entry 1.
struct WalkStart {
  std::optional<internal::Checkpoint> checkpoint;
  uint64_t first = 1;
  std::string hash = internal::ZeroHash();  // h_{first-1}
  int64_t time_ms = 0;                      // of entry first-1
};

Result<WalkStart> StartOfRecovery(storage::SpaceHandle store, const internal::Head& head,
                                  std::string_view public_key) {
  WalkStart start;
  if (head.last_checkpoint_seq == 0) return start;
  const std::string seq = std::to_string(head.last_checkpoint_seq);
  COFFRE_ASSIGN_OR_RETURN(
      auto v, store.Get(Space::kAudit, internal::CheckpointKey(head.last_checkpoint_seq)));
  if (v) start.checkpoint = internal::DecodeCheckpointValue(head.last_checkpoint_seq, *v);
  if (!start.checkpoint) return Fail(Corrupt("checkpoint " + seq + " is missing or corrupt"));
  const internal::Checkpoint& cp = *start.checkpoint;
  if (!internal::CheckpointSignatureValid(cp, public_key)) {
    return Fail(Corrupt("checkpoint " + seq + " does not verify under this log's signing key"));
  }
  COFFRE_ASSIGN_OR_RETURN(auto stored, store.Get(Space::kAudit, internal::EntryKey(cp.seq)));
  auto parts = stored ? internal::SplitStoredEntry(*stored) : std::nullopt;
  auto e = parts ? DecodeEntryView(parts->bytes) : Result<EntryView>();
  if (!parts || !e || e->seq != cp.seq) {
    return Fail(Corrupt("entry " + seq + " is missing or altered (run coffre audit verify)"));
  }
  if (parts->hash != cp.hash)
    return Fail(Corrupt("entry " + seq + " does not match its checkpoint"));
  start.first = cp.seq + 1;
  start.hash = cp.hash;
  start.time_ms = e->time_ms;
  return start;
}

// The anchor's last checkpoint against the recovered log: not ahead of it,
// signed by its key, and matching the entry it covers.
Status CheckAnchored(storage::SpaceHandle store, const std::string& anchor,
                     const internal::Checkpoint& anchored, uint64_t last_seq,
                     std::string_view public_key) {
  const std::string seq = std::to_string(anchored.seq);
  if (anchored.seq > last_seq) {
    return Fail(
        Corrupt("the log ends at entry " + std::to_string(last_seq) + " but anchor " + anchor +
                " holds checkpoint " + seq +
                ": entries were removed (after restoring a backup of the data directory,"
                " run `coffre audit reanchor DIR` to start a new anchor; the old one is kept"
                " as evidence)"));
  }
  if (!internal::CheckpointSignatureValid(anchored, public_key)) {
    return Fail(
        Corrupt("anchor checkpoint " + seq + " does not verify under this log's signing key"));
  }
  COFFRE_ASSIGN_OR_RETURN(auto v, store.Get(Space::kAudit, internal::EntryKey(anchored.seq)));
  auto parts = v ? internal::SplitStoredEntry(*v) : std::nullopt;
  if (!parts || parts->hash != anchored.hash) {
    return Fail(Corrupt("entry " + seq + " does not match anchor checkpoint " + seq));
  }
  return Ok();
}

}  // namespace

Status AuditLog::Recover() {
  const std::string& anchor = options_.anchor_path;
  last_hash_ = internal::ZeroHash();
  last_checkpoint_time_ms_ = clock_.NowUnixMillis();
  COFFRE_ASSIGN_OR_RETURN(auto head_value, store_.Get(Space::kAudit, internal::kHeadKey));
  auto anchor_key = internal::ReadAnchorPublicKey(anchor);
  if (!anchor_key && !IsNotFound(anchor_key)) {
    return Fail(anchor_key.error());
  }
  if (anchor_key && *anchor_key != public_key()) {
    return Fail(ErrorCode::kFailedPrecondition,
                "audit anchor " + anchor + " belongs to another signing key");
  }
  if (!head_value) return RecoverEmpty(store_, anchor, anchor_key.has_value(), public_key());

  auto head = internal::DecodeHead(*head_value);
  if (!head) return Fail(Corrupt("the head is corrupt"));
  COFFRE_ASSIGN_OR_RETURN(auto beyond, internal::EntryAtOrAfter(store_, head->last_seq + 1));
  if (beyond) {
    return Fail(Corrupt("entry " + std::to_string(beyond->seq) + " lies beyond the head"));
  }

  // Walk from the last stored checkpoint to the head: the chain walk of
  // verification (internal/chain.h).
  COFFRE_ASSIGN_OR_RETURN(WalkStart start, StartOfRecovery(store_, *head, public_key()));
  if (start.checkpoint) {
    last_checkpoint_time_ms_ = start.checkpoint->time_ms;
    last_time_ms_ = start.time_ms;
  }
  std::string hash = start.hash;
  uint64_t next = start.first;
  std::optional<internal::ChainBreak> broken;
  COFFRE_TRY(internal::WalkChain(store_, start.first, internal::EntryKey(head->last_seq + 1),
                                 internal::ScanMode::kCached, hash, next, broken,
                                 [&](const EntryView& e) {
                                   last_time_ms_ = e.time_ms;
                                   return true;
                                 }));
  if (broken) return Fail(Corrupt(broken->problem + " (run coffre audit verify)"));
  if (next != head->last_seq + 1 || hash != head->hash) {
    return Fail(Corrupt("the entries since the last checkpoint do not reach the head"));
  }
  last_seq_ = head->last_seq;
  last_hash_ = hash;
  last_checkpoint_seq_ = head->last_checkpoint_seq;
  const std::optional<internal::Checkpoint>& stored_cp = start.checkpoint;

  // The anchor must not be ahead of the log, and must agree with it.
  if (!anchor_key) {
    if (!options_.recreate_anchor) {
      return Fail(ErrorCode::kFailedPrecondition,
                  "audit anchor " + anchor +
                      " is missing for a non-empty audit log; restore it, or start a new one "
                      "deliberately (recreate anchor) and keep the old one as evidence");
    }
    COFFRE_TRY(internal::CreateAnchor(anchor, public_key()));
    if (stored_cp) COFFRE_TRY(internal::AppendAnchor(anchor, *stored_cp));
    return Ok();
  }
  COFFRE_ASSIGN_OR_RETURN(auto anchored, internal::ReadLastAnchorCheckpoint(anchor));
  if (anchored) COFFRE_TRY(CheckAnchored(store_, anchor, *anchored, last_seq_, public_key()));
  // A crash between the store write and the anchor append: catch up.
  if (stored_cp && (!anchored || anchored->seq < stored_cp->seq)) {
    COFFRE_TRY(internal::AppendAnchor(anchor, *stored_cp));
  }
  return Ok();
}

Result<uint64_t> AuditLog::Append(Entry entry) {
  COFFRE_TRY(ValidateEntry(entry));
  std::vector<Entry> entries = TakeUnauthenticatedSummaries(false);
  const size_t summaries = entries.size();
  entries.push_back(std::move(entry));
  return Submit(std::move(entries), summaries, false);
}

Result<std::vector<Entry>> AuditLog::PrepareBatch(std::vector<Entry> batch, size_t& summaries) {
  if (batch.empty()) return Fail(ErrorCode::kInvalidArgument, "no audit entries to append");
  for (size_t i = 0; i < batch.size(); ++i) {
    if (auto valid = ValidateEntry(batch[i]); !valid) {
      return Fail(ErrorCode::kInvalidArgument,
                  "audit entry " + std::to_string(i) + " of the batch: " + valid.error().message);
    }
  }
  std::vector<Entry> entries = TakeUnauthenticatedSummaries(false);
  summaries = entries.size();
  entries.reserve(entries.size() + batch.size());
  for (Entry& e : batch) entries.push_back(std::move(e));
  return entries;
}

Result<uint64_t> AuditLog::AppendBatch(std::vector<Entry> batch) {
  size_t summaries = 0;
  COFFRE_ASSIGN_OR_RETURN(std::vector<Entry> entries, PrepareBatch(std::move(batch), summaries));
  return Submit(std::move(entries), summaries, false);
}

Status AuditLog::AppendBatchAsync(std::vector<Entry> batch, DoneCallback done) {
  if (!done) return Fail(ErrorCode::kInvalidArgument, "an asynchronous append needs a callback");
  // Allocated first: once PrepareBatch has taken the pending summaries,
  // nothing may fail before they are queued.
  auto req = std::make_unique<Request>();
  req->done = std::move(done);
  size_t summaries = 0;
  COFFRE_ASSIGN_OR_RETURN(std::vector<Entry> entries, PrepareBatch(std::move(batch), summaries));
  Enqueue(*req, std::move(entries), summaries, false);
  (void)req.release();  // the syncer deletes it
  return Ok();
}

Status AuditLog::Flush() {
  // A cluster vault anchors the registry about once a second; its error is
  // reported after the rest is done.
  Status chains = chain_store_ ? SyncChains() : Status(Ok());
  COFFRE_TRY(FlushEntries());
  return chains;
}

Status AuditLog::FlushEntries() {
  std::vector<Entry> entries = TakeUnauthenticatedSummaries(false);
  bool checkpoint_due;
  {
    std::lock_guard lock(mu_);
    checkpoint_due =
        last_seq_ > last_checkpoint_seq_ &&
        clock_.NowUnixMillis() - last_checkpoint_time_ms_ >= options_.checkpoint_interval_ms;
  }
  if (entries.empty() && !checkpoint_due) return Ok();
  const size_t summaries = entries.size();
  COFFRE_TRY(Submit(std::move(entries), summaries, checkpoint_due));
  return Ok();
}

Status AuditLog::Checkpoint() {
  std::vector<Entry> entries = TakeUnauthenticatedSummaries(true);
  const size_t summaries = entries.size();
  COFFRE_TRY(Submit(std::move(entries), summaries, true));
  if (chain_store_) COFFRE_TRY(SyncChains());
  return Ok();
}

Status AuditLog::OpenChainsFile() {
  const std::string path = internal::ChainsPath(options_.anchor_path);
  auto file = internal::ReadChainsFile(path);
  if (!file && IsNotFound(file)) {
    if (last_seq_ > 0 && !options_.recreate_anchor) {
      return Fail(ErrorCode::kFailedPrecondition,
                  "audit chain registry anchor " + path +
                      " is missing for a non-empty audit chain; restore it, or start a new one "
                      "deliberately (recreate anchor) and keep the old one as evidence");
    }
    COFFRE_TRY(internal::CreateChainsFile(path, public_key()));
    file = internal::ReadChainsFile(path);
  }
  if (!file) return Fail(file.error());
  if (file->public_key != public_key()) {
    return Fail(ErrorCode::kFailedPrecondition,
                "audit chain registry anchor " + path + " belongs to another signing key");
  }
  chains_ = std::make_unique<internal::ChainsFile>(std::move(*file));
  return Ok();
}

Status AuditLog::SyncChains() {
  std::lock_guard lock(chains_mu_);
  COFFRE_ASSIGN_OR_RETURN(std::vector<internal::RegistryRow> rows, internal::ReadRegistry(raw_));
  std::string lines;
  std::vector<std::pair<std::string, std::pair<uint64_t, std::string>>> seen;
  for (const internal::RegistryRow& row : rows) {
    if (!chains_->first.contains(row.chain)) {
      lines += internal::ChainLine(row.chain, row.first_hash, row.first_time_ms);
    }
    if (row.chain == options_.chain_id) continue;  // its own anchor holds its checkpoints
    // The other chain's latest checkpoint, found through its head and
    // anchored only if its signature holds (a forged one must not be
    // anchored as evidence of entries).
    internal::ChainStore other(raw_.ReadOnly(), row.chain);
    storage::SpaceHandle h(other, raw_.owner(), 0, kAuditSpaces);
    COFFRE_ASSIGN_OR_RETURN(auto head_value, h.Get(Space::kAudit, internal::kHeadKey));
    auto head = head_value ? internal::DecodeHead(*head_value) : std::nullopt;
    if (!head || head->last_checkpoint_seq == 0) continue;
    auto known = chains_->seen.find(row.chain);
    if (known != chains_->seen.end() && known->second.first >= head->last_checkpoint_seq) continue;
    COFFRE_ASSIGN_OR_RETURN(
        auto v, h.Get(Space::kAudit, internal::CheckpointKey(head->last_checkpoint_seq)));
    auto cp = v ? internal::DecodeCheckpointValue(head->last_checkpoint_seq, *v) : std::nullopt;
    if (!cp || !internal::CheckpointSignatureValid(*cp, public_key())) continue;
    lines += internal::SeenLine(row.chain, cp->seq, cp->hash);
    seen.push_back({row.chain, {cp->seq, cp->hash}});
  }
  if (lines.empty()) return Ok();
  COFFRE_TRY(internal::AppendChainsLines(internal::ChainsPath(options_.anchor_path), lines));
  for (const internal::RegistryRow& row : rows) chains_->first.emplace(row.chain, row.first_hash);
  for (auto& [chain, cp] : seen) chains_->seen[chain] = std::move(cp);
  return Ok();
}

void AuditLog::Enqueue(Request& req, std::vector<Entry> entries, size_t summaries,
                       bool checkpoint) {
  // The leading `summaries` entries hold unauthenticated counts (time_ms is
  // their minute until stamped): remember them to put them back on failure.
  for (size_t i = 0; i < summaries && i < entries.size(); ++i) {
    req.minute_source.emplace_back(entries[i].time_ms / 60000, entries[i].source);
    req.counts.push_back(std::strtoull(entries[i].reason.c_str(), nullptr, 10));
  }
  req.entries = std::move(entries);
  req.checkpoint = checkpoint;
  req.queued_at = std::chrono::steady_clock::now();
  bool wake;
  {
    std::lock_guard lock(mu_);
    queue_.push_back(&req);
    ++enqueued_;
    // A busy committer takes the queue when its write ends. An idle one
    // with a group already written and waiting for the next sync is left
    // asleep: the syncer wakes it, and waits for its write, just before that
    // sync. What is queued meanwhile then makes one group, covered by that
    // same sync, instead of one group and one wake-up per submission.
    wake = committer_idle_ && written_.empty();
    if (wake) committer_idle_ = false;
  }
  if (wake) queued_.notify_one();
}

Result<uint64_t> AuditLog::Submit(std::vector<Entry> entries, size_t summaries, bool checkpoint) {
  Request req;
  Enqueue(req, std::move(entries), summaries, checkpoint);
  req.wake.acquire();
  return req.result;
}

void AuditLog::RunCommitter() {
  std::unique_lock lock(mu_);
  for (;;) {
    if (queue_.empty()) {
      if (stopping_) break;
      committer_idle_ = true;
      queued_.wait(lock, [&] { return !queue_.empty() || stopping_; });
      committer_idle_ = false;
      continue;
    }
    // Everything queued, up to kMaxGroupEntries (a submission is never split).
    auto w = std::make_unique<Written>();
    size_t n = 0;
    while (!queue_.empty() &&
           (w->group.empty() || n + queue_.front()->entries.size() <= kMaxGroupEntries)) {
      n += queue_.front()->entries.size();
      w->group.push_back(queue_.front());
      queue_.pop_front();
    }
    lock.unlock();
    try {
      w->status = CommitGroup(w->group, w->checkpoints);
    } catch (...) {
      // Out of memory while encoding or signing: the group fails (closed),
      // and this thread goes on.
      w->status = Fail(ErrorCode::kInternal, "audit log: the group could not be written");
    }
    lock.lock();
    w->last_seq = last_seq_;
    written_through_ += w->group.size();
    // Even a failed group goes through the syncer: submissions complete in
    // the order they were taken.
    written_.push_back(std::move(w));
    if (syncer_idle_ || syncer_waiting_) {
      syncer_idle_ = false;
      // Notified after unlocking: woken under the lock, the syncer would
      // only block again on mu_ until this thread lets go of it.
      lock.unlock();
      written_cv_.notify_one();
      lock.lock();
    }
  }
  committer_done_ = true;
  written_cv_.notify_one();
}

void AuditLog::RunSyncer() {
  std::deque<std::unique_ptr<Written>> taken;
  std::unique_lock lock(mu_);
  for (;;) {
    if (written_.empty()) {
      if (committer_done_) return;
      // Submissions queued while a written group waited were left to us
      // (Enqueue does not wake the committer for them): hand them over.
      syncer_idle_ = true;
      WakeCommitterForQueued(lock);
      written_cv_.wait(lock, [&] { return !written_.empty() || committer_done_; });
      syncer_idle_ = false;
      continue;
    }
    // Before syncing, let the committer write what was queued during the
    // last sync (it is not woken for it, see Enqueue): one write of ~100 us
    // now saves those submissions a whole sync later.
    if (written_through_ < enqueued_) {
      const uint64_t target = enqueued_;
      syncer_waiting_ = true;
      WakeCommitterForQueued(lock);
      written_cv_.wait(lock, [&] { return written_through_ >= target || committer_done_; });
      syncer_waiting_ = false;
    }
    taken.swap(written_);
    // A log already broken syncs nothing more: what it covers fails.
    Status s = broken_ ? Status(Fail(*broken_)) : Status(Ok());
    lock.unlock();
    const bool any_written = std::any_of(taken.begin(), taken.end(),
                                         [](const auto& w) { return w->status.has_value(); });
    if (s && any_written) {
      try {
        s = store_.SyncWal();
      } catch (...) {
        s = Fail(ErrorCode::kInternal, "audit log: the sync could not be made");
      }
    }
    for (auto& w : taken) {
      if (!w->status) {
        Complete(w->group, w->status);
        continue;
      }
      // Anchors follow durability, never precede it (ADR 0014).
      try {
        for (const internal::Checkpoint& c : w->checkpoints) {
          if (!s) break;
          if (options_.anchor_syslog) {
            std::string line = internal::AnchorLine(c);
            line.pop_back();
            openlog("coffre-audit", LOG_NDELAY, LOG_AUTHPRIV);
            syslog(LOG_AUTHPRIV | LOG_NOTICE, "%s", line.c_str());
          }
          s = internal::AppendAnchor(options_.anchor_path, c);
        }
      } catch (...) {
        // Out of memory: fail closed, like a failed anchor write.
        s = Fail(ErrorCode::kInternal, "audit log: the anchor could not be written");
      }
      {
        std::lock_guard guard(mu_);
        if (s) {
          durable_seq_ = w->last_seq;
        } else if (!broken_) {
          // Fail closed: this group and every later one fail until the log
          // is reopened (its chain state cannot be taken back).
          broken_ = s.error();
        }
      }
      Complete(w->group, s);
    }
    taken.clear();
    lock.lock();
  }
}

void AuditLog::WakeCommitterForQueued(std::unique_lock<std::mutex>& lock) {
  if (!queue_.empty() && committer_idle_) {
    committer_idle_ = false;
    // Notified unlocked, for the reason RunCommitter gives; the caller's
    // wait re-checks its condition under the lock.
    lock.unlock();
    queued_.notify_one();
    lock.lock();
  }
}

void AuditLog::Complete(std::vector<Request*>& group, const Status& s) {
  last_group_failed_.store(!s);
  const auto now = std::chrono::steady_clock::now();
  for (Request* r : group) {
    if (s) {
      g_commit_seconds.Observe(static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(now - r->queued_at).count()));
    } else {
      g_commit_failures.Add();
    }
    if (!s) {
      r->result = Fail(s.error());
      // Summaries taken for this request go back to the counters.
      std::lock_guard counters(counters_mu_);
      for (size_t i = 0; i < r->counts.size(); ++i) {
        unauthenticated_[r->minute_source[i].first][r->minute_source[i].second] += r->counts[i];
      }
    }
    if (r->done) {
      std::unique_ptr<Request> owned(r);
      try {
        owned->done(owned->result);
      } catch (...) {
        // A callback must not throw; if one does, the others still run.
      }
    } else {
      // `r` lives on its caller's stack and may be gone as soon as it is
      // released: touch nothing of it afterwards.
      r->wake.release();
    }
  }
}

Status AuditLog::Resync() {
  COFFRE_ASSIGN_OR_RETURN(auto head_value, store_.Get(Space::kAudit, internal::kHeadKey));
  uint64_t last_seq = 0;
  {
    std::lock_guard lock(mu_);
    last_seq = last_seq_;
  }
  if (!head_value) {
    if (last_seq != 0) return Fail(Corrupt("the head is missing"));
    resync_ = false;
    return Ok();
  }
  auto head = internal::DecodeHead(*head_value);
  if (!head) return Fail(Corrupt("the head is corrupt"));
  if (head->last_seq < last_seq) {
    return Fail(Corrupt("the head went back from entry " + std::to_string(last_seq) + " to " +
                        std::to_string(head->last_seq)));
  }
  if (head->last_seq > last_seq) {
    // The failed group landed: go on after it. Its entries stay, as the
    // record of requests that were answered 503.
    const std::string seq = std::to_string(head->last_seq);
    COFFRE_ASSIGN_OR_RETURN(auto v, store_.Get(Space::kAudit, internal::EntryKey(head->last_seq)));
    auto parts = v ? internal::SplitStoredEntry(*v) : std::nullopt;
    auto e = parts ? DecodeEntryView(parts->bytes) : Result<EntryView>();
    if (!parts || !e || e->seq != head->last_seq || parts->hash != head->hash) {
      return Fail(Corrupt("entry " + seq + " does not match the head"));
    }
    std::lock_guard lock(mu_);
    last_seq_ = head->last_seq;
    last_hash_ = head->hash;
    last_time_ms_ = std::max(last_time_ms_, e->time_ms);
    if (head->last_checkpoint_seq != last_checkpoint_seq_) {
      last_checkpoint_seq_ = head->last_checkpoint_seq;
      last_checkpoint_time_ms_ = e->time_ms;
    }
  }
  resync_ = false;
  return Ok();
}

Status AuditLog::CommitGroup(std::vector<Request*>& group,
                             std::vector<internal::Checkpoint>& checkpoints) {
  // Only the committer thread runs this; it alone changes the chain state,
  // under mu_.
  {
    std::lock_guard lock(mu_);
    if (broken_) return Fail(*broken_);
  }
  if (resync_) COFFRE_TRY(Resync());
  // A shared store's entries are timed by its clock (the database's), so
  // that every node's chain is ordered by one clock (docs/audit-cluster.md).
  int64_t now = 0;
  if (store_.shared()) {
    COFFRE_ASSIGN_OR_RETURN(int64_t micros, store_.NowMicros());
    now = micros / 1000;
  } else {
    now = clock_.NowUnixMillis();
  }
  uint64_t seq = last_seq_;
  std::string hash = last_hash_;
  int64_t time = std::max(now, last_time_ms_);
  uint64_t checkpoint_seq = last_checkpoint_seq_;
  int64_t checkpoint_time = last_checkpoint_time_ms_;
  auto batch = store_.NewBatch();
  auto sign = [&](uint64_t at) {
    internal::Checkpoint c{at, time, hash, {}};
    c.signature = signing_key_.Sign(internal::CheckpointMessage(c.seq, c.time_ms, c.hash));
    batch->Put(Space::kAudit, internal::CheckpointKey(at), internal::EncodeCheckpointValue(c));
    checkpoints.push_back(std::move(c));
    checkpoint_seq = at;
    checkpoint_time = time;
  };
  bool want_checkpoint = false;
  std::vector<std::string_view> subjects;
  for (Request* r : group) {
    want_checkpoint |= r->checkpoint;
    for (Entry& e : r->entries) {
      e.seq = ++seq;
      e.time_ms = time;
      std::string value = EncodeEntry(e);
      hash = internal::ChainHash(hash, seq, value);
      value += hash;
      batch->Put(Space::kAudit, internal::EntryKey(seq), value);
      // A chain is registered with its first entry, in the same batch.
      if (seq == 1 && chain_store_) COFFRE_TRY(chain_store_->PutRegistry(*batch, hash, time));
      if (!e.principal.empty()) {
        batch->Put(Space::kAuditByPrincipal,
                   internal::IndexKey(
                       internal::PrincipalPrefix(internal::kRolePrincipal, e.principal), time, seq),
                   "");
      }
      if (!e.on_behalf_of.empty()) {
        batch->Put(Space::kAuditByPrincipal,
                   internal::IndexKey(
                       internal::PrincipalPrefix(internal::kRoleUser, e.on_behalf_of), time, seq),
                   "");
      }
      subjects.assign(e.subjects.begin(), e.subjects.end());
      std::sort(subjects.begin(), subjects.end());
      subjects.erase(std::unique(subjects.begin(), subjects.end()), subjects.end());
      for (std::string_view s : subjects) {
        batch->Put(Space::kAuditBySubject, internal::IndexKey(s, time, seq), "");
      }
      if (seq - checkpoint_seq >= options_.checkpoint_every) sign(seq);
    }
    r->result = seq;
  }
  if (want_checkpoint && seq > checkpoint_seq) sign(seq);
  if (batch->Count() == 0) return Ok();
  batch->Put(Space::kAudit, internal::kHeadKey, internal::EncodeHead({seq, hash, checkpoint_seq}));
  // Fail closed: nothing below runs, and the chain state stays as it was,
  // unless the whole group is written. The syncer makes it durable (and
  // anchors `checkpoints`) before anyone in the group is answered.
  if (Status written = store_.Write(*batch, /*sync=*/false); !written) {
    // A shared store cannot always tell whether a failed commit landed (the
    // connection broke during it): before the next group reuses these
    // sequence numbers, the head says which it was.
    if (store_.shared()) resync_ = true;
    return written;
  }
  {
    std::lock_guard lock(mu_);
    last_seq_ = seq;
    last_hash_ = hash;
    last_time_ms_ = time;
    last_checkpoint_seq_ = checkpoint_seq;
    last_checkpoint_time_ms_ = checkpoint_time;
  }
  return Ok();
}

void AuditLog::CountUnauthenticated(std::string_view source) {
  const int64_t minute = clock_.NowUnixMillis() / 60000;
  std::lock_guard lock(counters_mu_);
  auto& sources = unauthenticated_[minute];
  auto it = sources.find(source);
  if (it != sources.end()) {
    ++it->second;
  } else if (sources.size() < options_.max_unauthenticated_sources) {
    sources.emplace(std::string(source), 1);
  } else {
    ++sources["other"];
  }
  while (unauthenticated_.size() > kMaxPendingMinutes) {
    // Merge the oldest minute into the next one (nobody has been flushing).
    auto oldest = unauthenticated_.begin();
    auto& next = std::next(oldest)->second;
    for (auto& [src, count] : oldest->second) {
      auto n = next.find(src);
      if (n != next.end()) {
        n->second += count;
      } else if (next.size() < options_.max_unauthenticated_sources) {
        next.emplace(src, count);
      } else {
        next["other"] += count;
      }
    }
    unauthenticated_.erase(oldest);
  }
}

std::vector<Entry> AuditLog::TakeUnauthenticatedSummaries(bool all) {
  const int64_t minute_now = clock_.NowUnixMillis() / 60000;
  std::vector<Entry> out;
  std::lock_guard lock(counters_mu_);
  while (!unauthenticated_.empty() && (all || unauthenticated_.begin()->first < minute_now)) {
    auto node = unauthenticated_.extract(unauthenticated_.begin());
    for (auto& [source, count] : node.mapped()) {
      Entry e;
      e.action = "unauthenticated";
      e.outcome = "denied";
      e.reason = std::to_string(count) + " failures in minute " + FormatRfc3339(node.key() * 60);
      e.source = source;
      // Until Append stamps it, time_ms remembers the minute (Submit puts
      // the count back there if the write fails).
      e.time_ms = node.key() * 60000;
      out.push_back(std::move(e));
    }
  }
  return out;
}

Status AuditLog::Query(const Filter& filter, const EntryVisitor& visit) {
  if (filter.subject && filter.subject->size() != kIdBytes) {
    return Fail(ErrorCode::kInvalidArgument, "audit query subject is not 16 bytes");
  }
  if (chain_store_) return MergedQuery(filter, visit);
  if (filter.subject) {
    return QueryIndex(Space::kAuditBySubject, internal::SubjectPrefix(*filter.subject), filter,
                      visit);
  }
  if (filter.on_behalf_of) {
    return QueryIndex(Space::kAuditByPrincipal,
                      internal::PrincipalPrefix(internal::kRoleUser, *filter.on_behalf_of), filter,
                      visit);
  }
  if (filter.principal) {
    return QueryIndex(Space::kAuditByPrincipal,
                      internal::PrincipalPrefix(internal::kRolePrincipal, *filter.principal),
                      filter, visit);
  }
  return QueryByTime(filter, visit);
}

namespace {

bool Matches(const Filter& f, const Entry& e) {
  if (e.time_ms < f.from_ms || e.time_ms > f.to_ms) return false;
  if (f.principal && e.principal != *f.principal) return false;
  if (f.on_behalf_of && e.on_behalf_of != *f.on_behalf_of) return false;
  if (f.subject &&
      std::find(e.subjects.begin(), e.subjects.end(), *f.subject) == e.subjects.end()) {
    return false;
  }
  return true;
}

}  // namespace

Status AuditLog::QueryIndex(Space space, const std::string& prefix, const Filter& filter,
                            const EntryVisitor& visit) {
  // Written but not yet synced entries stay invisible (ADR 0014).
  const uint64_t durable = last_seq();
  std::string begin = internal::IndexKey(prefix, filter.from_ms, 0);
  std::string end = internal::IndexKey(prefix, filter.to_ms, UINT64_MAX);
  end.push_back('\0');  // inclusive of the last key
  size_t visited = 0;
  bool stop = false;
  std::vector<uint64_t> seqs;
  auto drain = [&]() -> Status {
    std::vector<std::string> keys;
    keys.reserve(seqs.size());
    for (uint64_t s : seqs) keys.push_back(internal::EntryKey(s));
    std::vector<std::string_view> views(keys.begin(), keys.end());
    COFFRE_ASSIGN_OR_RETURN(auto values, store_.MultiGet(Space::kAudit, views));
    for (size_t i = 0; i < values.size() && !stop; ++i) {
      auto parts = values[i] ? internal::SplitStoredEntry(*values[i]) : std::nullopt;
      auto e = parts ? DecodeEntry(parts->bytes) : Result<Entry>();
      if (!parts || !e) {
        return Fail(Corrupt("entry " + std::to_string(seqs[i]) +
                            " named by an index is missing or corrupt (run coffre audit verify)"));
      }
      if (!Matches(filter, *e)) continue;
      if (!visit(*e) || (filter.limit != 0 && ++visited >= filter.limit)) stop = true;
    }
    seqs.clear();
    return Ok();
  };
  Status inner = Ok();
  COFFRE_TRY(store_.ScanRange(space, begin, end, [&](std::string_view k, std::string_view) {
    auto seq = internal::SeqOfIndexKey(k);
    if (!seq || *seq > durable) return true;
    seqs.push_back(*seq);
    if (seqs.size() >= kQueryChunk) {
      inner = drain();
      if (!inner || stop) return false;
    }
    return true;
  }));
  COFFRE_TRY(inner);
  if (!stop && !seqs.empty()) COFFRE_TRY(drain());
  return Ok();
}

Status AuditLog::QueryByTime(const Filter& filter, const EntryVisitor& visit) {
  // Written but not yet synced entries stay invisible (ADR 0014).
  const uint64_t durable = last_seq();
  COFFRE_ASSIGN_OR_RETURN(uint64_t first, internal::FirstSeqAtOrAfterTime(store_, filter.from_ms));
  size_t visited = 0;
  Status inner = Ok();
  COFFRE_TRY(store_.ScanRange(
      Space::kAudit, internal::EntryKey(first), std::string(1, internal::kEntryTag + 1),
      [&](std::string_view k, std::string_view v) {
        if (internal::SeqOfKey(k, internal::kEntryTag).value_or(0) > durable) return false;
        auto parts = internal::SplitStoredEntry(v);
        auto e = parts ? DecodeEntry(parts->bytes) : Result<Entry>();
        if (!parts || !e) {
          auto seq = internal::SeqOfKey(k, internal::kEntryTag);
          inner = Fail(Corrupt("entry " + std::to_string(seq.value_or(0)) +
                               " is corrupt (run coffre audit verify)"));
          return false;
        }
        if (e->time_ms > filter.to_ms) return false;
        if (!Matches(filter, *e)) return true;
        return visit(*e) && (filter.limit == 0 || ++visited < filter.limit);
      }));
  return inner;
}

}  // namespace coffre::audit

namespace coffre::audit {

namespace {

// One chain's entries matching a filter, in (time, seq) order, read
// kQueryChunk keys at a time (docs/audit-cluster.md, "Merged reads").
class ChainCursor {
 public:
  ChainCursor(const storage::SpaceHandle& raw, std::string chain, uint64_t durable,
              const Filter& filter)
      : chain_(raw, std::move(chain)),
        store_(chain_, raw.owner(), 0, kAuditSpaces),
        durable_(durable),
        filter_(filter) {}

  const std::string& chain() const { return chain_.chain(); }

  Status Start() {
    if (filter_.subject) {
      UseIndex(Space::kAuditBySubject, internal::SubjectPrefix(*filter_.subject));
    } else if (filter_.on_behalf_of) {
      UseIndex(Space::kAuditByPrincipal,
               internal::PrincipalPrefix(internal::kRoleUser, *filter_.on_behalf_of));
    } else if (filter_.principal) {
      UseIndex(Space::kAuditByPrincipal,
               internal::PrincipalPrefix(internal::kRolePrincipal, *filter_.principal));
    } else {
      COFFRE_ASSIGN_OR_RETURN(next_seq_, internal::FirstSeqAtOrAfterTime(store_, filter_.from_ms));
    }
    return Ok();
  }

  // The next entry, or nullptr at the end; valid until Pop.
  Result<const Entry*> Front() {
    while (buffer_.empty() && !done_) COFFRE_TRY(index_ ? FillFromIndex() : FillByTime());
    if (buffer_.empty()) return static_cast<const Entry*>(nullptr);
    return &buffer_.front();
  }
  void Pop() { buffer_.pop_front(); }

 private:
  void UseIndex(Space space, const std::string& prefix) {
    index_ = true;
    space_ = space;
    begin_ = internal::IndexKey(prefix, filter_.from_ms, 0);
    end_ = internal::IndexKey(prefix, filter_.to_ms, UINT64_MAX);
    end_.push_back('\0');  // inclusive of the last key
  }

  Status FillFromIndex() {
    std::vector<uint64_t> seqs;
    std::string last;
    size_t keys = 0;
    COFFRE_TRY(store_.ScanRange(space_, begin_, end_, [&](std::string_view k, std::string_view) {
      ++keys;
      last.assign(k);
      auto seq = internal::SeqOfIndexKey(k);
      if (seq && *seq <= durable_) seqs.push_back(*seq);
      return keys < kQueryChunk;
    }));
    if (keys < kQueryChunk) {
      done_ = true;
    } else {
      begin_ = last + '\0';
    }
    std::vector<std::string> entry_keys;
    entry_keys.reserve(seqs.size());
    for (uint64_t s : seqs) entry_keys.push_back(internal::EntryKey(s));
    std::vector<std::string_view> views(entry_keys.begin(), entry_keys.end());
    COFFRE_ASSIGN_OR_RETURN(auto values, store_.MultiGet(Space::kAudit, views));
    for (size_t i = 0; i < values.size(); ++i) {
      auto parts = values[i] ? internal::SplitStoredEntry(*values[i]) : std::nullopt;
      auto e = parts ? DecodeEntry(parts->bytes) : Result<Entry>();
      if (!parts || !e) {
        return Fail(Corrupt("chain " + ToHex(chain()) + ": entry " + std::to_string(seqs[i]) +
                            " named by an index is missing or corrupt (run coffre audit verify)"));
      }
      if (Matches(filter_, *e)) buffer_.push_back(std::move(*e));
    }
    return Ok();
  }

  Status FillByTime() {
    size_t n = 0;
    bool ended = false;
    Status inner = Ok();
    COFFRE_TRY(store_.ScanRange(
        Space::kAudit, internal::EntryKey(next_seq_), std::string(1, internal::kEntryTag + 1),
        [&](std::string_view k, std::string_view v) {
          auto seq = internal::SeqOfKey(k, internal::kEntryTag);
          if (!seq || *seq > durable_) {
            ended = true;
            return false;
          }
          auto parts = internal::SplitStoredEntry(v);
          auto e = parts ? DecodeEntry(parts->bytes) : Result<Entry>();
          if (!parts || !e) {
            inner = Fail(Corrupt("chain " + ToHex(chain()) + ": entry " + std::to_string(*seq) +
                                 " is corrupt (run coffre audit verify)"));
            return false;
          }
          if (e->time_ms > filter_.to_ms) {
            ended = true;
            return false;
          }
          next_seq_ = *seq + 1;
          if (Matches(filter_, *e)) buffer_.push_back(std::move(*e));
          return ++n < kQueryChunk;
        }));
    COFFRE_TRY(inner);
    if (ended || n < kQueryChunk) done_ = true;
    return Ok();
  }

  internal::ChainStore chain_;
  storage::SpaceHandle store_;
  const uint64_t durable_;
  const Filter& filter_;
  bool index_ = false;
  Space space_ = Space::kAudit;
  std::string begin_, end_;
  uint64_t next_seq_ = 1;
  bool done_ = false;
  std::deque<Entry> buffer_;
};

}  // namespace

Status AuditLog::MergedQuery(const Filter& filter, const EntryVisitor& visit) {
  COFFRE_ASSIGN_OR_RETURN(std::vector<internal::RegistryRow> rows, internal::ReadRegistry(raw_));
  std::vector<std::string> chains;
  chains.reserve(rows.size() + 1);
  for (internal::RegistryRow& row : rows) chains.push_back(std::move(row.chain));
  if (std::find(chains.begin(), chains.end(), options_.chain_id) == chains.end()) {
    chains.push_back(options_.chain_id);
  }
  std::sort(chains.begin(), chains.end());
  // This node's written but not yet synced entries stay invisible (ADR
  // 0014); another node's entries are read once committed, which on a
  // shared store is durable.
  const uint64_t durable = last_seq();
  std::vector<std::unique_ptr<ChainCursor>> cursors;
  for (std::string& chain : chains) {
    const uint64_t bound = chain == options_.chain_id ? durable : UINT64_MAX;
    cursors.push_back(
        std::make_unique<ChainCursor>(raw_.ReadOnly(), std::move(chain), bound, filter));
    COFFRE_TRY(cursors.back()->Start());
  }
  size_t visited = 0;
  for (;;) {
    ChainCursor* best = nullptr;
    const Entry* first = nullptr;
    // Chains are few: a linear pick of the earliest (time, chain, seq).
    for (auto& c : cursors) {
      COFFRE_ASSIGN_OR_RETURN(const Entry* e, c->Front());
      if (e == nullptr) continue;
      if (first == nullptr || e->time_ms < first->time_ms ||
          (e->time_ms == first->time_ms && c->chain() < best->chain())) {
        best = c.get();
        first = e;
      }
    }
    if (best == nullptr) return Ok();
    const bool more = visit(*first);
    best->Pop();
    if (!more || (filter.limit != 0 && ++visited >= filter.limit)) return Ok();
  }
}

}  // namespace coffre::audit
