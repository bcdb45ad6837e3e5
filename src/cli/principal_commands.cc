// The lifecycle of principals after `principal add` (docs/auth.md): update,
// rotate-key, reset-totp, unlock and usage. Like every management command
// they go to the running server over its socket, or open DIR themselves
// when none runs, and are audited as principal `local` with the caller's
// uid, the target named in the entry's reason.
#include "cli/principal_commands.h"

#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "app/admin_channel.h"
#include "auth/totp.h"

namespace coffre::cli {
namespace {

namespace json = boost::json;

// "0", or a whole number of seconds, minutes, hours or days: "90s", "30m",
// "24h", "7d".
Result<int64_t> ParseGrace(std::string_view text) {
  if (text == "0") return 0;
  const auto fail = [] {
    return Fail(ErrorCode::kInvalidArgument,
                "--grace: expected 0 or a whole number with s, m, h or d (e.g. 24h), at most 7d");
  };
  if (text.size() < 2 || text.size() > 8) return fail();
  int64_t n = 0;
  for (char c : text.substr(0, text.size() - 1)) {
    if (c < '0' || c > '9') return fail();
    n = n * 10 + (c - '0');
  }
  switch (text.back()) {
    case 's':
      return n;
    case 'm':
      return n * 60;
    case 'h':
      return n * 3600;
    case 'd':
      return n * 86400;
    default:
      return fail();
  }
}

Result<json::object> AttrsObject(const std::vector<std::string>& attrs) {
  json::object out;
  for (const std::string& kv : attrs) {
    COFFRE_ASSIGN_OR_RETURN(auto parsed, auth::ParseAttribute(kv));
    out[parsed.first] = parsed.second;
  }
  return out;
}

void AddNameArg(CLI::App* cmd, std::string& name) {
  cmd->add_option("NAME", name, "the principal's name (as principal list shows it)")->required();
}

}  // namespace

void AddTotpOptions(CLI::App* cmd, TotpOptions& o) {
  cmd->add_option("--totp-issuer", o.issuer,
                  "the name an authenticator app shows for this account (default: coffre)");
  cmd->add_option("--qr", o.qr,
                  "how to draw the QR code on standard error: auto (coloured on a terminal, "
                  "else dark on light), ansi, light (dark modules on a light background), "
                  "dark (light modules on a dark background), none")
      ->check(CLI::IsMember({"auto", "ansi", "light", "dark", "none"}));
}

Status ShowTotpEnrolment(json::object& out, const TotpOptions& o) {
  const json::value* uri = out.if_contains("otpauth_uri");
  const json::value* key = out.if_contains("totp_key");
  if (uri == nullptr || key == nullptr || !uri->is_string() || !key->is_string()) {
    return Fail(ErrorCode::kInternal, "the answer holds no TOTP enrolment");
  }
  std::string mode = o.qr;
  if (mode == "auto") {
    const char* term = std::getenv("TERM");
    const bool colours = ::isatty(STDERR_FILENO) && std::getenv("NO_COLOR") == nullptr &&
                         !(term != nullptr && std::string_view(term) == "dumb");
    mode = colours ? "ansi" : "light";
  }
  // The secret is shown once, on standard error, never on standard output
  // (which scripts keep): the QR code, and the key for typing by hand.
  if (mode != "none") {
    const auth::totp::QrStyle style = mode == "ansi"    ? auth::totp::QrStyle::kAnsi
                                      : mode == "light" ? auth::totp::QrStyle::kDarkOnLight
                                                        : auth::totp::QrStyle::kLightOnDark;
    COFFRE_ASSIGN_OR_RETURN(std::string qr, auth::totp::QrText(uri->get_string(), style));
    std::cerr << "Scan this code with an authenticator app:\n" << qr;
  }
  std::cerr << "Or enter this key by hand (TOTP, SHA-1, 6 digits, 30 s): "
            << key->get_string().c_str() << "\n";
  out.erase("otpauth_uri");
  out.erase("totp_key");
  return Ok();
}

void RegisterPrincipalLifecycle(CLI::App* group, Context& ctx) {
  {
    auto* cmd = group->add_subcommand(
        "update", "change a principal's role or attributes (applies at once, to sessions too)");
    Examples(cmd,
             {"coffre principal update vault alice --role dpo",
              "coffre principal update vault adviser-42 --attr agency=A043 --remove-attr team"});
    auto a = std::make_shared<VaultArgs>();
    auto name = std::make_shared<std::string>();
    auto role = std::make_shared<std::string>();
    auto attrs = std::make_shared<std::vector<std::string>>();
    auto removed = std::make_shared<std::vector<std::string>>();
    AddVaultArgs(cmd, *a);
    AddNameArg(cmd, *name);
    cmd->add_option("--role", *role, "the new role (one of the loaded policy)");
    cmd->add_option("--attr", *attrs, "set attribute k=v (repeatable)");
    cmd->add_option("--remove-attr", *removed, "remove attribute k (repeatable)");
    cmd->callback([&ctx, a, name, role, attrs, removed] {
      Run(ctx, [&]() -> Status {
        json::object req{{"op", "principal.update"}, {"name", *name}};
        if (!role->empty()) req["role"] = *role;
        if (!attrs->empty()) {
          COFFRE_ASSIGN_OR_RETURN(req["attrs"], AttrsObject(*attrs));
        }
        if (!removed->empty()) {
          json::array keys;
          for (const std::string& k : *removed) keys.push_back(json::value(k));
          req["remove_attrs"] = std::move(keys);
        }
        COFFRE_ASSIGN_OR_RETURN(json::object out, Manage(*a, req));
        PrintJson(out);
        return Ok();
      });
    });
  }
  {
    auto* cmd = group->add_subcommand(
        "rotate-key", "give a service a new API key; the old one works until --grace ends");
    Examples(
        cmd,
        {"coffre principal rotate-key vault crm --grace 24h    # the old key works one more day",
         "coffre principal rotate-key vault crm    # after a leak: the old key stops now"});
    auto a = std::make_shared<VaultArgs>();
    auto name = std::make_shared<std::string>();
    auto grace = std::make_shared<std::string>("0");
    AddVaultArgs(cmd, *a);
    AddNameArg(cmd, *name);
    cmd->add_option("--grace", *grace,
                    "how long the old key keeps working: 0 (default: it stops at once) up to 7d");
    cmd->callback([&ctx, a, name, grace] {
      Run(ctx, [&]() -> Status {
        COFFRE_ASSIGN_OR_RETURN(int64_t seconds, ParseGrace(*grace));
        COFFRE_ASSIGN_OR_RETURN(json::object out, Manage(*a, {{"op", "principal.rotate-key"},
                                                              {"name", *name},
                                                              {"grace_seconds", seconds}}));
        std::cerr
            << "coffre: the new API key is shown once, below; store it in your secret manager.\n";
        PrintJson(out);
        return Ok();
      });
    });
  }
  {
    auto* cmd = group->add_subcommand(
        "reset-totp", "give a human a new TOTP secret (the old one and their sessions end)");
    Examples(cmd,
             {"coffre principal reset-totp vault alice",
              "coffre principal reset-totp vault alice --totp-issuer 'ACME vault' --qr light"});
    auto a = std::make_shared<VaultArgs>();
    auto name = std::make_shared<std::string>();
    auto totp = std::make_shared<TotpOptions>();
    AddVaultArgs(cmd, *a);
    AddNameArg(cmd, *name);
    AddTotpOptions(cmd, *totp);
    cmd->callback([&ctx, a, name, totp] {
      Run(ctx, [&]() -> Status {
        json::object req{{"op", "principal.reset-totp"}, {"name", *name}};
        if (!totp->issuer.empty()) req["totp_issuer"] = totp->issuer;
        COFFRE_ASSIGN_OR_RETURN(json::object out, Manage(*a, req));
        COFFRE_TRY(ShowTotpEnrolment(out, *totp));
        PrintJson(out);
        return Ok();
      });
    });
  }
  {
    auto* cmd = group->add_subcommand(
        "unlock", "lift a human's account lock (10 failed logins lock it for 30 minutes)");
    Examples(cmd, {"coffre principal unlock vault alice"});
    auto a = std::make_shared<VaultArgs>();
    auto name = std::make_shared<std::string>();
    AddVaultArgs(cmd, *a);
    AddNameArg(cmd, *name);
    cmd->callback([&ctx, a, name] {
      Run(ctx, [&]() -> Status {
        COFFRE_ASSIGN_OR_RETURN(json::object out,
                                Manage(*a, {{"op", "principal.unlock"}, {"name", *name}}));
        PrintJson(out);
        return Ok();
      });
    });
  }
  {
    auto* cmd = group->add_subcommand("usage",
                                      "what a principal has used of its role's quotas, per window");
    Examples(cmd, {"coffre principal usage vault crm"});
    auto a = std::make_shared<VaultArgs>();
    auto name = std::make_shared<std::string>();
    AddVaultArgs(cmd, *a);
    AddNameArg(cmd, *name);
    cmd->callback([&ctx, a, name] {
      Run(ctx, [&]() -> Status {
        const json::object req{{"op", "principal.usage"}, {"name", *name}};
        COFFRE_ASSIGN_OR_RETURN(auto remote,
                                app::TryAdminSocket(app::AdminSocketPath(TrimSlash(a->dir)), req));
        if (!remote) {
          std::cerr << "coffre: no server is running on " << a->dir
                    << ": counts live in the server's memory, so they are all 0\n";
        }
        COFFRE_ASSIGN_OR_RETURN(json::object out, remote ? std::move(*remote) : Manage(*a, req));
        PrintJson(out);
        return Ok();
      });
    });
  }
}

}  // namespace coffre::cli
