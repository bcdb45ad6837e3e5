#include "crypto/key_file.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/bytes.h"

namespace coffre::crypto {
namespace {

constexpr std::string_view kHeader = "coffre-master-key v1 ";
constexpr std::string_view kBoxHeader = "coffre-box-secret v1 ";

Status FsyncParentDir(const std::string& path) {
  std::filesystem::path parent = std::filesystem::absolute(path).parent_path();
  int fd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return Fail(ErrorCode::kIoError, "cannot open directory of key file " + path);
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Fail(ErrorCode::kIoError, "cannot sync directory of key file " + path);
  return Ok();
}

Status WriteKeyFileAs(const std::string& path, const SecretKey& key, std::string_view header);
Result<SecretKey> LoadKeyFileAs(const std::string& path, std::string_view header,
                                std::string_view what);

}  // namespace

Status WriteKeyFile(const std::string& path, const SecretKey& key) {
  return WriteKeyFileAs(path, key, kHeader);
}

Result<SecretKey> LoadKeyFile(const std::string& path) {
  return LoadKeyFileAs(path, kHeader, "a coffre master key file");
}

Status WriteBoxSecretFile(const std::string& path, const SecretKey& key) {
  return WriteKeyFileAs(path, key, kBoxHeader);
}

Result<SecretKey> LoadBoxSecretFile(const std::string& path) {
  return LoadKeyFileAs(path, kBoxHeader, "a coffre recipient secret key file (coffre keygen)");
}

namespace {

Status WriteKeyFileAs(const std::string& path, const SecretKey& key, std::string_view header) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) {
      return Fail(ErrorCode::kAlreadyExists,
                  "key file " + path + " already exists; coffre never overwrites a key file");
    }
    return Fail(ErrorCode::kIoError,
                "cannot create key file " + path + ": " + std::strerror(errno));
  }
  std::string text(header);
  text += ToHex(key.view());
  text += '\n';
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            ::fsync(fd) == 0;
  sodium_memzero(text.data(), text.size());
  ::close(fd);
  if (!ok) {
    ::unlink(path.c_str());
    return Fail(ErrorCode::kIoError, "cannot write key file " + path);
  }
  return FsyncParentDir(path);
}

Result<SecretKey> LoadKeyFileAs(const std::string& path, std::string_view kHeader,
                                std::string_view what) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      return Fail(ErrorCode::kNotFound,
                  "key file " + path + " does not exist (use --key-file or COFFRE_KEY_FILE)");
    }
    return Fail(ErrorCode::kIoError, "cannot open key file " + path + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Fail(ErrorCode::kInvalidArgument, "key file " + path + " is not a regular file");
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    ::close(fd);
    return Fail(ErrorCode::kPermissionDenied,
                "key file " + path + " is accessible to other users; run chmod 600 on it");
  }
  char buf[160];
  ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  std::string_view text(buf, n > 0 ? static_cast<size_t>(n) : 0);
  auto bad = [&] {
    sodium_memzero(buf, sizeof buf);
    return Fail(ErrorCode::kInvalidArgument, "file " + path + " is not " + std::string(what));
  };
  if (text.size() != kHeader.size() + 64 + 1 || text.substr(0, kHeader.size()) != kHeader ||
      text.back() != '\n') {
    return bad();
  }
  auto raw = FromHex(text.substr(kHeader.size(), 64));
  if (!raw) return bad();
  auto key = SecretKey::FromBytes(*raw);
  sodium_memzero(raw->data(), raw->size());
  sodium_memzero(buf, sizeof buf);
  return key;
}

}  // namespace

Status CreateKeyFile(const std::string& path) { return WriteKeyFile(path, SecretKey::Random()); }

}  // namespace coffre::crypto
