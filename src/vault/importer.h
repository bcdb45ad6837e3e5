// Bulk import of CSV (header row) or NDJSON into one collection.
//
//   ImportOptions o{.collection = "people", .path = "people.ndjson"};
//   auto stats = Import(*vault, o);   // {imported, rejected, seconds, ...}
//
// Streaming pipeline, memory bounded by (threads * 2 + 2) chunks plus one
// commit group's index entries, whatever the file size:
//   reader (calling thread) -> chunks of rows, each with a reserved range of
//                              time-ordered ids
//   workers (one per core)  -> parse, validate, normalise, seal, blind-index;
//                              write the chunk's records, data keys and
//                              memberships as sorted files (fresh key ranges)
//   committer               -> unique checks in file order; every
//                              `commit_rows` rows, one sorted index file and
//                              an atomic ingestion of all the group's files
// Ingestion bypasses the write-ahead log and memtables: each entry is written
// once (docs/adr/0002-bulk-import-by-ingestion.md).
// Valid rows are committed; invalid rows are written to `rejects_path` with
// their line number and the rule they broke (never their values). Rows are
// committed in file order, so `committed_through_line` is a watermark: every
// valid row at or before it is durable.
//
// Thread-safety: Import may run concurrently with other vault reads; it
// serialises with other writers for unique checks only per chunk.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/status.h"
#include "vault/vault.h"

namespace coffre::vault {

enum class ImportFormat { kAuto, kCsv, kNdjson };

struct ImportProgress {
  uint64_t bytes_read = 0;
  uint64_t bytes_total = 0;
  uint64_t imported = 0;
  uint64_t rejected = 0;
  uint64_t committed_through_line = 0;
};

struct ImportOptions {
  std::string collection;
  std::string path;
  std::string rejects_path;  // default: path + ".rejects"
  ImportFormat format = ImportFormat::kAuto;
  unsigned threads = 0;      // 0: one per core
  size_t chunk_rows = 8192;  // rows per worker task
  size_t commit_rows = 65536;  // rows per durable, atomic commit (whole chunks)
  // Called by the committer after each durable chunk.
  std::function<void(const ImportProgress&)> on_commit;
};

struct ImportStats {
  uint64_t imported = 0;
  uint64_t rejected = 0;
  double seconds = 0;
  uint64_t committed_through_line = 0;
};

Result<ImportStats> Import(Vault& vault, const ImportOptions& options);

}  // namespace coffre::vault
