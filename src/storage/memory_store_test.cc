// Tests of the in-memory backend: the conformance suite, plus what only this
// backend has (its data outliving each opening, one writer at a time,
// read-only snapshots, the opener the vault takes).

#include "storage/memory_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "storage/sorted_file_writer.h"
#include "storage/store_conformance.h"

namespace coffre::storage {
namespace {

// One MemoryData per test directory: "reopen" finds what the previous
// opening left, as a RocksDB directory would.
StoreBackend MemoryBackend() {
  auto data_by_dir = std::make_shared<std::map<std::string, std::shared_ptr<MemoryData>>>();
  return {.name = "Memory",
          .open = [data_by_dir](const std::string& dir, bool reopen) -> std::unique_ptr<Store> {
            auto& data = (*data_by_dir)[dir];
            if (!reopen || data == nullptr) data = NewMemoryData();
            auto s = OpenMemoryStore({.data = data});
            if (!s) {
              ADD_FAILURE() << s.error().ToString();
              return nullptr;
            }
            return std::move(*s);
          },
          .data_in_dir = false};
}

INSTANTIATE_TEST_SUITE_P(Memory, StoreConformanceTest, testing::Values(MemoryBackend()),
                         StoreBackendName);

void Put(Store& store, Space space, std::string_view k, std::string_view v) {
  auto b = store.NewBatch();
  b->Put(space, k, v);
  auto s = store.Write(*b);
  ASSERT_TRUE(s) << s.error().ToString();
}

// Shared: two writable stores on one data, as two nodes on one database;
// their transactions exclude each other.
TEST(MemoryStoreTest, SharedStoresOpenTogetherAndTransactAtomically) {
  auto data = NewMemoryData();
  auto a = OpenMemoryStore({.data = data, .shared = true});
  auto b = OpenMemoryStore({.data = data, .shared = true});
  ASSERT_TRUE(a && b);
  EXPECT_TRUE((*a)->shared());
  auto plain = OpenMemoryStore({.data = NewMemoryData()});
  ASSERT_TRUE(plain);
  EXPECT_FALSE((*plain)->shared());
  std::vector<std::thread> threads;
  for (Store* s : {a->get(), b->get()}) {
    threads.emplace_back([s] {
      for (int i = 0; i < 200; ++i) {
        Status done = s->Transact([](Transaction& t) -> Status {
          COFFRE_ASSIGN_OR_RETURN(auto v, t.Get(Space::kCounters, "n"));
          t.batch().Put(Space::kCounters, "n", std::to_string((v ? std::stoi(*v) : 0) + 1));
          return Ok();
        });
        ASSERT_TRUE(done);
      }
    });
  }
  for (auto& t : threads) t.join();
  auto n = (*a)->Get(Space::kCounters, "n");
  ASSERT_TRUE(n && n->has_value());
  EXPECT_EQ(**n, "400");
}

TEST(MemoryStoreTest, NeedsItsData) {
  auto s = OpenMemoryStore({});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
}

// No files to copy: an online backup is refused cleanly, never half made.
TEST(MemoryStoreTest, CopyLiveFilesIsRefused) {
  auto s = OpenMemoryStore({.data = NewMemoryData()});
  ASSERT_TRUE(s) << s.error().ToString();
  int visited = 0;
  Status copied = (*s)->CopyLiveFiles([&](const LiveFile&) -> Status {
    ++visited;
    return Ok();
  });
  ASSERT_FALSE(copied);
  EXPECT_EQ(copied.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(visited, 0);
}

TEST(MemoryStoreTest, OneWriterAtATime) {
  auto data = NewMemoryData();
  auto first = OpenMemoryStore({.data = data});
  ASSERT_TRUE(first);
  auto second = OpenMemoryStore({.data = data});
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(second.error().message.find("in use"), std::string::npos);
  // Other data sets are independent.
  EXPECT_TRUE(OpenMemoryStore({.data = NewMemoryData()}));
  first->reset();
  EXPECT_TRUE(OpenMemoryStore({.data = data}));
}

TEST(MemoryStoreTest, ReadOnlySeesTheDataAsOfItsOpeningAndRefusesWrites) {
  auto data = NewMemoryData();
  auto writer = OpenMemoryStore({.data = data});
  ASSERT_TRUE(writer);
  Put(**writer, Space::kMeta, "k", "v1");
  auto reader = OpenMemoryStore({.data = data, .read_only = true});  // beside the writer
  ASSERT_TRUE(reader);
  Put(**writer, Space::kMeta, "k", "v2");
  Put(**writer, Space::kMeta, "later", "x");
  EXPECT_EQ((*reader)->Get(Space::kMeta, "k").value(), "v1");
  EXPECT_EQ((*reader)->Get(Space::kMeta, "later").value(), std::nullopt);
  EXPECT_EQ((*writer)->Get(Space::kMeta, "k").value(), "v2");

  auto batch = (*reader)->NewBatch();
  batch->Put(Space::kMeta, "k", "v3");
  auto w = (*reader)->Write(*batch);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ((*reader)->CompactSpace(Space::kMeta).error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ((*reader)->Flush().error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ((*reader)->SyncWal().error().code, ErrorCode::kFailedPrecondition);
  EXPECT_EQ((*reader)->IngestAtomically({}).error().code, ErrorCode::kFailedPrecondition);
}

TEST(MemoryStoreTest, RejectsBatchOfAnotherStoreAndUnknownSpaces) {
  auto a = OpenMemoryStore({.data = NewMemoryData()});
  auto b = OpenMemoryStore({.data = NewMemoryData()});
  ASSERT_TRUE(a && b);
  auto batch = (*b)->NewBatch();
  batch->Put(Space::kMeta, "k", "v");
  auto s = (*a)->Write(*batch);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kInternal);

  const auto bad = static_cast<Space>(kSpaceCount);
  auto mixed = (*a)->NewBatch();
  mixed->Put(Space::kMeta, "k", "v");
  mixed->Put(bad, "k", "v");
  s = (*a)->Write(*mixed);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ((*a)->Get(Space::kMeta, "k").value(), std::nullopt)
      << "nothing of a refused batch lands";
  EXPECT_EQ((*a)->Get(bad, "k").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ((*a)->Scan(bad, "", [](auto, auto) { return true; }).error().code,
            ErrorCode::kInvalidArgument);
}

// A visitor may write to the store it scans: it sees the data as of the
// scan's start (RocksDB's iterators do the same).
TEST(MemoryStoreTest, VisitorMayWriteDuringAScan) {
  auto store = OpenMemoryStore({.data = NewMemoryData()});
  ASSERT_TRUE(store);
  Put(**store, Space::kRecords, "a", "1");
  Put(**store, Space::kRecords, "b", "2");
  int visited = 0;
  auto s = (*store)->Scan(Space::kRecords, "", [&](std::string_view k, std::string_view) {
    ++visited;
    auto batch = (*store)->NewBatch();
    batch->Put(Space::kRecords, std::string(k) + "-copy", "x");
    EXPECT_TRUE((*store)->Write(*batch));
    return true;
  });
  ASSERT_TRUE(s);
  EXPECT_EQ(visited, 2);
  EXPECT_EQ((*store)->Get(Space::kRecords, "b-copy").value(), "x");
}

TEST(MemoryStoreTest, IngestionRefusesOverlappingFilesAndLeavesEverythingAsItWas) {
  auto store = OpenMemoryStore({.data = NewMemoryData()});
  ASSERT_TRUE(store);
  std::string dir = testing::TempDir() + "coffre-mem-XXXXXX";
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  auto file = [&](const std::string& name, std::vector<std::string> keys) {
    auto w = SortedFileWriter::Create(dir + "/" + name);
    EXPECT_TRUE(w);
    for (const auto& k : keys) EXPECT_TRUE((*w)->Add(k, "v"));
    EXPECT_TRUE((*w)->Finish());
    return dir + "/" + name;
  };
  const std::string a = file("a.sst", {"k1", "k5"});
  const std::string b = file("b.sst", {"k3"});
  auto s = (*store)->IngestAtomically({IngestSet{Space::kRecords, {a, b}}});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ((*store)->Get(Space::kRecords, "k1").value(), std::nullopt);
  EXPECT_TRUE(std::filesystem::exists(a));

  auto missing = (*store)->IngestAtomically({IngestSet{Space::kRecords, {dir + "/none.sst"}}});
  EXPECT_FALSE(missing);
  std::filesystem::remove_all(dir);
}

TEST(MemoryStoreTest, OpenerSharesTheDataAndHonoursReadOnly) {
  auto data = NewMemoryData();
  StoreOpener open = MemoryStoreOpener(data);
  {
    auto w = open({.path = "/nowhere", .create_if_missing = true});
    ASSERT_TRUE(w) << w.error().ToString();
    Put(**w, Space::kMeta, "k", "v");
  }
  auto r = open({.path = "/elsewhere", .read_only = true});
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)->Get(Space::kMeta, "k").value(), "v");
  auto b = (*r)->NewBatch();
  EXPECT_FALSE((*r)->Write(*b));
}

}  // namespace
}  // namespace coffre::storage
