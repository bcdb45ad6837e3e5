#include "audit/verify.h"

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "audit/audit_log.h"
#include "audit/entry.h"
#include "audit/internal/anchor.h"
#include "audit/internal/chain.h"
#include "audit/internal/chain_store.h"
#include "audit/internal/chains_file.h"
#include "audit/internal/format.h"
#include "audit/internal/seek.h"
#include "common/bytes.h"
#include "common/clock.h"

namespace coffre::audit {

using internal::Checkpoint;
using storage::Space;

namespace {

std::string N(uint64_t v) { return std::to_string(v); }

// Stored checkpoints in seq order, read in chunks as the walk advances.
class StoredCheckpoints {
 public:
  StoredCheckpoints(storage::SpaceHandle store, uint64_t from) : store_(store), next_(from) {}

  // Front checkpoint (seq >= the last Pop), or nullopt at the end.
  Result<const Checkpoint*> Peek() {
    if (buffer_.empty() && !exhausted_) COFFRE_TRY(Load());
    if (buffer_.empty()) return static_cast<const Checkpoint*>(nullptr);
    return &buffer_.front();
  }
  void Pop() { buffer_.pop_front(); }

 private:
  Status Load() {
    constexpr size_t kChunk = 1024;
    COFFRE_TRY(store_.ScanRange(
        Space::kAudit, internal::CheckpointKey(next_), std::string(1, internal::kCheckpointTag + 1),
        [&](std::string_view k, std::string_view v) {
          auto seq = internal::SeqOfKey(k, internal::kCheckpointTag);
          auto c = seq ? internal::DecodeCheckpointValue(*seq, v) : std::nullopt;
          if (!c) {
            // Kept, with an empty signature: reported as invalid.
            Checkpoint bad;
            bad.seq = seq.value_or(next_);
            c = bad;
          }
          next_ = c->seq + 1;
          buffer_.push_back(std::move(*c));
          return buffer_.size() < kChunk;
        }));
    if (buffer_.size() < kChunk) exhausted_ = true;
    return Ok();
  }

  storage::SpaceHandle store_;
  uint64_t next_;
  std::deque<Checkpoint> buffer_;
  bool exhausted_ = false;
};

// What one part of a walk found. A walk over [first, last] starts from the
// hash of entry first-1 (taken from a signed checkpoint, or zero).
struct PartResult {
  uint64_t entries = 0;
  uint64_t checkpoints = 0;
  uint64_t anchor_checkpoints = 0;
  uint64_t last_seq = 0;              // last entry checked
  uint64_t last_good_checkpoint = 0;  // last checkpoint that matched the chain
  std::optional<uint64_t> end_checkpoint;
  bool failed = false;
  uint64_t first_bad_seq = 0;
  std::string problem;
};

// Checks the entries of one seq range, in order: keys, decoding, seqs, the
// chain, and every stored and anchored checkpoint on the way.
class Walker {
 public:
  struct Range {
    uint64_t first = 1;
    uint64_t last = UINT64_MAX;  // inclusive; UINT64_MAX: the last part
    // Stop at the first checkpoint whose entry's verified time is after
    // this (the window's end): every later entry is later still.
    std::optional<int64_t> stop_after_ms;
    std::string hash;  // h_{first-1}
  };

  Walker(storage::SpaceHandle store, const std::string& key, const std::string* anchor_path,
         const VerifyOptions& options, size_t part)
      : store_(store), key_(key), anchor_path_(anchor_path), options_(options), part_(part) {}

  Status Run(const Range& range, PartResult& r) {
    r_ = &r;
    const bool last_part = range.last == UINT64_MAX;
    StoredCheckpoints stored(store_, range.first);
    if (anchor_path_ != nullptr) {
      COFFRE_ASSIGN_OR_RETURN(anchor_, internal::AnchorReader::Open(*anchor_path_));
      next_anchor_ = anchor_->Next();
      while (next_anchor_ && next_anchor_->seq < range.first) next_anchor_ = anchor_->Next();
    }
    r.last_good_checkpoint = range.first - 1;
    std::string hash = range.hash;
    uint64_t expected = range.first;
    bool stopped = false;
    Status inner = Ok();
    std::optional<internal::ChainBreak> broken;
    const std::string end = last_part ? std::string() : internal::EntryKey(range.last + 1);
    COFFRE_TRY(internal::WalkChain(store_, range.first, end, internal::ScanMode::kOnce, hash,
                                   expected, broken, [&](const EntryView& e) {
                                     r.last_seq = e.seq;
                                     ++r.entries;
                                     if (options_.visit) options_.visit(part_, e);
                                     bool at_checkpoint = false;
                                     inner = CheckCheckpoints(stored, e.seq, hash, at_checkpoint);
                                     if (!inner || r.failed) return false;
                                     // The checkpoint just matched authenticates this entry's time;
                                     // times never go backwards, so nothing after it is in the
                                     // window.
                                     if (at_checkpoint && range.stop_after_ms &&
                                         e.time_ms > *range.stop_after_ms) {
                                       stopped = true;
                                       r.end_checkpoint = e.seq;
                                       return false;
                                     }
                                     return true;
                                   }));
    if (broken) Bad(broken->seq, std::move(broken->problem));
    COFFRE_TRY(inner);
    if (r.failed || stopped) return Ok();
    if (!last_part) {
      // The range ends at a stored checkpoint, which later entries follow.
      if (expected <= range.last) {
        COFFRE_ASSIGN_OR_RETURN(auto later, internal::EntryAtOrAfter(store_, expected));
        if (later) {
          Bad(expected, "entry " + N(expected) + " is missing");
        } else {
          Bad(expected, "entries after " + N(expected - 1) + " were removed (checkpoint " +
                            N(range.last) + ")");
        }
      }
      return Ok();
    }
    // Nothing signed may lie beyond the last entry.
    uint64_t last = expected - 1;
    COFFRE_ASSIGN_OR_RETURN(const Checkpoint* beyond, stored.Peek());
    if (next_anchor_) {
      Bad(last + 1, "entries after " + N(last) + " were removed (anchor checkpoint " +
                        N(next_anchor_->seq) + ")");
    } else if (beyond != nullptr) {
      Bad(last + 1,
          "entries after " + N(last) + " were removed (checkpoint " + N(beyond->seq) + ")");
    }
    return Ok();
  }

 private:
  void Bad(uint64_t seq, std::string problem) {
    r_->failed = true;
    r_->first_bad_seq = seq;
    r_->problem = std::move(problem);
  }

  // Checks the stored and anchored checkpoints at `seq` against `hash`.
  Status CheckCheckpoints(StoredCheckpoints& stored, uint64_t seq, const std::string& hash,
                          bool& at_checkpoint) {
    uint64_t& good = r_->last_good_checkpoint;
    for (;;) {
      COFFRE_ASSIGN_OR_RETURN(const Checkpoint* c, stored.Peek());
      if (c == nullptr || c->seq > seq) break;
      if (c->seq == seq) {
        if (!internal::CheckpointSignatureValid(*c, key_)) {
          Bad(seq, "checkpoint " + N(seq) + " signature invalid");
          return Ok();
        }
        if (c->hash != hash) {
          Bad(good + 1,
              "entries " + N(good + 1) + ".." + N(seq) + " do not match checkpoint " + N(seq));
          return Ok();
        }
        ++r_->checkpoints;
        at_checkpoint = true;
        last_verified_ = *c;
      }
      // (c->seq < seq cannot happen: its entry would have been visited.)
      stored.Pop();
    }
    while (next_anchor_ && next_anchor_->seq <= seq) {
      const Checkpoint& a = *next_anchor_;
      if (a.seq == seq) {
        // The anchor line normally repeats the stored checkpoint, just
        // verified: the same bytes need no second Ed25519 verification.
        bool same = last_verified_ && last_verified_->seq == a.seq &&
                    last_verified_->time_ms == a.time_ms && last_verified_->hash == a.hash &&
                    last_verified_->signature == a.signature;
        if (!same && !internal::CheckpointSignatureValid(a, key_)) {
          Bad(seq, "anchor checkpoint " + N(seq) + " signature invalid");
          return Ok();
        }
        if (a.hash != hash) {
          Bad(good + 1, "entries " + N(good + 1) + ".." + N(seq) +
                            " do not match anchor checkpoint " + N(seq));
          return Ok();
        }
        ++r_->anchor_checkpoints;
        at_checkpoint = true;
      }
      next_anchor_ = anchor_->Next();
    }
    if (at_checkpoint) good = seq;
    return Ok();
  }

  storage::SpaceHandle store_;
  const std::string& key_;
  const std::string* anchor_path_;
  const VerifyOptions& options_;
  const size_t part_;
  PartResult* r_ = nullptr;
  std::unique_ptr<internal::AnchorReader> anchor_;
  std::optional<Checkpoint> next_anchor_;
  std::optional<Checkpoint> last_verified_;  // the last stored checkpoint whose signature verified
};

// Where a window's walk starts: seq 1 with the zero hash, or a signed
// checkpoint whose signed time is before `from_ms`. Entry times are not
// verified until the walk reaches them, so the binary search over them only
// suggests a checkpoint: someone who shifted the times of a few entries must
// not move the start past exposures. Checkpoint c is stamped at or after
// entry c (with its commit group, or later when signed on demand or on the
// timer) and times never go backwards, so c.time_ms < from_ms proves that no
// entry up to c is in the window; otherwise earlier checkpoints are tried,
// down to entry 1 (an honest log never needs to: the search's checkpoint
// precedes an entry before `from_ms`, unless it was signed late). The start
// is range.first - 1 and range.hash; false when a checkpoint on the way does
// not verify (the report says which).
Result<bool> ChooseStart(storage::SpaceHandle store, const std::string& key,
                         const VerifyOptions& options, Walker::Range& range, VerifyReport& report) {
  range.first = 1;
  range.hash = internal::ZeroHash();
  if (!options.from_ms) return true;
  COFFRE_ASSIGN_OR_RETURN(uint64_t first, internal::FirstSeqAtOrAfterTime(store, *options.from_ms));
  COFFRE_ASSIGN_OR_RETURN(auto cp,
                          internal::CheckpointAtOrBefore(store, first == 0 ? 0 : first - 1));
  while (cp) {
    if (!internal::CheckpointSignatureValid(*cp, key)) {
      report.first_bad_seq = cp->seq;
      report.problem = "checkpoint " + N(cp->seq) + " signature invalid";
      return false;
    }
    if (cp->time_ms < *options.from_ms) break;
    if (cp->seq <= 1) {
      cp.reset();
      break;
    }
    COFFRE_ASSIGN_OR_RETURN(cp, internal::CheckpointAtOrBefore(store, cp->seq - 1));
  }
  if (cp) {
    ++report.checkpoints;
    range.first = cp->seq + 1;
    range.hash = cp->hash;
    report.start_checkpoint_seq = cp->seq;
    report.start_checkpoint_time_ms = cp->time_ms;
  }
  return true;
}

// The walk from `whole` cut into up to options.threads parts at stored
// checkpoints: each part starts from the hash its predecessor checks at its
// last entry, so together they check exactly what one walk would. Where to
// stop is decided by verified times only (Walker::Range); the binary
// search's guess of the window's last entry only places the split points.
Result<std::vector<Walker::Range>> SplitIntoParts(storage::SpaceHandle store,
                                                  const VerifyOptions& options,
                                                  const Walker::Range& whole) {
  std::vector<Walker::Range> ranges{whole};
  const unsigned threads = std::max(1u, options.threads);
  if (threads == 1) return ranges;
  uint64_t stop_at = UINT64_MAX;
  if (options.to_ms) {
    COFFRE_ASSIGN_OR_RETURN(
        uint64_t after, internal::FirstSeqAtOrAfterTime(
                            store, *options.to_ms == INT64_MAX ? INT64_MAX : *options.to_ms + 1));
    COFFRE_ASSIGN_OR_RETURN(auto following, internal::EntryAtOrAfter(store, after));
    if (following) stop_at = after > 1 ? after - 1 : 1;
  }
  const uint64_t start = whole.first - 1;
  uint64_t end = stop_at;
  if (end == UINT64_MAX) {
    COFFRE_ASSIGN_OR_RETURN(uint64_t past, internal::FirstSeqAtOrAfterTime(store, INT64_MAX));
    end = past - 1;
  }
  uint64_t span = end > start ? end - start : 0;
  if (span < uint64_t{threads} * std::max<uint64_t>(1, options.min_part_entries)) return ranges;
  for (unsigned k = 1; k < threads; ++k) {
    auto cp = internal::CheckpointAtOrBefore(store, start + span * k / threads);
    // A corrupt checkpoint: one walk finds and names it.
    if (!cp || !*cp) break;
    const Checkpoint& c = **cp;
    Walker::Range& prev = ranges.back();
    if (c.seq < prev.first || c.seq >= stop_at) continue;
    prev.last = c.seq;
    prev.stop_after_ms.reset();
    ranges.push_back({c.seq + 1, UINT64_MAX, options.to_ms, c.hash});
  }
  return ranges;
}

// Walks the parts at once (the first on this thread) and adds their
// findings to `report` in seq order: the first failing part ends it.
Status WalkParts(storage::SpaceHandle store, const std::string& key, const std::string* anchor_path,
                 const VerifyOptions& options, const std::vector<Walker::Range>& ranges,
                 VerifyReport& report) {
  std::vector<PartResult> results(ranges.size());
  std::vector<Status> statuses(ranges.size(), Ok());
  auto walk = [&](size_t i) {
    Walker w(store, key, anchor_path, options, i);
    statuses[i] = w.Run(ranges[i], results[i]);
  };
  std::vector<std::thread> workers;
  for (size_t i = 1; i < ranges.size(); ++i) workers.emplace_back(walk, i);
  walk(0);
  for (auto& t : workers) t.join();
  for (const Status& s : statuses) COFFRE_TRY(s);

  for (const PartResult& r : results) {
    report.entries += r.entries;
    report.checkpoints += r.checkpoints;
    report.anchor_checkpoints += r.anchor_checkpoints;
    report.last_seq = r.last_seq;
    if (r.failed) {
      report.first_bad_seq = r.first_bad_seq;
      report.problem = r.problem;
      return Ok();
    }
  }
  const PartResult& last = results.back();
  report.end_checkpoint_seq = last.end_checkpoint;
  report.unsigned_tail =
      last.last_seq > last.last_good_checkpoint ? last.last_seq - last.last_good_checkpoint : 0;
  report.ok = true;
  return Ok();
}

Status Run(storage::SpaceHandle store, const std::string& key, const std::string* anchor_path,
           const VerifyOptions& options, VerifyReport& report) {
  Walker::Range whole{1, UINT64_MAX, options.to_ms, internal::ZeroHash()};
  COFFRE_ASSIGN_OR_RETURN(bool usable, ChooseStart(store, key, options, whole, report));
  if (!usable) return Ok();
  report.first_seq = whole.first;
  COFFRE_ASSIGN_OR_RETURN(std::vector<Walker::Range> ranges, SplitIntoParts(store, options, whole));
  return WalkParts(store, key, anchor_path, options, ranges, report);
}

}  // namespace

Result<std::optional<std::string>> StoredChainHash(storage::SpaceHandle store, uint64_t seq) {
  if (seq == 0) return std::optional<std::string>(internal::ZeroHash());
  COFFRE_ASSIGN_OR_RETURN(std::optional<std::string> value,
                          store.Get(storage::Space::kAudit, internal::EntryKey(seq)));
  if (!value) return std::optional<std::string>();
  auto stored = internal::SplitStoredEntry(*value);
  if (!stored) {
    return Fail(ErrorCode::kDataLoss, "audit entry " + std::to_string(seq) + " is malformed");
  }
  return std::optional<std::string>(std::string(stored->hash));
}

Result<bool> IndexNames(storage::SpaceHandle store, bool as_user, std::string_view name) {
  bool found = false;
  COFFRE_TRY(store.Scan(
      Space::kAuditByPrincipal,
      internal::PrincipalPrefix(as_user ? internal::kRoleUser : internal::kRolePrincipal, name),
      [&](std::string_view, std::string_view) {
        found = true;
        return false;
      }));
  return found;
}

Result<VerifyReport> Verify(storage::SpaceHandle store, const std::string& anchor_path,
                            const VerifyOptions& options) {
  VerifyReport report;
  std::unique_ptr<internal::AnchorReader> anchor;
  auto opened = internal::AnchorReader::Open(anchor_path);
  if (opened) {
    anchor = std::move(*opened);
    report.anchored = true;
  } else if (!IsNotFound(opened)) {
    return Fail(opened.error());
  }
  std::string key;
  if (anchor) {
    key = anchor->public_key();
    if (options.public_key && *options.public_key != key) {
      report.problem = "the anchor's public key is not the given public key";
      return report;
    }
  } else if (options.public_key) {
    key = *options.public_key;
  } else {
    return Fail(ErrorCode::kFailedPrecondition,
                "no audit anchor at " + anchor_path +
                    " and no public key given: nothing to verify against");
  }
  anchor.reset();  // each part reads the anchor with its own reader
  COFFRE_TRY(Run(store, key, report.anchored ? &anchor_path : nullptr, options, report));
  return report;
}

namespace {

// The completeness of one chain that verified (docs/audit-cluster.md):
// an empty string when complete, else the finding (without the chain).
Result<std::string> ChainCompleteness(storage::SpaceHandle chain, bool mine,
                                      const internal::RegistryRow* registered,
                                      const internal::ChainsFile& file, std::string_view id,
                                      const std::string& chains_path) {
  COFFRE_ASSIGN_OR_RETURN(std::optional<std::string> first, StoredChainHash(chain, 1));
  auto anchored = file.first.find(id);
  if (registered == nullptr && anchored != file.first.end()) {
    return "its registry row was removed (the chain is anchored in " + chains_path + ")";
  }
  if (registered == nullptr && mine && first) {
    return std::string("its registry row was removed (it has entries)");
  }
  if (registered != nullptr && anchored != file.first.end() &&
      registered->first_hash != anchored->second) {
    return "its registry row was replaced (it differs from " + chains_path + ")";
  }
  if (registered != nullptr) {
    if (!first) {
      return "is missing: its entries were removed (registered with its first entry at " +
             FormatRfc3339(registered->first_time_ms / 1000) + ")";
    }
    if (*first != registered->first_hash) {
      return std::string("was replaced: entry 1 is not the registered first entry");
    }
  }
  if (auto seen = file.seen.find(id); seen != file.seen.end()) {
    const auto& [seq, hash] = seen->second;
    COFFRE_ASSIGN_OR_RETURN(std::optional<std::string> stored, StoredChainHash(chain, seq));
    if (!stored) {
      return "entries up to " + N(seq) + " were removed (checkpoint " + N(seq) +
             " seen by this node, " + chains_path + ")";
    }
    if (*stored != hash) {
      return "entry " + N(seq) + " does not match checkpoint " + N(seq) + " seen by this node (" +
             chains_path + ")";
    }
  }
  return std::string();
}

}  // namespace

Result<VerifyReport> VerifyAllChains(storage::SpaceHandle store, const std::string& anchor_path,
                                     std::string_view chain, const VerifyOptions& options) {
  if (chain.empty()) return Verify(store, anchor_path, options);
  VerifyReport report;
  std::string key;
  auto anchor_key = internal::ReadAnchorPublicKey(anchor_path);
  if (anchor_key) {
    key = *anchor_key;
    report.anchored = true;
    if (options.public_key && *options.public_key != key) {
      report.problem = "the anchor's public key is not the given public key";
      return report;
    }
  } else if (!IsNotFound(anchor_key)) {
    return Fail(anchor_key.error());
  } else if (options.public_key) {
    key = *options.public_key;
  } else {
    return Fail(ErrorCode::kFailedPrecondition,
                "no audit anchor at " + anchor_path +
                    " and no public key given: nothing to verify against");
  }
  const std::string chains_path = internal::ChainsPath(anchor_path);
  internal::ChainsFile file;
  if (auto read = internal::ReadChainsFile(chains_path)) {
    file = std::move(*read);
    if (file.public_key != key) {
      report.problem = "the chain registry anchor " + chains_path +
                       " belongs to another key than the audit anchor";
      return report;
    }
  } else if (!IsNotFound(read)) {
    if (read.error().code != ErrorCode::kDataLoss) return Fail(read.error());
    report.problem = read.error().message;
    return report;
  }
  auto rows = internal::ReadRegistry(store);
  if (!rows) {
    if (rows.error().code != ErrorCode::kDataLoss) return Fail(rows.error());
    report.problem = rows.error().message;
    return report;
  }
  std::map<std::string, const internal::RegistryRow*, std::less<>> registered;
  std::set<std::string, std::less<>> ids{std::string(chain)};
  for (const internal::RegistryRow& row : *rows) {
    registered.emplace(row.chain, &row);
    ids.insert(row.chain);
  }
  for (const auto& [id, h] : file.first) ids.insert(id);
  for (const auto& [id, cp] : file.seen) ids.insert(id);

  auto fail = [&](std::string_view id, const std::string& problem) {
    report.ok = false;
    report.chain = ToHex(id);
    report.problem = "chain " + report.chain + ": " + problem;
  };
  for (const std::string& id : ids) {
    const bool mine = id == chain;
    internal::ChainStore view(store.ReadOnly(), id);
    storage::SpaceHandle h(view, store.owner(), 0, kAuditSpaces);
    VerifyOptions o = options;
    o.public_key = key;
    // Only this node's chain has its checkpoints in this node's anchor.
    COFFRE_ASSIGN_OR_RETURN(VerifyReport r,
                            Verify(h, mine && report.anchored ? anchor_path : std::string(), o));
    ++report.chains;
    report.entries += r.entries;
    report.checkpoints += r.checkpoints;
    report.anchor_checkpoints += r.anchor_checkpoints;
    report.unsigned_tail += r.unsigned_tail;
    if (mine) {
      report.first_seq = r.first_seq;
      report.last_seq = r.last_seq;
      report.start_checkpoint_seq = r.start_checkpoint_seq;
      report.start_checkpoint_time_ms = r.start_checkpoint_time_ms;
      report.end_checkpoint_seq = r.end_checkpoint_seq;
    }
    if (!r.ok) {
      report.first_bad_seq = r.first_bad_seq;
      fail(id, r.problem);
      return report;
    }
    auto reg = registered.find(id);
    COFFRE_ASSIGN_OR_RETURN(
        std::string gap, ChainCompleteness(h, mine, reg == registered.end() ? nullptr : reg->second,
                                           file, id, chains_path));
    if (!gap.empty()) {
      fail(id, gap);
      return report;
    }
  }
  report.ok = true;
  return report;
}

}  // namespace coffre::audit
