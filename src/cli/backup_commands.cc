#include "cli/backup_commands.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include "app/admin.h"
#include "app/admin_channel.h"
#include "app/backup.h"
#include "cli/cli_common.h"

namespace coffre::cli {
namespace {

namespace fs = std::filesystem;

std::string ParentOf(const std::string& path) {
  fs::path p = fs::path(path).parent_path();
  return p.empty() ? std::string(".") : p.string();
}

// Removes a temporary backup directory unless it was renamed into place.
struct TmpDir {
  std::string path;
  bool kept = false;
  ~TmpDir() {
    if (kept || path.empty()) return;
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// `coffre backup DIR OUT`: OUT.tmp-XXXXXX is made here, by the caller, and
// reaches the server as a descriptor (the server writes nowhere else);
// once the backup is complete and synced it is renamed to OUT.
Status Backup(const VaultArgs& a, const std::string& out_arg) {
  COFFRE_TRY(RefuseOnCluster(a, "coffre backup",
                             "back the database up with pg_basebackup (or WAL archiving), and "
                             "keep every node's erasure journal apart from it (docs/cluster.md)"));
  const std::string dir = TrimSlash(a.dir);
  const std::string out = TrimSlash(out_arg);
  std::error_code ec;
  if (fs::exists(fs::symlink_status(out, ec))) {
    return Fail(ErrorCode::kAlreadyExists,
                out + " already exists: a backup never replaces anything; name a new directory");
  }
  const std::string parent = ParentOf(out);
  if (!fs::is_directory(parent, ec)) {
    return Fail(ErrorCode::kNotFound, "no directory " + parent + " to write the backup in");
  }
  TmpDir tmp{out + ".tmp-XXXXXX"};
  if (::mkdtemp(tmp.path.data()) == nullptr) {
    tmp.path.clear();
    return Fail(ErrorCode::kIoError,
                "cannot create a directory beside " + out + ": " + std::strerror(errno));
  }
  int fd = ::open(tmp.path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  // Root backing up a vault its service user serves: the directory (0700)
  // goes to the vault's owner, or the server could not create files in it.
  struct stat vault_dir {};
  if (fd >= 0 && ::geteuid() == 0 && ::stat(dir.c_str(), &vault_dir) == 0 &&
      vault_dir.st_uid != 0 && ::fchown(fd, vault_dir.st_uid, vault_dir.st_gid) != 0) {
    ::close(fd);
    return Fail(ErrorCode::kIoError,
                "cannot give " + tmp.path + " to the vault's owner: " + std::strerror(errno));
  }
  if (fd < 0)
    return Fail(ErrorCode::kIoError, "cannot open " + tmp.path + ": " + std::strerror(errno));
  std::unique_ptr<int, void (*)(int*)> closer(&fd, [](int* f) { ::close(*f); });
  const int fds[] = {fd};
  const boost::json::object request{{"op", "backup.create"}};
  // No deadline: a large vault takes as long as it takes to copy.
  COFFRE_ASSIGN_OR_RETURN(auto remote, app::TryAdminSocket(app::AdminSocketPath(dir), request, fds,
                                                           /*answer_timeout_ms=*/-1));
  boost::json::object answer;
  if (remote) {
    answer = std::move(*remote);
  } else {
    COFFRE_ASSIGN_OR_RETURN(auto rt, app::Runtime::Open(RuntimeFor(a)));
    app::Admin admin(*rt);
    COFFRE_ASSIGN_OR_RETURN(answer, admin.Execute(request, ::getuid(), fds));
  }
  if (::renameat2(AT_FDCWD, tmp.path.c_str(), AT_FDCWD, out.c_str(), RENAME_NOREPLACE) != 0) {
    if (errno == EEXIST) {
      return Fail(ErrorCode::kAlreadyExists, out + " appeared during the backup; not replaced");
    }
    return Fail(ErrorCode::kIoError,
                "cannot rename " + tmp.path + " to " + out + ": " + std::strerror(errno));
  }
  tmp.kept = true;
  int parent_fd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (parent_fd >= 0) {
    const int synced = ::fsync(parent_fd);
    ::close(parent_fd);
    if (synced != 0) return Fail(ErrorCode::kIoError, "cannot sync " + parent);
  }
  answer["backup"] = out;
  PrintJson(answer);
  return Ok();
}

}  // namespace

void RegisterBackupCommands(CLI::App& app, Context& ctx) {
  auto* backup = app.add_subcommand(
      "backup", "copy a vault, consistent and signed, while its server runs or not");
  backup->footer(
      "OUT must not exist; it is written as OUT.tmp-XXXXXX and renamed when complete.\n"
      "It holds the data directory, copies of the erasure journal and the audit anchor,\n"
      "and a manifest (every file's size and SHA-256, the audit chain's head) signed\n"
      "with the vault's audit key (docs/backup.md). The master key is never in it:\n"
      "keep the key file elsewhere. With the server running, the server makes the copy\n"
      "into the directory this command creates; without, this command opens the vault\n"
      "(it needs the key file to sign).\n"
      "Examples:\n"
      "  coffre backup vault /backups/vault-2026-12-07\n"
      "  coffre backup /var/lib/coffre/people /srv/backup/people-$(date -u +%Y%m%dT%H%M%SZ)\n");
  auto a = std::make_shared<VaultArgs>();
  auto out = std::make_shared<std::string>();
  AddVaultArgs(backup, *a);
  backup->add_option("OUT", *out, "the backup directory to create (must not exist)")->required();
  backup->callback([&ctx, a, out] { Run(ctx, [&]() -> Status { return Backup(*a, *out); }); });

  auto* restore =
      app.add_subcommand("restore", "check a backup and restore it into a new data directory");
  restore->footer(
      "Checks the manifest's signature and every file's size and SHA-256 (exit 6 naming\n"
      "the file otherwise), opens the copy with the master key (exit 5 for a wrong key),\n"
      "replays the erasure journal so that nobody erased after the backup comes back,\n"
      "and starts a new audit anchor with an audit entry naming the backup (the old\n"
      "anchor, if any, is kept as ANCHOR.replaced-TIME). DIR must not exist or be empty.\n"
      "The journal at DIR.erasures (or --erasure-journal) is kept when it exists; else\n"
      "--journal-from FILE copies the newest journal there, or --journal-from backup takes\n"
      "the backup's copy (people erased after the backup then come back).\n"
      "Examples:\n"
      "  coffre restore /backups/vault-2026-12-07 vault    # vault.key, vault.erasures kept\n"
      "  coffre restore /srv/backup/people-20261207 /var/lib/coffre/people2 \\\n"
      "      --key-file /etc/coffre/people.key --journal-from /var/lib/coffre/people.erasures\n");
  auto ra = std::make_shared<VaultArgs>();
  auto from = std::make_shared<std::string>();
  auto journal_from = std::make_shared<std::string>();
  restore->add_option("BACKUP", *from, "the backup directory (as coffre backup wrote it)")
      ->required();
  AddVaultArgs(restore, *ra);
  restore->add_option("--journal-from", *journal_from,
                      "when DIR's erasure journal does not exist: the newest journal to copy "
                      "there, or 'backup' for the backup's own (older) copy");
  restore->callback([&ctx, ra, from, journal_from] {
    Run(ctx, [&]() -> Status {
      app::RestoreOptions o;
      o.backup = TrimSlash(*from);
      o.vault = RuntimeFor(*ra);
      o.journal_from = *journal_from;
      o.source = LocalSource();
      COFFRE_ASSIGN_OR_RETURN(boost::json::object out, app::RestoreBackup(o));
      PrintJson(out);
      return Ok();
    });
  });
}

}  // namespace coffre::cli
