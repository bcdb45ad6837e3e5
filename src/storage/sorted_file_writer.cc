#include "storage/sorted_file_writer.h"

#include <rocksdb/env.h>
#include <rocksdb/options.h>
#include <rocksdb/sst_file_writer.h>

#include <cstdio>

#include "storage/internal/rocks_util.h"

namespace coffre::storage {

struct SortedFileWriter::Impl {
  std::string path;
  rocksdb::Options options;  // must outlive the writer, which keeps pointers into it
  std::unique_ptr<rocksdb::SstFileWriter> writer;
  bool finished = false;
  bool failed = false;
};

SortedFileWriter::SortedFileWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SortedFileWriter::~SortedFileWriter() {
  if (impl_ && !impl_->finished) {
    impl_->writer.reset();  // closes the file
    std::remove(impl_->path.c_str());
  }
}

Result<std::unique_ptr<SortedFileWriter>> SortedFileWriter::Create(const std::string& path,
                                                                   uint64_t expected_entries) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->options.compression = rocksdb::kNoCompression;
  impl->options.bottommost_compression = rocksdb::kNoCompression;
  rocksdb::BlockBasedTableOptions table = internal::TableOptions(nullptr, /*bloom_filter=*/true);
  if (expected_entries > 0 && expected_entries <= kMaxWholeFilterEntries) {
    table.partition_filters = false;  // the two-level index stays
  }
  impl->options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  // Keep the file's pages in the OS page cache (RocksDB's default drops them
  // every megabyte written): an imported file is read again within seconds,
  // by the unique lookups of the next chunks and by the compaction of the
  // index space, and dropping the pages forced an early writeback and then
  // reads back from disk (measured: ~5% of an import's CPU in fadvise,
  // writeback and readahead). Durability is unchanged: Finish still syncs.
  impl->writer = std::make_unique<rocksdb::SstFileWriter>(rocksdb::EnvOptions(), impl->options,
                                                          /*column_family=*/nullptr,
                                                          /*invalidate_page_cache=*/false);
  rocksdb::Status s = impl->writer->Open(path);
  if (!s.ok()) return Fail(internal::FromRocks(s, "cannot create sorted file " + path));
  return std::unique_ptr<SortedFileWriter>(new SortedFileWriter(std::move(impl)));
}

Status SortedFileWriter::Add(std::string_view key, std::string_view value) {
  if (impl_->finished || impl_->failed) {
    return Fail(ErrorCode::kFailedPrecondition,
                "sorted file " + impl_->path + " is finished or failed");
  }
  rocksdb::Status s = impl_->writer->Put(rocksdb::Slice(key.data(), key.size()),
                                         rocksdb::Slice(value.data(), value.size()));
  if (!s.ok()) {
    impl_->failed = true;
    if (s.IsInvalidArgument()) {
      // The only invalid argument here is the order; say so without the key.
      return Fail(ErrorCode::kInvalidArgument,
                  "sorted file " + impl_->path + ": keys must be strictly increasing");
    }
    return Fail(internal::FromRocks(s, "cannot write sorted file " + impl_->path));
  }
  return Ok();
}

Result<uint64_t> SortedFileWriter::Finish() {
  if (impl_->finished || impl_->failed) {
    return Fail(ErrorCode::kFailedPrecondition,
                "sorted file " + impl_->path + " is finished or failed");
  }
  rocksdb::ExternalSstFileInfo info;
  rocksdb::Status s = impl_->writer->Finish(&info);
  if (!s.ok()) {
    impl_->failed = true;
    if (s.IsInvalidArgument()) {
      return Fail(ErrorCode::kInvalidArgument, "sorted file " + impl_->path + " has no entries");
    }
    return Fail(internal::FromRocks(s, "cannot finish sorted file " + impl_->path));
  }
  impl_->finished = true;
  return info.num_entries;
}

}  // namespace coffre::storage
