#include "audit/internal/seek.h"

#include "audit/entry.h"

namespace coffre::audit::internal {
namespace {

// Just past every 'e' key.
const std::string kEntriesEnd(1, kEntryTag + 1);

}  // namespace

Result<std::optional<Located>> EntryAtOrAfter(const storage::SpaceHandle& store, uint64_t seq) {
  std::optional<Located> found;
  bool corrupt = false;
  COFFRE_TRY(store.ScanRange(storage::Space::kAudit, EntryKey(seq), kEntriesEnd,
                             [&](std::string_view k, std::string_view v) {
                               auto s = SeqOfKey(k, kEntryTag);
                               auto parts = SplitStoredEntry(v);
                               auto e = parts ? DecodeEntry(parts->bytes) : Result<Entry>();
                               if (!s || !parts || !e) {
                                 corrupt = true;
                                 return false;
                               }
                               found = Located{*s, e->time_ms};
                               return false;
                             }));
  if (corrupt) {
    return Fail(ErrorCode::kDataLoss, "the audit log is corrupt (run coffre audit verify)");
  }
  return found;
}

Result<uint64_t> FirstSeqAtOrAfterTime(const storage::SpaceHandle& store, int64_t time_ms) {
  // Upper bound: the first power of two past the last entry.
  uint64_t hi = 1;
  for (;;) {
    COFFRE_ASSIGN_OR_RETURN(auto e, EntryAtOrAfter(store, hi));
    if (!e) break;
    hi = e->seq * 2;
  }
  uint64_t lo = 1;  // invariant: every entry < lo has time < time_ms; answer in [lo, hi]
  while (lo < hi) {
    uint64_t mid = lo + (hi - lo) / 2;
    COFFRE_ASSIGN_OR_RETURN(auto e, EntryAtOrAfter(store, mid));
    if (!e) {
      hi = mid;
    } else if (e->time_ms >= time_ms) {
      hi = mid;
    } else {
      lo = e->seq + 1;
    }
  }
  // lo may be past the last entry: report one past the last entry then.
  COFFRE_ASSIGN_OR_RETURN(auto at, EntryAtOrAfter(store, lo));
  if (at) return at->seq;
  return lo;
}

Result<std::optional<Checkpoint>> CheckpointAtOrBefore(const storage::SpaceHandle& store,
                                                       uint64_t seq) {
  // Checkpoints are at most about checkpoint_every apart: look back through
  // growing windows instead of scanning from the start.
  std::optional<Checkpoint> found;
  bool corrupt = false;
  for (uint64_t window = 4096;; window *= 4) {
    uint64_t from = seq > window ? seq - window : 0;
    COFFRE_TRY(store.ScanRange(storage::Space::kAudit, CheckpointKey(from), CheckpointKey(seq + 1),
                               [&](std::string_view k, std::string_view v) {
                                 auto s = SeqOfKey(k, kCheckpointTag);
                                 auto c = s ? DecodeCheckpointValue(*s, v) : std::nullopt;
                                 if (!c) {
                                   corrupt = true;
                                   return false;
                                 }
                                 found = std::move(c);
                                 return true;
                               }));
    if (corrupt) {
      return Fail(ErrorCode::kDataLoss, "an audit checkpoint is corrupt (run coffre audit verify)");
    }
    if (found || from == 0) return found;
  }
}

}  // namespace coffre::audit::internal
