// `coffre retention run|report|hold|release DIR` (docs/retention.md). They
// are management operations: they go to the running server over its socket,
// or open DIR themselves when none runs, and are audited as principal
// `local` with the caller's uid (the deletions and archives of a run, and
// the card sweep it also runs, are audited as principal `coffre`). Each
// prints one JSON object; errors exit 2 (bad subject id), 3 (unknown
// subject, no hold to release, no vault at DIR).
#include "cli/cli_common.h"
#include "cli/server_commands.h"

namespace coffre::cli {
namespace {

namespace json = boost::json;

void RegisterReport(CLI::App* group, Context& ctx) {
  auto* cmd = group->add_subcommand(
      "report",
      "print, as JSON, what the rules will archive or delete and when (ids, never values)");
  Examples(cmd, {"coffre retention report vault", "coffre retention report vault --limit 50"});
  auto a = std::make_shared<VaultArgs>();
  auto limit = std::make_shared<int64_t>(1000);
  AddVaultArgs(cmd, *a);
  cmd->add_option("--limit", *limit, "records listed per collection, soonest first (default 1000)")
      ->check(CLI::Range(1, 100000));
  cmd->callback([&ctx, a, limit] {
    Run(ctx, [&]() -> Status {
      COFFRE_ASSIGN_OR_RETURN(json::object out,
                              Manage(*a, {{"op", "retention.report"}, {"limit", *limit}}));
      PrintJson(out);
      return Ok();
    });
  });
}

void RegisterHold(CLI::App* group, Context& ctx, const char* name, const char* help,
                  const char* op) {
  auto* cmd = group->add_subcommand(name, help);
  Examples(cmd,
           {std::string("coffre retention ") + name + " vault 3f2a9b0c6d1e4f5a8b7c2d3e4f5a6b7c"});
  auto a = std::make_shared<VaultArgs>();
  auto subject = std::make_shared<std::string>();
  AddVaultArgs(cmd, *a);
  cmd->add_option("SUBJECT", *subject, "subject id (hex)")->required();
  cmd->callback([&ctx, a, subject, op] {
    Run(ctx, [&]() -> Status {
      COFFRE_ASSIGN_OR_RETURN(json::object out, Manage(*a, {{"op", op}, {"subject", *subject}}));
      PrintJson(out);
      return Ok();
    });
  });
}

}  // namespace

void RegisterRetentionCommands(CLI::App& app, Context& ctx) {
  auto* group = app.add_subcommand(
      "retention", "retention rules: sweep, report, legal holds (docs/retention.md)");
  group->require_subcommand(1);
  Examples(group, {"coffre retention report vault", "coffre retention run vault",
                   "coffre retention hold vault 3f2a9b0c6d1e4f5a8b7c2d3e4f5a6b7c"});
  auto* run = RegisterManageCommand(group, ctx, "run",
                                    "apply the retention rules now: archive and crypto-shred what "
                                    "is due, and sweep expired cards",
                                    "retention.run");
  Examples(run, {"coffre retention run vault"});
  RegisterReport(group, ctx);
  RegisterHold(group, ctx, "hold",
               "put a subject under a legal hold: the sweeper keeps all its records",
               "retention.hold");
  RegisterHold(group, ctx, "release", "release a subject's legal hold", "retention.release");
}

}  // namespace coffre::cli
