// The erasure journal: an append-only file, kept outside the data directory
// and its backups, listing every erased subject. A vault restored from a
// backup replays the entries it has not applied, so an erased person does not
// come back.
//
// Format: a header line `coffre-erasure-journal v1 <vault id hex>` then one
// line per erasure: `<unix seconds> <subject hex>`. Each append is fsynced
// before the erasure itself is written, and starts on a new line even after a
// torn write; a malformed line (torn, never acknowledged) is skipped. The
// vault keeps, in its meta space, how many entries it has applied and a hash
// chained over them (Chain), so a journal replaced by another copy is noticed.
//
// The journal is created by `init` only: a missing journal is an error, never
// silently a new empty one (which would forget every erasure).
//
// Thread-safety: not thread-safe; the vault serialises writers.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace coffre::vault {

class ErasureJournal {
 public:
  // Creates the journal of a new vault (fails if the file exists).
  static Result<ErasureJournal> Create(const std::string& path, std::string_view vault_id);
  // Opens an existing journal; refuses a missing one and one that belongs to
  // another vault.
  static Result<ErasureJournal> Open(const std::string& path, std::string_view vault_id);

  // Hash chained over subjects[0..n): H(H(...H(zero || s0)...) || s(n-1)).
  static std::string Chain(const std::vector<std::string>& subjects, size_t n);

  // Appends and fsyncs one entry.
  Status Append(std::string_view subject, int64_t unix_seconds);

  // Subjects (raw) in journal order.
  Result<std::vector<std::string>> ReadAll() const;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::string vault_hex_;
};

}  // namespace coffre::vault
