#include "vault/erasure_journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
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

bool IsCollectionName(std::string_view name) {
  if (name.empty() || name.size() > 63 || name[0] < 'a' || name[0] > 'z') return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

bool IsKindWord(std::string_view word) {
  if (word.empty() || word.size() > 31 || word == kRecordWord) return false;
  return std::all_of(word.begin(), word.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || c == '-'; });
}

bool IsKind(const JournalKind& k) { return IsKindWord(k.word) && k.tag != 0 && k.tag != 'r'; }

// The text of a line after its time: an entry, nullopt for a malformed
// (torn) line, or an error for a module's entry of a kind not in `kinds`.
Result<std::optional<JournalEntry>> ParseEntry(std::string_view text,
                                               const std::vector<JournalKind>& kinds) {
  auto space = text.find(' ');
  if (space == std::string_view::npos) {  // v1: a subject
    auto subject = ParseId(text, "subject");
    if (!subject) return std::optional<JournalEntry>();
    return std::optional<JournalEntry>(JournalEntry::Subject(*subject));
  }
  std::string_view word = text.substr(0, space);
  std::string_view rest = text.substr(space + 1);
  if (word == kRecordWord) {
    auto gap = rest.find(' ');
    if (gap == std::string_view::npos || !IsCollectionName(rest.substr(0, gap)))
      return std::optional<JournalEntry>();
    auto id = ParseId(rest.substr(gap + 1), "record id");
    if (!id) return std::optional<JournalEntry>();
    return std::optional<JournalEntry>(JournalEntry::Record(rest.substr(0, gap), *id));
  }
  if (!IsKindWord(word)) return std::optional<JournalEntry>();
  auto id = ParseId(rest, "id");
  if (!id) return std::optional<JournalEntry>();
  // A whole line (a torn one is a prefix of a line: its id is cut short).
  for (const JournalKind& k : kinds) {
    if (k.word == word) return std::optional<JournalEntry>(JournalEntry::Module(k, *id));
  }
  return Fail(ErrorCode::kFailedPrecondition, "the erasure journal holds deletions of kind '" +
                                                  std::string(word) +
                                                  "' that no module of this program replays; open "
                                                  "the vault with the coffre that wrote them");
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
    case Kind::kModule:
      return tag + id;
  }
  return id;
}

std::string JournalEntry::LineText() const {
  switch (kind) {
    case Kind::kSubject:
      return ToHex(id);
    case Kind::kRecord:
      return std::string(kRecordWord) + ' ' + collection + ' ' + ToHex(id);
    case Kind::kModule:
      return word + ' ' + ToHex(id);
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
      return Fail(
          ErrorCode::kAlreadyExists,
          "erasure journal " + path + " already exists; choose another with --erasure-journal");
    }
    return Fail(ErrorCode::kIoError,
                "cannot create erasure journal " + path + ": " + std::strerror(errno));
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
    return Fail(ErrorCode::kFailedPrecondition,
                "file " + path + " is not a coffre erasure journal");
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
      (entry.kind == JournalEntry::Kind::kRecord && !IsCollectionName(entry.collection)) ||
      (entry.kind == JournalEntry::Kind::kModule && !IsKind({entry.word, entry.tag}))) {
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

Result<std::vector<JournalEntry>> ErasureJournal::ReadAll(
    const std::vector<JournalKind>& kinds) const {
  std::ifstream in(path_);
  if (!in) return Fail(ErrorCode::kIoError, "cannot read erasure journal " + path_);
  std::string line;
  std::getline(in, line);  // header, checked by Open
  std::vector<JournalEntry> entries;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // no final newline: a torn, unacknowledged append
    auto space = line.find(' ');
    if (space == std::string::npos || space == 0) continue;  // torn line
    COFFRE_ASSIGN_OR_RETURN(auto entry,
                            ParseEntry(std::string_view(line).substr(space + 1), kinds));
    if (!entry) continue;  // torn line
    entries.push_back(std::move(*entry));
  }
  return entries;
}

}  // namespace coffre::vault
