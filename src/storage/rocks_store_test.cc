// Tests of the RocksDB backend: the conformance suite, plus what only this
// backend has (opening rules, locking, read-only mode, options, sorted-file
// ingestion, crash durability).

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/utilities/options_util.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "storage/sorted_file_writer.h"
#include "storage/store.h"
#include "storage/store_conformance.h"

extern char** environ;

namespace coffre::storage {
namespace {

StoreBackend RocksBackend(size_t row_cache_bytes = 0) {
  return {.name = row_cache_bytes == 0 ? "RocksDB" : "RocksDBRowCache",
          .open = [row_cache_bytes](const std::string& dir, bool reopen) -> std::unique_ptr<Store> {
            auto s = OpenRocksStore({.path = dir + "/db",
                                     .create_if_missing = !reopen,
                                     .disable_compression_everywhere = true,
                                     .row_cache_bytes = row_cache_bytes});
            if (!s) {
              ADD_FAILURE() << s.error().ToString();
              return nullptr;
            }
            return std::move(*s);
          },
          .data_in_dir = true};
}

// The whole suite again with the row cache `coffre serve` turns on.
INSTANTIATE_TEST_SUITE_P(RocksDB, StoreConformanceTest,
                         testing::Values(RocksBackend(), RocksBackend(1u << 20)), StoreBackendName);

class RocksStoreTest : public testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = testing::TempDir() + "coffre-rocks-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    db_ = dir_ + "/db";
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::unique_ptr<Store> Create() {
    auto s = OpenRocksStore({.path = db_, .create_if_missing = true});
    EXPECT_TRUE(s) << s.error().ToString();
    return s ? std::move(*s) : nullptr;
  }

  std::string dir_;
  std::string db_;
};

void Put(Store& store, Space space, std::string_view k, std::string_view v) {
  auto b = store.NewBatch();
  b->Put(space, k, v);
  auto s = store.Write(*b);
  ASSERT_TRUE(s) << s.error().ToString();
}

std::optional<std::string> Get(Store& store, Space space, std::string_view k) {
  auto v = store.Get(space, k);
  EXPECT_TRUE(v) << v.error().ToString();
  return v ? *v : std::nullopt;
}

size_t CountPrefix(Store& store, Space space, std::string_view prefix) {
  size_t n = 0;
  auto s = store.Scan(space, prefix, [&](std::string_view, std::string_view) {
    ++n;
    return true;
  });
  EXPECT_TRUE(s) << s.error().ToString();
  return n;
}

// --- Opening rules -----------------------------------------------------------

TEST_F(RocksStoreTest, MissingDirectoryWithoutCreateIsNotFound) {
  auto s = OpenRocksStore({.path = db_});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(s.error().message, "no vault at " + db_);
  EXPECT_FALSE(std::filesystem::exists(db_)) << "a failed open must not create anything";

  auto ro = OpenRocksStore({.path = db_, .read_only = true});
  ASSERT_FALSE(ro);
  EXPECT_EQ(ro.error().code, ErrorCode::kNotFound);
}

TEST_F(RocksStoreTest, EmptyDirectoryWithoutCreateIsNotFound) {
  std::filesystem::create_directory(db_);
  auto s = OpenRocksStore({.path = db_});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kNotFound);
  // With create, an empty directory (e.g. a prepared mount point) is fine.
  EXPECT_TRUE(OpenRocksStore({.path = db_, .create_if_missing = true}));
}

TEST_F(RocksStoreTest, EmptyPathIsInvalid) {
  auto s = OpenRocksStore({.path = "", .create_if_missing = true});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(RocksStoreTest, RefusesDirectoryHoldingOtherFiles) {
  std::filesystem::create_directory(db_);
  std::ofstream(db_ + "/notes.txt") << "not a database";
  auto s = OpenRocksStore({.path = db_, .create_if_missing = true});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(s.error().message.find("not a coffre store"), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find(db_), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(db_ + "/CURRENT"));
}

TEST_F(RocksStoreTest, RefusesRegularFile) {
  std::ofstream(db_) << "file";
  auto s = OpenRocksStore({.path = db_, .create_if_missing = true});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kFailedPrecondition);
}

TEST_F(RocksStoreTest, RefusesPlainRocksDbDatabase) {
  {
    rocksdb::Options o;
    o.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, db_, &raw).ok());
    delete raw;
  }
  auto s = OpenRocksStore({.path = db_, .create_if_missing = true});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(s.error().message.find("not a coffre store"), std::string::npos) << s.error().message;
}

TEST_F(RocksStoreTest, RefusesUnknownColumnFamily) {
  ASSERT_TRUE(Create());
  {
    rocksdb::DB* raw = nullptr;
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    std::vector<std::string> existing{"default"};
    for (int i = 0; i < kSpaceCount; ++i) {
      if (SpaceName(static_cast<Space>(i)) != "unknown")
        existing.emplace_back(SpaceName(static_cast<Space>(i)));
    }
    for (const std::string& n : existing) {
      cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), db_, cfs, &handles, &raw).ok());
    rocksdb::ColumnFamilyHandle* extra = nullptr;
    ASSERT_TRUE(raw->CreateColumnFamily(rocksdb::ColumnFamilyOptions(), "future", &extra).ok());
    handles.push_back(extra);
    for (auto* h : handles) ASSERT_TRUE(raw->DestroyColumnFamilyHandle(h).ok());
    delete raw;
  }
  auto s = OpenRocksStore({.path = db_});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(s.error().message.find("'future'"), std::string::npos) << s.error().message;
}

TEST_F(RocksStoreTest, SecondOpenWhileOpenFailsClearly) {
  auto first = Create();
  ASSERT_TRUE(first);
  auto second = OpenRocksStore({.path = db_});
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(second.error().message, "data directory is in use by another coffre process: " + db_);
  first.reset();
  EXPECT_TRUE(OpenRocksStore({.path = db_})) << "the lock goes with the store";
}

TEST_F(RocksStoreTest, CreatesEveryColumnFamilyWithChosenOptions) {
  ASSERT_TRUE(Create());
  rocksdb::DBOptions db_options;
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  rocksdb::ConfigOptions config;
  ASSERT_TRUE(rocksdb::LoadLatestOptions(config, db_, &db_options, &cfs).ok());
  std::vector<std::string> names;
  for (const auto& cf : cfs) {
    names.push_back(cf.name);
    if (cf.name == "default") continue;
    EXPECT_EQ(cf.options.compression, rocksdb::kNoCompression) << cf.name;
    EXPECT_TRUE(cf.options.level_compaction_dynamic_level_bytes) << cf.name;
    EXPECT_EQ(cf.options.max_write_buffer_number, 4) << cf.name;
    const bool small = cf.name == "meta" || cf.name == "principals" || cf.name == "counters" ||
                       cf.name == "alerts" || cf.name == "cards" || cf.name == "credentials" ||
                       cf.name == "archive" || cf.name == "retention";
    EXPECT_EQ(cf.options.write_buffer_size, small ? 4u << 20 : 64u << 20) << cf.name;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"default", "meta", "keys", "records", "index",
                                             "subjects", "audit", "audit_by_principal",
                                             "audit_by_subject", "principals", "counters", "alerts",
                                             "cards", "credentials", "archive", "retention"}));
  EXPECT_EQ(db_options.max_background_jobs, 2);
  EXPECT_EQ(db_options.bytes_per_sync, 1u << 20);
  EXPECT_EQ(db_options.wal_compression, rocksdb::kNoCompression);
}

TEST_F(RocksStoreTest, RejectsBatchOfAnotherStore) {
  auto a = Create();
  ASSERT_TRUE(a);
  auto b = OpenRocksStore({.path = dir_ + "/other", .create_if_missing = true});
  ASSERT_TRUE(b);
  auto batch = (*b)->NewBatch();
  batch->Put(Space::kMeta, "k", "v");
  auto s = a->Write(*batch);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kInternal);
}

TEST_F(RocksStoreTest, UnknownSpaceIsInvalid) {
  auto store = Create();
  ASSERT_TRUE(store);
  const auto bad = static_cast<Space>(kSpaceCount);
  auto g = store->Get(bad, "k");
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().code, ErrorCode::kInvalidArgument);
  auto batch = store->NewBatch();
  batch->Put(bad, "k", "v");
  EXPECT_FALSE(store->Write(*batch));
}

// --- Read-only mode ----------------------------------------------------------

TEST_F(RocksStoreTest, ReadOnlySeesDataAndRefusesWrites) {
  {
    auto store = Create();
    ASSERT_TRUE(store);
    Put(*store, Space::kRecords, "r1", "v1");
    Put(*store, Space::kIndex, "i1", "x");
  }
  auto ro = OpenRocksStore({.path = db_, .read_only = true});
  ASSERT_TRUE(ro) << ro.error().ToString();
  Store& store = **ro;
  EXPECT_EQ(Get(store, Space::kRecords, "r1"), "v1");
  EXPECT_EQ(CountPrefix(store, Space::kIndex, ""), 1u);

  auto batch = store.NewBatch();
  batch->Put(Space::kRecords, "r2", "v2");
  auto w = store.Write(*batch);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(w.error().message.find("read-only"), std::string::npos);
  EXPECT_FALSE(store.CompactSpace(Space::kRecords));
  EXPECT_FALSE(store.Flush());
  EXPECT_FALSE(store.SyncWal());
  EXPECT_FALSE(store.IngestSortedFiles(Space::kRecords, {}));
  EXPECT_EQ(Get(store, Space::kRecords, "r2"), std::nullopt);
}

TEST_F(RocksStoreTest, ReadOnlyOpensBesideTheWriter) {
  auto writer = Create();
  ASSERT_TRUE(writer);
  Put(*writer, Space::kMeta, "m", "1");
  auto ro = OpenRocksStore({.path = db_, .read_only = true});
  ASSERT_TRUE(ro) << ro.error().ToString();
  EXPECT_EQ(Get(**ro, Space::kMeta, "m"), "1");
}

// --- Sorted files --------------------------------------------------------------

TEST_F(RocksStoreTest, IngestedSortedFileIsVisibleAndDurable) {
  const std::string file = dir_ + "/index-0001.sst";
  {
    auto store = Create();
    ASSERT_TRUE(store);
    Put(*store, Space::kIndex, "ix/00010", "old");  // the ingested value must win

    auto w = SortedFileWriter::Create(file);
    ASSERT_TRUE(w) << w.error().ToString();
    for (int i = 0; i < 1000; ++i) {
      char key[16];
      snprintf(key, sizeof key, "ix/%05d", i);
      ASSERT_TRUE((*w)->Add(key, std::string("v") + std::to_string(i)));
    }
    auto n = (*w)->Finish();
    ASSERT_TRUE(n) << n.error().ToString();
    EXPECT_EQ(*n, 1000u);

    auto s = store->IngestSortedFiles(Space::kIndex, {file});
    ASSERT_TRUE(s) << s.error().ToString();
    EXPECT_FALSE(std::filesystem::exists(file)) << "files are moved in";
    EXPECT_EQ(Get(*store, Space::kIndex, "ix/00010"), "v10");
    EXPECT_EQ(Get(*store, Space::kIndex, "ix/00999"), "v999");
    EXPECT_EQ(Get(*store, Space::kRecords, "ix/00010"), std::nullopt);
    EXPECT_EQ(CountPrefix(*store, Space::kIndex, "ix/"), 1000u);
    EXPECT_EQ(CountPrefix(*store, Space::kIndex, "ix/009"), 100u);
    ASSERT_TRUE(store->IngestSortedFiles(Space::kIndex, {}));
  }
  auto store = OpenRocksStore({.path = db_});
  ASSERT_TRUE(store);
  EXPECT_EQ(CountPrefix(**store, Space::kIndex, "ix/"), 1000u);
  EXPECT_EQ(Get(**store, Space::kIndex, "ix/00010"), "v10");
}

// The row cache answers point lookups from table files; no change of a key,
// by a write, a deletion, an ingested file or a compaction, may leave it
// answering the old value.
TEST_F(RocksStoreTest, TheRowCacheNeverAnswersAStaleValue) {
  auto opened =
      OpenRocksStore({.path = db_, .create_if_missing = true, .row_cache_bytes = 1u << 20});
  ASSERT_TRUE(opened) << opened.error().ToString();
  Store& store = **opened;
  auto in_files = [&](const char* value) {
    Put(store, Space::kRecords, "rec/1", value);
    ASSERT_TRUE(store.Flush());  // into a table file, where the row cache applies
    EXPECT_EQ(Get(store, Space::kRecords, "rec/1"), value);
    EXPECT_EQ(Get(store, Space::kRecords, "rec/1"), value);  // now from the cache
  };
  in_files("v1");
  in_files("v2");  // overwritten: the newer file is read first

  auto batch = store.NewBatch();
  batch->Delete(Space::kRecords, "rec/1");
  ASSERT_TRUE(store.Write(*batch));
  EXPECT_EQ(Get(store, Space::kRecords, "rec/1"), std::nullopt);  // tombstone in the memtable
  ASSERT_TRUE(store.Flush());
  EXPECT_EQ(Get(store, Space::kRecords, "rec/1"), std::nullopt);  // tombstone in a file
  ASSERT_TRUE(store.CompactSpace(Space::kRecords));
  EXPECT_EQ(Get(store, Space::kRecords, "rec/1"), std::nullopt);  // both gone

  in_files("v3");
  const std::string file = dir_ + "/r.sst";
  auto w = SortedFileWriter::Create(file);
  ASSERT_TRUE(w);
  ASSERT_TRUE((*w)->Add("rec/1", "v4"));
  ASSERT_TRUE((*w)->Finish());
  ASSERT_TRUE(store.IngestSortedFiles(Space::kRecords, {file}));
  EXPECT_EQ(Get(store, Space::kRecords, "rec/1"), "v4");
  ASSERT_TRUE(store.CompactSpace(Space::kRecords));
  EXPECT_EQ(Get(store, Space::kRecords, "rec/1"), "v4");
}

// A file whose size is given up front gets one whole-file filter (one probe
// per lookup), others partitioned filters; lookups through either find every
// present key and no absent one.
TEST_F(RocksStoreTest, SortedFilesOfKnownSizeGetAWholeFileFilter) {
  auto store = Create();
  ASSERT_TRUE(store);
  auto contents = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  struct Case {
    std::string path;
    uint64_t expected;
    const char* filter;  // RocksDB's name of the filter block, in the metaindex
    const char* prefix;
  };
  const Case cases[] = {
      {dir_ + "/whole.sst", 2000, "fullfilter.", "w/"},
      {dir_ + "/parts.sst", 0, "partitionedfilter.", "p/"},
      {dir_ + "/big.sst", SortedFileWriter::kMaxWholeFilterEntries + 1, "partitionedfilter.", "b/"},
  };
  for (const Case& c : cases) {
    auto w = SortedFileWriter::Create(c.path, c.expected);
    ASSERT_TRUE(w) << w.error().ToString();
    for (int i = 0; i < 2000; i += 2) {  // even numbers only
      char key[16];
      snprintf(key, sizeof key, "%s%05d", c.prefix, i);
      ASSERT_TRUE((*w)->Add(key, "v"));
    }
    ASSERT_TRUE((*w)->Finish());
    const std::string bytes = contents(c.path);
    EXPECT_NE(bytes.find(c.filter), std::string::npos) << c.path;
    if (std::string_view(c.filter) == "fullfilter.") {
      EXPECT_EQ(bytes.find("partitionedfilter."), std::string::npos) << c.path;
    }
    ASSERT_TRUE(store->IngestSortedFiles(Space::kIndex, {c.path}));
  }
  for (const Case& c : cases) {
    std::vector<std::string> keys;
    for (int i = 0; i < 2000; ++i) {
      char key[16];
      snprintf(key, sizeof key, "%s%05d", c.prefix, i);
      keys.emplace_back(key);
    }
    std::vector<std::string_view> views(keys.begin(), keys.end());
    auto found = store->MultiGet(Space::kIndex, views);
    ASSERT_TRUE(found) << found.error().ToString();
    ASSERT_EQ(found->size(), keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
      EXPECT_EQ((*found)[i].has_value(), i % 2 == 0) << c.path << " " << i;
      EXPECT_EQ(Get(*store, Space::kIndex, keys[i]).has_value(), i % 2 == 0) << c.path << " " << i;
    }
  }
}

// Bulk import commits a group of files into several spaces at once: after a
// successful call every space holds its files; a failing set leaves no space
// changed.
// ADR 0004's gap, closed by ADR 0016: the MANIFEST keeps the smallest and
// largest key of every file it listed (blind-index hashes are keys), also
// after CompactSpace dropped the entries. RollManifest leaves them in no
// file of the directory, while the store stays open (a server).
TEST_F(RocksStoreTest, RollManifestForgetsTheBoundsOfDeletedFiles) {
  auto store = Create();
  ASSERT_TRUE(store);
  const std::string gone = "blind-hash-of-a-deleted-value-0123456789";
  Put(*store, Space::kIndex, gone, "id");
  Put(*store, Space::kIndex, "zz-kept", "id");
  ASSERT_TRUE(store->Flush());
  auto b = store->NewBatch();
  b->Delete(Space::kIndex, gone);
  ASSERT_TRUE(store->Write(*b));
  auto holding = [&] {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(db_)) {
      std::ifstream in(e.path(), std::ios::binary);
      std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (content.find(gone) != std::string::npos) names.push_back(e.path().filename().string());
    }
    return names;
  };
  ASSERT_TRUE(store->CompactSpace(Space::kIndex));
  std::vector<std::string> before_roll = holding();
  ASSERT_EQ(before_roll.size(), 1u) << "positive control: the MANIFEST still lists the key";
  EXPECT_EQ(before_roll[0].rfind("MANIFEST-", 0), 0u) << before_roll[0];
  ASSERT_TRUE(store->RollManifest());
  EXPECT_EQ(holding(), std::vector<std::string>{});
  EXPECT_EQ(Get(*store, Space::kIndex, "zz-kept"), "id");
}

TEST_F(RocksStoreTest, IngestAtomicallyAcrossSpaces) {
  auto store = Create();
  ASSERT_TRUE(store);
  auto write = [&](const std::string& path, const std::string& prefix) {
    auto w = SortedFileWriter::Create(path);
    ASSERT_TRUE(w);
    for (int i = 0; i < 10; ++i) ASSERT_TRUE((*w)->Add(prefix + std::to_string(i), "v"));
    ASSERT_TRUE((*w)->Finish());
  };
  write(dir_ + "/r.sst", "rec/");
  write(dir_ + "/i.sst", "idx/");
  ASSERT_TRUE(store->IngestAtomically(
      {{Space::kRecords, {dir_ + "/r.sst"}}, {Space::kIndex, {dir_ + "/i.sst"}}}));
  EXPECT_EQ(CountPrefix(*store, Space::kRecords, "rec/"), 10u);
  EXPECT_EQ(CountPrefix(*store, Space::kIndex, "idx/"), 10u);

  // The second set names a missing file: the whole call fails and the first
  // set's file does not appear either.
  write(dir_ + "/r2.sst", "rec2/");
  EXPECT_FALSE(store->IngestAtomically(
      {{Space::kRecords, {dir_ + "/r2.sst"}}, {Space::kIndex, {dir_ + "/missing.sst"}}}));
  EXPECT_EQ(CountPrefix(*store, Space::kRecords, "rec2/"), 0u);
}

TEST_F(RocksStoreTest, SortedFileWriterRejectsDisorderAndEmptiness) {
  {
    auto w = SortedFileWriter::Create(dir_ + "/a.sst");
    ASSERT_TRUE(w);
    ASSERT_TRUE((*w)->Add("b", "1"));
    auto s = (*w)->Add("a", "2");
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(s.error().message.find("\"a\""), std::string::npos);
    EXPECT_FALSE((*w)->Finish());
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/a.sst")) << "unfinished files are removed";
  {
    auto w = SortedFileWriter::Create(dir_ + "/b.sst");
    ASSERT_TRUE(w);
    ASSERT_TRUE((*w)->Add("k", "1"));
    EXPECT_FALSE((*w)->Add("k", "2")) << "equal keys are not increasing";
  }
  {
    auto w = SortedFileWriter::Create(dir_ + "/c.sst");
    ASSERT_TRUE(w);
    auto n = (*w)->Finish();
    ASSERT_FALSE(n);
    EXPECT_EQ(n.error().code, ErrorCode::kInvalidArgument);
  }
  auto bad = SortedFileWriter::Create(dir_ + "/no/such/dir/d.sst");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kIoError);
}

// --- Crash durability ------------------------------------------------------

constexpr char kCrashDirEnv[] = "COFFRE_STORE_CRASH_DIR";
constexpr char kCrashFdEnv[] = "COFFRE_STORE_CRASH_FD";

std::string CrashKey(uint32_t i) {
  char buf[32];
  snprintf(buf, sizeof buf, "crash/%08u", i);
  return buf;
}

// Not a test of its own: the child process of AcknowledgedWritesSurviveKill,
// started as a fresh process (fork + exec of this binary) so that it owns
// RocksDB's threads and locks cleanly. Writes synced batches and
// acknowledges each on a pipe until killed.
TEST(RocksCrashChild, WriteUntilKilled) {
  const char* dir = getenv(kCrashDirEnv);
  const char* fd_text = getenv(kCrashFdEnv);
  if (dir == nullptr || fd_text == nullptr) {
    GTEST_SKIP() << "helper process of RocksStoreTest.AcknowledgedWritesSurviveKill";
  }
  const int fd = atoi(fd_text);
  auto store = OpenRocksStore({.path = dir, .create_if_missing = true});
  if (!store) _exit(2);
  auto batch = (*store)->NewBatch();
  for (uint32_t i = 0;; ++i) {
    batch->Clear();
    batch->Put(Space::kRecords, CrashKey(i), std::string(100, 'r'));
    batch->Put(Space::kIndex, CrashKey(i), "i");
    if (!(*store)->Write(*batch, /*sync=*/true)) _exit(3);
    if (write(fd, &i, sizeof i) != static_cast<ssize_t>(sizeof i)) _exit(4);
  }
}

// Reads one acknowledgement; false on EOF, error or a 30 s silence.
bool ReadAck(int fd, uint32_t* ack) {
  size_t got = 0;
  auto* p = reinterpret_cast<char*>(ack);
  while (got < sizeof *ack) {
    pollfd pfd{fd, POLLIN, 0};
    if (poll(&pfd, 1, 30'000) <= 0) return false;
    ssize_t n = read(fd, p + got, sizeof *ack - got);
    if (n <= 0) return false;
    got += static_cast<size_t>(n);
  }
  return true;
}

TEST_F(RocksStoreTest, AcknowledgedWritesSurviveKill) {
  constexpr uint32_t kAcksBeforeKill = 300;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);

  // Everything the child needs is prepared before fork: between fork and
  // exec only async-signal-safe calls are allowed.
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view v(*e);
    if (v.starts_with("GTEST_OUTPUT=") || v.starts_with(kCrashDirEnv) ||
        v.starts_with(kCrashFdEnv)) {
      continue;  // the child must not overwrite the parent's report
    }
    env.emplace_back(v);
  }
  env.push_back(std::string(kCrashDirEnv) + "=" + db_);
  env.push_back(std::string(kCrashFdEnv) + "=" + std::to_string(fds[1]));
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string arg0 = "storage_test";
  std::string filter = "--gtest_filter=RocksCrashChild.WriteUntilKilled";
  char* argv[] = {arg0.data(), filter.data(), nullptr};

  // The child's own GoogleTest chatter would interleave with ours.
  const int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  ASSERT_GE(devnull, 0);

  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    dup2(devnull, STDOUT_FILENO);
    execve("/proc/self/exe", argv, envp.data());
    _exit(127);
  }
  close(fds[1]);
  close(devnull);

  uint32_t last = 0;
  uint32_t acks = 0;
  bool child_alive = true;
  while (acks < kAcksBeforeKill) {
    uint32_t ack;
    if (!ReadAck(fds[0], &ack)) {
      child_alive = false;
      break;
    }
    EXPECT_EQ(ack, acks);
    last = ack;
    ++acks;
  }
  // While the child holds the directory, no other process may open it.
  if (child_alive) {
    auto second = OpenRocksStore({.path = db_});
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().message, "data directory is in use by another coffre process: " + db_);
  }
  kill(pid, SIGKILL);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(child_alive) << "child stopped early, status " << status;
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  // Acknowledgements already in the pipe count too.
  for (uint32_t ack; ReadAck(fds[0], &ack);) last = ack;
  close(fds[0]);

  auto store = OpenRocksStore({.path = db_});
  ASSERT_TRUE(store) << store.error().ToString();
  for (uint32_t i = 0; i <= last; ++i) {
    ASSERT_EQ(Get(**store, Space::kRecords, CrashKey(i)), std::string(100, 'r')) << i;
    ASSERT_EQ(Get(**store, Space::kIndex, CrashKey(i)), "i") << i;
  }
  // The batch in flight at the kill is there whole or not at all.
  const bool rec = Get(**store, Space::kRecords, CrashKey(last + 1)).has_value();
  const bool idx = Get(**store, Space::kIndex, CrashKey(last + 1)).has_value();
  EXPECT_EQ(rec, idx);
  EXPECT_GE(CountPrefix(**store, Space::kRecords, "crash/"), size_t{last} + 1);
}

// --- Online copies (CopyLiveFiles, docs/backup.md) -------------------------

// Copies what CopyLiveFiles visits into `to`, as a backup does.
Status CopyInto(Store& store, const std::string& to, const std::function<void()>& midway = {}) {
  std::filesystem::create_directories(to);
  int n = 0;
  return store.CopyLiveFiles([&](const LiveFile& f) -> Status {
    if (n++ == 1 && midway) midway();
    std::ofstream out(to + "/" + f.name, std::ios::binary);
    if (f.contents) {
      out << *f.contents;
    } else {
      std::ifstream in(f.path, std::ios::binary);
      std::string bytes(f.size, '\0');
      in.read(bytes.data(), static_cast<std::streamsize>(f.size));
      if (static_cast<uint64_t>(in.gcount()) != f.size) {
        return Fail(ErrorCode::kIoError, f.name + " is shorter than its size");
      }
      out << bytes;
    }
    return out ? Ok() : Fail(ErrorCode::kIoError, "cannot write " + f.name);
  });
}

// Every write acknowledged before the copy began is in the copy, though a
// writer keeps writing and a compaction makes the copied files obsolete
// while they are copied (they stay until the copy ends).
TEST_F(RocksStoreTest, CopyLiveFilesIsConsistentUnderWritesAndCompaction) {
  auto store = Create();
  ASSERT_NE(store, nullptr);
  for (int i = 0; i < 2000; ++i) {
    Put(*store, Space::kRecords, "before/" + std::to_string(i), std::string(200, 'r'));
    if (i % 500 == 499) ASSERT_TRUE(store->Flush());
  }
  for (int i = 0; i < 500; ++i) Put(*store, Space::kIndex, "before/" + std::to_string(i), "i");
  std::atomic<bool> stop{false};
  std::atomic<int> after{0};
  std::thread writer([&] {
    while (!stop.load()) {
      auto b = store->NewBatch();
      b->Put(Space::kRecords, "during/" + std::to_string(after.load()), "x");
      if (!store->Write(*b)) break;
      after.fetch_add(1);
    }
  });
  const std::string copy = dir_ + "/copy";
  Status copied =
      CopyInto(*store, copy, [&] { ASSERT_TRUE(store->CompactSpace(Space::kRecords)); });
  stop.store(true);
  writer.join();
  ASSERT_TRUE(copied) << copied.error().ToString();
  EXPECT_GT(after.load(), 0);

  auto reopened = OpenRocksStore({.path = copy, .read_only = true});
  ASSERT_TRUE(reopened) << reopened.error().ToString();
  EXPECT_EQ(CountPrefix(**reopened, Space::kRecords, "before/"), 2000u);
  EXPECT_EQ(CountPrefix(**reopened, Space::kIndex, "before/"), 500u);
  EXPECT_EQ(Get(**reopened, Space::kRecords, "before/1999"), std::string(200, 'r'));
  // And the source still works after its files were unpinned.
  Put(*store, Space::kRecords, "later", "y");
  EXPECT_EQ(Get(*store, Space::kRecords, "later"), "y");
}

TEST_F(RocksStoreTest, CopyLiveFilesStopsAtTheVisitorsErrorAndRefusesReadOnly) {
  {
    auto store = Create();
    ASSERT_NE(store, nullptr);
    Put(*store, Space::kMeta, "k", "v");
    int visited = 0;
    Status s = store->CopyLiveFiles([&](const LiveFile&) -> Status {
      ++visited;
      return Fail(ErrorCode::kIoError, "disk full");
    });
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().message, "disk full");
    EXPECT_EQ(visited, 1);
    // Unpinned despite the error: a compaction still removes its inputs.
    ASSERT_TRUE(store->CompactSpace(Space::kMeta));
  }
  auto ro = OpenRocksStore({.path = db_, .read_only = true});
  ASSERT_TRUE(ro) << ro.error().ToString();
  Status s = (*ro)->CopyLiveFiles([](const LiveFile&) -> Status { return Ok(); });
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kFailedPrecondition);
}

}  // namespace
}  // namespace coffre::storage
