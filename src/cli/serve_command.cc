#include "cli/serve_command.h"

#include <iostream>

#include "cli/cli_common.h"
#include "common/log.h"
#include "openapi_json.h"
#include "server/server.h"

namespace coffre::cli {

void RegisterServeCommand(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("serve", "serve the vault over HTTPS (docs/api.md)");
  Examples(
      cmd,
      {"coffre serve vault",
       "coffre serve /srv/coffre/data --listen 10.0.0.5:8443 --key-file /etc/coffre/master.key",
       "coffre serve vault --alert-webhook https://alerts.example.org/coffre",
       "coffre serve vault --listen 10.0.0.5:8443 --trusted-proxy 10.0.0.2 --proxy-protocol    # "
       "behind HAProxy"});
  auto a = std::make_shared<VaultArgs>();
  auto listen = std::make_shared<std::string>("127.0.0.1:8443");
  auto webhook = std::make_shared<std::string>();
  auto webhook_ca = std::make_shared<std::string>();
  auto edge = std::make_shared<server::ServeOptions>();
  AddVaultArgs(cmd, *a);
  cmd->add_option(
      "--listen", *listen,
      "ADDRESS:PORT or NAME:PORT (default 127.0.0.1:8443; port 0 picks one; a name is resolved)");
  cmd->add_option("--trusted-proxy", edge->trusted_proxies,
                  "CIDR of a reverse proxy whose X-Forwarded-For (or PROXY header) names the "
                  "client (repeatable)");
  cmd->add_flag("--proxy-protocol", edge->proxy_protocol,
                "connections from trusted proxies start with a PROXY protocol v2 header");
  cmd->add_option("--max-connections", edge->max_connections,
                  "connections at once (default 4096, fewer if the descriptor limit is lower)")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--max-connections-per-source", edge->max_connections_per_source,
                  "connections at once per client address, an IPv6 client per /64 (default 256)")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--alert-webhook", *webhook,
                  "also POST each alert as JSON to this https URL (or http to a loopback address)");
  cmd->add_option("--alert-webhook-ca", *webhook_ca,
                  "PEM CA certificates for the webhook (default: the system's)");
  auto log_format = std::make_shared<std::string>();
  auto log_level = std::make_shared<std::string>("info");
  auto access_log = std::make_shared<std::string>("on");
  cmd->add_option("--log-format", *log_format,
                  "json (one object per line) or text; default: json unless stderr is a "
                  "terminal (docs/operations.md, Logs)")
      ->check(CLI::IsMember({"json", "text"}));
  cmd->add_option("--log-level", *log_level, "debug, info (default), warn or error")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  cmd->add_option("--access-log", *access_log,
                  "on (default): one info line per request (route template, status, duration, "
                  "principal, request id); off: none")
      ->check(CLI::IsMember({"on", "off"}));
  cmd->callback([&ctx, a, listen, webhook, webhook_ca, edge, log_format, log_level, access_log] {
    Run(ctx, [&]() -> Status {
      app::RuntimeOptions ro = RuntimeFor(*a);
      ro.alert_webhook = *webhook;
      ro.alert_webhook_ca = *webhook_ca;
      server::ServeOptions so = *edge;
      so.runtime = std::move(ro);
      so.listen = *listen;
      so.openapi_json = api::kOpenApiJson;
      if (!log_format->empty()) {
        COFFRE_ASSIGN_OR_RETURN(so.log_format, log::ParseFormat(*log_format));
      }
      COFFRE_ASSIGN_OR_RETURN(so.log_level, log::ParseLevel(*log_level));
      so.access_log = *access_log == "on";
      return server::Serve(so, std::cout);
    });
  });
}

}  // namespace coffre::cli
