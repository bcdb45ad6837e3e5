// `coffre serve`: the one command that needs the server. It lives in its own
// target (coffre_cli_serve, linked by the coffre binary) so that the CLI's
// other commands (coffre_cli) do not link the server: they reach a running
// server over its admin socket, or open the vault themselves. `coffre config
// check` lives here too: it checks a config file against serve's own
// options (cli/serve_config.h).
#pragma once

#include <CLI/CLI.hpp>

#include "cli/commands.h"

namespace coffre::cli {

// Registers `serve` and `config check` on `app`.
void RegisterServeCommand(CLI::App& app, Context& ctx);

}  // namespace coffre::cli
