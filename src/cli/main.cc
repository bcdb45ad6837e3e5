// coffre: the command-line front end. Each subcommand is a thin wrapper over
// the vault API; see `coffre --help`.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"coffre: a vault for personal data"};
  app.require_subcommand(1);
  coffre::cli::Context ctx;
  coffre::cli::RegisterCommands(app, ctx);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // A usage error (missing DIR, bad option value) is invalid input: exit
    // 2 like every other (cli/commands.h), not CLI11's own codes; --help
    // still exits 0.
    return app.exit(e) == 0 ? 0 : 2;
  }
  return ctx.exit_code;
}
