// `coffre breach-report`, `bulk-export`, `keygen` and `decrypt` (issue 4,
// docs/exfiltration.md). Reports, notification lists and exports are made
// by whoever holds the vault: the running server over its admin socket, or
// this process when none runs (app/admin_breach_ops.h); either way they are
// audited as principal `local` with the caller's uid.
#include "cli/breach_commands.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli/cli_common.h"
#include "common/bytes.h"
#include "crypto/key_file.h"
#include "crypto/sealed_file.h"

namespace coffre::cli {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

std::string Absolute(const std::string& path) {
  return fs::absolute(path).lexically_normal().string();
}

// A private directory for a report on its way to standard output.
class TempDir {
 public:
  static Result<TempDir> Make() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/coffre-report-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr)
      return Fail(ErrorCode::kIoError, "cannot create a temporary directory");
    return TempDir(Absolute(tmpl));
  }
  TempDir(TempDir&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
  ~TempDir() {
    if (path_.empty()) return;
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  explicit TempDir(std::string p) : path_(std::move(p)) {}
  std::string path_;
};

struct ReportArgs {
  VaultArgs vault;
  std::string principal, user, from, to, format = "md", contact, lang = "en", out;
  std::string notify_file, recipient, approval;
};

json::object QueryOf(const ReportArgs& a) {
  json::object q{{"principal", a.principal}, {"from", a.from}, {"to", a.to}};
  if (!a.user.empty()) q["user"] = a.user;
  return q;
}

// Prints a failed verification as `audit verify` does; exit status 6.
bool VerificationFailed(const json::object& answer, Context& ctx) {
  const json::value* ok = answer.if_contains("ok");
  if (ok == nullptr || !ok->is_bool() || ok->get_bool()) return false;
  PrintJson(answer);
  const json::value* problem = answer.if_contains("problem");
  std::cerr << "coffre: the audit log fails verification over this window: "
            << (problem != nullptr && problem->is_string() ? problem->get_string().c_str() : "")
            << "\n";
  ctx.exit_code = 6;
  return true;
}

void RegisterBreachReport(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand(
      "breach-report", "whose data a principal received in a window, from the verified audit log");
  Examples(cmd, {"coffre breach-report vault --principal crm --from 2026-11-01T00:00:00Z --to "
                 "2026-11-30T23:59:59Z",
                 "coffre breach-report vault --principal crm --from 2026-11-01T00:00:00Z --to "
                 "2026-11-30T23:59:59Z "
                 "--format json --out report.json"});
  auto a = std::make_shared<ReportArgs>();
  AddVaultArgs(cmd, a->vault);
  cmd->add_option("--principal", a->principal,
                  "the principal (or end user) whose requests to report")
      ->required();
  cmd->add_option("--user", a->user, "only the requests made on behalf of this end user");
  cmd->add_option(
         "--from", a->from,
         "start of the window (inclusive): RFC 3339 with any offset (2026-12-01T10:00:00+01:00), "
         "or a date, from its start (UTC)")
      ->required();
  cmd->add_option(
         "--to", a->to,
         "end of the window (inclusive): RFC 3339 with any offset, or a date, to its end (UTC)")
      ->required();
  cmd->add_option("--format", a->format, "md (default), json or csv")
      ->check(CLI::IsMember({"md", "json", "csv"}));
  cmd->add_option("--contact", a->contact,
                  "contact point for the notification draft (art. 33(3)(b))");
  cmd->add_option("--lang", a->lang, "language of the notification drafts: en (default) or fr")
      ->check(CLI::IsMember({"en", "fr"}));
  cmd->add_option("--out", a->out, "write the report to this new file instead of standard output");
  cmd->add_option("--notify-file", a->notify_file,
                  "also write the art. 34 list (contact channels of the people exposed), sealed to "
                  "--recipient");
  cmd->add_option("--recipient", a->recipient,
                  "X25519 public key (hex) the notification list is sealed to");
  cmd->add_option("--approval", a->approval,
                  "approved breach_notification approval id (POST /v1/approvals)");
  cmd->callback([&ctx, a] {
    Run(ctx, [&]() -> Status {
      if (!a->notify_file.empty() && (a->recipient.empty() || a->approval.empty())) {
        return Fail(ErrorCode::kInvalidArgument, "--notify-file needs --recipient and --approval");
      }
      if (a->notify_file.empty() && (!a->recipient.empty() || !a->approval.empty())) {
        return Fail(ErrorCode::kInvalidArgument,
                    "--recipient and --approval go with --notify-file");
      }
      std::optional<TempDir> tmp;
      std::string out;
      if (a->out.empty()) {
        COFFRE_ASSIGN_OR_RETURN(TempDir t, TempDir::Make());
        tmp.emplace(std::move(t));
        out = tmp->path() + "/report";
      } else {
        out = Absolute(a->out);
      }
      json::object req = QueryOf(*a);
      req["op"] = "breach.report.file";
      req["format"] = a->format;
      req["out"] = out;
      if (!a->contact.empty()) req["contact"] = a->contact;
      req["lang"] = a->lang;
      COFFRE_ASSIGN_OR_RETURN(json::object answer, Manage(a->vault, req));
      if (VerificationFailed(answer, ctx)) return Ok();
      if (tmp) {
        std::ifstream in(out, std::ios::binary);
        std::cout << in.rdbuf();
        std::cout.flush();
        if (!in || !std::cout) return Fail(ErrorCode::kIoError, "cannot print the report");
      } else {
        PrintJson(answer);
      }
      if (a->notify_file.empty()) return Ok();

      json::object notify = QueryOf(*a);
      notify["op"] = "breach.notify";
      notify["approval"] = a->approval;
      notify["recipient"] = a->recipient;
      notify["out"] = Absolute(a->notify_file);
      COFFRE_ASSIGN_OR_RETURN(json::object done, Manage(a->vault, notify));
      if (VerificationFailed(done, ctx)) return Ok();
      auto num = [&](std::string_view key) {
        const json::value* v = done.if_contains(key);
        return v != nullptr && v->is_number() ? v->to_number<uint64_t>() : 0;
      };
      std::cerr << "coffre: notification list of " << num("people") << " people ("
                << num("reachable") << " with a contact channel, " << num("erased")
                << " erased since) sealed to " << Absolute(a->notify_file)
                << "; its decryptions are in the audit log\n";
      return Ok();
    });
  });
}

void RegisterBulkExport(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand(
      "bulk-export",
      "export a whole collection, sealed to a recipient, under a two-person approval");
  Examples(cmd, {"coffre bulk-export vault people --approval 0d9e5a7c3b1f4e2a8c6d0b9a7f5e3c1d "
                 "--recipient e4b1c2d3a4f5061728394a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9f "
                 "--out people.sealed"});
  auto a = std::make_shared<VaultArgs>();
  auto collection = std::make_shared<std::string>();
  auto approval = std::make_shared<std::string>();
  auto recipient = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  AddVaultArgs(cmd, *a);
  cmd->add_option("COLLECTION", *collection, "the collection to export, e.g. people")->required();
  cmd->add_option("--approval", *approval, "approved bulk_export approval id (POST /v1/approvals)")
      ->required();
  cmd->add_option("--recipient", *recipient,
                  "X25519 public key (hex) of the recipient (coffre keygen)")
      ->required();
  cmd->add_option("--out", *out, "the sealed file to create")->required();
  cmd->callback([&ctx, a, collection, approval, recipient, out] {
    Run(ctx, [&]() -> Status {
      COFFRE_ASSIGN_OR_RETURN(json::object done, Manage(*a, {{"op", "bulk.export"},
                                                             {"collection", *collection},
                                                             {"approval", *approval},
                                                             {"recipient", *recipient},
                                                             {"out", Absolute(*out)}}));
      PrintJson(done);
      return Ok();
    });
  });
}

void RegisterKeygen(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("keygen", "make an X25519 key pair for receiving sealed files");
  Examples(cmd, {"coffre keygen --out-secret recipient.secret    # prints the public key"});
  auto secret = std::make_shared<std::string>();
  cmd->add_option("--out-secret", *secret,
                  "the secret key file to create (mode 0600, never overwritten)")
      ->required();
  cmd->callback([&ctx, secret] {
    Run(ctx, [&]() -> Status {
      COFFRE_TRY(crypto::Init());
      crypto::SecretKey sk = crypto::SecretKey::Random();
      COFFRE_TRY(crypto::WriteBoxSecretFile(*secret, sk));
      PrintJson({{"public_key", ToHex(crypto::BoxPublicKey(sk))}, {"secret_key_file", *secret}});
      return Ok();
    });
  });
}

void RegisterDecrypt(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("decrypt", "open a sealed file (bulk export, notification list)");
  Examples(cmd, {"coffre decrypt --secret-key recipient.secret people.sealed --out people.ndjson"});
  auto secret = std::make_shared<std::string>();
  auto in = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  cmd->add_option("--secret-key", *secret, "the recipient's secret key file (coffre keygen)")
      ->required();
  cmd->add_option("IN", *in, "the sealed file to open (bulk-export, breach-report --notify-file)")
      ->required();
  cmd->add_option("--out", *out, "write the plaintext to this new file (default: standard output)");
  cmd->callback([&ctx, secret, in, out] {
    Run(ctx, [&]() -> Status {
      COFFRE_TRY(crypto::Init());
      COFFRE_ASSIGN_OR_RETURN(crypto::SecretKey sk, crypto::LoadBoxSecretFile(*secret));
      if (out->empty()) {
        // Truncation shows only at the end: on exit status 6, discard what
        // was printed.
        return crypto::OpenSealedFile(*in, sk, [](std::string_view plain) -> Status {
          std::cout.write(plain.data(), static_cast<std::streamsize>(plain.size()));
          if (!std::cout) return Fail(ErrorCode::kIoError, "cannot write to standard output");
          return Ok();
        });
      }
      std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(nullptr, &std::fclose);
      {
        int fd = ::open(out->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
          return Fail(errno == EEXIST ? ErrorCode::kAlreadyExists : ErrorCode::kIoError,
                      "cannot create " + *out);
        f.reset(::fdopen(fd, "wb"));
        if (!f) {
          ::close(fd);
          return Fail(ErrorCode::kIoError, "cannot create " + *out);
        }
      }
      Status opened = crypto::OpenSealedFile(*in, sk, [&](std::string_view plain) -> Status {
        if (std::fwrite(plain.data(), 1, plain.size(), f.get()) != plain.size()) {
          return Fail(ErrorCode::kIoError, "cannot write " + *out);
        }
        return Ok();
      });
      bool closed = std::fclose(f.release()) == 0;
      if (!opened || !closed) {
        ::unlink(out->c_str());  // nothing of a file that did not open whole
        return opened ? Fail(ErrorCode::kIoError, "cannot write " + *out) : opened;
      }
      return Ok();
    });
  });
}

}  // namespace

void RegisterBreachCommands(CLI::App& app, Context& ctx) {
  RegisterBreachReport(app, ctx);
  RegisterBulkExport(app, ctx);
  RegisterKeygen(app, ctx);
  RegisterDecrypt(app, ctx);
}

}  // namespace coffre::cli
