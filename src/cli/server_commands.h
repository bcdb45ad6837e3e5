// Registration of `principal`, `policy` and `audit` (docs/api.md), and of
// `canary` and `alerts` (guard_commands.cc). `serve` is in serve_command.h.
#pragma once

#include <CLI/CLI.hpp>
#include <boost/json.hpp>

#include "cli/cli_common.h"
#include "cli/commands.h"

namespace coffre::cli {

void RegisterServerCommands(CLI::App& app, Context& ctx);
void RegisterGuardCommands(CLI::App& app, Context& ctx);
void RegisterRetentionCommands(CLI::App& app, Context& ctx);  // retention_commands.cc
void RegisterCardCommands(CLI::App& app, Context& ctx);       // card_commands.cc

// `GROUP NAME DIR`: a subcommand that runs the management operation `op`
// with no argument but DIR (and the vault options) and prints its answer.
// Returns it, for its Examples.
CLI::App* RegisterManageCommand(CLI::App* group, Context& ctx, const char* name, const char* help,
                                const char* op);

}  // namespace coffre::cli
