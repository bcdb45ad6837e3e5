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
// Its parts, each with its own header and tests: record_splitter.h (input
// into rows), csv_reader.h, ndjson_reader.h and export_line_reader.h (a row
// into fields), unique_key_set.h (the committer's in-memory unique keys),
// import_pipeline.h (workers, committer, ingester), import_out_file.h.
// Valid rows are committed; invalid rows are written to `rejects_path` with
// their line number and the rule they broke (never their values). Rows are
// committed in file order, so `committed_through_line` is a watermark: every
// valid row at or before it is durable. Every row read is counted, as
// imported or as rejected: if the two do not add up to the rows read, the
// import fails (kInternal) rather than report a partial count.
//
// The input is read once, front to back, so it may be a pipe ("-" or
// /dev/stdin): the format is detected from the first bytes read, never by
// reading the input twice (docs/adr/0015-import-accounts-for-every-row.md).
//
// Optional outputs and matching (docs/import.md):
//   ids_out_path  one NDJSON line per imported row, written after the row's
//                 group is durable: {"line":L,"id":"hex","subject":"hex"}
//                 plus "key" (the `key_field` column) when one is named.
//   subject_key   "[COLLECTION.]FIELD": a unique field of another
//                 collection; each row's FIELD value names an existing
//                 subject, and the row is attached to it (the subject's
//                 data key for this collection is reused or created once)
//                 instead of creating a new person. A row whose value
//                 matches nobody is rejected.
//
// Thread-safety: Import may run concurrently with other vault reads; it
// serialises with other writers for unique checks only per chunk.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "vault/vault.h"

namespace coffre::vault {

// kExport: the plaintext of `coffre bulk-export` (one
// {"collection","id","subject","fields":{...}[,"canary":true]} per line).
// Record and subject ids are kept (a migration into a new vault); the ids
// must increase (an export lists them in order) and the collection must
// have no record yet; rows flagged canary are handed to `on_canaries`.
enum class ImportFormat { kAuto, kCsv, kNdjson, kExport };

struct ImportProgress {
  uint64_t bytes_read = 0;
  uint64_t bytes_total = 0;
  uint64_t imported = 0;
  uint64_t rejected = 0;
  uint64_t committed_through_line = 0;
};

struct ImportOptions {
  std::string collection;
  std::string path;          // "-": standard input
  std::string rejects_path;  // default: DefaultRejectsPath(path)
  // Created (O_EXCL, mode 0600): kAlreadyExists if it exists. Empty: none.
  std::string ids_out_path;
  // A column copied into each ids_out line as "key" (the source's own id).
  // When it is not a field of the collection it is not stored.
  std::string key_field;
  // "[COLLECTION.]FIELD" (see above). When FIELD is not a field of the
  // imported collection, the column is used for matching only.
  std::string subject_key;
  ImportFormat format = ImportFormat::kAuto;
  // Descriptors the caller opened (a local caller over the admin socket,
  // ADR 0024): read and written instead of `path`, `rejects_path`
  // (which must then be given) and `ids_out_path`, which only name them in
  // messages and the stats; never closed here. -1: none. The rejects
  // descriptor is truncated when the import starts, like the stale file a
  // path would be unlinked for; the caller removes it if it stays empty.
  int input_fd = -1;
  int rejects_fd = -1;
  int ids_out_fd = -1;
  unsigned threads = 0;        // 0: one per core
  size_t chunk_rows = 8192;    // rows per worker task
  size_t commit_rows = 65536;  // rows per durable, atomic commit (whole chunks)
  // Called by the committer after each durable chunk.
  std::function<void(const ImportProgress&)> on_commit;
  // kExport: called with the subjects (raw ids) of rows flagged canary,
  // before the group holding them is ingested (an unlisted canary would
  // pass for a person; a listed subject that never arrives is harmless).
  // An input with canaries and no callback fails.
  std::function<Status(const std::vector<std::string>& subjects)> on_canaries;
};

struct ImportStats {
  uint64_t read = 0;  // rows read (blank lines and the CSV header excluded)
  uint64_t imported = 0;
  uint64_t rejected = 0;  // imported + rejected == read, always
  double seconds = 0;
  uint64_t committed_through_line = 0;
  std::string rejects_path;  // where rejects go; the file exists iff rejected > 0
  uint64_t canaries = 0;     // kExport: imported rows flagged canary
};

Result<ImportStats> Import(Vault& vault, const ImportOptions& options);

// Where the reasons of rejected rows go by default: beside a regular input
// file, FILE.rejects (as before); for standard input, a pipe or a device,
// ./coffre-import-YYYYMMDDTHHMMSSZ.rejects (UTC, `unix_seconds`), never
// beside the device.
std::string DefaultRejectsPath(const std::string& path, int64_t unix_seconds);

}  // namespace coffre::vault
