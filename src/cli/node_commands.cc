#include "cli/node_commands.h"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include "cli/cli_common.h"
#include "cluster/node.h"
#include "common/bytes.h"
#include "crypto/tls_material.h"
#include "vault/erasure_journal.h"
#include "vault/vault.h"

namespace coffre::cli {
namespace {

namespace fs = std::filesystem;

struct JoinArgs {
  VaultArgs vault;
  std::string store;
};

// What join created, removed unless it succeeds: nothing half-made is left.
struct JoinUndo {
  std::string dir;
  std::string journal;
  bool dir_made = false;
  bool journal_made = false;
  bool done = false;
  ~JoinUndo() {
    if (done) return;
    std::error_code ec;
    if (journal_made) fs::remove(journal, ec);
    if (dir_made) fs::remove_all(dir, ec);
  }
};

Status Join(const JoinArgs& a) {
  const std::string dir = TrimSlash(a.vault.dir);
  COFFRE_TRY(CheckClusterUrl(a.store));
  const std::string key = ResolveKeyFile(dir, a.vault.key_file);
  const std::string token = ResolveKeyPkcs11(a.vault.key_pkcs11, a.vault.key_file);
  const std::string journal = ResolveJournal(dir, a.vault.journal);
  const std::string anchor = ResolveAnchor(dir, a.vault.anchor, /*cluster_node=*/true);
  std::error_code ec;
  if (fs::exists(journal, ec)) {
    return Fail(ErrorCode::kAlreadyExists, "erasure journal " + journal +
                                               " already exists (another node's?); choose "
                                               "another with --erasure-journal");
  }
  if (fs::exists(anchor, ec)) {
    return Fail(ErrorCode::kAlreadyExists,
                "audit anchor " + anchor + " already exists; choose another with --audit-anchor");
  }
  JoinUndo undo{.dir = dir, .journal = journal};
  undo.dir_made = !fs::exists(dir, ec);
  COFFRE_TRY(cluster::PrepareNodeDir(dir));
  undo.dir_made = true;  // empty before, so all of it is join's

  const storage::StoreOpener opener = ClusterStoreOpener(a.store);
  {
    // A database without a vault is not joined: init makes one.
    auto store = opener({.path = dir, .read_only = true});
    Result<bool> held = store ? vault::StoreHoldsVault(**store) : Result<bool>(Fail(store.error()));
    if (!held && held.error().code != ErrorCode::kNotFound) return Fail(held.error());
    if (!held || !*held) {
      return Fail(ErrorCode::kNotFound,
                  "the store holds no vault: create one with coffre init DIR --store URL "
                  "--schema FILE --key-file KEY, then join further nodes to it");
    }
  }
  // The key must open the vault (its key-check value): a wrong key exits 5
  // before this node exists.
  std::string vault_id;
  std::string cert;
  {
    COFFRE_ASSIGN_OR_RETURN(auto v, vault::Vault::Open({.dir = dir,
                                                        .key_file = key,
                                                        .key_pkcs11 = token,
                                                        .read_only = true,
                                                        .store = opener}));
    vault_id = v->vault_id();
    COFFRE_ASSIGN_OR_RETURN(auto pem, v->GetConfig(crypto::kTlsCertConfig));
    if (pem) cert = std::move(*pem);
  }
  COFFRE_TRY(vault::ErasureJournal::Create(journal, vault_id));
  undo.journal_made = true;
  const std::string node_id = cluster::NewNodeId();
  COFFRE_TRY(cluster::WriteNodeConfig(dir, {.store_url = a.store, .node_id = node_id}));
  {
    // The node's first audit entry starts its anchor.
    COFFRE_ASSIGN_OR_RETURN(auto local, Local::Open(a.vault));
    COFFRE_TRY(local->Audit("node.join", {}, {}, {}, {}, "node " + node_id));
  }
  boost::json::object out{{"vault", dir},     {"store", a.store},   {"node_id", node_id},
                          {"vault_id", ToHex(vault_id)}, {"erasure_journal", journal},
                          {"audit_anchor", anchor}};
  if (token.empty()) {
    out["key_file"] = key;
  } else {
    out["key_pkcs11"] = true;
  }
  if (!cert.empty()) {
    const std::string cert_path = dir + "/tls/cert.pem";
    fs::create_directories(dir + "/tls", ec);
    std::ofstream file(cert_path, std::ios::binary | std::ios::trunc);
    file << cert;
    if (!file) return Fail(ErrorCode::kIoError, "cannot write " + cert_path);
    out["tls_cert"] = cert_path;
  }
  undo.done = true;
  std::cerr << "coffre: " << dir << " is a node of vault " << ToHex(vault_id)
            << "; start it with coffre serve " << dir << "\n";
  PrintJson(out);
  return Ok();
}

}  // namespace

void RegisterNodeCommands(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand(
      "join", "prepare a further node for a vault in a PostgreSQL database (coffre init --store)");
  cmd->footer(
      "DIR is created (or must be empty) and holds only this node's local state:\n"
      "cluster.toml (the store URL and a new node id), the TLS certificate, the admin\n"
      "socket and the node's audit anchor. The key must open the vault (its key-check\n"
      "value): a wrong key exits 5 and leaves nothing behind. A database without a vault\n"
      "exits 3 (coffre init DIR --store URL makes one). The URL holds no password: it\n"
      "comes from a libpq passfile (PGPASSFILE), a service file or a client certificate.\n"
      "Examples:\n"
      "  coffre join /var/lib/coffre/node2 --store postgresql://coffre@db1:5432/coffre "
      "--key-file /etc/coffre/master.key\n"
      "  coffre join node2 --store "
      "'postgresql://coffre@db1:5432,db2:5432/coffre?target_session_attrs=read-write' "
      "--key-file node2.key\n");
  auto a = std::make_shared<JoinArgs>();
  AddVaultArgs(cmd, a->vault);
  cmd->add_option("--store", a->store,
                  "the vault's PostgreSQL database: a libpq URI without a password")
      ->type_name("URL")
      ->required();
  cmd->callback([&ctx, a] { Run(ctx, [&]() -> Status { return Join(*a); }); });
}

}  // namespace coffre::cli
