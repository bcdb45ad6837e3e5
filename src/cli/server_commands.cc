// `coffre principal`, `policy` and `audit`: management commands. They go to
// a running server over its Unix socket, or open the data directory
// themselves when none runs (docs/api.md, "Local commands").
#include "cli/server_commands.h"

#include <termios.h>
#include <unistd.h>

#include <array>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "app/admin_channel.h"
#include "audit/entry_json.h"
#include "audit/verify.h"
#include "cli/cli_common.h"
#include "cli/principal_commands.h"
#include "common/bytes.h"
#include "common/file_text.h"
#include "common/time_text.h"
#include "storage/store.h"

namespace coffre::cli {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

using ServerArgs = VaultArgs;

void AddServerArgs(CLI::App* cmd, ServerArgs& a) { AddVaultArgs(cmd, a); }

// A password from standard input: one line when piped, else typed twice
// without echo.
Result<std::string> ReadPassword() {
  auto line = [](std::string& out) { return static_cast<bool>(std::getline(std::cin, out)); };
  if (!::isatty(STDIN_FILENO)) {
    std::string p;
    if (!line(p)) return Fail(ErrorCode::kInvalidArgument, "no password on standard input");
    if (!p.empty() && p.back() == '\r') p.pop_back();
    return p;
  }
  termios old{};
  ::tcgetattr(STDIN_FILENO, &old);
  termios quiet = old;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  std::string a, b;
  std::cerr << "password: " << std::flush;
  bool ok = line(a);
  std::cerr << "\nagain: " << std::flush;
  ok = ok && line(b);
  std::cerr << "\n";
  ::tcsetattr(STDIN_FILENO, TCSANOW, &old);
  if (!ok) return Fail(ErrorCode::kInvalidArgument, "no password given");
  if (a != b) return Fail(ErrorCode::kInvalidArgument, "the two passwords differ");
  return a;
}

void RegisterPrincipal(CLI::App& app, Context& ctx) {
  auto* group = app.add_subcommand("principal", "manage who may call coffre");
  group->require_subcommand(1);
  Examples(group, {"coffre principal add vault crm --kind service --role support_agent",
                   "coffre principal list vault"});

  auto* add = group->add_subcommand("add", "add a service, human or user principal");
  Examples(
      add,
      {"coffre principal add vault crm --kind service --role support_agent    # prints its API key "
       "once",
       "coffre principal add vault alice --kind human --role admin    # asks for her password",
       "coffre principal add vault adviser-42 --kind service --role adviser --attr agency=A042",
       "coffre principal add vault crm --kind service --role r --cert-fingerprint SHA256HEX"});
  auto a = std::make_shared<ServerArgs>();
  auto name = std::make_shared<std::string>();
  auto kind = std::make_shared<std::string>();
  auto role = std::make_shared<std::string>();
  auto attrs = std::make_shared<std::vector<std::string>>();
  auto totp = std::make_shared<TotpOptions>();
  auto cert = std::make_shared<std::array<std::string, 3>>();  // fingerprint, CA file, subject
  AddServerArgs(add, *a);
  add->add_option("NAME", *name,
                  "the principal's name, unique in the vault (its login for a human)")
      ->required();
  add->add_option("--kind", *kind, "service | human | user")->required();
  add->add_option("--role", *role, "a role of the loaded policy")->required();
  add->add_option("--attr", *attrs, "attribute k=v (repeatable), e.g. agency=A042");
  AddTotpOptions(add, *totp);
  add->add_option("--cert-fingerprint", (*cert)[0],
                  "a service: authenticated by the client certificate of this SHA-256 fingerprint "
                  "(64 hex digits, colons allowed) over mTLS (serve --tls-client-ca)");
  add->add_option("--cert-ca", (*cert)[1],
                  "a service: authenticated by a client certificate this PEM CA issued, whose "
                  "subject is --cert-subject");
  add->add_option("--cert-subject", (*cert)[2],
                  "the subject of --cert-ca's certificate, as `openssl x509 -noout -subject "
                  "-nameopt RFC2253` prints it without 'subject=', e.g. CN=billing,O=Example");
  add->callback([&ctx, a, name, kind, role, attrs, totp, cert] {
    Run(ctx, [&]() -> Status {
      json::object attr_obj;
      for (const std::string& kv : *attrs) {
        size_t eq = kv.find('=');
        if (eq == std::string::npos || eq == 0) {
          return Fail(ErrorCode::kInvalidArgument, "--attr: expected KEY=VALUE");
        }
        attr_obj[kv.substr(0, eq)] = kv.substr(eq + 1);
      }
      json::object req{{"op", "principal.add"},
                       {"name", *name},
                       {"kind", *kind},
                       {"role", *role},
                       {"attrs", std::move(attr_obj)}};
      if (*kind == "human") {
        COFFRE_ASSIGN_OR_RETURN(std::string password, ReadPassword());
        req["password"] = password;
        std::fill(password.begin(), password.end(), '\0');
      }
      if (!totp->issuer.empty()) req["totp_issuer"] = totp->issuer;  // refused unless human
      // Checked by the operation (the forms, the kind); the CA's text
      // travels, not its path (a certificate is public).
      if (!(*cert)[0].empty()) req["cert_fingerprint"] = (*cert)[0];
      if (!(*cert)[1].empty()) {
        COFFRE_ASSIGN_OR_RETURN(std::string ca, ReadWholeFile((*cert)[1], "--cert-ca"));
        req["cert_ca"] = ca;
      }
      if (!(*cert)[2].empty()) req["cert_subject"] = (*cert)[2];
      COFFRE_ASSIGN_OR_RETURN(json::object out, Manage(*a, req));
      if (out.contains("otpauth_uri")) COFFRE_TRY(ShowTotpEnrolment(out, *totp));
      if (out.contains("api_key")) {
        std::cerr << "coffre: the API key is shown once, below; store it in your secret manager.\n";
      }
      PrintJson(out);
      return Ok();
    });
  });

  auto* list = group->add_subcommand("list", "list principals, one JSON object per line");
  Examples(list, {"coffre principal list vault"});
  auto la = std::make_shared<ServerArgs>();
  AddServerArgs(list, *la);
  list->callback([&ctx, la] {
    Run(ctx, [&]() -> Status {
      COFFRE_ASSIGN_OR_RETURN(json::object out, Manage(*la, {{"op", "principal.list"}}));
      for (const auto& p : out.at("principals").as_array()) PrintJson(p);
      return Ok();
    });
  });

  for (const char* verb : {"suspend", "resume", "remove"}) {
    auto* cmd = group->add_subcommand(verb, std::string(verb) + " a principal");
    Examples(cmd, {"coffre principal " + std::string(verb) + " vault crm"});
    auto va = std::make_shared<ServerArgs>();
    auto who = std::make_shared<std::string>();
    AddServerArgs(cmd, *va);
    cmd->add_option("NAME", *who, "the principal's name (as principal list shows it)")->required();
    std::string op = std::string("principal.") + verb;
    cmd->callback([&ctx, va, who, op] {
      Run(ctx, [&]() -> Status {
        COFFRE_ASSIGN_OR_RETURN(json::object out, Manage(*va, {{"op", op}, {"name", *who}}));
        PrintJson(out);
        return Ok();
      });
    });
  }
  RegisterPrincipalLifecycle(group, ctx);
}

void RegisterPolicy(CLI::App& app, Context& ctx) {
  auto* group = app.add_subcommand("policy", "access policies");
  group->require_subcommand(1);
  Examples(group, {"coffre policy load vault examples/people-policy.toml"});
  auto* load = group->add_subcommand("load", "replace the vault's policy with FILE");
  Examples(load, {"coffre policy load vault examples/people-policy.toml"});
  auto a = std::make_shared<ServerArgs>();
  auto file = std::make_shared<std::string>();
  AddServerArgs(load, *a);
  load->add_option("FILE", *file, "the policy TOML file (docs/policy.md)")->required();
  load->callback([&ctx, a, file] {
    Run(ctx, [&]() -> Status {
      COFFRE_ASSIGN_OR_RETURN(std::string text, ReadWholeFile(*file, "policy"));
      COFFRE_ASSIGN_OR_RETURN(json::object out,
                              Manage(*a, {{"op", "policy.load"}, {"text", text}}));
      if (auto* warnings = out.if_contains("warnings"); warnings && warnings->is_array()) {
        for (const auto& w : warnings->get_array()) {
          if (w.is_string()) std::cerr << "coffre: warning: " << w.get_string().c_str() << "\n";
        }
      }
      PrintJson(out);
      return Ok();
    });
  });
}

void RegisterAudit(CLI::App& app, Context& ctx) {
  auto* group = app.add_subcommand("audit", "the tamper-evident audit log");
  group->require_subcommand(1);
  Examples(group, {"coffre audit verify vault", "coffre audit list vault --principal crm"});

  auto* verify = group->add_subcommand("verify", "check the chain, the signatures and the anchor");
  Examples(verify, {"coffre audit verify vault",
                    "coffre audit verify /srv/coffre/data --audit-anchor /var/lib/coffre/anchor"});
  auto va = std::make_shared<ServerArgs>();
  AddServerArgs(verify, *va);
  verify->callback([&ctx, va] {
    Run(ctx, [&]() -> Status {
      const std::string dir = TrimSlash(va->dir);
      // RuntimeFor knows a cluster node's default (DIR/audit-anchor).
      const std::string anchor = RuntimeFor(*va).audit_anchor;
      json::object out;
      COFFRE_ASSIGN_OR_RETURN(auto remote,
                              app::TryAdminSocket(app::AdminSocketPath(dir),
                                                  {{"op", "audit.verify"}, {"anchor", anchor}}));
      if (remote) {
        out = std::move(*remote);
      } else {
        // Needs no key: the store is read as it is, checked against the
        // public key in the anchor. A cluster node (RuntimeFor names its
        // store and node id) checks every node's chain
        // (docs/audit-cluster.md).
        const app::RuntimeOptions ro = RuntimeFor(*va);
        std::string chain;
        if (!ro.node_id.empty()) {
          COFFRE_ASSIGN_OR_RETURN(chain, FromHex(ro.node_id));
        }
        std::unique_ptr<storage::Store> store;
        if (ro.store) {
          COFFRE_ASSIGN_OR_RETURN(store, ro.store({.path = dir, .read_only = true}));
        } else {
          COFFRE_ASSIGN_OR_RETURN(store, storage::OpenRocksStore({.path = dir, .read_only = true}));
        }
        COFFRE_ASSIGN_OR_RETURN(
            audit::VerifyReport r,
            audit::VerifyAllChains(storage::SpaceHandle(*store, "audit", 0, audit::kAuditSpaces),
                                   anchor, chain));
        out = {{"ok", r.ok},
               {"entries", r.entries},
               {"checkpoints", r.checkpoints},
               {"anchored", r.anchored}};
        if (!chain.empty()) out["chains"] = r.chains;
        if (!r.chain.empty()) out["chain"] = r.chain;
        if (r.first_bad_seq) out["first_bad_seq"] = *r.first_bad_seq;
        if (!r.problem.empty()) out["problem"] = r.problem;
      }
      PrintJson(out);
      if (!out.at("ok").as_bool()) {
        std::cerr << "coffre: the audit log fails verification: "
                  << (out.contains("problem") ? out.at("problem").as_string().c_str() : "") << "\n";
        ctx.exit_code = 6;
      }
      return Ok();
    });
  });

  // After restoring a backup of DIR, the log is shorter than its anchor and
  // every command refuses it (exit 6). The operator says so here: the old
  // anchor is kept beside the new one as evidence, and the log records it.
  auto* reanchor = group->add_subcommand(
      "reanchor", "start a new anchor after restoring a backup (the old one is kept as evidence)");
  Examples(reanchor, {"coffre audit reanchor vault    # with the server stopped"});
  auto ra = std::make_shared<ServerArgs>();
  AddServerArgs(reanchor, *ra);
  reanchor->callback([&ctx, ra] {
    Run(ctx, [&]() -> Status {
      const std::string dir = TrimSlash(ra->dir);
      if (app::CallAdminSocket(app::AdminSocketPath(dir), {{"op", "ping"}})) {
        return Fail(ErrorCode::kFailedPrecondition,
                    "the server is running on " + dir + ": stop it first");
      }
      const std::string anchor = RuntimeFor(*ra).audit_anchor;
      std::string kept;
      if (fs::exists(anchor)) {
        std::time_t now = std::time(nullptr);
        std::tm tm{};
        gmtime_r(&now, &tm);
        char stamp[32];
        std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
        kept = anchor + ".replaced-" + stamp;
        if (fs::exists(kept)) {
          return Fail(ErrorCode::kAlreadyExists, kept + " already exists; try again in a second");
        }
        std::error_code ec;
        fs::rename(anchor, kept, ec);
        if (ec)
          return Fail(ErrorCode::kIoError,
                      "cannot move " + anchor + " to " + kept + ": " + ec.message());
      }
      // A cluster node's registry anchor (docs/audit-cluster.md) goes with
      // it: after a restore of the database, what it saw may be gone.
      const std::string chains = anchor + ".chains";
      std::string kept_chains;
      if (!kept.empty() && fs::exists(chains)) {
        kept_chains = kept + ".chains";
        std::error_code ec;
        fs::rename(chains, kept_chains, ec);
        if (ec) {
          fs::rename(kept, anchor, ec);
          return Fail(ErrorCode::kIoError, "cannot move " + chains + " aside");
        }
      }
      app::RuntimeOptions o = RuntimeFor(*ra);
      o.recreate_audit_anchor = true;
      auto rt = app::Runtime::Open(o);
      if (!rt) {
        // Put the old anchor back: nothing half-done.
        if (!kept.empty()) {
          std::error_code ec;
          fs::remove(anchor, ec);
          fs::rename(kept, anchor, ec);
        }
        if (!kept_chains.empty()) {
          std::error_code ec;
          fs::remove(chains, ec);
          fs::rename(kept_chains, chains, ec);
        }
        return Fail(rt.error());
      }
      audit::Entry self;
      self.principal = "local";
      self.action = "audit.reanchor";
      self.outcome = "allowed";
      self.reason = kept.empty() ? "no previous anchor"
                                 : "previous anchor kept as " + fs::path(kept).filename().string();
      self.source = LocalSource();
      COFFRE_TRY((*rt)->audit().Append(std::move(self)));
      COFFRE_TRY((*rt)->audit().Checkpoint());
      json::object out{{"anchor", anchor}, {"last_seq", (*rt)->audit().last_seq()}};
      if (!kept.empty()) out["previous_anchor"] = kept;
      PrintJson(out);
      return Ok();
    });
  });

  auto* list = group->add_subcommand("list", "print audit entries as JSON lines");
  Examples(list, {"coffre audit list vault --principal crm --from 2026-01-01T00:00:00Z",
                  "coffre audit list vault --subject 3f2a9b0c6d1e4f5a8b7c2d3e4f5a6b7c"});
  auto la = std::make_shared<ServerArgs>();
  auto principal = std::make_shared<std::string>();
  auto subject = std::make_shared<std::string>();
  auto from = std::make_shared<std::string>();
  auto to = std::make_shared<std::string>();
  AddServerArgs(list, *la);
  list->add_option("--principal", *principal, "only the entries of this principal or end user");
  list->add_option("--subject", *subject, "only the entries naming this subject id (hex)");
  list->add_option("--from", *from,
                   "start (inclusive): RFC 3339 with any offset, or a date (UTC, from its start)");
  list->add_option("--to", *to,
                   "end (inclusive): RFC 3339 with any offset, or a date (UTC, to its end)");
  list->callback([&ctx, la, principal, subject, from, to] {
    Run(ctx, [&]() -> Status {
      audit::Filter f;
      if (!principal->empty()) f.principal = *principal;
      if (!subject->empty()) {
        COFFRE_ASSIGN_OR_RETURN(f.subject, ParseId(*subject, "subject"));
      }
      if (!from->empty()) {
        COFFRE_ASSIGN_OR_RETURN(f.from_ms, ParseTime(*from, TimeBound::kFrom, "--from"));
      }
      if (!to->empty()) {
        COFFRE_ASSIGN_OR_RETURN(f.to_ms, ParseTime(*to, TimeBound::kTo, "--to"));
      }
      // One answer with every entry (bounded by the socket's answer limit,
      // app/admin_channel.h); the read is audited after the query, as
      // audit.read, so the listing does not show itself.
      json::object req{{"op", "audit.scan"}, {"from_ms", f.from_ms}, {"to_ms", f.to_ms}};
      if (f.principal) req["principal"] = *f.principal;
      if (f.subject) req["subject"] = *subject;
      COFFRE_ASSIGN_OR_RETURN(json::object out, Manage(*la, req));
      const json::value* entries = out.if_contains("entries");
      if (entries == nullptr || !entries->is_array()) {
        return Fail(ErrorCode::kInternal, "the server's answer has no entries");
      }
      for (const json::value& e : entries->get_array()) {
        if (e.is_string()) std::cout << std::string_view(e.get_string()) << '\n';
      }
      return Ok();
    });
  });
}

}  // namespace

CLI::App* RegisterManageCommand(CLI::App* group, Context& ctx, const char* name, const char* help,
                                const char* op) {
  auto* cmd = group->add_subcommand(name, help);
  auto a = std::make_shared<VaultArgs>();
  AddVaultArgs(cmd, *a);
  cmd->callback([&ctx, a, op] {
    Run(ctx, [&]() -> Status {
      COFFRE_ASSIGN_OR_RETURN(json::object out, Manage(*a, {{"op", op}}));
      PrintJson(out);
      return Ok();
    });
  });
  return cmd;
}

void RegisterServerCommands(CLI::App& app, Context& ctx) {
  RegisterPrincipal(app, ctx);
  RegisterPolicy(app, ctx);
  RegisterAudit(app, ctx);
  RegisterGuardCommands(app, ctx);
  RegisterRetentionCommands(app, ctx);
  RegisterCardCommands(app, ctx);
}

}  // namespace coffre::cli
