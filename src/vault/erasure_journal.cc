#include "vault/erasure_journal.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "common/bytes.h"
#include "crypto/crypto.h"
#include "vault/format_version.h"

namespace coffre::vault {
namespace {

constexpr std::string_view kHeader = "coffre-erasure-journal v1 ";
static_assert(kHeader[kHeader.size() - 2] == '0' + kErasureJournalFormatVersion,
              "the header's version and kErasureJournalFormatVersion differ");

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

Result<ErasureJournal> ErasureJournal::Create(const std::string& path, std::string_view vault_id) {
  ErasureJournal j;
  j.path_ = path;
  j.vault_hex_ = ToHex(vault_id);
  std::string header(kHeader);
  header += j.vault_hex_;
  header += '\n';
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) {
      return Fail(ErrorCode::kAlreadyExists,
                  "erasure journal " + path + " already exists; choose another with --erasure-journal");
    }
    return Fail(ErrorCode::kIoError, "cannot create erasure journal " + path + ": " + std::strerror(errno));
  }
  bool ok = ::write(fd, header.data(), header.size()) == static_cast<ssize_t>(header.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return Fail(ErrorCode::kIoError, "cannot write erasure journal " + path);
  return j;
}

Result<ErasureJournal> ErasureJournal::Open(const std::string& path, std::string_view vault_id) {
  ErasureJournal j;
  j.path_ = path;
  j.vault_hex_ = ToHex(vault_id);
  std::ifstream in(path);
  if (!in) {
    return Fail(ErrorCode::kFailedPrecondition,
                "erasure journal " + path +
                    " is missing; without it a restored backup could bring erased people back "
                    "(point --erasure-journal or COFFRE_ERASURE_JOURNAL at this vault's journal)");
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

std::string ErasureJournal::Chain(const std::vector<std::string>& subjects, size_t n) {
  std::string h(32, '\0');
  for (size_t i = 0; i < n && i < subjects.size(); ++i) h = crypto::Hash(h + subjects[i]);
  return h;
}

Status ErasureJournal::Append(std::string_view subject, int64_t unix_seconds) {
  std::string line;
  // After a torn write the file does not end with a newline: start a fresh
  // line, so the torn bytes stay a malformed line of their own.
  int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    char last = '\n';
    off_t size = ::lseek(fd, 0, SEEK_END);
    if (size > 0 && ::pread(fd, &last, 1, size - 1) == 1 && last != '\n') line += '\n';
    ::close(fd);
  }
  line += std::to_string(unix_seconds);
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
  while (std::getline(in, line)) {
    if (in.eof()) break;  // no final newline: a torn, unacknowledged append
    auto space = line.find(' ');
    if (space == std::string::npos || space == 0) continue;  // torn line
    auto subject = ParseId(std::string_view(line).substr(space + 1), "subject");
    if (!subject) continue;  // torn line
    subjects.push_back(std::move(*subject));
  }
  return subjects;
}

}  // namespace coffre::vault
