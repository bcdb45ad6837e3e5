#include "vault/import_out_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace coffre::vault {

Status ImportOutFile::Open(const std::string& path, bool exclusive) {
  int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (exclusive ? O_EXCL : O_TRUNC);
  fd_ = ::open(path.c_str(), flags, 0600);
  if (fd_ < 0) {
    return Fail(errno == EEXIST ? ErrorCode::kAlreadyExists : ErrorCode::kIoError,
                "cannot create " + path + ": " + std::strerror(errno));
  }
  struct stat st {};
  // A regular file that existed keeps no wider mode than a new one.
  if (::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode)) ::fchmod(fd_, 0600);
  path_ = path;
  return Ok();
}

Status ImportOutFile::Adopt(int fd, const std::string& name) {
  fd_ = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (fd_ < 0)
    return Fail(ErrorCode::kIoError,
                "cannot use the descriptor of " + name + ": " + std::strerror(errno));
  path_ = name;
  return Ok();
}

Status ImportOutFile::Write(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      return Fail(ErrorCode::kIoError, "cannot write " + path_ + ": " + std::strerror(errno));
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return Ok();
}

void ImportOutFile::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

}  // namespace coffre::vault
