#include "cli/commands.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>

#include "app/admin_channel.h"
#include "app/admin_import_op.h"
#include "cards/card_rules.h"
#include "cards/cards.h"
#include "cli/backup_commands.h"
#include "cli/breach_commands.h"
#include "cli/cli_common.h"
#include "cli/key_custody_commands.h"
#include "cli/node_commands.h"
#include "cli/server_commands.h"
#include "cli/tls_commands.h"
#include "cluster/node.h"
#include "common/bytes.h"
#include "common/clock.h"
#include "common/file_text.h"
#include "crypto/pkcs11_uri.h"
#include "crypto/tls_material.h"
#include "gen/people_gen.h"
#include "guard/canary_set.h"
#include "policy/policy.h"
#include "vault/importer.h"
#include "vault/vault.h"

namespace coffre::cli {
namespace {

struct InitArgs {
  VaultArgs vault;
  std::string store;  // a cluster's store URL; empty: an embedded vault in DIR
  std::string schema;
  std::string policy;
  std::string tls_cert;
  std::string tls_key;
  std::optional<std::string> card_evidence_months;  // none: cards::kDefaultEvidenceMonths
};

// Everything init stores besides the schema, prepared before the vault is
// created so that a bad file leaves nothing behind.
Status PrepareInit(const InitArgs& a, vault::InitOptions& o) {
  COFFRE_ASSIGN_OR_RETURN(schema::Schema schema, schema::Schema::LoadFile(a.schema));
  if (!a.policy.empty()) {
    COFFRE_ASSIGN_OR_RETURN(policy::Policy p, policy::Policy::LoadFile(a.policy, schema));
    o.config.emplace_back(app::kPolicyConfig, p.text());
  }
  if (a.card_evidence_months) {
    auto months = cards::ParseEvidenceMonths(*a.card_evidence_months);
    if (!months)
      return Fail(ErrorCode::kInvalidArgument, "--card-evidence-months: " + months.error().message);
    o.config.emplace_back(cards::kEvidenceMonthsConfig, std::to_string(*months));
  }
  if (a.tls_cert.empty() != a.tls_key.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "--tls-cert and --tls-key go together");
  }
  crypto::TlsMaterial tls;
  if (!a.tls_cert.empty()) {
    COFFRE_ASSIGN_OR_RETURN(tls.cert_pem, ReadWholeFile(a.tls_cert, "TLS certificate"));
    COFFRE_ASSIGN_OR_RETURN(tls.key_pem, ReadWholeFile(a.tls_key, "TLS key"));
    COFFRE_TRY(crypto::CheckPair(tls.cert_pem, tls.key_pem));
    o.config.emplace_back(crypto::kTlsUserSuppliedConfig, "1");
  } else {
    COFFRE_ASSIGN_OR_RETURN(tls, crypto::GenerateSelfSigned(std::chrono::system_clock::now()));
  }
  o.config.emplace_back(crypto::kTlsCertConfig, tls.cert_pem);
  o.secrets.emplace_back(crypto::kTlsKeySecret, tls.key_pem);
  std::fill(tls.key_pem.begin(), tls.key_pem.end(), '\0');
  return Ok();
}

void RegisterInit(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("init", "create a new vault and its master key file");
  Examples(cmd,
           {"coffre init vault --schema examples/people.toml --policy examples/people-policy.toml",
            "coffre init /srv/coffre/data --schema people.toml --key-file /etc/coffre/master.key",
            "coffre init /var/lib/coffre/people --schema people.toml --key-pkcs11 "
            "'pkcs11:token=coffre;object=people?module-path=/usr/lib/softhsm/libsofthsm2.so"
            "&pin-source=file:/etc/coffre/pin'",
            "coffre init /var/lib/coffre/node1 --store postgresql://coffre@db1:5432/coffre "
            "--schema people.toml --policy people-policy.toml --key-file /etc/coffre/master.key"});
  auto a = std::make_shared<InitArgs>();
  cmd->add_option("DIR", a->vault.dir, "data directory to create")->required();
  cmd->add_option("--store", a->store,
                  "create the vault in this PostgreSQL database instead of in DIR, which then "
                  "holds only this node's local state: a libpq URI without a password "
                  "(postgresql://coffre@db:5432/coffre); the password comes from a passfile "
                  "(PGPASSFILE), a service file or a client certificate")
      ->type_name("URL");
  cmd->add_option("--schema", a->schema, "schema TOML file")->required();
  cmd->add_option("--policy", a->policy, "policy TOML file (default: none, everything denied)");
  auto* key_file =
      cmd->add_option("--key-file", a->vault.key_file,
                      "master key file to create (default: $COFFRE_KEY_FILE, else DIR.key)");
  cmd->add_option("--key-pkcs11", a->vault.key_pkcs11,
                  "keep the master key in a PKCS#11 token instead: an RFC 7512 URI with "
                  "module-path and pin-source; the key is created in the token when absent "
                  "(default: $COFFRE_KEY_PKCS11)")
      ->type_name("URI")
      ->excludes(key_file);
  cmd->add_option(
      "--erasure-journal", a->vault.journal,
      "erasure journal to create (default: $COFFRE_ERASURE_JOURNAL, else DIR.erasures)");
  cmd->add_option("--audit-anchor", a->vault.anchor,
                  "audit anchor to create (default: $COFFRE_AUDIT_ANCHOR, else DIR.audit-anchor)");
  cmd->add_option("--tls-cert", a->tls_cert, "PEM certificate for serve (default: self-signed)");
  cmd->add_option("--tls-key", a->tls_key, "PEM private key of --tls-cert");
  auto* months = cmd->add_option_function<std::string>(
      "--card-evidence-months", [a](const std::string& v) { a->card_evidence_months = v; },
      "months a card's evidence (number hash, last 4, expiry) is kept after its expiry month, "
      "1 to 120 (default 13)");
  months->type_name("N");
  cmd->callback([&ctx, a] {
    Run(ctx, [&]() -> Status {
      const std::string dir = TrimSlash(a->vault.dir);
      std::string key = ResolveKeyFile(dir, a->vault.key_file);
      const std::string token = ResolveKeyPkcs11(a->vault.key_pkcs11, a->vault.key_file);
      std::string journal = ResolveJournal(dir, a->vault.journal);
      const bool node = !a->store.empty();
      if (node) COFFRE_TRY(CheckClusterUrl(a->store));
      std::string anchor = ResolveAnchor(dir, a->vault.anchor, node);
      std::error_code ec;
      if (std::filesystem::exists(anchor, ec)) {
        return Fail(ErrorCode::kAlreadyExists, "audit anchor " + anchor +
                                                   " already exists (another vault's?); choose "
                                                   "another with --audit-anchor");
      }
      vault::InitOptions o;
      o.dir = dir;
      o.schema_path = a->schema;
      o.key_file = key;
      o.erasure_journal = journal;
      o.key_pkcs11 = token;
      if (node) o.store = ClusterStoreOpener(a->store);
      COFFRE_TRY(PrepareInit(*a, o));
      COFFRE_ASSIGN_OR_RETURN(auto r, vault::Vault::Init(o));
      for (auto& [name, value] : o.secrets) std::fill(value.begin(), value.end(), '\0');
      std::string node_id;
      if (node) {
        // DIR, created by Init, holds no data: this node's cluster.toml
        // makes every later command open the database as this node.
        node_id = cluster::NewNodeId();
        if (auto s = cluster::WriteNodeConfig(dir, {.store_url = a->store, .node_id = node_id});
            !s) {
          return Fail(s.error().code, s.error().message +
                                          "; the vault is in the database: prepare a node for "
                                          "it with coffre join");
        }
      }
      // The first audit entry creates the anchor outside DIR.
      {
        COFFRE_ASSIGN_OR_RETURN(auto local, Local::Open(a->vault));
        COFFRE_TRY(local->Audit("vault.init", {}, {}, {}));
      }
      std::string cert_path = dir + "/tls/cert.pem";
      std::filesystem::create_directories(dir + "/tls", ec);
      for (const auto& [name, value] : o.config) {
        if (name != crypto::kTlsCertConfig) continue;
        std::ofstream out(cert_path, std::ios::binary | std::ios::trunc);
        out << value;
        if (!out) return Fail(ErrorCode::kIoError, "cannot write " + cert_path);
      }
      boost::json::object out{{"vault", dir}};
      if (node) {
        std::cerr << "coffre: vault created in the database; " << dir
                  << " holds this node's local state (cluster.toml, TLS certificate, audit "
                     "anchor). Add nodes with coffre join on other machines.\n";
        out["store"] = a->store;
        out["node_id"] = node_id;
      } else {
        std::cerr << "coffre: vault created in " << dir << "\n";
      }
      if (token.empty()) {
        std::cerr << "coffre: master key written to " << key
                  << " (mode 0600). Keep it off the data disk and out of the data directory's"
                     " backups: anyone holding both can read the vault, and without it nobody"
                     " can.\n";
        out["key_file"] = key;
      } else {
        auto uri = crypto::ParsePkcs11Uri(token);
        const std::string name = uri ? uri->Identity() : token;
        std::cerr << "coffre: the master key is " << name
                  << " in the PKCS#11 token; no key file was written. Every command on this"
                     " vault needs --key-pkcs11 (or COFFRE_KEY_PKCS11). Back the token up with"
                     " its vendor's tools: without that key nobody can read the vault.\n";
        out["key_pkcs11"] = name;
      }
      std::cerr << "coffre: TLS certificate for clients: " << cert_path << "\n";
      out["erasure_journal"] = journal;
      out["audit_anchor"] = anchor;
      out["tls_cert"] = cert_path;
      out["vault_id"] = ToHex(r.vault_id);
      PrintJson(out);
      return Ok();
    });
  });
}

// What `put` and `find` read a personal value from. A value in argv is seen
// by every local user (ps, /proc/PID/cmdline) and kept by the shell's
// history, so the argv forms still work but warn (ADR 0022).
constexpr size_t kMaxRecordBytes = 1u << 20;  // as the HTTPS API's body limit
constexpr size_t kMaxValueBytes = 64u << 10;
// The most refs `find` prints (record.search's default and bound, as POST
// /v1/collections/C/search).
constexpr int64_t kMaxFindResults = 100;

Result<std::string> ReadBounded(std::istream& in, size_t limit, std::string_view what) {
  std::string text;
  char buf[8192];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > limit) {
      return Fail(ErrorCode::kInvalidArgument,
                  std::string(what) + " is larger than " + std::to_string(limit) + " bytes");
    }
  }
  if (in.bad()) return Fail(ErrorCode::kIoError, "cannot read " + std::string(what));
  return text;
}

void WarnValueInArgv(std::string_view instead) {
  std::cerr << "coffre: warning: a personal value was given on the command line, where other local "
               "users can read it (ps, /proc) and the shell history keeps it; "
            << instead << "\n";
}

// The record of `put`: '-' reads standard input, '@FILE' reads FILE, any
// other argument is the JSON itself (warned).
Result<std::string> RecordText(const std::string& arg) {
  if (arg == "-") {
    if (::isatty(STDIN_FILENO) == 1) std::cerr << "coffre: type the record, then Ctrl-D\n";
    return ReadBounded(std::cin, kMaxRecordBytes, "the record on standard input");
  }
  if (arg.starts_with('@')) {
    const std::string path = arg.substr(1);
    std::ifstream in(path, std::ios::binary);
    if (path.empty() || !in)
      return Fail(ErrorCode::kNotFound, "cannot read the record file " + path);
    return ReadBounded(in, kMaxRecordBytes, "the record file " + path);
  }
  WarnValueInArgv("pass the record on standard input ('-') or in a file ('@FILE') instead");
  return arg;
}

// The value of `find FIELD`: one line of standard input, its newline
// stripped (prompted for on a terminal).
Result<std::string> ValueFromStdin(const std::string& field) {
  if (::isatty(STDIN_FILENO) == 1) std::cerr << "coffre: value of " << field << ": " << std::flush;
  COFFRE_ASSIGN_OR_RETURN(std::string value,
                          ReadBounded(std::cin, kMaxValueBytes, "the value on standard input"));
  if (value.empty()) return Fail(ErrorCode::kInvalidArgument, "no value on standard input");
  if (value.back() == '\n') value.pop_back();
  if (!value.empty() && value.back() == '\r') value.pop_back();
  if (value.find('\n') != std::string::npos) {
    return Fail(ErrorCode::kInvalidArgument,
                "standard input holds more than one line: give one value");
  }
  return value;
}

void RegisterPut(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("put", "validate, seal and store one record");
  Examples(cmd,
           {"coffre gen --count 1 | coffre put vault people -    # the record on standard input",
            "coffre put vault people @person.json",
            "coffre put vault notes @note.json --subject 3f2a9b0c6d1e4f5a8b7c2d3e4f5a6b7c"});
  auto a = std::make_shared<VaultArgs>();
  auto collection = std::make_shared<std::string>();
  auto json = std::make_shared<std::string>();
  auto subject = std::make_shared<std::string>();
  AddVaultArgs(cmd, *a);
  cmd->add_option("COLLECTION", *collection, "collection of the schema to store into, e.g. people")
      ->required();
  cmd->add_option(
         "JSON", *json,
         "the record as a JSON object: '-' reads it from standard input, '@FILE' from FILE "
         "(a record written here is visible to other local users and warned about)")
      ->required();
  cmd->add_option("--subject", *subject, "attach the record to this existing subject");
  cmd->callback([&ctx, a, collection, json, subject] {
    Run(ctx, [&]() -> Status {
      COFFRE_ASSIGN_OR_RETURN(*json, RecordText(*json));
      if (!subject->empty()) COFFRE_TRY(ParseId(*subject, "subject"));
      // The body of POST /v1/collections/C/records, the record as given.
      std::string body = "{\"fields\":" + *json;
      if (!subject->empty())
        body += ",\"subject\":" + boost::json::serialize(boost::json::value(*subject));
      body += "}";
      COFFRE_ASSIGN_OR_RETURN(
          boost::json::object ref,
          CallOperation(*a, "record.create", {.collection = *collection, .body = body}));
      PrintJson(ref);
      return Ok();
    });
  });
}

void RegisterGet(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("get", "read one record");
  Examples(cmd, {"coffre get vault people 9c41d0e2b7a35f68c1e04d2b9a7f3e15"});
  auto a = std::make_shared<VaultArgs>();
  auto collection = std::make_shared<std::string>();
  auto id = std::make_shared<std::string>();
  AddVaultArgs(cmd, *a);
  cmd->add_option("COLLECTION", *collection, "collection of the record, e.g. people")->required();
  cmd->add_option("ID", *id, "record id, 32 hex digits (as put, find and import print it)")
      ->required();
  cmd->callback([&ctx, a, collection, id] {
    Run(ctx, [&]() -> Status {
      COFFRE_TRY(ParseId(*id, "record id"));
      COFFRE_ASSIGN_OR_RETURN(
          boost::json::object rec,
          CallOperation(*a, "record.get", {.collection = *collection, .id = *id}));
      PrintJson(rec);
      return Ok();
    });
  });
}

void RegisterFind(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("find", "equality search on a searchable field");
  Examples(cmd, {"coffre find vault people email         # then type the address and Enter",
                 "coffre find vault people phone < phone.txt",
                 "printf '%s\\n' \"$NIR\" | coffre find vault people nir"});
  auto a = std::make_shared<VaultArgs>();
  auto collection = std::make_shared<std::string>();
  auto query = std::make_shared<std::string>();
  AddVaultArgs(cmd, *a);
  cmd->add_option("COLLECTION", *collection, "collection to search, e.g. people")->required();
  cmd->add_option(
         "FIELD", *query,
         "a searchable field; its value is read from standard input, one line (FIELD=VALUE "
         "also works but shows the value to other local users and is warned about)")
      ->required();
  cmd->callback([&ctx, a, collection, query] {
    Run(ctx, [&]() -> Status {
      auto eq = query->find('=');
      if (eq == 0 || query->empty()) {
        return Fail(ErrorCode::kInvalidArgument,
                    "the query must be FIELD (value on standard input)");
      }
      std::string field = query->substr(0, eq);
      std::string value;
      if (eq == std::string::npos) {
        COFFRE_ASSIGN_OR_RETURN(value, ValueFromStdin(field));
      } else {
        WarnValueInArgv("give FIELD alone and the value on standard input instead");
        value = query->substr(eq + 1);
      }
      // No "limit": the default is the most (a limit beside a value would
      // also look like a card and its security code to the screen).
      boost::json::object query{{"field", field}, {"value", value}};
      COFFRE_ASSIGN_OR_RETURN(
          boost::json::object out,
          CallOperation(*a, "record.search",
                        {.collection = *collection, .body = boost::json::serialize(query)}));
      const boost::json::value* refs = out.if_contains("results");
      if (refs == nullptr || !refs->is_array())
        return Fail(ErrorCode::kInternal, "the answer has no results");
      for (const auto& r : refs->get_array()) PrintJson(r);
      if (const boost::json::value* more = out.if_contains("truncated");
          more != nullptr && more->is_bool() && more->get_bool()) {
        std::cerr << "coffre: more than " << kMaxFindResults
                  << " records match; the first are shown\n";
      }
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
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    if (p.bytes_total == 0) {  // a pipe: no size, counts only
      std::fprintf(stderr, "\r%llu imported  %llu rejected  %.0f rows/s ",
                   static_cast<unsigned long long>(p.imported),
                   static_cast<unsigned long long>(p.rejected),
                   secs > 0 ? (p.imported + p.rejected) / secs : 0.0);
      return;
    }
    double frac = static_cast<double>(p.bytes_read) / p.bytes_total;
    int filled = static_cast<int>(frac * 30);
    std::fprintf(stderr, "\r[%-30s] %3d%%  %llu imported  %llu rejected  %.0f rows/s ",
                 std::string(static_cast<size_t>(filled), '#').c_str(),
                 static_cast<int>(frac * 100), static_cast<unsigned long long>(p.imported),
                 static_cast<unsigned long long>(p.rejected),
                 secs > 0 ? (p.imported + p.rejected) / secs : 0.0);
  }
  void Done() { std::fputc('\n', stderr); }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point last_{};
};

// What `coffre import` prints once done, both ways: the rejects on stderr,
// the summary on stdout; exit 2 when rows were read and none imported.
Status PrintImportSummary(const vault::ImportStats& stats) {
  if (stats.rejected > 0) {
    std::cerr << "coffre: " << stats.rejected << " rows rejected; reasons in " << stats.rejects_path
              << '\n';
  }
  std::printf("{\"imported\":%llu,\"rejected\":%llu,\"seconds\":%.3f,\"read\":%llu}\n",
              static_cast<unsigned long long>(stats.imported),
              static_cast<unsigned long long>(stats.rejected), stats.seconds,
              static_cast<unsigned long long>(stats.read));
  std::fflush(stdout);
  if (stats.read > 0 && stats.imported == 0) {
    return Fail(ErrorCode::kInvalidArgument, "nothing imported: all " + std::to_string(stats.read) +
                                                 " rows were rejected (reasons in " +
                                                 stats.rejects_path + ")");
  }
  return Ok();
}

// The files of an import through a running server, opened by this process
// (its uid, its working directory; mode 0600 as the importer makes them)
// and passed to the server as descriptors: the server opens no path.
class ImportFiles {
 public:
  ImportFiles() = default;
  ImportFiles(const ImportFiles&) = delete;
  ImportFiles& operator=(const ImportFiles&) = delete;
  ~ImportFiles() {
    for (int fd : {input_, rejects_, ids_out_}) {
      if (fd > STDERR_FILENO) ::close(fd);
    }
  }

  Status Open(const vault::ImportOptions& o) {
    input_path_ = o.path;
    struct stat in {};
    if (o.path == "-") {
      input_ = STDIN_FILENO;
    } else {
      if (::stat(o.path.c_str(), &in) != 0)
        return Fail(ErrorCode::kNotFound, "cannot open import file " + o.path);
      input_ = ::open(o.path.c_str(), O_RDONLY | O_CLOEXEC);
      if (input_ < 0) {
        return Fail(ErrorCode::kNotFound,
                    "cannot open import file " + o.path + ": " + std::strerror(errno));
      }
    }
    COFFRE_TRY(OpenRejects(o));
    if (!o.ids_out_path.empty()) {
      ids_out_path_ = o.ids_out_path;
      ids_out_ = ::open(o.ids_out_path.c_str(),
                        O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
      if (ids_out_ < 0) {
        return Fail(errno == EEXIST ? ErrorCode::kAlreadyExists : ErrorCode::kIoError,
                    "cannot create " + o.ids_out_path + ": " + std::strerror(errno));
      }
    }
    return Ok();
  }

  int input() const { return input_; }
  int rejects() const { return rejects_; }
  int ids_out() const { return ids_out_; }
  const std::string& rejects_path() const { return rejects_path_; }

  // After the server's answer: the rejects file exists iff rows were
  // rejected (or it held something before a failed import), and a failed
  // import leaves no empty ids file, as without a server.
  void Finish(bool ok, uint64_t rejected) {
    struct stat st {};
    if ((ok ? rejected == 0 : created_rejects_) && ::lstat(rejects_path_.c_str(), &st) == 0 &&
        S_ISREG(st.st_mode) && st.st_size == 0) {
      ::unlink(rejects_path_.c_str());
    }
    if (!ok && ids_out_ >= 0 && ::lstat(ids_out_path_.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        st.st_size == 0) {
      ::unlink(ids_out_path_.c_str());
    }
  }

 private:
  // --rejects, else the default (vault::DefaultRejectsPath): resolved here,
  // so that a default in the working directory is this process's.
  Status OpenRejects(const vault::ImportOptions& o) {
    const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW;
    if (!o.rejects_path.empty()) {
      rejects_path_ = o.rejects_path;
      struct stat in {
      }, out{};
      const bool exists = ::lstat(rejects_path_.c_str(), &out) == 0;
      if (exists && o.path != "-" && ::stat(o.path.c_str(), &in) == 0 &&
          ::stat(rejects_path_.c_str(), &out) == 0 && in.st_dev == out.st_dev &&
          in.st_ino == out.st_ino) {
        return Fail(ErrorCode::kInvalidArgument, "--rejects names the input file itself");
      }
      // Not truncated here: the importer empties it when it starts, as it
      // replaces a stale file (a failed request leaves it as it was).
      rejects_ = ::open(rejects_path_.c_str(), flags, 0600);
      if (rejects_ < 0)
        return Fail(ErrorCode::kIoError,
                    "cannot create " + rejects_path_ + ": " + std::strerror(errno));
      created_rejects_ = !exists;
      if (::fstat(rejects_, &out) == 0 && S_ISREG(out.st_mode))
        (void)::fchmod(rejects_, 0600);  // best effort, as the importer
      return Ok();
    }
    const std::string first = vault::DefaultRejectsPath(o.path, DefaultClock().NowUnixSeconds());
    if (first.rfind("./coffre-import-", 0) != 0) {
      vault::ImportOptions named = o;
      named.rejects_path = first;
      return OpenRejects(named);
    }
    // A fresh name in the working directory (-2, -3, ... if taken).
    const std::string base = first.substr(0, first.size() - std::strlen(".rejects"));
    for (int n = 1;; ++n) {
      std::string path = n == 1 ? first : base + "-" + std::to_string(n) + ".rejects";
      rejects_ = ::open(path.c_str(), flags | O_EXCL, 0600);
      if (rejects_ >= 0) {
        rejects_path_ = std::move(path);
        created_rejects_ = true;
        return Ok();
      }
      if (errno != EEXIST || n >= 100)
        return Fail(ErrorCode::kIoError, "cannot create " + path + ": " + std::strerror(errno));
    }
  }

  std::string input_path_, rejects_path_, ids_out_path_;
  int input_ = -1, rejects_ = -1, ids_out_ = -1;
  bool created_rejects_ = false;
};

// `coffre import` while `coffre serve` holds the directory: the operation
// records.import (app/admin_import_op.h) on this process's files, with the
// same output, exit status and audit entry as without a server.
Status ImportThroughServer(const VaultArgs& a, const vault::ImportOptions& o,
                           const std::string& format, bool report) {
  ImportFiles files;
  if (Status opened = files.Open(o); !opened) {
    files.Finish(false, 0);  // a rejects file made for nothing goes
    return opened;
  }
  boost::json::object request{{"op", "records.import"}, {"collection", o.collection},
                              {"path", o.path},         {"rejects_path", files.rejects_path()},
                              {"format", format},       {"report_commits", report}};
  if (!o.ids_out_path.empty()) request["ids_out_path"] = o.ids_out_path;
  if (!o.key_field.empty()) request["key_field"] = o.key_field;
  if (!o.subject_key.empty()) request["subject_key"] = o.subject_key;
  request["threads"] = o.threads;
  request["chunk_rows"] = o.chunk_rows;
  request["commit_rows"] = o.commit_rows;
  std::vector<int> fds{files.input(), files.rejects()};
  if (files.ids_out() >= 0) fds.push_back(files.ids_out());
  if (report) {
    std::fflush(stdout);  // commit reports are written to this stdout by the server
    fds.push_back(STDOUT_FILENO);
  }
  // No deadline: an import of a large file takes as long as it takes.
  auto answer = app::TryAdminSocket(app::AdminSocketPath(TrimSlash(a.dir)), request, fds, -1);
  if (answer && !*answer) {
    answer = Fail(ErrorCode::kFailedPrecondition,
                  "the server on " + a.dir + " stopped; run the import again");
  }
  if (!answer) {
    files.Finish(false, 0);
    return Fail(answer.error());
  }
  const boost::json::object& r = **answer;
  vault::ImportStats stats;
  auto count = [&](std::string_view key) -> uint64_t {
    const boost::json::value* v = r.if_contains(key);
    return v != nullptr && v->is_number() ? v->to_number<uint64_t>() : 0;
  };
  stats.imported = count("imported");
  stats.rejected = count("rejected");
  stats.read = count("read");
  if (const boost::json::value* v = r.if_contains("seconds"); v != nullptr && v->is_number())
    stats.seconds = v->to_number<double>();
  stats.rejects_path = files.rejects_path();
  files.Finish(true, stats.rejected);
  return PrintImportSummary(stats);
}

void RegisterImport(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("import", "bulk-import a CSV (with header) or NDJSON file");
  // Examples() with a word first on where the rows go (tests/cli_help_test.cc).
  cmd->footer([] {
    return std::string(
        "Every row read is counted as imported or rejected; exit 2 when rows were given\n"
        "and none was imported. Reasons of rejected rows (line and rule, never values) go\n"
        "to --rejects, else to FILE.rejects beside a regular file, else (standard input,\n"
        "pipe, device) to ./coffre-import-TIMESTAMP.rejects; the path is printed on stderr.\n"
        "Examples:\n"
        "  coffre import vault people people.csv\n"
        "  coffre import vault people people.ndjson --format ndjson --report-commits\n"
        "  coffre gen --count 1000 | coffre import vault people - --ids-out ids.ndjson\n"
        "  coffre import vault orders orders.ndjson --subject-key customers.email --key-field "
        "reference\n"
        "  coffre import newvault people people.export.ndjson --format export\n");
  });
  auto a = std::make_shared<VaultArgs>();
  auto o = std::make_shared<vault::ImportOptions>();
  auto report = std::make_shared<bool>(false);
  auto format = std::make_shared<std::string>("auto");
  AddVaultArgs(cmd, *a);
  cmd->add_option("COLLECTION", o->collection, "collection to import into, e.g. people")
      ->required();
  cmd->add_option("FILE", o->path, "the CSV or NDJSON file; - (or /dev/stdin) reads standard input")
      ->required();
  cmd->add_option("--rejects", o->rejects_path,
                  "where the reasons of rejected rows go (mode 0600; default: see below)");
  cmd->add_option("--ids-out", o->ids_out_path,
                  "a new file (mode 0600) with one line per imported row: "
                  "{\"line\":L,\"id\":ID,\"subject\":SUBJECT[,\"key\":KEY]}");
  cmd->add_option(
      "--key-field", o->key_field,
      "a column copied as \"key\" into --ids-out (the source's own id); stored only if a field");
  cmd->add_option(
      "--subject-key", o->subject_key,
      "[COLLECTION.]FIELD: attach each row to the existing person whose unique FIELD has the "
      "row's value (rows matching nobody are rejected) instead of creating a person");
  cmd->add_option(
         "--format", *format,
         "auto, csv, ndjson, or export (a decrypted `coffre bulk-export` file: keeps record and "
         "subject ids, recreates canaries; into a collection with no record)")
      ->check(CLI::IsMember({"auto", "csv", "ndjson", "export"}));
  cmd->add_option("--threads", o->threads, "worker threads (default: one per core)");
  cmd->add_option("--chunk-rows", o->chunk_rows, "rows per worker task");
  cmd->add_option("--commit-rows", o->commit_rows,
                  "rows per durable, atomic commit (rounded up to whole chunks)");
  cmd->add_flag("--report-commits", *report,
                "print {\"committed_through_line\":L,...} on stdout after each durable commit");
  cmd->callback([&ctx, a, o, report, format] {
    Run(ctx, [&]() -> Status {
      o->format = *format == "csv"      ? vault::ImportFormat::kCsv
                  : *format == "ndjson" ? vault::ImportFormat::kNdjson
                  : *format == "export" ? vault::ImportFormat::kExport
                                        : vault::ImportFormat::kAuto;
      // A server holds the directory: the import runs there, on the files
      // this process opens (ADR 0024, point 6).
      if (app::CallAdminSocket(app::AdminSocketPath(TrimSlash(a->dir)), {{"op", "ping"}})) {
        return ImportThroughServer(*a, *o, *format, *report);
      }
      COFFRE_ASSIGN_OR_RETURN(auto local, Local::Open(*a));
      vault::Vault* v = &local->vault();
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
      o->on_canaries = [v](const std::vector<std::string>& subjects) {
        return guard::RegisterCanaries(*v, subjects);
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
      // One entry for the whole import (ids of imported rows are not listed).
      COFFRE_TRY(
          local->Audit("import", o->collection, {}, {}, {}, app::ImportAuditReason(*o, *stats)));
      return PrintImportSummary(*stats);
    });
  });
}

// A command of the form `coffre NAME DIR SUBJECT`: runs the operation `op`
// on the subject and prints `shape` of its answer.
using SubjectShape =
    std::function<boost::json::object(boost::json::object answer, const std::string& shown)>;

void RegisterSubjectCommand(CLI::App& app, Context& ctx, const std::string& name,
                            const std::string& help, const char* op, SubjectShape shape) {
  auto* cmd = app.add_subcommand(name, help);
  Examples(cmd, {"coffre " + name + " vault 3f2a9b0c6d1e4f5a8b7c2d3e4f5a6b7c"});
  auto a = std::make_shared<VaultArgs>();
  auto subject = std::make_shared<std::string>();
  AddVaultArgs(cmd, *a);
  cmd->add_option("SUBJECT", *subject, "the person's subject id, 32 hex digits (as put prints it)")
      ->required();
  cmd->callback([&ctx, a, subject, op, shape] {
    Run(ctx, [&]() -> Status {
      COFFRE_TRY(ParseId(*subject, "subject"));
      COFFRE_ASSIGN_OR_RETURN(boost::json::object out, CallOperation(*a, op, {.id = *subject}));
      PrintJson(shape(std::move(out), *subject));
      return Ok();
    });
  });
}

void RegisterExport(CLI::App& app, Context& ctx) {
  // GET /v1/subjects/S, printed as the CLI always has: each record with its
  // subject and collection (who saw the data is in `coffre audit list`).
  RegisterSubjectCommand(
      app, ctx, "export-subject", "print all of a person's records as JSON", "subject.export",
      [](boost::json::object answer, const std::string& shown) {
        boost::json::array records;
        if (auto* all = answer.if_contains("records"); all != nullptr && all->is_array()) {
          for (boost::json::value& r : all->get_array()) {
            if (!r.is_object()) continue;
            boost::json::object& o = r.get_object();
            boost::json::object out{{"id", o["id"]}, {"subject", shown}};
            for (auto& kv : o) {
              if (kv.key() != "id") out[kv.key()] = std::move(kv.value());
            }
            records.push_back(std::move(out));
          }
        }
        return boost::json::object{{"subject", shown}, {"records", std::move(records)}};
      });
}

void RegisterErase(CLI::App& app, Context& ctx) {
  RegisterSubjectCommand(app, ctx, "erase-subject",
                         "crypto-shred a person: keys, records, index entries", "subject.erase",
                         [](boost::json::object answer, const std::string& shown) {
                           answer["subject"] = shown;
                           return answer;
                         });
}

void RegisterGen(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("gen", "write synthetic French people as NDJSON to stdout");
  Examples(cmd, {"coffre gen --count 1000 --seed 7 > people.ndjson"});
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
  Examples(
      keys,
      {"coffre keys rotate vault",
       "coffre keys split vault --threshold 2 --recipient PUB1 --recipient PUB2 --out-dir shares"});
  auto* cmd =
      keys->add_subcommand("rotate", "new master key: rewrap the keyring, records untouched");
  Examples(cmd, {"coffre keys rotate vault    # vault.key replaced, the old one kept as "
                 "vault.key.old-<UTC time>",
                 "coffre keys rotate vault --new-key-file vault.key.2027",
                 "coffre keys rotate vault --key-file /etc/coffre/old.key --new-key-file "
                 "/etc/coffre/new.key",
                 "coffre keys rotate vault --key-pkcs11 \"$OLD_URI\" --new-key-pkcs11 "
                 "'pkcs11:token=coffre;object=people-2027?module-path=/usr/lib/softhsm/"
                 "libsofthsm2.so&pin-source=file:/etc/coffre/pin'    # or from a key file"});
  auto a = std::make_shared<VaultArgs>();
  auto next = std::make_shared<std::string>();
  auto next_token = std::make_shared<std::string>();
  AddVaultArgs(cmd, *a);
  auto* next_file = cmd->add_option(
      "--new-key-file", *next,
      "key file to create for the new master key; default: the key file in use is replaced"
      " in place and the old one kept as KEY.old-<UTC time>");
  cmd->add_option("--new-key-pkcs11", *next_token,
                  "the new master key in a PKCS#11 token (RFC 7512 URI, created when absent),"
                  " from a token key or from a key file (then kept as KEY.old-<UTC time>)")
      ->type_name("URI")
      ->excludes(next_file);
  // A vault whose key is split rotates into a new set of shares.
  auto shares = std::make_shared<ShareArgs>();
  AddShareOptions(cmd, *shares);
  cmd->callback([&ctx, a, next, next_token, shares] {
    Run(ctx, [&]() -> Status {
      if (!shares->recipients.empty() || !shares->out_dir.empty() || shares->threshold != 0)
        return RotateToShares(*a, *shares);
      boost::json::object req{{"op", "keys.rotate"}};  // a local operation (app/ops_admin.cc)
      // Absolute: a running server does not share this process's directory.
      if (!next->empty())
        req["new_key_file"] = std::filesystem::absolute(*next).lexically_normal().string();
      if (!next_token->empty()) req["new_key_pkcs11"] = *next_token;
      COFFRE_ASSIGN_OR_RETURN(boost::json::object out, Manage(*a, req));
      const boost::json::value* file = out.if_contains("key_file");
      const std::string key_file = file != nullptr && file->is_string()
                                       ? std::string(file->get_string())
                                       : std::string(out.at("key_source").as_string());
      const boost::json::value* old = out.if_contains("retired_key_file");
      const std::string retired =
          old != nullptr && old->is_string() ? std::string(old->get_string()) : "";
      std::cerr << "coffre: the vault now opens only with the new key "
                << (file != nullptr ? "in " : "") << key_file;
      if (!retired.empty()) std::cerr << "; the old key is kept in " << retired;
      std::cerr << ". Rotation replaces the master key, not the sub-keys it protects: it retires"
                   " an old key file, but after a key file AND a copy of the data directory have"
                   " leaked, the leaked copy stays readable. Destroy the old key file once backups"
                   " made with it have expired.\n";
      PrintJson(out);
      return Ok();
    });
  });
  RegisterKeyCustody(app, keys, ctx, crypto::kTlsKeySecret);
}

}  // namespace

void RegisterCommands(CLI::App& app, Context& ctx) {
  RegisterInit(app, ctx);
  RegisterNodeCommands(app, ctx);
  RegisterPut(app, ctx);
  RegisterGet(app, ctx);
  RegisterFind(app, ctx);
  RegisterImport(app, ctx);
  RegisterExport(app, ctx);
  RegisterErase(app, ctx);
  RegisterGen(app, ctx);
  RegisterKeys(app, ctx);
  RegisterServerCommands(app, ctx);
  RegisterBreachCommands(app, ctx);
  RegisterTlsCommands(app, ctx);
  RegisterBackupCommands(app, ctx);
}

}  // namespace coffre::cli
