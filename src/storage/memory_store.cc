#include "storage/memory_store.h"

#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/sst_file_reader.h>

#include <array>
#include <filesystem>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "storage/internal/rocks_util.h"

namespace coffre::storage {

using SpaceMap = std::map<std::string, std::string, std::less<>>;

class MemoryData {
 public:
  std::shared_mutex mu;
  std::array<SpaceMap, kSpaceCount> spaces;  // under mu

  std::mutex writer_mu;
  bool writer_open = false;  // under writer_mu

  std::mutex transact_mu;  // the transactions of shared stores on this data
};

std::shared_ptr<MemoryData> NewMemoryData() { return std::make_shared<MemoryData>(); }

namespace {

bool ValidSpace(Space s) { return static_cast<int>(s) < kSpaceCount; }  // Space is unsigned

tl::unexpected<Error> BadSpace(Space s) {
  return Fail(ErrorCode::kInvalidArgument, "unknown space " + std::to_string(static_cast<int>(s)));
}

class MemoryStore;

class MemoryWriteBatch final : public WriteBatch {
 public:
  struct Op {
    Space space;
    bool put;
    std::string key;
    std::string value;
  };

  explicit MemoryWriteBatch(const MemoryStore* owner) : owner_(owner) {}

  size_t Count() const override { return ops_.size(); }
  size_t ApproximateBytes() const override { return bytes_; }

  const MemoryStore* owner() const { return owner_; }
  bool bad_space() const { return bad_space_; }
  Space first_bad() const { return first_bad_; }
  const std::vector<Op>& ops() const { return ops_; }

 protected:
  void DoPut(Space space, std::string_view key, std::string_view value) override {
    Add(space, true, key, value);
  }
  void DoDelete(Space space, std::string_view key) override { Add(space, false, key, {}); }
  void DoClear() override {
    ops_.clear();
    bytes_ = kHeaderBytes;
    bad_space_ = false;
  }

 private:
  // Like RocksDB's batch: a fixed header, then per entry a tag, the
  // lengths and the bytes.
  static constexpr size_t kHeaderBytes = 12;
  static constexpr size_t kEntryOverheadBytes = 6;

  void Add(Space space, bool put, std::string_view key, std::string_view value) {
    if (!ValidSpace(space)) {
      // The interface has no status on Put: Write reports it.
      if (!bad_space_) first_bad_ = space;
      bad_space_ = true;
      return;
    }
    ops_.push_back(Op{space, put, std::string(key), std::string(value)});
    bytes_ += kEntryOverheadBytes + key.size() + value.size();
  }

  const MemoryStore* owner_;
  std::vector<Op> ops_;
  size_t bytes_ = kHeaderBytes;
  bool bad_space_ = false;
  Space first_bad_ = Space::kMeta;
};

using Entries = std::vector<std::pair<std::string, std::string>>;

Status Visit(const Entries& entries, const ScanVisitor& visit) {
  for (const auto& [k, v] : entries) {
    if (!visit(k, v)) break;
  }
  return Ok();
}

// Reads one sorted file (SortedFileWriter) whole.
Result<Entries> ReadSortedFile(const std::string& path) {
  rocksdb::Options options;
  rocksdb::SstFileReader reader(options);
  rocksdb::Status s = reader.Open(path);
  if (s.ok()) s = reader.VerifyChecksum();
  if (!s.ok()) return Fail(internal::FromRocks(s, "cannot read sorted file " + path));
  Entries out;
  std::unique_ptr<rocksdb::Iterator> it(reader.NewIterator(rocksdb::ReadOptions()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    out.emplace_back(it->key().ToString(), it->value().ToString());
  }
  if (!it->status().ok()) {
    return Fail(internal::FromRocks(it->status(), "cannot read sorted file " + path));
  }
  return out;
}

class MemoryStore final : public Store {
 public:
  MemoryStore(std::shared_ptr<MemoryData> data, bool read_only, bool shared = false)
      : data_(std::move(data)), read_only_(read_only), shared_(shared) {}

  ~MemoryStore() override {
    if (read_only_ || shared_) return;
    std::lock_guard lock(data_->writer_mu);
    data_->writer_open = false;
  }

  std::unique_ptr<WriteBatch> NewBatch() override {
    return std::make_unique<MemoryWriteBatch>(this);
  }

  bool shared() const override { return shared_; }
  Status Transact(const TransactionBody& body) override {
    return shared_ ? TransactUnder(data_->transact_mu, body) : Store::Transact(body);
  }

  Status Write(WriteBatch& batch, bool /*sync*/) override {
    COFFRE_TRY(RefuseIfReadOnly("write"));
    auto* mb = dynamic_cast<MemoryWriteBatch*>(&batch);
    if (mb == nullptr || mb->owner() != this) {
      return Fail(ErrorCode::kInternal, "write batch was not created by this store");
    }
    if (mb->bad_space()) return BadSpace(mb->first_bad());
    std::unique_lock lock(data_->mu);
    for (const MemoryWriteBatch::Op& op : mb->ops()) {
      SpaceMap& m = data_->spaces[static_cast<size_t>(op.space)];
      if (op.put) {
        m.insert_or_assign(op.key, op.value);
      } else if (auto it = m.find(op.key); it != m.end()) {
        m.erase(it);
      }
    }
    return Ok();
  }

  Result<std::optional<std::string>> Get(Space space, std::string_view key) override {
    if (!ValidSpace(space)) return BadSpace(space);
    std::shared_lock lock(data_->mu);
    const SpaceMap& m = data_->spaces[static_cast<size_t>(space)];
    auto it = m.find(key);
    if (it == m.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }

  Result<std::vector<std::optional<std::string>>> MultiGet(
      Space space, const std::vector<std::string_view>& keys) override {
    if (!ValidSpace(space)) return BadSpace(space);
    std::vector<std::optional<std::string>> out(keys.size());
    std::shared_lock lock(data_->mu);
    const SpaceMap& m = data_->spaces[static_cast<size_t>(space)];
    for (size_t i = 0; i < keys.size(); ++i) {
      if (auto it = m.find(keys[i]); it != m.end()) out[i] = it->second;
    }
    return out;
  }

  Status Scan(Space space, std::string_view prefix, const ScanVisitor& visit) override {
    if (!ValidSpace(space)) return BadSpace(space);
    Entries entries;
    {
      std::shared_lock lock(data_->mu);
      const SpaceMap& m = data_->spaces[static_cast<size_t>(space)];
      for (auto it = m.lower_bound(prefix); it != m.end() && it->first.starts_with(prefix); ++it) {
        entries.emplace_back(it->first, it->second);
      }
    }
    return Visit(entries, visit);
  }

  Status ScanRange(Space space, std::string_view begin, std::string_view end,
                   const ScanVisitor& visit) override {
    if (!ValidSpace(space)) return BadSpace(space);
    Entries entries;
    {
      std::shared_lock lock(data_->mu);
      const SpaceMap& m = data_->spaces[static_cast<size_t>(space)];
      for (auto it = m.lower_bound(begin); it != m.end() && (end.empty() || it->first < end);
           ++it) {
        entries.emplace_back(it->first, it->second);
      }
    }
    return Visit(entries, visit);
  }

  Status CompactSpace(Space space) override {
    COFFRE_TRY(RefuseIfReadOnly("compact"));
    if (!ValidSpace(space)) return BadSpace(space);
    return Ok();  // deleted entries left the map when they were deleted
  }

  Status Flush() override { return RefuseIfReadOnly("flush"); }
  Status SyncWal() override { return RefuseIfReadOnly("sync"); }

  Status IngestAtomically(const std::vector<IngestSet>& sets) override {
    COFFRE_TRY(RefuseIfReadOnly("ingest into"));
    // Everything is read and checked first: either all entries land or none.
    std::vector<std::pair<Space, Entries>> files;
    for (const IngestSet& set : sets) {
      if (!ValidSpace(set.space)) return BadSpace(set.space);
      std::vector<std::pair<std::string, std::string>> ranges;  // first, last key per file
      for (const std::string& path : set.paths) {
        COFFRE_ASSIGN_OR_RETURN(Entries entries, ReadSortedFile(path));
        if (entries.empty()) continue;
        for (const auto& [first, last] : ranges) {
          if (!(entries.back().first < first || last < entries.front().first)) {
            return Fail(ErrorCode::kInvalidArgument, "sorted files for space " +
                                                         std::string(SpaceName(set.space)) +
                                                         " overlap one another");
          }
        }
        ranges.emplace_back(entries.front().first, entries.back().first);
        files.emplace_back(set.space, std::move(entries));
      }
    }
    {
      std::unique_lock lock(data_->mu);
      for (auto& [space, entries] : files) {
        SpaceMap& m = data_->spaces[static_cast<size_t>(space)];
        for (auto& [k, v] : entries) m.insert_or_assign(std::move(k), std::move(v));
      }
    }
    // Moved into the store: the files go, as RocksDB's ingestion removes them.
    for (const IngestSet& set : sets) {
      for (const std::string& path : set.paths) {
        std::error_code ec;
        std::filesystem::remove(path, ec);
      }
    }
    return Ok();
  }

 private:
  Status RefuseIfReadOnly(std::string_view what) const {
    if (!read_only_) return Ok();
    return Fail(ErrorCode::kFailedPrecondition,
                "cannot " + std::string(what) + " an in-memory store opened read-only");
  }

  std::shared_ptr<MemoryData> data_;
  const bool read_only_;
  const bool shared_;
};

}  // namespace

Result<std::unique_ptr<Store>> OpenMemoryStore(const MemoryOptions& options) {
  if (options.data == nullptr) {
    return Fail(ErrorCode::kInvalidArgument, "an in-memory store needs its MemoryData");
  }
  if (options.read_only) {
    // A copy: a read-only store sees the data as of its opening.
    auto copy = NewMemoryData();
    std::shared_lock lock(options.data->mu);
    copy->spaces = options.data->spaces;
    return std::unique_ptr<Store>(std::make_unique<MemoryStore>(std::move(copy), true));
  }
  if (options.shared) {
    return std::unique_ptr<Store>(std::make_unique<MemoryStore>(options.data, false, true));
  }
  {
    std::lock_guard lock(options.data->writer_mu);
    if (options.data->writer_open) {
      return Fail(ErrorCode::kFailedPrecondition,
                  "the in-memory store is in use by another opening");
    }
    options.data->writer_open = true;
  }
  return std::unique_ptr<Store>(std::make_unique<MemoryStore>(options.data, false));
}

StoreOpener MemoryStoreOpener(std::shared_ptr<MemoryData> data, bool shared) {
  return [data = std::move(data), shared](const StoreRequest& request) {
    return OpenMemoryStore({.data = data, .read_only = request.read_only, .shared = shared});
  };
}

}  // namespace coffre::storage
