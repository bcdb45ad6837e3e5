// Registration of `serve`, `principal`, `policy` and `audit` (docs/api.md).
#pragma once

#include <CLI/CLI.hpp>

#include "cli/commands.h"

namespace coffre::cli {

void RegisterServerCommands(CLI::App& app, Context& ctx);

}  // namespace coffre::cli
