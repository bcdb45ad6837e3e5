#include "cli/commands.h"
#include "cli/cli_common.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <iterator>
#include <memory>

#include <boost/json.hpp>

#include "api/record_json.h"
#include "common/bytes.h"
#include "gen/people_gen.h"
#include "vault/importer.h"
#include "vault/vault.h"

namespace coffre::cli {
namespace {

using api::FieldsFromJson;
using api::RecordToJson;
using api::RefToJson;

void RegisterInit(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("init", "create a new vault and its master key file");
  auto a = std::make_shared<VaultArgs>();
  auto schema = std::make_shared<std::string>();
  cmd->add_option("DIR", a->dir, "data directory to create")->required();
  cmd->add_option("--schema", *schema, "schema TOML file")->required();
  cmd->add_option("--key-file", a->key_file, "master key file to create (default: DIR.key)");
  cmd->add_option("--erasure-journal", a->journal,
                  "erasure journal to create (default: $COFFRE_ERASURE_JOURNAL, else DIR.erasures)");
  cmd->callback([&ctx, a, schema] {
    Run(ctx, [&]() -> Status {
      std::string key = ResolveKeyFile(a->dir, a->key_file);
      std::string journal = ResolveJournal(a->dir, a->journal);
      COFFRE_ASSIGN_OR_RETURN(auto r, vault::Vault::Init({a->dir, *schema, key, journal}));
      std::cerr << "coffre: vault created in " << a->dir << "\n"
                << "coffre: master key written to " << key
                << " (mode 0600). Keep it off the data disk and out of the data directory's"
                   " backups: anyone holding both can read the vault, and without it nobody can.\n";
      PrintJson({{"vault", a->dir},
                 {"key_file", key},
                 {"erasure_journal", journal},
                 {"vault_id", ToHex(r.vault_id)}});
      return Ok();
    });
  });
}

void RegisterPut(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("put", "validate, seal and store one record");
  auto a = std::make_shared<VaultArgs>();
  auto collection = std::make_shared<std::string>();
  auto json = std::make_shared<std::string>();
  auto subject = std::make_shared<std::string>();
  AddVaultArgs(cmd, *a);
  cmd->add_option("COLLECTION", *collection)->required();
  cmd->add_option("JSON", *json, "the record as a JSON object ('-' reads standard input)")->required();
  cmd->add_option("--subject", *subject, "attach the record to this existing subject");
  cmd->callback([&ctx, a, collection, json, subject] {
    Run(ctx, [&]() -> Status {
      if (*json == "-") *json = std::string(std::istreambuf_iterator<char>(std::cin), {});
      std::optional<std::string> subj;
      if (!subject->empty()) {
        COFFRE_ASSIGN_OR_RETURN(subj, ParseId(*subject, "subject"));
      }
      boost::json::value storage;
      COFFRE_ASSIGN_OR_RETURN(auto inputs, FieldsFromJson(*json, storage));
      COFFRE_ASSIGN_OR_RETURN(auto v, OpenVault(*a));
      COFFRE_ASSIGN_OR_RETURN(auto ref, v->Put(*collection, inputs, subj));
      PrintJson(RefToJson(ref));
      return Ok();
    });
  });
}

void RegisterGet(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("get", "read one record");
  auto a = std::make_shared<VaultArgs>();
  auto collection = std::make_shared<std::string>();
  auto id = std::make_shared<std::string>();
  AddVaultArgs(cmd, *a);
  cmd->add_option("COLLECTION", *collection)->required();
  cmd->add_option("ID", *id)->required();
  cmd->callback([&ctx, a, collection, id] {
    Run(ctx, [&]() -> Status {
      COFFRE_ASSIGN_OR_RETURN(std::string raw, ParseId(*id, "record id"));
      COFFRE_ASSIGN_OR_RETURN(auto v, OpenVault(*a));
      COFFRE_ASSIGN_OR_RETURN(auto rec, v->Get(*collection, raw));
      PrintJson(RecordToJson(*v->schema().Find(*collection), rec));
      return Ok();
    });
  });
}

void RegisterFind(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("find", "equality search on a searchable field");
  auto a = std::make_shared<VaultArgs>();
  auto collection = std::make_shared<std::string>();
  auto query = std::make_shared<std::string>();
  AddVaultArgs(cmd, *a);
  cmd->add_option("COLLECTION", *collection)->required();
  cmd->add_option("FIELD=VALUE", *query)->required();
  cmd->callback([&ctx, a, collection, query] {
    Run(ctx, [&]() -> Status {
      auto eq = query->find('=');
      if (eq == std::string::npos || eq == 0) {
        return Fail(ErrorCode::kInvalidArgument, "the query must be FIELD=VALUE");
      }
      COFFRE_ASSIGN_OR_RETURN(auto v, OpenVault(*a));
      std::string field = query->substr(0, eq);
      std::string value = query->substr(eq + 1);
      COFFRE_ASSIGN_OR_RETURN(auto refs, v->Find(*collection, field, schema::Input::String(value)));
      for (const auto& r : refs) PrintJson(RefToJson(r));
      return Ok();
    });
  });
}

class ProgressBar {
 public:
  void Update(const vault::ImportProgress& p) {
    auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    Draw(p);
  }
  void Draw(const vault::ImportProgress& p) {
    double frac = p.bytes_total ? static_cast<double>(p.bytes_read) / p.bytes_total : 1.0;
    int filled = static_cast<int>(frac * 30);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    std::fprintf(stderr, "\r[%-30s] %3d%%  %llu imported  %llu rejected  %.0f rows/s ",
                 std::string(static_cast<size_t>(filled), '#').c_str(), static_cast<int>(frac * 100),
                 static_cast<unsigned long long>(p.imported), static_cast<unsigned long long>(p.rejected),
                 secs > 0 ? (p.imported + p.rejected) / secs : 0.0);
  }
  void Done() { std::fputc('\n', stderr); }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_{};
};

void RegisterImport(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("import", "bulk-import a CSV (with header) or NDJSON file");
  auto a = std::make_shared<VaultArgs>();
  auto o = std::make_shared<vault::ImportOptions>();
  auto report = std::make_shared<bool>(false);
  auto format = std::make_shared<std::string>("auto");
  AddVaultArgs(cmd, *a);
  cmd->add_option("COLLECTION", o->collection)->required();
  cmd->add_option("FILE", o->path)->required();
  cmd->add_option("--format", *format, "auto, csv or ndjson")->check(CLI::IsMember({"auto", "csv", "ndjson"}));
  cmd->add_option("--threads", o->threads, "worker threads (default: one per core)");
  cmd->add_option("--chunk-rows", o->chunk_rows, "rows per worker task");
  cmd->add_option("--commit-rows", o->commit_rows,
                  "rows per durable, atomic commit (rounded up to whole chunks)");
  cmd->add_flag("--report-commits", *report,
                "print {\"committed_through_line\":L,...} on stdout after each durable commit");
  cmd->callback([&ctx, a, o, report, format] {
    Run(ctx, [&]() -> Status {
      o->format = *format == "csv" ? vault::ImportFormat::kCsv
                  : *format == "ndjson" ? vault::ImportFormat::kNdjson
                                        : vault::ImportFormat::kAuto;
      COFFRE_ASSIGN_OR_RETURN(auto v, OpenVault(*a));
      bool tty = ::isatty(STDERR_FILENO) == 1;
      ProgressBar bar;
      o->on_commit = [&](const vault::ImportProgress& p) {
        if (*report) {
          std::printf("{\"committed_through_line\":%llu,\"imported\":%llu,\"rejected\":%llu}\n",
                      static_cast<unsigned long long>(p.committed_through_line),
                      static_cast<unsigned long long>(p.imported),
                      static_cast<unsigned long long>(p.rejected));
          std::fflush(stdout);
        }
        if (tty) bar.Update(p);
      };
      auto stats = vault::Import(*v, *o);
      if (tty) {
        if (stats) {
          vault::ImportProgress last;
          last.bytes_read = last.bytes_total = 1;
          last.imported = stats->imported;
          last.rejected = stats->rejected;
          bar.Draw(last);
        }
        bar.Done();
      }
      if (!stats) return Fail(stats.error());
      if (stats->rejected > 0) {
        std::cerr << "coffre: " << stats->rejected << " rows rejected; reasons in "
                  << (o->rejects_path.empty() ? o->path + ".rejects" : o->rejects_path) << '\n';
      }
      std::printf("{\"imported\":%llu,\"rejected\":%llu,\"seconds\":%.3f}\n",
                  static_cast<unsigned long long>(stats->imported),
                  static_cast<unsigned long long>(stats->rejected), stats->seconds);
      std::fflush(stdout);
      return Ok();
    });
  });
}

// A command of the form `coffre NAME DIR SUBJECT`: parses the subject id,
// opens the vault and hands both to `body`.
using SubjectBody = std::function<Status(vault::Vault&, const std::string& raw, const std::string& shown)>;

void RegisterSubjectCommand(CLI::App& app, Context& ctx, const std::string& name,
                            const std::string& help, SubjectBody body) {
  auto* cmd = app.add_subcommand(name, help);
  auto a = std::make_shared<VaultArgs>();
  auto subject = std::make_shared<std::string>();
  AddVaultArgs(cmd, *a);
  cmd->add_option("SUBJECT", *subject)->required();
  cmd->callback([&ctx, a, subject, body] {
    Run(ctx, [&]() -> Status {
      COFFRE_ASSIGN_OR_RETURN(std::string raw, ParseId(*subject, "subject"));
      COFFRE_ASSIGN_OR_RETURN(auto v, OpenVault(*a));
      return body(*v, raw, *subject);
    });
  });
}

void RegisterExport(CLI::App& app, Context& ctx) {
  RegisterSubjectCommand(app, ctx, "export-subject", "print all of a person's records as JSON",
                         [](vault::Vault& v, const std::string& raw, const std::string& shown) -> Status {
                           COFFRE_ASSIGN_OR_RETURN(auto records, v.ExportSubject(raw));
                           boost::json::array arr;
                           for (const auto& r : records) {
                             boost::json::object o = RecordToJson(*v.schema().Find(r.collection), r);
                             o["collection"] = r.collection;
                             arr.push_back(std::move(o));
                           }
                           PrintJson({{"subject", shown}, {"records", std::move(arr)}});
                           return Ok();
                         });
}

void RegisterErase(CLI::App& app, Context& ctx) {
  RegisterSubjectCommand(app, ctx, "erase-subject",
                         "crypto-shred a person: keys, records, index entries",
                         [](vault::Vault& v, const std::string& raw, const std::string& shown) -> Status {
                           COFFRE_ASSIGN_OR_RETURN(auto r, v.EraseSubject(raw));
                           PrintJson({{"subject", shown},
                                      {"erased_records", r.records},
                                      {"destroyed_keys", r.keys}});
                           return Ok();
                         });
}

void RegisterGen(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("gen", "write synthetic French people as NDJSON to stdout");
  auto count = std::make_shared<uint64_t>(10);
  auto seed = std::make_shared<uint64_t>(1);
  cmd->add_option("--count", *count, "how many people")->required();
  cmd->add_option("--seed", *seed, "same seed, same people");
  cmd->callback([&ctx, count, seed] {
    std::ios::sync_with_stdio(false);
    gen::WriteNdjson(std::cout, *count, *seed);
    std::cout.flush();
    if (!std::cout) ctx.exit_code = 1;
  });
}

void RegisterKeys(CLI::App& app, Context& ctx) {
  auto* keys = app.add_subcommand("keys", "key management");
  keys->require_subcommand(1);
  auto* cmd = keys->add_subcommand("rotate", "new master key: rewrap the keyring, records untouched");
  auto a = std::make_shared<VaultArgs>();
  auto next = std::make_shared<std::string>();
  AddVaultArgs(cmd, *a);
  cmd->add_option("--new-key-file", *next, "key file to create for the new master key")->required();
  cmd->callback([&ctx, a, next] {
    Run(ctx, [&]() -> Status {
      COFFRE_ASSIGN_OR_RETURN(auto v, OpenVault(*a));
      COFFRE_ASSIGN_OR_RETURN(size_t n, v->RotateMasterKey(*next));
      std::cerr << "coffre: the vault now opens only with " << *next
                << ". Rotation replaces the master key, not the sub-keys it protects: it retires"
                   " an old key file, but after a key file AND a copy of the data directory have"
                   " leaked, the leaked copy stays readable. Destroy the old key file once backups"
                   " made with it have expired.\n";
      PrintJson({{"rewrapped", n}, {"key_file", *next}});
      return Ok();
    });
  });
}

}  // namespace

void RegisterCommands(CLI::App& app, Context& ctx) {
  RegisterInit(app, ctx);
  RegisterPut(app, ctx);
  RegisterGet(app, ctx);
  RegisterFind(app, ctx);
  RegisterImport(app, ctx);
  RegisterExport(app, ctx);
  RegisterErase(app, ctx);
  RegisterGen(app, ctx);
  RegisterKeys(app, ctx);
}

}  // namespace coffre::cli
