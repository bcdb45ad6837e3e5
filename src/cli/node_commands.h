// `coffre join`: prepares a further node for a vault in a cluster's store
// (docs/adr/0040-cluster-nodes.md). `coffre init DIR --store URL` (in
// commands.cc) creates the vault and its first node.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/commands.h"

namespace coffre::cli {

void RegisterNodeCommands(CLI::App& app, Context& ctx);

}  // namespace coffre::cli
