// Everything a front end needs to serve one vault, opened from its data
// directory: the vault, the principals directory, the audit log, the guard
// (quotas, canaries, alerts), the payment cards, end users' credentials and the policy in force.
// `coffre serve` holds one for its lifetime; CLI commands open one when no server runs. It lives in
// src/app so that the CLI does not need the server to open a vault.
//
//   auto rt = Runtime::Open({.dir = "demo", .key_file = "demo.key",
//                            .erasure_journal = "demo.erasures",
//                            .audit_anchor = "demo.audit-anchor"});
//   auto p = (*rt)->policy();                 // shared_ptr<const Policy>
//   COFFRE_TRY((*rt)->ReplacePolicy(text));   // validated, stored, swapped
//
// Thread-safety: every accessor is safe from many threads; the policy is
// swapped atomically (readers keep the one they took).
// Ownership: the Runtime owns the vault, directory and audit log.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "approval/approvals.h"
#include "audit/audit_log.h"
#include "auth/principals.h"
#include "cards/card_eraser.h"
#include "cards/cards.h"
#include "cluster/node.h"
#include "common/clock.h"
#include "common/status.h"
#include "credentials/credentials.h"
#include "crypto/crypto.h"
#include "guard/guard.h"
#include "policy/policy.h"
#include "retention/retention.h"
#include "vault/vault.h"

namespace coffre::app {

// The name under which the vault stores its policy text (Vault::PutConfig).
inline constexpr std::string_view kPolicyConfig = "policy";

struct RuntimeOptions {
  std::string dir;
  std::string key_file;
  // vault::OpenOptions::master_key: the key recombined from Shamir shares
  // by a sealed server, used instead of `key_file`. Borrowed for Open only.
  const crypto::SecretKey* master_key = nullptr;
  // vault::OpenOptions::key_pkcs11: the master key in a PKCS#11 token (its
  // RFC 7512 URI); key_file is then not used. `serve --key-pkcs11 URI`.
  std::string key_pkcs11;
  std::string erasure_journal;
  std::string audit_anchor;
  // nullptr: the system clock (in test builds, COFFRE_TEST_CLOCK_FILE, if
  // set, names a file holding an offset in seconds added to it, re-read on
  // each call: drills move the clock of the server and of CLI commands).
  Clock* clock = nullptr;
  crypto::PasswordHashParams password_params;
  // End users' passwords (src/credentials): production parameters and caps
  // by default; only tests change them.
  credentials::Options credential_options;
  size_t write_buffer_bytes = 64u << 20;
  // vault::OpenOptions::row_cache_bytes; Serve sets kServeRowCacheBytes.
  size_t row_cache_bytes = 0;
  // Start a new audit anchor for a log whose anchor is missing (`coffre
  // audit reanchor`, after restoring a backup). Off: such a log is refused.
  bool recreate_audit_anchor = false;
  // `serve --alert-webhook URL [--alert-webhook-ca PEM]`: alerts are also
  // POSTed there. Empty: stored only.
  std::string alert_webhook;
  std::string alert_webhook_ca;
  // vault::OpenOptions::store: empty opens RocksDB in `dir` (`coffre`);
  // tests may pass storage::MemoryStoreOpener.
  storage::StoreOpener store = nullptr;
  // A cluster node's id (cluster/node.h), with `store` opening the shared
  // store DIR/cluster.toml names (cli's RuntimeFor sets both). Empty: an
  // embedded vault, everything as before. Non-empty: Open first takes the
  // node's lock (DIR/node.lock), held while the Runtime lives, so that one
  // process at a time writes as this node.
  std::string node_id;
};

class Runtime {
 public:
  static Result<std::unique_ptr<Runtime>> Open(const RuntimeOptions& options);
  ~Runtime();

  vault::Vault& vault() { return *vault_; }
  auth::Directory& directory() { return *directory_; }
  audit::AuditLog& audit() { return *audit_; }
  guard::Guard& guard() { return *guard_; }
  cards::Cards& cards() { return *cards_; }
  credentials::Credentials& credentials() { return *credentials_; }
  retention::Retention& retention() { return *retention_; }
  approval::Approvals& approvals() { return *approvals_; }
  Clock& clock() { return *clock_; }
  const RuntimeOptions& options() const { return options_; }

  std::shared_ptr<const policy::Policy> policy() const;
  // Parses `text` against the vault's schema, checks that every principal's
  // role still exists, stores it and makes it current.
  Status ReplacePolicy(const std::string& text);

  // The card sweep at the clock's now (docs/cards.md, "Lifecycle"): cards
  // past their expiry month lose their number, evidences past their
  // retention go; one audit entry per card (principal `coffre`, action
  // card.expire or card.evidence_delete, the card id as record id, never
  // the number); then the cards space is compacted if anything changed.
  // `coffre serve` runs it at start and whenever the month changes;
  // `coffre cards sweep DIR` (and the retention sweeper) call it too.
  Result<cards::SweepStats> SweepCards();

  // The TLS certificate a serving process presents, loaded again from where
  // it serves it (the vault, or --tls-cert's files): set by `coffre serve`
  // (server/server.cc), called by `tls.set` once the vault holds a new one
  // (app/admin_tls_op.h). Returns the fingerprint now served. Without a
  // server, ReloadTls returns nullopt.
  using TlsReloader = std::function<Result<std::string>()>;
  void SetTlsReloader(TlsReloader reloader);
  Result<std::optional<std::string>> ReloadTls();

 private:
  Runtime() = default;

  RuntimeOptions options_;
  // A cluster node's lock, released last (after the store is closed).
  std::optional<cluster::NodeLock> node_lock_;
  Clock* clock_ = nullptr;
  std::unique_ptr<Clock> test_clock_;  // COFFRE_TEST_CLOCK_FILE (test builds)
  // What the modules add to a subject's erasure (vault/eraser.h), borrowed
  // by the vault: declared before it, so destroyed after it.
  cards::CardEraser card_eraser_;
  retention::HoldEraser hold_eraser_;
  std::unique_ptr<vault::Vault> vault_;
  std::unique_ptr<auth::Directory> directory_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::unique_ptr<guard::Guard> guard_;  // borrows the three above
  std::unique_ptr<cards::Cards> cards_;  // borrows the vault
  std::unique_ptr<credentials::Credentials> credentials_;
  std::unique_ptr<retention::Retention> retention_;  // borrows vault and audit
  std::unique_ptr<approval::Approvals> approvals_;
  mutable std::mutex policy_mu_;
  std::shared_ptr<const policy::Policy> policy_;
  std::mutex tls_mu_;
  TlsReloader tls_reloader_;
};

}  // namespace coffre::app
