// Online backup and restore of a vault (docs/backup.md, the format; ADR
// 0036, the decisions). A backup is a directory: the data directory's
// live files as of one point in time, copies of the erasure journal and the
// audit anchor, and a manifest listing every file with its size and
// SHA-256, the vault id, the audit chain's head at that point and the
// format versions, signed with the vault's audit signing key. The master
// key is never in it.
//
//   // The server (operation backup.create) or the CLI on a stopped vault,
//   // into an empty directory the caller created and opened:
//   auto made = WriteBackup(runtime, out_dirfd, entry);
//   // With no server on the new directory:
//   auto done = RestoreBackup({.backup = "nightly", .vault = options,
//                              .journal_from = "/var/lib/coffre/people.erasures",
//                              .source = "cli:uid=0"});
//
// Thread-safety: WriteBackup is safe while other threads use the runtime
// (the store keeps its files pinned while they are copied). RestoreBackup
// opens its own runtime; nothing else may use the new directory meanwhile.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "app/runtime.h"
#include "audit/entry.h"
#include "common/status.h"

namespace coffre::app {

// The manifest's `version` this coffre writes; it reads this one.
inline constexpr int kBackupFormatVersion = 1;

// Writes a backup of `rt`'s vault into the directory `out_dirfd` (empty,
// created by the caller; borrowed). Answers {backup_id, vault_id, created,
// files, bytes, audit_last_seq, seconds} and names the backup and the
// chain head in `entry`'s reason. On failure the directory may hold part of
// a backup: the caller removes it (it never renamed it into place).
Result<boost::json::object> WriteBackup(Runtime& rt, int out_dirfd, audit::Entry& entry);

// One file the manifest lists.
struct BackupFile {
  std::string path;  // relative, '/'-separated
  uint64_t size = 0;
  std::string sha256;  // 32 raw bytes
};

// What a checked manifest says (docs/backup.md, "manifest.json").
struct BackupManifest {
  std::string backup_id;  // hex
  std::string vault_id;   // raw
  std::string created;    // RFC 3339
  int64_t created_ms = 0;
  uint64_t audit_last_seq = 0;
  std::string audit_hash;  // raw, 32 bytes
  std::string public_key;  // raw, 32 bytes
  std::vector<BackupFile> files;
};

// Checks that `manifest_json` is signed by `public_key` as manifest.sig says,
// and parses it. kDataLoss for a bad signature or a manifest that does not
// parse; kFailedPrecondition for an unknown format version.
Result<BackupManifest> ParseSignedManifest(const std::string& manifest_json,
                                           const std::string& signature_line);

struct RestoreOptions {
  std::string backup;  // the backup directory
  // The vault to create: dir (must not exist, or be empty), key_file (the
  // master key: the restore needs it), erasure_journal, audit_anchor.
  RuntimeOptions vault;
  // When no journal exists at vault.erasure_journal: a journal file to copy
  // there (the newest one, the old vault's), or "backup" for the backup's
  // copy. Empty: refused (kNotFound) unless the journal exists.
  std::string journal_from;
  std::string source;  // the audited source, "cli:uid=N"
};

// Checks the backup (signature; every file's size and hash; no extra file)
// and restores it into options.vault.dir, replaying the erasure journal
// and re-anchoring the audit log as an audited step (docs/backup.md,
// "What restore checks"). Errors: kDataLoss naming the file or the check
// (exit 6), kPermissionDenied for a master key that does not open the
// backup (5), kAlreadyExists for a non-empty DIR (4), kNotFound for a
// missing backup or journal (3). On failure nothing is left behind.
// Answers {vault, backup_id, vault_id, audit_last_seq, journal,
// audit_anchor, previous_anchor?}.
Result<boost::json::object> RestoreBackup(const RestoreOptions& options);

}  // namespace coffre::app
