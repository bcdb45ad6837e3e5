// A command run as root on a vault that another user owns runs as that user
// (issue 15): under the Debian package the vaults belong to the service user
// coffre, and `sudo coffre import /var/lib/coffre/people ...` must not leave
// root-owned files in the vault (RocksDB's new tables, a journal line, an
// anchor line) that the service could then not open. main() calls it once
// the command line is parsed, before any command opens anything:
//
//   COFFRE_ASSIGN_OR_RETURN(OwnerSwitch s, RunAsVaultOwner("/var/lib/coffre/people"));
//   // s.switched: the process is now the owner, for good (no way back to root)
//
// The owner is that of DIR, or of its parent directory when DIR does not exist
// yet (`init` in /var/lib/coffre makes a vault of coffre's). Nothing changes
// when the process is not root, or when the owner is root: a root-owned vault
// stays root's. Files named on the command line are then opened as the owner
// (docs/operations.md, "Running commands as root").
//
// Thread-safety: changes the identity of the whole process; call it while the
// process has one thread.
#pragma once

#include <sys/types.h>

#include <string>

#include "common/status.h"

namespace coffre::cli {

struct OwnerSwitch {
  bool switched = false;
  uid_t uid = 0;
  gid_t gid = 0;
};

// Becomes the owner of `dir` (see above): the owner's primary group and
// supplementary groups (those of the password database; none when the uid has
// no entry, then DIR's group is the primary one), then its uid. Fails, naming
// the step, if a step fails or root could be regained afterwards.
[[nodiscard]] Result<OwnerSwitch> RunAsVaultOwner(const std::string& dir);

}  // namespace coffre::cli
