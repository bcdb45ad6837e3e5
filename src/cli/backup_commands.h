// Registration of `backup` and `restore` (docs/backup.md, docs/operations.md
// "Backup and restore").
#pragma once

#include <CLI/CLI.hpp>

#include "cli/commands.h"

namespace coffre::cli {

void RegisterBackupCommands(CLI::App& app, Context& ctx);

}  // namespace coffre::cli
