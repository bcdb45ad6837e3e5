// The version of the audit log's entry bytes that this code writes and
// reads (docs/audit-log.md, "Entry bytes"). `coffre --version` prints it.
#pragma once

namespace coffre::audit {

inline constexpr int kEntryFormatVersion = 1;

}  // namespace coffre::audit
