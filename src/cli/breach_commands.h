// Registration of `breach-report`, `bulk-export`, `keygen` and `decrypt`
// (issue 4; docs/api.md, "Breach reports, approvals and bulk exports").
#pragma once

#include <CLI/CLI.hpp>

#include "cli/commands.h"

namespace coffre::cli {

void RegisterBreachCommands(CLI::App& app, Context& ctx);

}  // namespace coffre::cli
