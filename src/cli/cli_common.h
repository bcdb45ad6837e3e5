// Helpers shared by the CLI's commands: where the key file, journal and
// audit anchor live, opening the vault, printing JSON, exit codes.
//
// Exit codes: 0 ok, 1 other failure, 2 invalid input, 3 not found, 4 already
// exists, 5 permission denied or wrong key, 6 integrity failure.
#pragma once

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <cstdlib>
#include <functional>
#include <initializer_list>
#include <iostream>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "app/runtime.h"
#include "audit/entry.h"
#include "cli/commands.h"
#include "common/status.h"
#include "vault/vault.h"

namespace coffre::cli {

inline int ExitCodeFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return 2;
    case ErrorCode::kNotFound:
      return 3;
    case ErrorCode::kAlreadyExists:
      return 4;
    case ErrorCode::kPermissionDenied:
      return 5;
    case ErrorCode::kDataLoss:
      return 6;
    default:
      return 1;
  }
}

inline int Report(const Error& e) {
  std::cerr << "coffre: " << e.message << '\n';
  return ExitCodeFor(e.code);
}

inline std::string TrimSlash(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

// Where the master key lives: --key-file, else COFFRE_KEY_FILE, else DIR.key
// beside (outside) the data directory.
inline std::string ResolveKeyFile(const std::string& dir, const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("COFFRE_KEY_FILE"); env && *env) return env;
  return TrimSlash(dir) + ".key";
}

// The master key in a PKCS#11 token (docs/key-hierarchy.md): --key-pkcs11,
// else (without --key-file) COFFRE_KEY_PKCS11; empty: a key file.
inline std::string ResolveKeyPkcs11(const std::string& flag, const std::string& key_file_flag) {
  if (!flag.empty()) return flag;
  if (!key_file_flag.empty()) return "";
  if (const char* env = std::getenv("COFFRE_KEY_PKCS11"); env && *env) return env;
  return "";
}

// The erasure journal lives beside the data directory, outside it (and so
// outside its backups), and does not move when the master key is rotated.
inline std::string ResolveJournal(const std::string& dir, const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("COFFRE_ERASURE_JOURNAL"); env && *env) return env;
  return TrimSlash(dir) + ".erasures";
}

struct VaultArgs {
  std::string dir;
  std::string key_file;
  std::string key_pkcs11;
  std::string journal;
  std::string anchor;
};

inline void AddVaultArgs(CLI::App* cmd, VaultArgs& a) {
  cmd->add_option("DIR", a.dir, "data directory of the vault")->required();
  auto* key_file = cmd->add_option("--key-file", a.key_file,
                                   "master key file (default: $COFFRE_KEY_FILE, else DIR.key)");
  cmd->add_option("--key-pkcs11", a.key_pkcs11,
                  "the master key in a PKCS#11 token, as an RFC 7512 URI with module-path and "
                  "pin-source (default: $COFFRE_KEY_PKCS11)")
      ->type_name("URI")
      ->excludes(key_file);
  cmd->add_option("--erasure-journal", a.journal,
                  "erasure journal (default: $COFFRE_ERASURE_JOURNAL, else DIR.erasures)");
  cmd->add_option("--audit-anchor", a.anchor,
                  "audit anchor file (default: $COFFRE_AUDIT_ANCHOR, else DIR.audit-anchor)");
}

// Ends `cmd`'s --help with an "Examples:" section, one command line per
// entry. Subcommands do not inherit it (CLI11 copies a string footer, not a
// callback): every command gives its own, and tests/cli_help_test.cc checks.
inline void Examples(CLI::App* cmd, std::initializer_list<std::string_view> lines) {
  std::string text = "Examples:\n";
  for (std::string_view line : lines) {
    text += "  ";
    text += line;
    text += '\n';
  }
  cmd->footer([text] { return text; });
}

inline void PrintJson(const boost::json::value& v) {
  std::cout << boost::json::serialize(v) << '\n';
}

// Runs `body`, mapping a failed Status to an exit code.
template <typename F>
void Run(Context& ctx, F&& body) {
  Status s = body();
  if (!s) ctx.exit_code = Report(s.error());
}

// The audit anchor (signed checkpoints) lives beside the data directory,
// outside it: --audit-anchor, else COFFRE_AUDIT_ANCHOR, else DIR.audit-anchor.
// A cluster node's default is DIR/audit-anchor (cluster::kAnchorFile): its
// directory holds no data to keep the anchor apart from.
inline std::string ResolveAnchor(const std::string& dir, const std::string& flag,
                                 bool cluster_node = false) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("COFFRE_AUDIT_ANCHOR"); env && *env) return env;
  if (cluster_node) return TrimSlash(dir) + "/audit-anchor";
  return TrimSlash(dir) + ".audit-anchor";
}

// A command's handle on a vault it opens itself: the runtime (vault, audit
// log) and the audit of what it does, as principal "local" with the
// caller's uid as source. Reads are audited before anything is printed.
class Local {
 public:
  static Result<std::unique_ptr<Local>> Open(const VaultArgs& a, size_t write_buffer = 64u << 20);
  vault::Vault& vault() { return rt_->vault(); }
  app::Runtime& runtime() { return *rt_; }
  [[nodiscard]] Status Audit(std::string action, std::string_view collection, std::string record_id,
                             std::vector<std::string> subjects,
                             std::vector<audit::FieldView> fields = {}, std::string reason = {});

 private:
  std::unique_ptr<app::Runtime> rt_;
};

// The runtime options of the vault at a.dir. A cluster node's directory
// (DIR/cluster.toml, cluster/node.h) names its store and node id: the
// store opener is then ClusterStoreOpener(url) and the audit anchor
// defaults to DIR/audit-anchor (the directory holds no data). A malformed
// cluster.toml gives an opener that fails with its error.
app::RuntimeOptions RuntimeFor(const VaultArgs& a);

// Opens the shared store of a cluster at `url` (the PostgreSQL store).
storage::StoreOpener ClusterStoreOpener(const std::string& url);
// Checks a store URL given on the command line or read from cluster.toml:
// kInvalidArgument naming the problem (a password in it, above all),
// never echoing the URL.
Status CheckClusterUrl(std::string_view url);
// On a cluster node: kFailedPrecondition naming `alternative`, for a
// command that works only on an embedded vault's files.
Status RefuseOnCluster(const VaultArgs& a, std::string_view command, std::string_view alternative);

#ifdef COFFRE_TEST_HOOKS
// Test builds: in-process tests open "cluster" stores with this instead of
// the PostgreSQL store (storage::MemoryStoreOpener(data, /*shared=*/true)).
// nullptr restores the default.
void SetClusterStoreOpenerForTesting(std::function<storage::StoreOpener(const std::string& url)> f);
#endif
// The audited source of a local caller: "cli:uid=N" (the server's admin
// socket writes the same, from the peer's credentials).
std::string LocalSource();

// Runs an operation for a local caller (app/admin.h): on the server running
// on a.dir, over its admin socket, else on the directory itself. The same
// result and the same audit entry either way (ADR 0024).
// `request`: app/admin.h ({"op": NAME, ...members of its JSON body}).
// `fds`: files this process opened for the operation (tls.set), passed as
// descriptors either way.
Result<boost::json::object> Manage(const VaultArgs& a, const boost::json::object& request,
                                   std::span<const int> fds = {});

// The same for any operation of the table, by its input (app/operation.h).
struct OperationInput {
  std::string collection;
  std::string id;
  std::string query;
  std::string body;  // JSON text
};
Result<boost::json::object> CallOperation(const VaultArgs& a, std::string_view op,
                                          const OperationInput& in);

// Every field of a record, shown in clear (the local CLI is the operator).
std::vector<audit::FieldView> AllClear(const vault::Record& r, std::string_view prefix = {});

}  // namespace coffre::cli
