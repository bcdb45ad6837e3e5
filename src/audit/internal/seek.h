// Positioning in the audit log without trusting its head: entries are
// numbered 1.. without gaps and their times never go backwards, so a time is
// found by binary search over seq. The times read here are not verified:
// the answers are hints, and Verify decides a window's ends by signed times
// (verify.h); someone holding DIR can shift them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "audit/internal/format.h"
#include "common/status.h"
#include "storage/space_handle.h"
#include "storage/store.h"

namespace coffre::audit::internal {

struct Located {
  uint64_t seq;
  int64_t time_ms;
};

// The first stored entry with seq >= `seq` (nullopt past the end).
Result<std::optional<Located>> EntryAtOrAfter(const storage::SpaceHandle& store, uint64_t seq);

// The smallest seq whose entry's time is >= time_ms; one past the last entry
// when there is none.
Result<uint64_t> FirstSeqAtOrAfterTime(const storage::SpaceHandle& store, int64_t time_ms);

// The latest stored checkpoint with seq <= `seq` (nullopt if none).
Result<std::optional<Checkpoint>> CheckpointAtOrBefore(const storage::SpaceHandle& store,
                                                       uint64_t seq);

}  // namespace coffre::audit::internal
