// SortedFileWriter: builds a sorted file of key/value pairs outside the
// store, to be added in one step with Store::IngestSortedFiles. Bulk import
// uses it to skip the write-ahead log and memtables: keys sorted once by the
// importer are written once, instead of being logged, buffered, flushed and
// compacted.
//
//   auto w = SortedFileWriter::Create(dir + "/records-0001.sst");
//   if (!w) return w.error();
//   for (const auto& [k, v] : sorted_entries) COFFRE_TRY((*w)->Add(k, v));
//   COFFRE_ASSIGN_OR_RETURN(uint64_t n, (*w)->Finish());
//   COFFRE_TRY(store->IngestSortedFiles(Space::kRecords, {dir + "/records-0001.sst"}));
//
// The file is RocksDB's table format, without compression (values are
// ciphertext). Keys must be strictly increasing in bytewise order; a file
// must hold at least one entry. Put the file on the same file system as the
// store so that ingestion is a hard link, not a copy.
//
// Thread-safety: none; one thread uses a writer at a time.
// Ownership: the writer owns its open file. Destroying a writer before a
// successful Finish removes the partial file.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace coffre::storage {

class SortedFileWriter {
 public:
  // Files of at most this many entries get one whole-file bloom filter;
  // bigger ones (or of unknown size) get partitioned filters, like the files
  // RocksDB writes itself. 2^19 entries at 10 bits/key is 640 KB, which
  // fits a shard of the store's block cache.
  static constexpr uint64_t kMaxWholeFilterEntries = uint64_t{1} << 19;

  // Creates (or truncates) the file at `path`. `expected_entries` (0: not
  // known) only chooses the filter's layout: a whole-file filter is one
  // probe per lookup, where a partitioned one first searches its partition
  // index (measured: most of a bulk import's unique-lookup CPU, once per
  // level-0 index file). Both are RocksDB's table format; a compaction
  // rewrites the file with the store's own options.
  [[nodiscard]] static Result<std::unique_ptr<SortedFileWriter>> Create(
      const std::string& path, uint64_t expected_entries = 0);

  ~SortedFileWriter();
  SortedFileWriter(const SortedFileWriter&) = delete;
  SortedFileWriter& operator=(const SortedFileWriter&) = delete;

  // Appends an entry. kInvalidArgument when `key` is not greater than the
  // previous key; the writer is then unusable.
  [[nodiscard]] Status Add(std::string_view key, std::string_view value);

  // Completes and syncs the file; returns the number of entries.
  // kInvalidArgument for an empty file.
  [[nodiscard]] Result<uint64_t> Finish();

 private:
  struct Impl;
  explicit SortedFileWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace coffre::storage
