// `coffre canary add` and `coffre alerts` (docs/exfiltration.md). Both are
// management operations: they go to the running server over its socket,
// or open DIR themselves when none runs, and are audited as principal
// `local` with the caller's uid.
#include <iostream>

#include "cli/cli_common.h"
#include "cli/server_commands.h"
#include "common/clock.h"
#include "common/time_text.h"

namespace coffre::cli {
namespace {

namespace json = boost::json;

void RegisterCanary(CLI::App& app, Context& ctx) {
  auto* group = app.add_subcommand(
      "canary", "canary records: fake people whose reading raises a critical alert");
  group->require_subcommand(1);
  Examples(group, {"coffre canary add vault people --count 20 --email-domain canary.example.org"});
  auto* add = group->add_subcommand("add",
                                    "write N generated people the API cannot tell from real ones; "
                                    "reading one alerts and suspends");
  Examples(add, {"coffre canary add vault people --count 20 --email-domain canary.example.org"});
  auto a = std::make_shared<VaultArgs>();
  auto collection = std::make_shared<std::string>();
  auto count = std::make_shared<int64_t>(0);
  auto domain = std::make_shared<std::string>();
  auto seed = std::make_shared<int64_t>(-1);
  AddVaultArgs(add, *a);
  add->add_option("COLLECTION", *collection, "collection to plant them in, e.g. people")
      ->required();
  add->add_option("--count", *count, "how many (1 to 10000)")->required();
  add->add_option("--email-domain", *domain,
                  "a domain you own for their e-mail addresses, so mail to a canary is seen too");
  add->add_option("--seed", *seed,
                  "drills only: the people `coffre gen --seed` emits, so a drill can find them "
                  "(a known seed makes canaries recognisable; production omits it)")
      ->check(CLI::NonNegativeNumber);
  add->callback([&ctx, a, collection, count, domain, seed] {
    Run(ctx, [&]() -> Status {
      json::object req{{"op", "canary.add"}, {"collection", *collection}, {"count", *count}};
      if (!domain->empty()) req["email_domain"] = *domain;
      if (*seed >= 0) req["seed"] = *seed;
      COFFRE_ASSIGN_OR_RETURN(json::object out, Manage(*a, req));
      PrintJson(out);
      return Ok();
    });
  });
}

void RegisterAlerts(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("alerts", "print stored alerts as JSON lines, oldest first");
  Examples(cmd, {"coffre alerts vault",
                 "coffre alerts vault --from 2026-12-01T00:00:00Z --to 2026-12-07T23:59:59Z"});
  auto a = std::make_shared<VaultArgs>();
  auto from = std::make_shared<std::string>();
  auto to = std::make_shared<std::string>();
  AddVaultArgs(cmd, *a);
  cmd->add_option("--from", *from,
                  "start (inclusive): RFC 3339 with any offset, or a date (UTC, from its start)");
  cmd->add_option("--to", *to,
                  "end (inclusive): RFC 3339 with any offset, or a date (UTC, to its end)");
  cmd->callback([&ctx, a, from, to] {
    Run(ctx, [&]() -> Status {
      json::object req{{"op", "alerts.scan"}, {"limit", 1000}};
      if (!from->empty()) {
        COFFRE_ASSIGN_OR_RETURN(int64_t t, ParseTime(*from, TimeBound::kFrom, "--from"));
        req["from"] = t / 1000 - (t % 1000 < 0);  // alerts keep whole seconds
      }
      if (!to->empty()) {
        COFFRE_ASSIGN_OR_RETURN(int64_t t, ParseTime(*to, TimeBound::kTo, "--to"));
        req["to"] = t / 1000 - (t % 1000 < 0);
      }
      // Pages of 1000 (an answer over the socket is bounded), by id.
      while (true) {
        COFFRE_ASSIGN_OR_RETURN(json::object out, Manage(*a, req));
        const json::value* alerts = out.if_contains("alerts");
        if (alerts == nullptr || !alerts->is_array()) {
          return Fail(ErrorCode::kInternal, "the server's answer has no alerts");
        }
        for (const json::value& alert : alerts->get_array()) PrintJson(alert);
        if (alerts->get_array().size() < 1000) break;
        req["after_id"] = alerts->get_array().back().at("id").to_number<int64_t>();
      }
      return Ok();
    });
  });
}

}  // namespace

void RegisterGuardCommands(CLI::App& app, Context& ctx) {
  RegisterCanary(app, ctx);
  RegisterAlerts(app, ctx);
}

}  // namespace coffre::cli
