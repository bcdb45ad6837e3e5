// The versions of the vault's on-disk formats that this code writes and
// opens. `coffre --version` prints them; a change of format bumps one here
// and keeps the older one readable (issue 13, item 10).
#pragma once

namespace coffre::vault {

// The data directory: the meta key "format" (docs/key-hierarchy.md).
inline constexpr int kFormatVersion = 1;

// The erasure journal: the `vN` of its header line (erasure_journal.h).
// Still 1 since issue 13 added record, card and card-number lines: v1
// subject lines are unchanged, and an older coffre skips the new lines as
// torn, counts fewer entries than the vault applied and refuses to open
// (fail closed; ADR 0016).
inline constexpr int kErasureJournalFormatVersion = 1;

}  // namespace coffre::vault
