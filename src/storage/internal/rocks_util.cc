#include "storage/internal/rocks_util.h"

#include <rocksdb/filter_policy.h>

#include <string>

namespace coffre::storage::internal {

Error FromRocks(const rocksdb::Status& s, std::string_view what) {
  using C = rocksdb::Status::Code;
  ErrorCode code = ErrorCode::kInternal;
  bool keep_text = false;
  switch (s.code()) {
    case C::kOk:
      return Error{ErrorCode::kInternal, std::string(what) + ": converted a success"};
    case C::kNotFound:
      code = ErrorCode::kNotFound;
      keep_text = true;
      break;
    case C::kCorruption:
      code = ErrorCode::kDataLoss;
      break;
    case C::kNotSupported:
      code = ErrorCode::kFailedPrecondition;
      keep_text = true;
      break;
    case C::kInvalidArgument:
      code = ErrorCode::kInvalidArgument;
      keep_text = true;
      break;
    case C::kIOError:
      code = ErrorCode::kIoError;
      keep_text = true;
      break;
    case C::kBusy:
    case C::kTimedOut:
    case C::kTryAgain:
    case C::kAborted:
    case C::kExpired:
      // Transient contention inside RocksDB; the caller may retry.
      code = ErrorCode::kIoError;
      break;
    case C::kShutdownInProgress:
    case C::kColumnFamilyDropped:
      code = ErrorCode::kFailedPrecondition;
      break;
    default:  // kIncomplete, kMergeInProgress, kCompactionTooLarge: our misuse
      code = ErrorCode::kInternal;
      break;
  }
  std::string message(what);
  message += ": ";
  if (keep_text) {
    message += s.ToString();
  } else {
    message += "rocksdb status ";
    message += std::to_string(static_cast<int>(s.code()));
    message += "/";
    message += std::to_string(static_cast<int>(s.subcode()));
    message += " (details in the LOG file of the data directory)";
  }
  return Error{code, std::move(message)};
}

rocksdb::BlockBasedTableOptions TableOptions(std::shared_ptr<rocksdb::Cache> cache,
                                             bool bloom_filter) {
  rocksdb::BlockBasedTableOptions t;
  if (cache) {
    t.block_cache = std::move(cache);
  } else {
    t.no_block_cache = true;
  }
  if (bloom_filter) {
    // ~1% false positives: a point lookup of an absent key (index probes,
    // "is this subject known") usually costs no disk read.
    t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    // Sizes filter blocks to malloc's size classes: less waste, same
    // false-positive rate.
    t.optimize_filters_for_memory = true;
  }
  // Index and filter blocks live in the block cache, so memory stays bounded
  // by the cache size whatever the data size (DESIGN.md: memory bounded);
  // level-0 ones are pinned because every read touches them.
  t.cache_index_and_filter_blocks = true;
  t.cache_index_and_filter_blocks_with_high_priority = true;
  t.pin_l0_filter_and_index_blocks_in_cache = true;
  // Partitioned filters and two-level indexes: a large file's filter is cut
  // into ~4 KB partitions that the cache can hold and evict one by one. A
  // whole-file filter larger than a cache shard can never be cached, and was
  // then read from disk and checksummed on every point lookup (seen as a 60x
  // slowdown of unique checks once a bulk import's index file passed 1 MB).
  t.index_type = rocksdb::BlockBasedTableOptions::kTwoLevelIndexSearch;
  t.partition_filters = bloom_filter;
  t.metadata_block_size = 4096;
  t.pin_top_level_index_and_filter = true;
  return t;
}

}  // namespace coffre::storage::internal
