// The versions of the vault's on-disk formats that this code writes and
// opens. `coffre --version` prints them; a change of format bumps one here
// and keeps the older one readable (issue 13, item 10).
#pragma once

namespace coffre::vault {

// The data directory: the meta key "format" (docs/key-hierarchy.md).
inline constexpr int kFormatVersion = 1;

// The erasure journal: the `vN` of its header line (erasure_journal.h).
inline constexpr int kErasureJournalFormatVersion = 1;

}  // namespace coffre::vault
