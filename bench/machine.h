// Describes the machine a benchmark ran on, for bench/RESULTS.md.
#pragma once

#include <string>

namespace coffre::bench {

// CPU model, cores, memory, kernel, and the load average at start.
std::string MachineDescription();
// YYYY-MM-DD, UTC.
std::string Today();

}  // namespace coffre::bench
