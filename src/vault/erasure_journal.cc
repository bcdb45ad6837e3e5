#include "vault/erasure_journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>

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

constexpr std::string_view kRecordWord = "record";
constexpr std::string_view kCardWord = "card";
constexpr std::string_view kCardNumberWord = "card-number";

bool IsCollectionName(std::string_view name) {
  if (name.empty() || name.size() > 63 || name[0] < 'a' || name[0] > 'z') return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

// The text of a line after its time; nullopt for a malformed (torn) one.
std::optional<JournalEntry> ParseEntry(std::string_view text) {
  auto space = text.find(' ');
  if (space == std::string_view::npos) {  // v1: a subject
    auto subject = ParseId(text, "subject");
    if (!subject) return std::nullopt;
    return JournalEntry::Subject(*subject);
  }
  std::string_view word = text.substr(0, space);
  std::string_view rest = text.substr(space + 1);
  if (word == kRecordWord) {
    auto gap = rest.find(' ');
    if (gap == std::string_view::npos || !IsCollectionName(rest.substr(0, gap)))
      return std::nullopt;
    auto id = ParseId(rest.substr(gap + 1), "record id");
    if (!id) return std::nullopt;
    return JournalEntry::Record(rest.substr(0, gap), *id);
  }
  if (word == kCardWord || word == kCardNumberWord) {
    auto id = ParseId(rest, "card id");
    if (!id) return std::nullopt;
    return word == kCardWord ? JournalEntry::Card(*id) : JournalEntry::CardNumber(*id);
  }
  return std::nullopt;
}

}  // namespace

std::string JournalEntry::ChainBytes() const {
  switch (kind) {
    case Kind::kSubject:
      return id;
    case Kind::kRecord: {
      std::string b = "r";
      AppendLengthPrefixed(b, collection);
      b += id;
      return b;
    }
    case Kind::kCard:
      return "c" + id;
    case Kind::kCardNumber:
      return "n" + id;
  }
  return id;
}

std::string JournalEntry::LineText() const {
  switch (kind) {
    case Kind::kSubject:
      return ToHex(id);
    case Kind::kRecord:
      return std::string(kRecordWord) + ' ' + collection + ' ' + ToHex(id);
    case Kind::kCard:
      return std::string(kCardWord) + ' ' + ToHex(id);
    case Kind::kCardNumber:
      return std::string(kCardNumberWord) + ' ' + ToHex(id);
  }
  return ToHex(id);
}

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

std::string ErasureJournal::Extend(const std::string& chain, const JournalEntry& entry) {
  return crypto::Hash(chain + entry.ChainBytes());
}

std::string ErasureJournal::Chain(const std::vector<JournalEntry>& entries, size_t n) {
  std::string h(32, '\0');
  for (size_t i = 0; i < n && i < entries.size(); ++i) h = Extend(h, entries[i]);
  return h;
}

Status ErasureJournal::Append(std::string_view subject, int64_t unix_seconds) {
  auto appended = Append(JournalEntry::Subject(subject), unix_seconds);
  if (!appended) return Fail(std::move(appended).error());
  return Ok();
}

Result<uint64_t> ErasureJournal::Append(const JournalEntry& entry, int64_t unix_seconds) {
  if (entry.id.size() != 16 ||
      (entry.kind == JournalEntry::Kind::kRecord && !IsCollectionName(entry.collection))) {
    return Fail(ErrorCode::kInvalidArgument, "malformed erasure journal entry");
  }
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
  line += entry.LineText();
  line += '\n';
  COFFRE_TRY(WriteAllSynced(path_, line, O_APPEND));
  return Size();
}

Result<uint64_t> ErasureJournal::Size() const {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) {
    return Fail(ErrorCode::kIoError,
                "cannot stat erasure journal " + path_ + ": " + std::strerror(errno));
  }
  return static_cast<uint64_t>(st.st_size);
}

Result<std::vector<JournalEntry>> ErasureJournal::ReadAll() const {
  std::ifstream in(path_);
  if (!in) return Fail(ErrorCode::kIoError, "cannot read erasure journal " + path_);
  std::string line;
  std::getline(in, line);  // header, checked by Open
  std::vector<JournalEntry> entries;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // no final newline: a torn, unacknowledged append
    auto space = line.find(' ');
    if (space == std::string::npos || space == 0) continue;  // torn line
    auto entry = ParseEntry(std::string_view(line).substr(space + 1));
    if (!entry) continue;  // torn line
    entries.push_back(std::move(*entry));
  }
  return entries;
}

}  // namespace coffre::vault
