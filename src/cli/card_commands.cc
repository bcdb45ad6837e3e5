// `coffre cards sweep DIR` (docs/cards.md, "Sweep"): the card sweep now,
// rather than at the next change of month. A management operation: it goes
// to the running server over its socket, or opens DIR itself when none
// runs; audited as principal `local` with the caller's uid (each expired or
// deleted card is audited as principal `coffre`).
#include "cli/cli_common.h"
#include "cli/server_commands.h"

namespace coffre::cli {

void RegisterCardCommands(CLI::App& app, Context& ctx) {
  auto* group = app.add_subcommand("cards", "payment cards (docs/cards.md)");
  group->require_subcommand(1);
  Examples(group, {"coffre cards sweep vault"});
  auto* sweep = RegisterManageCommand(
      group, ctx, "sweep",
      "expire the cards past their expiry month and delete the evidences past their retention, now",
      "cards.sweep");
  Examples(sweep, {"coffre cards sweep vault"});
}

}  // namespace coffre::cli
