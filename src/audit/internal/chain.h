// The walk along the hash chain of stored entries: the one walk behind the
// log's recovery at open (AuditLog::Recover, from the last stored checkpoint
// to the head) and verification (Verify, every entry of a range, with its
// checkpoints). Internal to the audit module.
//
//   std::string hash = ZeroHash();  // h_0
//   uint64_t next = 1;
//   std::optional<ChainBreak> broken;
//   COFFRE_TRY(WalkChain(store, 1, EntryKey(last + 1), ScanMode::kCached, hash, next, broken,
//                        [&](const EntryView& e) { return true; }));
//   if (broken) return Corrupt(broken->problem);   // "entry 42 was altered"
//
// Thread-safety: reads the store only; one walk per thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "audit/entry.h"
#include "audit/internal/format.h"
#include "common/status.h"
#include "storage/store.h"

namespace coffre::audit::internal {

// The first entry at which a walk found the chain broken.
struct ChainBreak {
  uint64_t seq = 0;
  std::string problem;  // "entry 42 is missing", "entry 42 was altered", ...
};

enum class ScanMode {
  kCached,  // Store::ScanRange: a short walk, at open
  kOnce,    // Store::ScanRangeOnce: a long walk whose bytes are read once
};

// Walks the stored entries from seq `first` up to the entry key `end`
// (exclusive; empty: to the last entry), in seq order, from `hash` = h_{first-1}.
// Each entry must carry the next seq, split and decode, hold that seq
// itself, and have a stored hash that continues the chain; then `hash`
// becomes its h_seq and `visit(const EntryView&)` runs (the view borrows
// bytes valid during the call only); visit returns false to stop. `next` is
// the seq after the last entry visit accepted (a stopping entry's own seq).
// The first broken entry ends the walk and is described in `broken`; the
// Status fails only when the store cannot be read. `store` is anything with
// Store's ScanRange and ScanRangeOnce (a Store, a handle on its spaces).
template <typename AnyStore, typename Visit>
Status WalkChain(AnyStore& store, uint64_t first, std::string_view end, ScanMode mode,
                 std::string& hash, uint64_t& next, std::optional<ChainBreak>& broken,
                 Visit&& visit) {
  next = first;
  std::string scratch;
  char next_hash[kHashBytes];
  // Only a broken entry pays for its message.
  auto stop = [&](std::string_view what) {
    broken = ChainBreak{next, "entry " + std::to_string(next) + " " + std::string(what)};
    return false;
  };
  const storage::ScanVisitor step = [&](std::string_view k, std::string_view v) {
    auto seq = SeqOfKey(k, kEntryTag);
    if (!seq) return stop("was altered (unexpected key)");
    if (*seq != next) return stop("is missing");
    auto parts = SplitStoredEntry(v);
    auto e = parts ? DecodeEntryView(parts->bytes) : Result<EntryView>();
    if (!parts || !e) return stop("was altered");
    if (e->seq != next) {
      return stop("was moved or replaced (it holds entry " + std::to_string(e->seq) + ")");
    }
    ChainHashInto(hash, next, parts->bytes, scratch, next_hash);
    hash.assign(next_hash, kHashBytes);  // same size: no allocation
    if (hash != parts->hash) return stop("was altered");
    if (!visit(*e)) return false;
    ++next;
    return true;
  };
  const std::string begin = EntryKey(first);
  const std::string to_end = end.empty() ? std::string(1, kEntryTag + 1) : std::string(end);
  return mode == ScanMode::kOnce ? store.ScanRangeOnce(storage::Space::kAudit, begin, to_end, step)
                                 : store.ScanRange(storage::Space::kAudit, begin, to_end, step);
}

}  // namespace coffre::audit::internal
