#include "vault/erasure_journal.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "common/bytes.h"

namespace coffre::vault {
namespace {

constexpr std::string_view kHeader = "coffre-erasure-journal v1 ";

Status WriteAllSynced(const std::string& path, std::string_view text, int flags) {
  int fd = ::open(path.c_str(), flags | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Fail(ErrorCode::kIoError,
                "cannot open erasure journal " + path + ": " + std::strerror(errno));
  }
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return Fail(ErrorCode::kIoError, "cannot write erasure journal " + path);
  return Ok();
}

}  // namespace

Result<ErasureJournal> ErasureJournal::Open(const std::string& path, std::string_view vault_id) {
  ErasureJournal j;
  j.path_ = path;
  j.vault_hex_ = ToHex(vault_id);
  std::ifstream in(path);
  if (!in) {
    std::string header(kHeader);
    header += j.vault_hex_;
    header += '\n';
    COFFRE_TRY(WriteAllSynced(path, header, O_CREAT | O_EXCL));
    return j;
  }
  std::string first;
  std::getline(in, first);
  if (first.rfind(kHeader, 0) != 0) {
    return Fail(ErrorCode::kFailedPrecondition, "file " + path + " is not a coffre erasure journal");
  }
  if (first.substr(kHeader.size()) != j.vault_hex_) {
    return Fail(ErrorCode::kFailedPrecondition,
                "erasure journal " + path + " belongs to another vault");
  }
  return j;
}

Status ErasureJournal::Append(std::string_view subject, int64_t unix_seconds) {
  std::string line = std::to_string(unix_seconds);
  line += ' ';
  line += ToHex(subject);
  line += '\n';
  return WriteAllSynced(path_, line, O_APPEND);
}

Result<std::vector<std::string>> ErasureJournal::ReadAll() const {
  std::ifstream in(path_);
  if (!in) return Fail(ErrorCode::kIoError, "cannot read erasure journal " + path_);
  std::string line;
  std::getline(in, line);  // header, checked by Open
  std::vector<std::string> subjects;
  size_t line_no = 1;
  while (std::getline(in, line)) {
    ++line_no;
    auto space = line.find(' ');
    auto subject = space == std::string::npos ? Result<std::string>(Fail(ErrorCode::kDataLoss, ""))
                                              : ParseId(line.substr(space + 1), "subject");
    if (!subject) {
      // A torn last line (crash mid-append) was never acknowledged: ignore it.
      if (in.peek() == EOF) break;
      return Fail(ErrorCode::kDataLoss, "erasure journal " + path_ + " is corrupt at line " +
                                            std::to_string(line_no));
    }
    subjects.push_back(std::move(*subject));
  }
  return subjects;
}

}  // namespace coffre::vault
