// coffre: the command-line front end. Each subcommand is a thin wrapper over
// the vault API; see `coffre --help`.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>

#include "cli/commands.h"
#include "cli/run_as_owner.h"
#include "cli/serve_command.h"
#include "cli/version.h"
#include "server/process_limits.h"

namespace {

// The end of `coffre --help`: what the commands read besides their
// arguments, what their exit codes mean, and a first session.
std::string RootFooter() {
  std::string text = R"(Environment:
  COFFRE_KEY_FILE         master key file, when --key-file is not given (else DIR.key)
  COFFRE_KEY_PKCS11       PKCS#11 URI of the master key, when neither --key-pkcs11 nor
                          --key-file is given (docs/key-hierarchy.md)
  COFFRE_ERASURE_JOURNAL  erasure journal, when --erasure-journal is not given (else DIR.erasures)
  COFFRE_AUDIT_ANCHOR     audit anchor, when --audit-anchor is not given (else DIR.audit-anchor,
                          or DIR/audit-anchor on a cluster node)
  PGPASSFILE              init --store, join and every command on a cluster node: libpq's
                          passfile holding the database role's password (never in the URL)
  TMPDIR                  where breach-report stages a report it prints (else /tmp)
  NO_COLOR                principal add/reset-totp --qr auto: set, the QR code has no colours
  TERM                    principal add/reset-totp --qr auto: dumb, the QR code has no colours
  COFFRE_ALLOW_CORE_DUMPS 1 keeps core dumps possible, for debugging (else they are off:
                          they would hold keys and personal values)
)";
#ifdef COFFRE_TEST_HOOKS
  text +=
      "  COFFRE_TEST_CLOCK_FILE  test builds only: seconds added to the clock, or @MS to stop it "
      "at\n"
      "                          that Unix time in ms, read from it\n";
#endif
  text += R"(
Exit codes: 0 ok, 1 internal or I/O error, 2 invalid input, 3 not found, 4 already exists,
  5 wrong key file or permission denied, 6 integrity failure (tampered or truncated data).

Personal values go on standard input or in a file, never in arguments (other users see
arguments in ps and the shell keeps them): put DIR C - or @FILE, find DIR C FIELD.
`coffre COMMAND --help` describes a command; docs/api.md describes them all.

Examples:
  coffre init vault --schema examples/people.toml --policy examples/people-policy.toml
  coffre gen --count 100 > people.ndjson && coffre import vault people people.ndjson
  coffre find vault people email < address.txt
  coffre serve vault --listen 127.0.0.1:8443
)";
  return text;
}

}  // namespace

// An exception out of a command is a bug, not bad input: exit 1 (internal)
// with its text (exception texts never hold a value) rather than abort.
int main(int argc, char** argv) try {
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
  app.set_version_flag("--version", coffre::cli::VersionText,
                       "print coffre's version, its on-disk formats and its libraries' versions");
  coffre::cli::Context ctx;
  coffre::cli::RegisterCommands(app, ctx);
  coffre::cli::RegisterServeCommand(app, ctx);
  app.footer(RootFooter);  // a callback: not inherited by the subcommands
  // Run as root on a vault another user owns (the service user), a command
  // runs as that user: after parsing, before any command's callback opens
  // anything (cli/run_as_owner.h).
  app.parse_complete_callback([&app] {
    const CLI::App* leaf = &app;
    while (!leaf->get_subcommands().empty()) leaf = leaf->get_subcommands().front();
    const CLI::Option* dir = leaf->get_option_no_throw("DIR");
    if (dir == nullptr || dir->count() == 0) return;
    auto owner = coffre::cli::RunAsVaultOwner(dir->as<std::string>());
    if (!owner) {
      std::cerr << "coffre: " << owner.error().message << "\n";
      throw CLI::RuntimeError(5);  // permission denied (cli/commands.h)
    }
  });
  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {
    return e.get_exit_code();  // reported where it was thrown
  } catch (const CLI::ParseError& e) {
    // A usage error (missing DIR, bad option value) is invalid input: exit
    // 2 like every other (cli/commands.h), not CLI11's own codes; --help
    // still exits 0.
    return app.exit(e) == 0 ? 0 : 2;
  }
  return ctx.exit_code;
} catch (const std::exception& e) {
  std::cerr << "coffre: internal error: " << e.what() << "\n";
  return 1;
}
