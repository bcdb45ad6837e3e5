// The RocksDB backend of Store: one column family per Space.
//
// Options and the reasons for them are described in docs/storage-layout.md;
// keep the two in step.

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/version.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "storage/internal/rocks_util.h"
#include "storage/store.h"

namespace coffre::storage {
namespace {

using internal::FromRocks;

constexpr std::array kAllSpaces = {
    Space::kMeta,        Space::kKeys,     Space::kRecords,          Space::kIndex,
    Space::kSubjects,    Space::kAudit,    Space::kAuditByPrincipal, Space::kAuditBySubject,
    Space::kPrincipals,  Space::kCounters, Space::kAlerts,           Space::kCards,
    Space::kCredentials, Space::kArchive,  Space::kRetention};

// Shared by all column families of one store: a bound on read memory that
// does not grow with the data (index and filter blocks live in it too).
constexpr size_t kBlockCacheBytes = 64u << 20;
// Metadata, principals, counters and alerts are small.
constexpr size_t kSmallWriteBufferBytes = 4u << 20;
constexpr int kMaxWriteBufferNumber = 4;
constexpr int kIndexLevel0CompactionTrigger = 8;
constexpr int kMaxBackgroundJobs = 2;  // one per core of the reference machine
constexpr uint64_t kBytesPerSync = 1u << 20;

// Space values may leave gaps: valid means listed above.
bool ValidSpace(Space s) {
  for (Space known : kAllSpaces) {
    if (known == s) return true;
  }
  return false;
}

rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }
std::string_view ToView(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

// The smallest key greater than every key that starts with `prefix`, or
// nullopt when there is none (empty prefix, or only 0xff bytes).
std::optional<std::string> PrefixSuccessor(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto last = static_cast<unsigned char>(end.back());
    if (last != 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return std::nullopt;
}

rocksdb::ColumnFamilyOptions SpaceOptions(Space space, const RocksOptions& o,
                                          const std::shared_ptr<rocksdb::Cache>& cache) {
  rocksdb::ColumnFamilyOptions cf;
  // Values are ciphertext or keyed hashes: they do not compress, and trying
  // costs CPU on every flush and compaction. Metadata is tiny. So: none.
  cf.compression = rocksdb::kNoCompression;
  cf.bottommost_compression = rocksdb::kNoCompression;
  // (So RocksOptions::disable_compression_everywhere needs nothing more.)

  const bool small = space == Space::kMeta || space == Space::kPrincipals ||
                     space == Space::kCounters || space == Space::kAlerts ||
                     space == Space::kCards || space == Space::kCredentials ||
                     space == Space::kArchive || space == Space::kRetention;
  cf.write_buffer_size = small ? kSmallWriteBufferBytes : o.write_buffer_bytes;
  cf.max_write_buffer_number = kMaxWriteBufferNumber;
  // Keeps space amplification near 1.1x whatever the data size, and makes
  // CompactRange land everything on the last level.
  cf.level_compaction_dynamic_level_bytes = true;
  if (space == Space::kIndex) {
    // Blind-index keys are keyed hashes: every file covers the whole key
    // range, so each level-0 compaction rewrites the whole base level.
    // Compacting eight level-0 files at a time instead of four halves how
    // often that happens (docs/storage-layout.md).
    cf.level0_file_num_compaction_trigger = kIndexLevel0CompactionTrigger;
  }

  const bool bloom = space == Space::kIndex || space == Space::kKeys || space == Space::kRecords;
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(internal::TableOptions(cache, bloom)));
  return cf;
}

// SyncWal relies on RocksDB 7.7's fix for a WAL switched (memtable flush)
// during SyncWAL, whose unsynced tail older versions could drop from the
// sync (facebook/rocksdb#10560): the audit log writes while it syncs.
static_assert(ROCKSDB_MAJOR > 7 || (ROCKSDB_MAJOR == 7 && ROCKSDB_MINOR >= 7),
              "coffre needs RocksDB 7.7 or later (Store::SyncWal)");

rocksdb::DBOptions MakeDbOptions(const RocksOptions& o) {
  rocksdb::DBOptions db;
  db.create_if_missing = o.create_if_missing && !o.read_only;
  // A store written by an older coffre gains the spaces added since.
  db.create_missing_column_families = !o.read_only;
  db.max_background_jobs = kMaxBackgroundJobs;
  db.bytes_per_sync = kBytesPerSync;
  // The WAL holds ciphertext too; compressing it is off by default in 7.8,
  // said here so that a default change cannot slip in.
  db.wal_compression = rocksdb::kNoCompression;
  // Recycled log files would keep old records (erased ones included) in
  // their unused tails.
  db.recycle_log_file_num = 0;
  // Several threads insert into the memtable of one group commit at once.
  db.allow_concurrent_memtable_write = true;
  db.enable_write_thread_adaptive_yield = true;
  db.keep_log_file_num = 10;
  // Every change of the file set starts a new MANIFEST holding the live
  // files only, and the old one is deleted: a MANIFEST kept for long would
  // list the key boundaries (blind-index hashes) of files that held
  // deleted entries (ADR 0004, RollManifest). A MANIFEST is a few hundred
  // bytes per live file, written at each flush or compaction.
  db.max_manifest_file_size = 1;
  db.manifest_preallocation_size = 64 << 10;
  // After a crash, what the WAL held (unsynced audit groups included) is
  // flushed into synced table files at open, before the audit log anchors a
  // checkpoint found there. (RocksDB's default, pinned.)
  db.avoid_flush_during_recovery = false;
  // Measured on the 2-core reference machine (docs/storage-layout.md):
  // pipelined writes gave no gain for bulk batches and lost ~10% for
  // concurrent small synced batches, so the plain write path stays.
  db.enable_pipelined_write = false;
  return db;
}

struct CfHandleDeleter {
  rocksdb::DB* db = nullptr;
  void operator()(rocksdb::ColumnFamilyHandle* h) const {
    if (h != nullptr) (void)db->DestroyColumnFamilyHandle(h);
  }
};
using CfHandle = std::unique_ptr<rocksdb::ColumnFamilyHandle, CfHandleDeleter>;
using CfHandles = std::array<rocksdb::ColumnFamilyHandle*, kSpaceCount>;

class RocksStore;

class RocksWriteBatch final : public WriteBatch {
 public:
  RocksWriteBatch(const RocksStore* owner, const CfHandles* cfs) : owner_(owner), cfs_(cfs) {}

  void DoPut(Space space, std::string_view key, std::string_view value) override {
    if (!ValidSpace(space)) return Remember(rocksdb::Status::InvalidArgument("bad space"));
    Remember(rep_.Put((*cfs_)[static_cast<size_t>(space)], ToSlice(key), ToSlice(value)));
  }
  void DoDelete(Space space, std::string_view key) override {
    if (!ValidSpace(space)) return Remember(rocksdb::Status::InvalidArgument("bad space"));
    Remember(rep_.Delete((*cfs_)[static_cast<size_t>(space)], ToSlice(key)));
  }
  size_t Count() const override { return rep_.Count(); }
  size_t ApproximateBytes() const override { return rep_.GetDataSize(); }
  void DoClear() override {
    rep_.Clear();
    error_ = rocksdb::Status::OK();
  }

  const RocksStore* owner() const { return owner_; }
  const rocksdb::Status& error() const { return error_; }
  rocksdb::WriteBatch* rep() { return &rep_; }

 private:
  // The interface has no status on Put (a batch only fails past 4 GB or for
  // a bad space); the first failure is kept and reported by Store::Write.
  void Remember(rocksdb::Status s) {
    if (!s.ok() && error_.ok()) error_ = std::move(s);
  }

  const RocksStore* owner_;
  const CfHandles* cfs_;
  rocksdb::WriteBatch rep_;
  rocksdb::Status error_;
};

class RocksStore final : public Store {
 public:
  RocksStore(std::string path, bool read_only, std::shared_ptr<rocksdb::Cache> cache,
             std::unique_ptr<rocksdb::DB> db, std::vector<CfHandle> all_handles)
      : path_(std::move(path)),
        read_only_(read_only),
        cache_(std::move(cache)),
        db_(std::move(db)),
        all_handles_(std::move(all_handles)) {
    for (auto& h : all_handles_) {
      for (Space s : kAllSpaces) {
        if (h->GetName() == SpaceName(s)) spaces_[static_cast<size_t>(s)] = h.get();
      }
    }
  }

  ~RocksStore() override {
    // Column family handles go before the DB they belong to.
    all_handles_.clear();
    if (db_) (void)db_->Close();
  }

  std::unique_ptr<WriteBatch> NewBatch() override {
    return std::make_unique<RocksWriteBatch>(this, &spaces_);
  }

  Status Write(WriteBatch& batch, bool sync) override {
    COFFRE_TRY(RefuseIfReadOnly("write"));
    auto* rb = dynamic_cast<RocksWriteBatch*>(&batch);
    if (rb == nullptr || rb->owner() != this) {
      return Fail(ErrorCode::kInternal, "write batch was not created by this store");
    }
    if (!rb->error().ok()) return Fail(FromRocks(rb->error(), "invalid write batch"));
    rocksdb::WriteOptions wo;
    wo.sync = sync;
    rocksdb::Status s = db_->Write(wo, rb->rep());
    if (!s.ok()) return Fail(FromRocks(s, "write to store " + path_ + " failed"));
    return Ok();
  }

  Result<std::optional<std::string>> Get(Space space, std::string_view key) override {
    COFFRE_ASSIGN_OR_RETURN(rocksdb::ColumnFamilyHandle * cf, Handle(space));
    rocksdb::PinnableSlice value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf, ToSlice(key), &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    if (!s.ok()) return Fail(FromRocks(s, Where("read from", space)));
    return std::optional<std::string>(std::string(ToView(value)));
  }

  Result<std::vector<std::optional<std::string>>> MultiGet(
      Space space, const std::vector<std::string_view>& keys) override {
    COFFRE_ASSIGN_OR_RETURN(rocksdb::ColumnFamilyHandle * cf, Handle(space));
    std::vector<rocksdb::Slice> slices;
    slices.reserve(keys.size());
    for (std::string_view k : keys) slices.push_back(ToSlice(k));
    std::vector<rocksdb::PinnableSlice> values(keys.size());
    std::vector<rocksdb::Status> statuses(keys.size());
    // RocksDB sorts the keys unless told they are sorted; callers that can
    // (the bulk importer's unique checks) pass them in order, so check.
    bool sorted = std::is_sorted(keys.begin(), keys.end());
    db_->MultiGet(rocksdb::ReadOptions(), cf, keys.size(), slices.data(), values.data(),
                  statuses.data(), sorted);
    std::vector<std::optional<std::string>> out(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
      if (statuses[i].IsNotFound()) continue;
      if (!statuses[i].ok()) return Fail(FromRocks(statuses[i], Where("read from", space)));
      out[i] = std::string(ToView(values[i]));
    }
    return out;
  }

  Status Scan(Space space, std::string_view prefix, const ScanVisitor& visit) override {
    COFFRE_ASSIGN_OR_RETURN(rocksdb::ColumnFamilyHandle * cf, Handle(space));
    rocksdb::ReadOptions ro;
    // No prefix extractor is configured; the bound below does the job and
    // lets RocksDB skip files and blocks past the prefix.
    ro.prefix_same_as_start = false;
    const std::optional<std::string> end = PrefixSuccessor(prefix);
    rocksdb::Slice upper;  // must outlive the iterator
    if (end) {
      upper = ToSlice(*end);
      ro.iterate_upper_bound = &upper;
    }
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf));
    for (it->Seek(ToSlice(prefix)); it->Valid(); it->Next()) {
      std::string_view key = ToView(it->key());
      if (!key.starts_with(prefix)) break;  // only reached without an upper bound
      if (!visit(key, ToView(it->value()))) break;
    }
    if (!it->status().ok()) return Fail(FromRocks(it->status(), Where("scan of", space)));
    return Ok();
  }

  Status ScanRange(Space space, std::string_view begin, std::string_view end,
                   const ScanVisitor& visit) override {
    return Range(space, begin, end, visit, /*fill_cache=*/true);
  }

  Status ScanRangeOnce(Space space, std::string_view begin, std::string_view end,
                       const ScanVisitor& visit) override {
    // Blocks read once stay out of the block cache: inserting each one
    // evicts hot blocks, and parallel walks serialise on the cache's shard
    // locks (a 2-part audit verification ran no faster than one part).
    return Range(space, begin, end, visit, /*fill_cache=*/false);
  }

  Status Range(Space space, std::string_view begin, std::string_view end, const ScanVisitor& visit,
               bool fill_cache) {
    COFFRE_ASSIGN_OR_RETURN(rocksdb::ColumnFamilyHandle * cf, Handle(space));
    rocksdb::ReadOptions ro;
    ro.fill_cache = fill_cache;
    rocksdb::Slice upper;  // must outlive the iterator
    if (!end.empty()) {
      upper = ToSlice(end);
      ro.iterate_upper_bound = &upper;
    }
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf));
    for (it->Seek(ToSlice(begin)); it->Valid(); it->Next()) {
      if (!visit(ToView(it->key()), ToView(it->value()))) break;
    }
    if (!it->status().ok()) return Fail(FromRocks(it->status(), Where("scan of", space)));
    return Ok();
  }

  Status CompactSpace(Space space) override {
    COFFRE_TRY(RefuseIfReadOnly("compact"));
    COFFRE_ASSIGN_OR_RETURN(rocksdb::ColumnFamilyHandle * cf, Handle(space));
    // Deleted values also live in write-ahead log files, which RocksDB drops
    // only once every column family with data in them has been flushed: flush
    // them all, not just this one.
    COFFRE_TRY(FlushAll());
    rocksdb::CompactRangeOptions co;
    // Rewrites the last level too, so that tombstones meet the values they
    // delete and both disappear.
    co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
    co.exclusive_manual_compaction = false;
    rocksdb::Status s = db_->CompactRange(co, cf, nullptr, nullptr);
    if (!s.ok()) return Fail(FromRocks(s, Where("compaction of", space)));
    // Files made obsolete by the compaction may still wait for a background
    // purge; re-enabling deletions purges them now, in this thread. The pair
    // nests with any other Disable (e.g. a backup in progress).
    s = db_->DisableFileDeletions();
    if (s.ok()) s = db_->EnableFileDeletions(/*force=*/false);
    if (!s.ok()) return Fail(FromRocks(s, Where("purge after compaction of", space)));
    return Ok();
  }

  Status RollManifest() override {
    COFFRE_TRY(RefuseIfReadOnly("roll the MANIFEST of"));
    // A change of the file set after the compactions: a flush of the
    // default family (which holds nothing else) makes RocksDB write a new
    // MANIFEST from the live files (max_manifest_file_size); the purge then
    // deletes the old one in this thread.
    rocksdb::ColumnFamilyHandle* cf = db_->DefaultColumnFamily();
    rocksdb::WriteOptions wo;
    wo.sync = true;
    rocksdb::Status s = db_->Put(wo, cf, "manifest-roll", "");
    if (s.ok()) {
      rocksdb::FlushOptions fo;
      fo.wait = true;
      fo.allow_write_stall = true;
      s = db_->Flush(fo, cf);
    }
    if (s.ok()) s = db_->DisableFileDeletions();
    if (s.ok()) s = db_->EnableFileDeletions(/*force=*/false);
    if (!s.ok()) return Fail(FromRocks(s, "cannot roll the MANIFEST of store " + path_));
    return Ok();
  }

  Status Flush() override {
    COFFRE_TRY(RefuseIfReadOnly("flush"));
    return FlushAll();
  }

  Status SyncWal() override {
    COFFRE_TRY(RefuseIfReadOnly("sync"));
    // FlushWAL(sync) flushes RocksDB's own WAL buffer first (needed if
    // manual_wal_flush were ever turned on), then syncs every live WAL.
    rocksdb::Status s = db_->FlushWAL(/*sync=*/true);
    if (!s.ok()) return Fail(FromRocks(s, "cannot sync the write-ahead log of " + path_));
    return Ok();
  }

  Status IngestAtomically(const std::vector<IngestSet>& sets) override {
    COFFRE_TRY(RefuseIfReadOnly("ingest into"));
    std::vector<rocksdb::IngestExternalFileArg> args;
    for (const IngestSet& set : sets) {
      if (set.paths.empty()) continue;
      COFFRE_ASSIGN_OR_RETURN(rocksdb::ColumnFamilyHandle * cf, Handle(set.space));
      rocksdb::IngestExternalFileArg arg;
      arg.column_family = cf;
      arg.external_files = set.paths;
      arg.options.move_files = true;
      args.push_back(std::move(arg));
    }
    if (args.empty()) return Ok();
    // One call across column families is atomic in RocksDB (all or nothing,
    // recorded in one MANIFEST write).
    rocksdb::Status s = db_->IngestExternalFiles(args);
    if (!s.ok()) {
      return Fail(FromRocks(s, args.size() == 1
                                   ? Where("ingestion of sorted files into", sets[0].space)
                                   : std::string("atomic ingestion of sorted files")));
    }
    return Ok();
  }

  Status CopyLiveFiles(const LiveFileVisitor& copy) override {
    COFFRE_TRY(RefuseIfReadOnly("copy the live files of"));
    // Pinned: no file is deleted (compaction, MANIFEST roll, log recycling)
    // until EnableFileDeletions; the pair nests with the compactions' own.
    rocksdb::Status s = db_->DisableFileDeletions();
    if (!s.ok()) return Fail(FromRocks(s, "cannot pin the files of store " + path_));
    Status result = CopyPinned(copy);
    s = db_->EnableFileDeletions(/*force=*/false);
    if (!s.ok() && result) return Fail(FromRocks(s, "cannot unpin the files of store " + path_));
    return result;
  }

 private:
  Result<rocksdb::ColumnFamilyHandle*> Handle(Space space) const {
    if (!ValidSpace(space)) {
      return Fail(ErrorCode::kInvalidArgument,
                  "unknown space " + std::to_string(static_cast<int>(space)));
    }
    return spaces_[static_cast<size_t>(space)];
  }

  Status RefuseIfReadOnly(std::string_view what) const {
    if (!read_only_) return Ok();
    return Fail(ErrorCode::kFailedPrecondition,
                "cannot " + std::string(what) + " store " + path_ + ": opened read-only");
  }

  // One consistent view of every file (RocksDB's own Checkpoint uses the
  // same call): the table files, the MANIFEST, CURRENT's contents and the
  // write-ahead logs, each with the size that belongs to the view. No
  // flush: what is only in the memtables is in the logs, which the copy
  // replays when opened, as after a crash; a flush would add small table
  // files to every family at each backup (and more compactions after).
  Status CopyPinned(const LiveFileVisitor& copy) {
    rocksdb::LiveFilesStorageInfoOptions opts;
    opts.wal_size_for_flush = std::numeric_limits<uint64_t>::max();
    std::vector<rocksdb::LiveFileStorageInfo> files;
    rocksdb::Status s = db_->GetLiveFilesStorageInfo(opts, &files);
    if (!s.ok()) return Fail(FromRocks(s, "cannot list the live files of store " + path_));
    for (const rocksdb::LiveFileStorageInfo& f : files) {
      LiveFile file;
      file.name = f.relative_filename;
      file.path = f.directory + "/" + f.relative_filename;
      file.size = f.size;
      if (!f.replacement_contents.empty()) file.contents = f.replacement_contents;
      COFFRE_TRY(copy(file));
    }
    return Ok();
  }

  Status FlushAll() {
    rocksdb::FlushOptions fo;
    fo.wait = true;
    fo.allow_write_stall = true;
    std::vector<rocksdb::ColumnFamilyHandle*> cfs(spaces_.begin(), spaces_.end());
    rocksdb::Status s = db_->Flush(fo, cfs);
    if (!s.ok()) return Fail(FromRocks(s, "flush of store " + path_ + " failed"));
    return Ok();
  }

  std::string Where(std::string_view op, Space space) const {
    return std::string(op) + " space " + std::string(SpaceName(space)) + " of store " + path_ +
           " failed";
  }

  const std::string path_;
  const bool read_only_;
  std::shared_ptr<rocksdb::Cache> cache_;
  // Declared before the handles: destroyed after them.
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<CfHandle> all_handles_;  // every opened family, "default" included
  CfHandles spaces_{};                 // borrowed from all_handles_, by Space
};

// Names that RocksDB itself may leave in a directory whose creation was
// interrupted before CURRENT was written.
bool IsRocksCreationLeftover(const std::string& name) {
  return name == "LOCK" || name == "LOG" || name == "IDENTITY" || name.starts_with("LOG.old.") ||
         name.starts_with("MANIFEST-") || name.starts_with("OPTIONS-") ||
         name.ends_with(".dbtmp") || name.ends_with(".log");
}

// Decides, before RocksDB touches anything, whether options.path is a coffre
// store, a place to create one, or neither.
Status InspectDirectory(const RocksOptions& o) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(o.path, ec);
  const bool may_create = o.create_if_missing && !o.read_only;
  if (!fs::exists(st)) {
    if (may_create) return Ok();
    return Fail(ErrorCode::kNotFound, "no vault at " + o.path);
  }
  if (!fs::is_directory(st)) {
    return Fail(ErrorCode::kFailedPrecondition, o.path + " is not a directory");
  }
  if (!fs::exists(fs::path(o.path) / "CURRENT", ec)) {
    bool only_leftovers = true;
    for (const auto& entry : fs::directory_iterator(o.path, ec)) {
      if (!IsRocksCreationLeftover(entry.path().filename().string())) only_leftovers = false;
    }
    if (ec) return Fail(ErrorCode::kIoError, "cannot list " + o.path + ": " + ec.message());
    if (!only_leftovers) {
      return Fail(ErrorCode::kFailedPrecondition,
                  o.path + " is not a coffre store (it holds other files)");
    }
    if (may_create) return Ok();
    return Fail(ErrorCode::kNotFound, "no vault at " + o.path);
  }

  std::vector<std::string> families;
  rocksdb::Status s = rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), o.path, &families);
  if (!s.ok()) return Fail(FromRocks(s, "cannot read store " + o.path));
  for (const std::string& f : families) {
    const bool known = f == rocksdb::kDefaultColumnFamilyName ||
                       std::any_of(kAllSpaces.begin(), kAllSpaces.end(),
                                   [&](Space sp) { return SpaceName(sp) == f; });
    if (!known) {
      return Fail(ErrorCode::kFailedPrecondition,
                  o.path + " holds column family '" + f +
                      "' unknown to this coffre version (written by a newer one?)");
    }
  }
  auto has = [&](Space sp) {
    return std::find(families.begin(), families.end(), SpaceName(sp)) != families.end();
  };
  if (!has(Space::kMeta)) {
    return Fail(ErrorCode::kFailedPrecondition,
                o.path + " is a RocksDB database but not a coffre store");
  }
  if (o.read_only) {
    for (Space sp : kAllSpaces) {
      if (!has(sp)) {
        return Fail(ErrorCode::kFailedPrecondition,
                    o.path + " lacks space '" + std::string(SpaceName(sp)) +
                        "' (written by an older coffre); open it once read-write");
      }
    }
  }
  return Ok();
}

// RocksDB reports a held LOCK file as an I/O error; recognise it so the
// operator reads what is wrong rather than an errno.
bool IsLockHeld(const rocksdb::Status& s) {
  if (!s.IsIOError()) return false;
  const std::string text = s.ToString();
  return text.find("LOCK") != std::string::npos &&
         (text.find("lock hold by current process") != std::string::npos ||
          text.find("While lock file") != std::string::npos ||
          text.find("Resource temporarily unavailable") != std::string::npos);
}

}  // namespace

Result<std::unique_ptr<Store>> OpenRocksStore(const RocksOptions& options) {
  if (options.path.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "storage path is empty");
  }
  COFFRE_TRY(InspectDirectory(options));

  // 16 shards of 4 MB: a shard must hold the largest block it will be asked
  // to cache.
  auto cache = rocksdb::NewLRUCache(kBlockCacheBytes, /*num_shard_bits=*/4);
  rocksdb::DBOptions db_options = MakeDbOptions(options);
  if (options.row_cache_bytes > 0) {
    db_options.row_cache = rocksdb::NewLRUCache(options.row_cache_bytes, /*num_shard_bits=*/4);
  }

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  // RocksDB's own "default" family holds only RollManifest's marker (no
  // data); no compression there either, so that nothing could ever hide in
  // a compressed block.
  rocksdb::ColumnFamilyOptions default_cf;
  default_cf.compression = rocksdb::kNoCompression;
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, default_cf);
  for (Space s : kAllSpaces) {
    descriptors.emplace_back(std::string(SpaceName(s)), SpaceOptions(s, options, cache));
  }

  std::vector<rocksdb::ColumnFamilyHandle*> raw_handles;
  rocksdb::DB* raw_db = nullptr;
  rocksdb::Status s =
      options.read_only
          ? rocksdb::DB::OpenForReadOnly(db_options, options.path, descriptors, &raw_handles,
                                         &raw_db, /*error_if_wal_file_exists=*/false)
          : rocksdb::DB::Open(db_options, options.path, descriptors, &raw_handles, &raw_db);
  std::unique_ptr<rocksdb::DB> db(raw_db);
  std::vector<CfHandle> handles;
  handles.reserve(raw_handles.size());
  for (auto* h : raw_handles) handles.emplace_back(h, CfHandleDeleter{db.get()});
  if (!s.ok()) {
    handles.clear();
    db.reset();
    if (IsLockHeld(s)) {
      return Fail(ErrorCode::kFailedPrecondition,
                  "data directory is in use by another coffre process: " + options.path);
    }
    return Fail(FromRocks(s, "cannot open store " + options.path));
  }
  if (handles.size() != descriptors.size()) {
    return Fail(ErrorCode::kInternal, "store " + options.path + ": missing column family handles");
  }
  return std::unique_ptr<Store>(std::make_unique<RocksStore>(
      options.path, options.read_only, std::move(cache), std::move(db), std::move(handles)));
}

}  // namespace coffre::storage
