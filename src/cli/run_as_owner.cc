#include "cli/run_as_owner.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

namespace coffre::cli {
namespace {

Error SwitchFailed(const std::string& step, uid_t uid) {
  return Error{ErrorCode::kPermissionDenied, "cannot run as the vault's owner (uid " +
                                                 std::to_string(uid) + "): " + step + ": " +
                                                 std::strerror(errno)};
}

}  // namespace

Result<OwnerSwitch> RunAsVaultOwner(const std::string& dir) {
  if (::geteuid() != 0 || dir.empty()) return OwnerSwitch{};
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    // Not there yet (init): the directory it will be made in decides. Any
    // other failure is the command's to report, as the user it runs as.
    if (errno != ENOENT) return OwnerSwitch{};
    std::filesystem::path parent = std::filesystem::path(dir).lexically_normal().parent_path();
    if (parent.empty()) parent = ".";
    if (::stat(parent.c_str(), &st) != 0) return OwnerSwitch{};
  }
  if (st.st_uid == 0) return OwnerSwitch{};
  const uid_t uid = st.st_uid;
  gid_t gid = st.st_gid;

  passwd pw{};
  passwd* found = nullptr;
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(size > 0 ? static_cast<size_t>(size) : 16384);
  int rc = ::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found);
  if (rc != 0) {
    errno = rc;
    return Fail(SwitchFailed("getpwuid_r", uid));
  }
  if (found != nullptr) {
    gid = pw.pw_gid;
    if (::initgroups(pw.pw_name, gid) != 0) return Fail(SwitchFailed("initgroups", uid));
  } else if (::setgroups(0, nullptr) != 0) {
    return Fail(SwitchFailed("setgroups", uid));
  }
  // Group first: once the uid is not root, the group can no longer change.
  if (::setgid(gid) != 0) return Fail(SwitchFailed("setgid", uid));
  if (::setuid(uid) != 0) return Fail(SwitchFailed("setuid", uid));
  // For good: real, effective and saved ids are the owner's, and root cannot
  // be regained.
  if (::setuid(0) == 0 || ::seteuid(0) == 0) {
    errno = EPERM;
    return Fail(SwitchFailed("root could be regained", uid));
  }
  uid_t ruid = 0, euid = 0, suid = 0;
  gid_t rgid = 0, egid = 0, sgid = 0;
  if (::getresuid(&ruid, &euid, &suid) != 0 || ::getresgid(&rgid, &egid, &sgid) != 0 ||
      ruid != uid || euid != uid || suid != uid || rgid != gid || egid != gid || sgid != gid) {
    errno = EPERM;
    return Fail(SwitchFailed("the ids did not all change", uid));
  }
  return OwnerSwitch{.switched = true, .uid = uid, .gid = gid};
}

}  // namespace coffre::cli
