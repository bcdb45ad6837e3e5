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
    return app.exit(e);
  }
  return ctx.exit_code;
}
