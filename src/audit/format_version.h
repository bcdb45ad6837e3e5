// The newest version of the audit log's entry bytes, which this code writes
// (for entries with a request id; version 1 otherwise) and reads with every
// older one (docs/audit-log.md, "Entry bytes"). `coffre --version` prints it.
#pragma once

namespace coffre::audit {

inline constexpr int kEntryFormatVersion = 2;

}  // namespace coffre::audit
