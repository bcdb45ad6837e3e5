#include "audit/verify.h"

#include <deque>
#include <memory>

#include "audit/entry.h"
#include "audit/internal/anchor.h"
#include "audit/internal/format.h"
#include "audit/internal/seek.h"
#include "common/bytes.h"

namespace coffre::audit {

using internal::Checkpoint;
using storage::Space;

namespace {

std::string N(uint64_t v) { return std::to_string(v); }

// Stored checkpoints in seq order, read in chunks as the walk advances.
class StoredCheckpoints {
 public:
  StoredCheckpoints(storage::Store& store, uint64_t from) : store_(store), next_(from) {}

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
    bool corrupt = false;
    COFFRE_TRY(store_.ScanRange(Space::kAudit, internal::CheckpointKey(next_),
                                std::string(1, internal::kCheckpointTag + 1),
                                [&](std::string_view k, std::string_view v) {
                                  auto seq = internal::SeqOfKey(k, internal::kCheckpointTag);
                                  auto c = seq ? internal::DecodeCheckpointValue(*seq, v)
                                               : std::nullopt;
                                  if (!c) {
                                    // Kept, with an empty signature: reported as invalid.
                                    Checkpoint bad;
                                    bad.seq = seq.value_or(next_);
                                    c = bad;
                                    corrupt = true;
                                  }
                                  next_ = c->seq + 1;
                                  buffer_.push_back(std::move(*c));
                                  return buffer_.size() < kChunk;
                                }));
    (void)corrupt;
    if (buffer_.size() < kChunk) exhausted_ = true;
    return Ok();
  }

  storage::Store& store_;
  uint64_t next_;
  std::deque<Checkpoint> buffer_;
  bool exhausted_ = false;
};

class Verifier {
 public:
  Verifier(storage::Store& store, std::string public_key,
           std::unique_ptr<internal::AnchorReader> anchor, VerifyReport& report)
      : store_(store), key_(std::move(public_key)), anchor_(std::move(anchor)), r_(report) {}

  Status Run(const VerifyOptions& options) {
    // Where to start: seq 1 with the zero hash, or a signed checkpoint.
    uint64_t start = 0;
    std::string hash = internal::ZeroHash();
    if (options.from_ms) {
      COFFRE_ASSIGN_OR_RETURN(uint64_t first, internal::FirstSeqAtOrAfterTime(store_, *options.from_ms));
      COFFRE_ASSIGN_OR_RETURN(auto cp, internal::CheckpointAtOrBefore(store_, first == 0 ? 0 : first - 1));
      if (cp) {
        if (!internal::CheckpointSignatureValid(*cp, key_)) {
          return Bad(cp->seq, "checkpoint " + N(cp->seq) + " signature invalid");
        }
        ++r_.checkpoints;
        start = cp->seq;
        hash = cp->hash;
        r_.start_checkpoint_seq = cp->seq;
        r_.start_checkpoint_time_ms = cp->time_ms;
      }
    }
    uint64_t stop_at = UINT64_MAX;  // stop at the first checkpoint >= this seq
    if (options.to_ms) {
      COFFRE_ASSIGN_OR_RETURN(uint64_t after, internal::FirstSeqAtOrAfterTime(
                                                  store_, *options.to_ms == INT64_MAX
                                                              ? INT64_MAX
                                                              : *options.to_ms + 1));
      stop_at = after > 1 ? after - 1 : 1;
    }
    last_good_checkpoint_ = start;
    r_.first_seq = start + 1;
    StoredCheckpoints stored(store_, start + 1);
    next_anchor_ = anchor_ ? anchor_->Next() : std::nullopt;
    while (next_anchor_ && next_anchor_->seq <= start) next_anchor_ = anchor_->Next();

    uint64_t expected = start + 1;
    bool stopped = false;
    Status inner = Ok();
    COFFRE_TRY(store_.ScanRange(
        Space::kAudit, internal::EntryKey(start + 1), std::string(1, internal::kEntryTag + 1),
        [&](std::string_view k, std::string_view v) {
          auto seq = internal::SeqOfKey(k, internal::kEntryTag);
          if (!seq) {
            inner = Bad(expected, "entry " + N(expected) + " was altered (unexpected key)");
            return false;
          }
          if (*seq != expected) {
            inner = Bad(expected, "entry " + N(expected) + " is missing");
            return false;
          }
          auto parts = internal::SplitStoredEntry(v);
          auto e = parts ? DecodeEntryView(parts->bytes) : Result<EntryView>();
          if (!parts || !e) {
            inner = Bad(expected, "entry " + N(expected) + " was altered");
            return false;
          }
          if (e->seq != expected) {
            inner = Bad(expected, "entry " + N(expected) + " was moved or replaced (it holds entry " +
                                      N(e->seq) + ")");
            return false;
          }
          hash = internal::ChainHash(hash, expected, parts->bytes);
          if (hash != parts->hash) {
            inner = Bad(expected, "entry " + N(expected) + " was altered");
            return false;
          }
          r_.last_seq = expected;
          ++r_.entries;
          if (options.visit) options.visit(*e);
          bool at_checkpoint = false;
          inner = CheckCheckpoints(stored, expected, hash, at_checkpoint);
          if (!inner || !r_.problem.empty()) return false;
          if (at_checkpoint && expected >= stop_at) {
            stopped = true;
            r_.end_checkpoint_seq = expected;
            return false;
          }
          ++expected;
          return true;
        }));
    COFFRE_TRY(inner);
    if (!r_.problem.empty()) return Ok();
    if (!stopped) {
      // Nothing signed may lie beyond the last entry.
      uint64_t last = expected - 1;
      COFFRE_ASSIGN_OR_RETURN(const Checkpoint* beyond, stored.Peek());
      if (next_anchor_) {
        return Bad(last + 1, "entries after " + N(last) + " were removed (anchor checkpoint " +
                                 N(next_anchor_->seq) + ")");
      }
      if (beyond != nullptr) {
        return Bad(last + 1, "entries after " + N(last) + " were removed (checkpoint " +
                                 N(beyond->seq) + ")");
      }
    }
    r_.unsigned_tail = r_.last_seq > last_good_checkpoint_ ? r_.last_seq - last_good_checkpoint_ : 0;
    r_.ok = true;
    return Ok();
  }

 private:
  Status Bad(uint64_t seq, std::string problem) {
    r_.ok = false;
    r_.first_bad_seq = seq;
    r_.problem = std::move(problem);
    return Ok();
  }

  // Checks the stored and anchored checkpoints at `seq` against `hash`.
  Status CheckCheckpoints(StoredCheckpoints& stored, uint64_t seq, const std::string& hash,
                          bool& at_checkpoint) {
    for (;;) {
      COFFRE_ASSIGN_OR_RETURN(const Checkpoint* c, stored.Peek());
      if (c == nullptr || c->seq > seq) break;
      if (c->seq == seq) {
        if (!internal::CheckpointSignatureValid(*c, key_)) {
          return Bad(seq, "checkpoint " + N(seq) + " signature invalid");
        }
        if (c->hash != hash) {
          return Bad(last_good_checkpoint_ + 1, "entries " + N(last_good_checkpoint_ + 1) + ".." +
                                                    N(seq) + " do not match checkpoint " + N(seq));
        }
        ++r_.checkpoints;
        at_checkpoint = true;
      }
      // (c->seq < seq cannot happen: its entry would have been visited.)
      stored.Pop();
    }
    while (next_anchor_ && next_anchor_->seq <= seq) {
      const Checkpoint& a = *next_anchor_;
      if (a.seq == seq) {
        if (!internal::CheckpointSignatureValid(a, key_)) {
          return Bad(seq, "anchor checkpoint " + N(seq) + " signature invalid");
        }
        if (a.hash != hash) {
          return Bad(last_good_checkpoint_ + 1, "entries " + N(last_good_checkpoint_ + 1) + ".." +
                                                    N(seq) + " do not match anchor checkpoint " +
                                                    N(seq));
        }
        ++r_.anchor_checkpoints;
        at_checkpoint = true;
      }
      next_anchor_ = anchor_->Next();
    }
    if (at_checkpoint) last_good_checkpoint_ = seq;
    return Ok();
  }

  storage::Store& store_;
  std::string key_;
  std::unique_ptr<internal::AnchorReader> anchor_;
  VerifyReport& r_;
  std::optional<Checkpoint> next_anchor_;
  uint64_t last_good_checkpoint_ = 0;
};

}  // namespace

Result<VerifyReport> Verify(storage::Store& store, const std::string& anchor_path,
                            const VerifyOptions& options) {
  VerifyReport report;
  std::unique_ptr<internal::AnchorReader> anchor;
  auto opened = internal::AnchorReader::Open(anchor_path);
  if (opened) {
    anchor = std::move(*opened);
    report.anchored = true;
  } else if (opened.error().code != ErrorCode::kNotFound) {
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
                "no audit anchor at " + anchor_path + " and no public key given: nothing to verify against");
  }
  Verifier v(store, std::move(key), std::move(anchor), report);
  COFFRE_TRY(v.Run(options));
  return report;
}

}  // namespace coffre::audit
