// Process-wide limits a server and the CLI set at start: no core dumps
// (they would hold the master key, the TLS key, API keys and the personal
// values just read), and as many descriptors as the hard limit allows,
// from which the connection cap is sized (docs/adr/0019).
//
//   if (!std::getenv("COFFRE_ALLOW_CORE_DUMPS")) (void)DisableCoreDumps();
//   size_t fds = RaiseDescriptorLimit();
//   options.max_connections = ConnectionCapFor(fds, options.max_connections);
//
// Thread-safety: call at start, before threads are made.
#pragma once

#include <cstddef>

#include "common/status.h"

namespace coffre::server {

// PR_SET_DUMPABLE 0 (no core dump, no ptrace by the same uid, /proc/PID
// owned by root) and RLIMIT_CORE 0. kInternal if either fails.
[[nodiscard]] Status DisableCoreDumps();

// Raises the soft RLIMIT_NOFILE to the hard limit; returns the soft limit
// in force afterwards.
size_t RaiseDescriptorLimit();

// The connection cap `descriptors` allow: `wanted`, or fewer so that a
// quarter of the descriptors (at least 256) stays for the store's files,
// the logs, the admin socket and the reserve descriptor; at least 16.
size_t ConnectionCapFor(size_t descriptors, size_t wanted);

}  // namespace coffre::server
