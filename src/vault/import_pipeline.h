// The bulk importer's streaming pipeline (docs/adr/0002-bulk-import-by-ingestion.md),
// run by Import (importer.h) once it has resolved its options:
//
//   ImportPipeline pipeline(vault, options, {.collection = c, .format = f, .tmp_dir = dir});
//   COFFRE_TRY(pipeline.OpenIdsOut());
//   COFFRE_ASSIGN_OR_RETURN(ImportStats stats, pipeline.Run());
//
//   reader (calling thread) -> RecordSplitter cuts the input into rows;
//                              chunks of rows, each with a reserved range
//                              of time-ordered ids
//   workers (one per core)  -> read each row (CsvReader, NdjsonReader,
//                              ExportLineReader), validate, normalise, seal,
//                              blind-index; write the chunk's records, data
//                              keys and memberships as sorted files
//   committer               -> unique checks in file order (the store, and a
//                              UniqueKeySet per group not yet ingested);
//                              rejects file; every `commit_rows` rows, a group
//   ingester                -> merges the group's index runs into one sorted
//                              file, ingests all the group's files atomically,
//                              then writes its --ids-out lines
// Memory is bounded by (threads * 2 + 2) chunks plus one commit group's index
// entries, whatever the input's size.
//
// Thread-safety: one Run per pipeline; Run starts and joins its threads. The
// caller holds the vault's write lock (Vault::LockWrites) for the whole run.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "common/status.h"
#include "schema/schema.h"
#include "vault/importer.h"
#include "vault/vault.h"

namespace coffre::vault {

// --subject-key, resolved: the collection where FIELD is unique.
struct SubjectKey {
  const schema::Collection* collection = nullptr;
  std::string field;
};

struct PipelineSetup {
  const schema::Collection* collection = nullptr;  // the imported one (not null)
  // kAuto: detected from the first bytes read ('{': NDJSON, else CSV).
  ImportFormat format = ImportFormat::kAuto;
  // Where sorted files are built: inside the vault's directory (ingestion
  // links them); the caller creates and removes it.
  std::string tmp_dir;
  std::optional<SubjectKey> subject_key;
  // Rejects go to `rejects_path`; `rejects_fresh`: it is a default name in
  // the working directory, created with O_EXCL (-2, -3, ... if taken).
  std::string rejects_path;
  bool rejects_fresh = false;
};

class ImportPipeline {
 public:
  // `options` (chunk_rows and commit_rows not 0) must outlive the pipeline.
  ImportPipeline(Vault& vault, const ImportOptions& options, PipelineSetup setup);
  ~ImportPipeline();
  ImportPipeline(const ImportPipeline&) = delete;
  ImportPipeline& operator=(const ImportPipeline&) = delete;

  // Creates the --ids-out file, if asked (before anything is read).
  Status OpenIdsOut();
  // Reads the whole input and commits its valid rows; fails (committed
  // groups stay) on an I/O or store error, or if rows are unaccounted for.
  Result<ImportStats> Run();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace coffre::vault
