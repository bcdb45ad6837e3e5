#include "cli/serve_command.h"

#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "cli/cli_common.h"
#include "cli/serve_config.h"
#include "common/log.h"
#include "openapi_json.h"
#include "server/server.h"

namespace coffre::cli {

namespace {

void PrintErrors(const std::vector<std::string>& errors) {
  for (const std::string& e : errors) std::cerr << "coffre: " << e << '\n';
}

// The `serve` subcommand of `app`; its callback serves.
CLI::App* AddServe(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("serve", "serve the vault over HTTPS (docs/api.md)");
  Examples(
      cmd,
      {"coffre serve vault", "coffre serve /var/lib/coffre/people --config /etc/coffre/people.toml",
       "coffre serve /var/lib/coffre/people --config /etc/coffre/people.toml --listen [::1]:9443",
       "coffre serve /srv/coffre/data --listen 10.0.0.5:8443 --key-file /etc/coffre/master.key",
       "coffre serve vault --alert-webhook https://alerts.example.org/coffre",
       "coffre serve vault --metrics-listen 127.0.0.1:9464",
       "coffre serve vault --listen 10.0.0.5:8443 --trusted-proxy 10.0.0.2 --proxy-protocol"});
  auto a = std::make_shared<VaultArgs>();
  auto listen = std::make_shared<std::string>("127.0.0.1:8443");
  auto webhook = std::make_shared<std::string>();
  auto webhook_ca = std::make_shared<std::string>();
  auto edge = std::make_shared<server::ServeOptions>();
  auto config = std::make_shared<std::string>();
  AddVaultArgs(cmd, *a);
  cmd->add_option("--config", *config,
                  "TOML file of serve options (docs/operations.md, `coffre config check`); a "
                  "flag given here overrides its key");
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
  cmd->add_option("--tls-cert", edge->tls_cert,
                  "PEM certificate chain to serve instead of the vault's (certbot's "
                  "fullchain.pem); read at start and on SIGHUP (docs/operations.md)");
  cmd->add_option("--tls-key", edge->tls_key,
                  "PEM private key of --tls-cert (certbot's privkey.pem); read with it");
  cmd->add_option("--tls-client-ca", edge->tls_client_ca,
                  "PEM CA certificates: ask clients for a certificate they issued; a service "
                  "bound to it (principal add --cert-*) authenticates with it (mTLS)");
  cmd->add_option("--metrics-listen", edge->metrics_listen,
                  "ADDRESS:PORT: serve Prometheus metrics over plain HTTP there, at /metrics "
                  "(off by default; e.g. 127.0.0.1:9464; docs/operations.md)");
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
  cmd->callback(
      [&ctx, cmd, a, listen, webhook, webhook_ca, edge, config, log_format, log_level, access_log] {
        if (!config->empty()) {
          // Every error of the file at once, each with its line; the checks of
          // `config check` on the values taken from it (not on those a flag
          // overrode).
          std::vector<std::string> errors;
          ServeConfig file = LoadServeConfig(*config, errors);
          ServeConfig used;
          for (const ConfigValue* v : ApplyServeConfig(file, *cmd, errors))
            used.values.push_back(*v);
          CheckServeConfig(used, errors);
          if (!errors.empty()) {
            SortByPosition(errors, *config);
            PrintErrors(errors);
            ctx.exit_code = 2;
            return;
          }
        }
        Run(ctx, [&]() -> Status {
          app::RuntimeOptions ro = RuntimeFor(*a);
          ro.alert_webhook = *webhook;
          ro.alert_webhook_ca = *webhook_ca;
          server::ServeOptions so = *edge;
          so.runtime = std::move(ro);
          so.listen = *listen;
          so.openapi_json = api::kOpenApiJson;
          // Read again on SIGHUP: absolute, whatever the directory is then.
          if (!so.tls_cert.empty()) so.tls_cert = std::filesystem::absolute(so.tls_cert).string();
          if (!so.tls_key.empty()) so.tls_key = std::filesystem::absolute(so.tls_key).string();
          if (!log_format->empty()) {
            COFFRE_ASSIGN_OR_RETURN(so.log_format, log::ParseFormat(*log_format));
          }
          COFFRE_ASSIGN_OR_RETURN(so.log_level, log::ParseLevel(*log_level));
          so.access_log = *access_log == "on";
          return server::Serve(so, std::cout);
        });
      });
  return cmd;
}

// `coffre config check FILE`: what `serve --config FILE` would refuse,
// every error at once, without a vault.
void AddConfig(CLI::App& app, Context& ctx) {
  auto* group = app.add_subcommand("config", "the serve config file (docs/operations.md)");
  group->require_subcommand(1);
  Examples(group, {"coffre config check /etc/coffre/people.toml"});
  auto* check = group->add_subcommand(
      "check",
      "check a serve config file: unknown keys, types, values, the files it names; every error "
      "with its line (exit 2), else one line OK");
  Examples(check,
           {"coffre config check /etc/coffre/people.toml",
            "coffre config check ./people.toml    # relative paths inside: to its directory"});
  auto file = std::make_shared<std::string>();
  check->add_option("FILE", *file, "the TOML config file `serve --config` would read")->required();
  check->callback([&ctx, file] {
    std::vector<std::string> errors;
    ServeConfig config = LoadServeConfig(*file, errors);
    // The values go through a scratch `serve` command's own options: the
    // same conversions and ranges as on the command line.
    CLI::App scratch;
    Context scratch_ctx;
    (void)ApplyServeConfig(config, *AddServe(scratch, scratch_ctx), errors);
    CheckServeConfig(config, errors);
    if (!errors.empty()) {
      SortByPosition(errors, *file);
      PrintErrors(errors);
      std::cerr << "coffre: " << *file << ": " << errors.size()
                << (errors.size() == 1 ? " error\n" : " errors\n");
      ctx.exit_code = 2;
      return;
    }
    std::cout << "OK: " << *file << " (" << config.values.size()
              << (config.values.size() == 1 ? " key)\n" : " keys)\n");
  });
}

}  // namespace

void RegisterServeCommand(CLI::App& app, Context& ctx) {
  AddServe(app, ctx);
  AddConfig(app, ctx);
}

}  // namespace coffre::cli
