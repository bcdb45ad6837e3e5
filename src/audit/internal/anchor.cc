#include "audit/internal/anchor.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace coffre::audit::internal {
namespace {

Error IoError(const std::string& what, const std::string& path) {
  return Error{ErrorCode::kIoError, what + " audit anchor " + path + ": " + std::strerror(errno)};
}

Status WriteAllAndSync(int fd, std::string_view text, const std::string& path) {
  while (!text.empty()) {
    ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Fail(IoError("cannot write", path));
    text.remove_prefix(static_cast<size_t>(n));
  }
  if (::fsync(fd) != 0) return Fail(IoError("cannot sync", path));
  return Ok();
}

// Reads one line (without its '\n'); false at end of file. `complete` says
// whether the line ended with '\n' (an unterminated last line is torn).
bool ReadLine(std::FILE* f, std::string& line, bool& complete) {
  line.clear();
  complete = false;
  int c;
  while ((c = std::fgetc(f)) != EOF) {
    if (c == '\n') {
      complete = true;
      return true;
    }
    line.push_back(static_cast<char>(c));
    if (line.size() > 4096) {  // no valid line is this long; skip the rest
      while ((c = std::fgetc(f)) != EOF && c != '\n') {
      }
      complete = false;
      return c != EOF || !line.empty();
    }
  }
  return !line.empty();
}

}  // namespace

Status CreateAnchor(const std::string& path, std::string_view public_key) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) {
      return Fail(ErrorCode::kAlreadyExists, "audit anchor " + path + " already exists");
    }
    return Fail(IoError("cannot create", path));
  }
  Status s = WriteAllAndSync(fd, AnchorHeader(public_key), path);
  ::close(fd);
  return s;
}

Status AppendAnchor(const std::string& path, const Checkpoint& c) {
  int fd = ::open(path.c_str(), O_RDWR | O_APPEND | O_CLOEXEC);
  if (fd < 0) return Fail(IoError("cannot open", path));
  std::string line;
  // After a torn write the file does not end with '\n': start a fresh line
  // so the torn bytes stay a malformed line of their own.
  off_t size = ::lseek(fd, 0, SEEK_END);
  char last = '\n';
  if (size > 0 && ::pread(fd, &last, 1, size - 1) == 1 && last != '\n') line += '\n';
  line += AnchorLine(c);
  Status s = WriteAllAndSync(fd, line, path);
  ::close(fd);
  return s;
}

Result<std::string> ReadAnchorPublicKey(const std::string& path) {
  COFFRE_ASSIGN_OR_RETURN(auto reader, AnchorReader::Open(path));
  return reader->public_key();
}

Result<std::optional<Checkpoint>> ReadLastAnchorCheckpoint(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Fail(IoError("cannot open", path));
  off_t size = ::lseek(fd, 0, SEEK_END);
  constexpr off_t kTail = 16 * 1024;  // many lines of ~250 bytes
  off_t start = size > kTail ? size - kTail : 0;
  std::string tail(static_cast<size_t>(size - start), '\0');
  ssize_t n = ::pread(fd, tail.data(), tail.size(), start);
  ::close(fd);
  if (n != static_cast<ssize_t>(tail.size())) return Fail(IoError("cannot read", path));
  // Only newline-terminated lines count; the part after the last '\n' is torn.
  size_t end = tail.rfind('\n');
  while (end != std::string::npos && end > 0) {
    size_t begin = tail.rfind('\n', end - 1);
    // The first partial line of the window (when start > 0) is cut: stop.
    if (begin == std::string::npos && start > 0) break;
    size_t from = begin == std::string::npos ? 0 : begin + 1;
    auto c = ParseAnchorLine(std::string_view(tail).substr(from, end - from));
    if (c) return std::optional<Checkpoint>(std::move(*c));
    if (begin == std::string::npos) break;
    end = begin;
  }
  return std::optional<Checkpoint>();
}

Result<std::unique_ptr<AnchorReader>> AnchorReader::Open(const std::string& path) {
  std::unique_ptr<AnchorReader> r(new AnchorReader());
  r->file_ = std::fopen(path.c_str(), "rbe");
  if (r->file_ == nullptr) {
    if (errno == ENOENT) return Fail(ErrorCode::kNotFound, "no audit anchor at " + path);
    return Fail(IoError("cannot open", path));
  }
  std::string line;
  bool complete = false;
  if (!ReadLine(r->file_, line, complete) || !complete) {
    return Fail(ErrorCode::kDataLoss, "file " + path + " is not a coffre audit anchor");
  }
  auto key = ParseAnchorHeader(line);
  if (!key) return Fail(ErrorCode::kDataLoss, "file " + path + " is not a coffre audit anchor");
  r->public_key_ = std::move(*key);
  return r;
}

AnchorReader::~AnchorReader() {
  if (file_ != nullptr) std::fclose(file_);
}

std::optional<Checkpoint> AnchorReader::Next() {
  std::string line;
  bool complete = false;
  while (ReadLine(file_, line, complete)) {
    if (!complete) continue;  // torn, never acknowledged
    if (auto c = ParseAnchorLine(line)) return c;
  }
  return std::nullopt;
}

}  // namespace coffre::audit::internal
