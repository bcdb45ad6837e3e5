// coffre: the command-line front end. Each subcommand is a thin wrapper over
// the vault API; see `coffre --help`.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string_view>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "server/process_limits.h"

int main(int argc, char** argv) {
  // Every command may hold the master key, the TLS key or personal values:
  // none of it goes into a core dump (COFFRE_ALLOW_CORE_DUMPS=1 to debug).
  if (const char* allow = std::getenv("COFFRE_ALLOW_CORE_DUMPS");
      allow == nullptr || std::string_view(allow) != "1") {
    if (auto s = coffre::server::DisableCoreDumps(); !s) {
      std::cerr << "coffre: " << s.error().message << "\n";
      return 1;
    }
  }
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
