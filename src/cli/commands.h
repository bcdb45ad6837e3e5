// Registration of every `coffre` subcommand. Output contracts (stdout JSON,
// exit codes) are fixed by the issues and checked by tests/cli_test.
//
// Exit codes: 0 ok, 1 internal or I/O error, 2 invalid input, 3 not found,
// 4 already exists, 5 permission denied (wrong key file).
#pragma once

#include <CLI/CLI.hpp>

namespace coffre::cli {

struct Context {
  int exit_code = 0;
};

void RegisterCommands(CLI::App& app, Context& ctx);

}  // namespace coffre::cli
