// The erasure journal: an append-only file, kept outside the data directory
// and its backups, listing every erased subject. A vault restored from a
// backup replays the entries it has not applied, so an erased person does not
// come back.
//
// Format: a header line `coffre-erasure-journal v1 <vault id hex>` then one
// line per erasure: `<unix seconds> <subject hex>`. Each append is fsynced
// before the erasure itself is written. The vault keeps, in its meta space,
// how many entries it has applied.
//
// Thread-safety: not thread-safe; the vault serialises writers.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace coffre::vault {

class ErasureJournal {
 public:
  // Opens or creates the journal for `vault_id` (raw). Refuses a journal that
  // belongs to another vault.
  static Result<ErasureJournal> Open(const std::string& path, std::string_view vault_id);

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
