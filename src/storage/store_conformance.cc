#include "storage/store_conformance.h"

#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "storage/sorted_file_writer.h"

namespace coffre::storage {
namespace {

using Entries = std::vector<std::pair<std::string, std::string>>;

constexpr Space kAll[] = {Space::kMeta, Space::kKeys, Space::kRecords, Space::kIndex,
                          Space::kSubjects};

std::string Bytes(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

// Writes one Put as its own synced batch.
void PutOne(Store& store, Space space, std::string_view key, std::string_view value) {
  auto batch = store.NewBatch();
  batch->Put(space, key, value);
  auto s = store.Write(*batch);
  ASSERT_TRUE(s) << s.error().ToString();
}

void DeleteOne(Store& store, Space space, std::string_view key) {
  auto batch = store.NewBatch();
  batch->Delete(space, key);
  auto s = store.Write(*batch);
  ASSERT_TRUE(s) << s.error().ToString();
}

std::optional<std::string> GetOrDie(Store& store, Space space, std::string_view key) {
  auto v = store.Get(space, key);
  EXPECT_TRUE(v) << v.error().ToString();
  return v ? *v : std::nullopt;
}

Entries ScanAll(Store& store, Space space, std::string_view prefix) {
  Entries out;
  auto s = store.Scan(space, prefix, [&](std::string_view k, std::string_view v) {
    out.emplace_back(std::string(k), std::string(v));
    return true;
  });
  EXPECT_TRUE(s) << s.error().ToString();
  return out;
}

std::string Key(const char* tag, int a, int b) {
  char buf[64];
  snprintf(buf, sizeof buf, "%s/%04d/%06d", tag, a, b);
  return buf;
}

// True when `needle` occurs in any regular file under `dir`.
bool AnyFileContains(const std::string& dir, const std::string& needle) {
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path(), std::ios::binary);
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (content.find(needle) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

void StoreConformanceTest::SetUp() {
  std::string tmpl = testing::TempDir() + "coffre-store-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  dir_ = tmpl;
}

void StoreConformanceTest::TearDown() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::unique_ptr<Store> StoreConformanceTest::Open(bool reopen) {
  auto store = GetParam().open(dir_, reopen);
  EXPECT_NE(store, nullptr) << GetParam().name << " failed to open " << dir_;
  return store;
}

TEST_P(StoreConformanceTest, PutThenGetAndAbsentKey) {
  auto store = Open(false);
  ASSERT_TRUE(store);
  PutOne(*store, Space::kRecords, "k1", "v1");
  EXPECT_EQ(GetOrDie(*store, Space::kRecords, "k1"), "v1");
  EXPECT_EQ(GetOrDie(*store, Space::kRecords, "k2"), std::nullopt);
  EXPECT_EQ(GetOrDie(*store, Space::kRecords, "k"), std::nullopt);
  EXPECT_EQ(GetOrDie(*store, Space::kRecords, "k10"), std::nullopt);
}

TEST_P(StoreConformanceTest, MultiGetAnswersEachKeyInOrder) {
  auto store = Open(false);
  ASSERT_TRUE(store);
  PutOne(*store, Space::kIndex, "b", "vb");
  PutOne(*store, Space::kIndex, "a", "");
  PutOne(*store, Space::kRecords, "c", "vc");  // another space: invisible here
  auto r = store->MultiGet(Space::kIndex, {"c", "b", "zz", "a", "b"});
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_EQ(r->size(), 5u);
  EXPECT_EQ((*r)[0], std::nullopt);
  EXPECT_EQ((*r)[1], "vb");
  EXPECT_EQ((*r)[2], std::nullopt);
  EXPECT_EQ((*r)[3], "");
  EXPECT_EQ((*r)[4], "vb");
  auto empty = store->MultiGet(Space::kIndex, {});
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
}

TEST_P(StoreConformanceTest, EmptyValueIsPresent) {
  auto store = Open(false);
  ASSERT_TRUE(store);
  PutOne(*store, Space::kIndex, "k", "");
  EXPECT_EQ(GetOrDie(*store, Space::kIndex, "k"), "");
}

TEST_P(StoreConformanceTest, OverwriteKeepsLastValue) {
  auto store = Open(false);
  ASSERT_TRUE(store);
  PutOne(*store, Space::kKeys, "k", "first");
  PutOne(*store, Space::kKeys, "k", "second, longer");
  PutOne(*store, Space::kKeys, "k", "3");
  EXPECT_EQ(GetOrDie(*store, Space::kKeys, "k"), "3");
  EXPECT_EQ(ScanAll(*store, Space::kKeys, "").size(), 1u);
}

TEST_P(StoreConformanceTest, DeleteRemovesKeyOnly) {
  auto store = Open(false);
  ASSERT_TRUE(store);
  PutOne(*store, Space::kSubjects, "a", "1");
  PutOne(*store, Space::kSubjects, "b", "2");
  DeleteOne(*store, Space::kSubjects, "a");
  DeleteOne(*store, Space::kSubjects, "never-written");  // not an error
  EXPECT_EQ(GetOrDie(*store, Space::kSubjects, "a"), std::nullopt);
  EXPECT_EQ(GetOrDie(*store, Space::kSubjects, "b"), "2");
  EXPECT_EQ(ScanAll(*store, Space::kSubjects, ""), (Entries{{"b", "2"}}));
}

TEST_P(StoreConformanceTest, LastOperationInABatchWins) {
  auto store = Open(false);
  ASSERT_TRUE(store);
  auto batch = store->NewBatch();
  batch->Put(Space::kRecords, "x", "1");
  batch->Put(Space::kRecords, "x", "2");
  batch->Put(Space::kRecords, "y", "1");
  batch->Delete(Space::kRecords, "y");
  ASSERT_TRUE(store->Write(*batch));
  EXPECT_EQ(GetOrDie(*store, Space::kRecords, "x"), "2");
  EXPECT_EQ(GetOrDie(*store, Space::kRecords, "y"), std::nullopt);
}

TEST_P(StoreConformanceTest, SpacesAreIsolated) {
  auto store = Open(false);
  ASSERT_TRUE(store);
  for (Space s : kAll) PutOne(*store, s, "same-key", std::string(SpaceName(s)));
  for (Space s : kAll) {
    EXPECT_EQ(GetOrDie(*store, s, "same-key"), std::string(SpaceName(s)));
    EXPECT_EQ(ScanAll(*store, s, ""), (Entries{{"same-key", std::string(SpaceName(s))}}));
  }
  DeleteOne(*store, Space::kRecords, "same-key");
  EXPECT_EQ(GetOrDie(*store, Space::kRecords, "same-key"), std::nullopt);
  EXPECT_EQ(GetOrDie(*store, Space::kIndex, "same-key"), "index");
  EXPECT_EQ(GetOrDie(*store, Space::kMeta, "same-key"), "meta");
}

TEST_P(StoreConformanceTest, BatchCountsAndClears) {
  auto store = Open(false);
  ASSERT_TRUE(store);
  auto batch = store->NewBatch();
  EXPECT_EQ(batch->Count(), 0u);
  const size_t empty_bytes = batch->ApproximateBytes();
  batch->Put(Space::kRecords, "k", std::string(1000, 'v'));
  batch->Delete(Space::kIndex, "i");
  EXPECT_EQ(batch->Count(), 2u);
  EXPECT_GE(batch->ApproximateBytes(), empty_bytes + 1000);
  batch->Clear();
  EXPECT_EQ(batch->Count(), 0u);
  ASSERT_TRUE(store->Write(*batch));  // an empty batch is fine and writes nothing
  EXPECT_EQ(GetOrDie(*store, Space::kRecords, "k"), std::nullopt);
  // A cleared batch is reusable.
  batch->Put(Space::kRecords, "k2", "v");
  ASSERT_TRUE(store->Write(*batch));
  EXPECT_EQ(GetOrDie(*store, Space::kRecords, "k2"), "v");
}

TEST_P(StoreConformanceTest, BatchIsInvisibleUntilWritten) {
  auto store = Open(false);
  ASSERT_TRUE(store);
  auto batch = store->NewBatch();
  batch->Put(Space::kRecords, "r", "1");
  batch->Put(Space::kIndex, "i", "1");
  EXPECT_EQ(GetOrDie(*store, Space::kRecords, "r"), std::nullopt);
  ASSERT_TRUE(store->Write(*batch));
  EXPECT_EQ(GetOrDie(*store, Space::kRecords, "r"), "1");
  EXPECT_EQ(GetOrDie(*store, Space::kIndex, "i"), "1");
}

// Readers racing a writer never see part of a batch: when the last entry of a
// batch (read first) is visible, so is the first one.
TEST_P(StoreConformanceTest, BatchAcrossSpacesIsAtomicForReaders) {
  auto store = Open(false);
  ASSERT_TRUE(store);
  constexpr int kBatches = 300;
  std::atomic<bool> done{false};
  std::atomic<int> torn{0};
  std::atomic<int> seen{0};
  std::thread reader([&] {
    while (!done.load()) {
      for (int i = 0; i < kBatches; i += 7) {
        auto last = store->Get(Space::kSubjects, Key("s", 0, i));
        if (!last || !*last) continue;
        ++seen;
        auto first = store->Get(Space::kKeys, Key("k", 0, i));
        auto mid = store->Get(Space::kRecords, Key("r", 0, i));
        if (!first || !*first || !mid || !*mid) ++torn;
      }
    }
  });
  for (int i = 0; i < kBatches; ++i) {
    auto batch = store->NewBatch();
    batch->Put(Space::kKeys, Key("k", 0, i), "key");
    batch->Put(Space::kRecords, Key("r", 0, i), "record");
    batch->Put(Space::kSubjects, Key("s", 0, i), "subject");
    ASSERT_TRUE(store->Write(*batch, /*sync=*/false));
  }
  done = true;
  reader.join();
  EXPECT_EQ(torn.load(), 0);
}

TEST_P(StoreConformanceTest, WrittenBatchSurvivesReopenWhole) {
  {
    auto store = Open(false);
    ASSERT_TRUE(store);
    auto batch = store->NewBatch();
    for (int i = 0; i < 200; ++i) {
      batch->Put(kAll[i % 5], Key("b", 1, i), "value-" + std::to_string(i));
    }
    ASSERT_TRUE(store->Write(*batch));
    // Built but never written: must leave no trace.
    auto unwritten = store->NewBatch();
    unwritten->Put(Space::kRecords, "ghost", "boo");
  }
  auto store = Open(true);
  ASSERT_TRUE(store);
  for (int i = 0; i < 200; ++i) {
    EXPECT_EQ(GetOrDie(*store, kAll[i % 5], Key("b", 1, i)), "value-" + std::to_string(i));
  }
  EXPECT_EQ(GetOrDie(*store, Space::kRecords, "ghost"), std::nullopt);
}

// The audit log writes its groups unsynced and syncs them afterwards (ADR
// 0014): the data is readable at once and SyncWal succeeds, also with
// nothing new to sync. (Power loss cannot be simulated here; kill -9
// durability of synced writes is tested by each backend.)
TEST_P(StoreConformanceTest, UnsyncedWritesThenSyncWalAreReadableAndSurviveReopen) {
  {
    auto store = Open(false);
    ASSERT_TRUE(store);
    for (int i = 0; i < 50; ++i) {
      auto batch = store->NewBatch();
      batch->Put(Space::kAudit, Key("u", 1, i), "v" + std::to_string(i));
      ASSERT_TRUE(store->Write(*batch, /*sync=*/false));
      EXPECT_EQ(GetOrDie(*store, Space::kAudit, Key("u", 1, i)), "v" + std::to_string(i));
    }
    auto s = store->SyncWal();
    ASSERT_TRUE(s) << s.error().ToString();
    ASSERT_TRUE(store->SyncWal());
  }
  auto store = Open(true);
  ASSERT_TRUE(store);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(GetOrDie(*store, Space::kAudit, Key("u", 1, i)), "v" + std::to_string(i));
  }
}

TEST_P(StoreConformanceTest, ReopenKeepsEverythingAfterCleanClose) {
  {
    auto store = Open(false);
    ASSERT_TRUE(store);
    for (int i = 0; i < 100; ++i) {
      auto batch = store->NewBatch();
      batch->Put(Space::kRecords, Key("r", 2, i), RandomBytes(100, i));
      // Unsynced writes are not promised to survive a crash, but a clean
      // close keeps them.
      ASSERT_TRUE(store->Write(*batch, /*sync=*/i % 2 == 0));
    }
    DeleteOne(*store, Space::kRecords, Key("r", 2, 50));
    ASSERT_TRUE(store->Flush());
    PutOne(*store, Space::kMeta, "after-flush", "yes");
  }
  auto store = Open(true);
  ASSERT_TRUE(store);
  for (int i = 0; i < 100; ++i) {
    auto v = GetOrDie(*store, Space::kRecords, Key("r", 2, i));
    if (i == 50) {
      EXPECT_EQ(v, std::nullopt);
    } else {
      EXPECT_EQ(v, RandomBytes(100, i)) << i;
    }
  }
  EXPECT_EQ(GetOrDie(*store, Space::kMeta, "after-flush"), "yes");
  // And a reopened store accepts writes.
  PutOne(*store, Space::kMeta, "after-reopen", "yes");
  EXPECT_EQ(GetOrDie(*store, Space::kMeta, "after-reopen"), "yes");
}

TEST_P(StoreConformanceTest, ScanVisitsPrefixInUnsignedByteOrder) {
  auto store = Open(false);
  ASSERT_TRUE(store);
  // Prefixes that end in 0xff bytes have no simple successor; 0x80.. must
  // sort after 0x7f (bytes compare unsigned).
  const std::vector<std::string> keys = {
      "a",
      Bytes({'a', 0x00}),
      Bytes({'a', 0x01}),
      Bytes({'a', 0x7f}),
      Bytes({'a', 0x80}),
      "ab",
      "abc",
      Bytes({'a', 0xff}),
      Bytes({'a', 0xff, 0x00}),
      Bytes({'a', 0xff, 0xff}),
      Bytes({'a', 0xff, 0xff, 0x05}),
      "b",
      Bytes({'b', 0x00}),
      Bytes({0x00}),
      Bytes({0x00, 0x00}),
      Bytes({0x7f, 0xff}),
      Bytes({0x80}),
      Bytes({0xfe, 0xff}),
      Bytes({0xff}),
      Bytes({0xff, 0x00}),
      Bytes({0xff, 0xff}),
      Bytes({0xff, 0xff, 0xff}),
      Bytes({0xff, 0xff, 0xff, 0x01}),
  };
  // Written in a scrambled order, in two spaces (scans must not cross them).
  std::vector<std::string> shuffled = keys;
  // A fixed seed on purpose: the same scrambled order on every run.
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(7));  // NOLINT(cert-msc51-cpp)
  auto batch = store->NewBatch();
  for (const auto& k : shuffled) {
    batch->Put(Space::kIndex, k, "v" + k);
    batch->Put(Space::kRecords, k + "x", "other");
  }
  ASSERT_TRUE(store->Write(*batch));

  auto unsigned_less = [](const std::string& x, const std::string& y) {
    return std::lexicographical_compare(x.begin(), x.end(), y.begin(), y.end(), [](char p, char q) {
      return static_cast<unsigned char>(p) < static_cast<unsigned char>(q);
    });
  };
  std::vector<std::string> ordered(keys);
  std::sort(ordered.begin(), ordered.end(), unsigned_less);

  const std::vector<std::string> prefixes = {"",
                                             "a",
                                             "ab",
                                             "abc",
                                             "abcd",
                                             Bytes({'a', 0xff}),
                                             Bytes({'a', 0xff, 0xff}),
                                             "b",
                                             "c",
                                             "z",
                                             Bytes({0x00}),
                                             Bytes({0x7f}),
                                             Bytes({0x80}),
                                             Bytes({0xfe}),
                                             Bytes({0xff}),
                                             Bytes({0xff, 0xff}),
                                             Bytes({0xff, 0xff, 0xff}),
                                             Bytes({0xff, 0xff, 0xff, 0xff})};
  for (const auto& prefix : prefixes) {
    Entries expected;
    for (const auto& k : ordered) {
      if (k.starts_with(prefix)) expected.emplace_back(k, "v" + k);
    }
    EXPECT_EQ(ScanAll(*store, Space::kIndex, prefix), expected)
        << "prefix of " << prefix.size() << " bytes, first byte "
        << (prefix.empty() ? -1 : static_cast<unsigned char>(prefix[0]));
  }
}

TEST_P(StoreConformanceTest, ScanSkipsDeletedAndStopsEarly) {
  auto store = Open(false);
  ASSERT_TRUE(store);
  auto batch = store->NewBatch();
  for (int i = 0; i < 50; ++i) batch->Put(Space::kSubjects, Key("p", 3, i), "v");
  batch->Put(Space::kSubjects, "q", "v");
  ASSERT_TRUE(store->Write(*batch));
  DeleteOne(*store, Space::kSubjects, Key("p", 3, 0));
  DeleteOne(*store, Space::kSubjects, Key("p", 3, 2));

  std::vector<std::string> visited;
  auto s = store->Scan(Space::kSubjects, "p/", [&](std::string_view k, std::string_view) {
    visited.emplace_back(k);
    return visited.size() < 3;
  });
  ASSERT_TRUE(s) << s.error().ToString();
  EXPECT_EQ(visited, (std::vector<std::string>{Key("p", 3, 1), Key("p", 3, 3), Key("p", 3, 4)}));
  EXPECT_EQ(ScanAll(*store, Space::kSubjects, "p/").size(), 48u);
  EXPECT_TRUE(ScanAll(*store, Space::kSubjects, "p/0003/000000").empty());
}

TEST_P(StoreConformanceTest, ScanRangeVisitsHalfOpenRangeInOrder) {
  auto store = Open(false);
  ASSERT_TRUE(store);
  const std::vector<std::string> keys = {Bytes({'a'}),       Bytes({'a', 0x00}), Bytes({'a', 0x7f}),
                                         Bytes({'a', 0x80}), Bytes({'a', 0xff}), Bytes({'b'}),
                                         Bytes({'b', 0x01}), Bytes({0xff, 0xff})};
  auto batch = store->NewBatch();
  for (const auto& k : keys) {
    batch->Put(Space::kAudit, k, "v");
    batch->Put(Space::kAuditBySubject, k, "other space");
  }
  ASSERT_TRUE(store->Write(*batch));
  auto range = [&](std::string_view begin, std::string_view end, size_t stop_after = 100) {
    std::vector<std::string> out;
    auto s =
        store->ScanRange(Space::kAudit, begin, end, [&](std::string_view k, std::string_view v) {
          EXPECT_EQ(v, "v");
          out.emplace_back(k);
          return out.size() < stop_after;
        });
    EXPECT_TRUE(s) << s.error().ToString();
    // A walk read once sees exactly the same.
    std::vector<std::string> once;
    s = store->ScanRangeOnce(Space::kAudit, begin, end,
                             [&](std::string_view k, std::string_view v) {
                               EXPECT_EQ(v, "v");
                               once.emplace_back(k);
                               return once.size() < stop_after;
                             });
    EXPECT_TRUE(s) << s.error().ToString();
    EXPECT_EQ(once, out);
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(range(Bytes({'a', 0x00}), Bytes({'a', 0xff})),
            (V{Bytes({'a', 0x00}), Bytes({'a', 0x7f}), Bytes({'a', 0x80})}));
  EXPECT_EQ(range(Bytes({'a', 0x01}), Bytes({'b', 0x01})),
            (V{Bytes({'a', 0x7f}), Bytes({'a', 0x80}), Bytes({'a', 0xff}), Bytes({'b'})}));
  EXPECT_EQ(range(Bytes({'b'}), ""), (V{Bytes({'b'}), Bytes({'b', 0x01}), Bytes({0xff, 0xff})}));
  EXPECT_EQ(range("", Bytes({'a', 0x00})), (V{Bytes({'a'})}));
  EXPECT_EQ(range(Bytes({'a', 0x80}), Bytes({'a', 0x80})), V{});
  EXPECT_EQ(range(Bytes({'a'}), "", 2), (V{Bytes({'a'}), Bytes({'a', 0x00})}));
}

TEST_P(StoreConformanceTest, BinaryKeysAndValuesWithNulBytes) {
  auto store = Open(false);
  ASSERT_TRUE(store);
  std::string all_bytes;
  for (int b = 0; b < 256; ++b) all_bytes.push_back(static_cast<char>(b));
  const std::string k1 = Bytes({'k', 0, 0, 'x'});
  const std::string k2 = Bytes({'k', 0, 0});
  const std::string k3 = Bytes({'k', 0});
  const std::string value = all_bytes + std::string(10, '\0') + all_bytes;
  PutOne(*store, Space::kRecords, k1, value);
  PutOne(*store, Space::kRecords, k2, std::string(3, '\0'));
  PutOne(*store, Space::kRecords, k3, "short");
  EXPECT_EQ(GetOrDie(*store, Space::kRecords, k1), value);
  EXPECT_EQ(GetOrDie(*store, Space::kRecords, k2), std::string(3, '\0'));
  EXPECT_EQ(GetOrDie(*store, Space::kRecords, "k"), std::nullopt);
  EXPECT_EQ(ScanAll(*store, Space::kRecords, k2),
            (Entries{{k2, std::string(3, '\0')}, {k1, value}}));
  EXPECT_EQ(ScanAll(*store, Space::kRecords, k3).size(), 3u);
}

TEST_P(StoreConformanceTest, LargeValuesRoundTrip) {
  const std::string big = RandomBytes(1u << 20, 42);
  {
    auto store = Open(false);
    ASSERT_TRUE(store);
    auto batch = store->NewBatch();
    batch->Put(Space::kRecords, "big", big);
    batch->Put(Space::kRecords, "big2", big.substr(1));
    ASSERT_TRUE(store->Write(*batch));
    EXPECT_EQ(GetOrDie(*store, Space::kRecords, "big"), big);
  }
  auto store = Open(true);
  ASSERT_TRUE(store);
  EXPECT_EQ(GetOrDie(*store, Space::kRecords, "big"), big);
  EXPECT_EQ(GetOrDie(*store, Space::kRecords, "big2"), big.substr(1));
}

TEST_P(StoreConformanceTest, ConcurrentSyncedWritersAllLand) {
  constexpr int kThreads = 4;
  constexpr int kBatchesPerThread = 1000;
  {
    auto store = Open(false);
    ASSERT_TRUE(store);
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    threads.reserve(kThreads);
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        auto batch = store->NewBatch();  // one per thread, reused
        for (int i = 0; i < kBatchesPerThread; ++i) {
          batch->Clear();
          batch->Put(Space::kRecords, Key("c", t, i), "record");
          batch->Put(Space::kIndex, Key("c", t, i), "index");
          if (!store->Write(*batch, /*sync=*/true)) ++failures;
        }
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(ScanAll(*store, Space::kRecords, "c/").size(),
              static_cast<size_t>(kThreads * kBatchesPerThread));
  }
  auto store = Open(true);
  ASSERT_TRUE(store);
  EXPECT_EQ(ScanAll(*store, Space::kRecords, "c/").size(),
            static_cast<size_t>(kThreads * kBatchesPerThread));
  EXPECT_EQ(ScanAll(*store, Space::kIndex, "c/").size(),
            static_cast<size_t>(kThreads * kBatchesPerThread));
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kBatchesPerThread; i += 97) {
      EXPECT_EQ(GetOrDie(*store, Space::kRecords, Key("c", t, i)), "record");
    }
  }
}

// Transact: a body's batch lands whole when it returns Ok, and not at all
// when it fails; its reads see the store.
TEST_P(StoreConformanceTest, TransactCommitsOnOkAndDropsOnError) {
  auto store = Open(false);
  ASSERT_TRUE(store);
  PutOne(*store, Space::kMeta, "seen", "before");
  Status ok = store->Transact([&](Transaction& t) -> Status {
    auto v = t.Get(Space::kMeta, "seen");
    if (!v) return tl::unexpected(v.error());
    EXPECT_EQ(v->value_or(""), "before");
    auto none = t.Exists(Space::kRecords, "r/");
    if (!none) return tl::unexpected(none.error());
    EXPECT_FALSE(*none);
    t.batch().Put(Space::kRecords, "r/1", "one");
    t.batch().Put(Space::kIndex, "i/1", "");
    return Ok();
  });
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(GetOrDie(*store, Space::kRecords, "r/1"), "one");
  EXPECT_EQ(GetOrDie(*store, Space::kIndex, "i/1"), "");
  Status failed = store->Transact([&](Transaction& t) -> Status {
    t.batch().Put(Space::kRecords, "r/2", "two");
    return Fail(ErrorCode::kAlreadyExists, "taken");
  });
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, ErrorCode::kAlreadyExists);
  auto gone = store->Get(Space::kRecords, "r/2");
  ASSERT_TRUE(gone);
  EXPECT_FALSE(gone->has_value());
  auto exists = store->Transact([&](Transaction& t) -> Status {
    auto yes = t.Exists(Space::kRecords, "r/");
    EXPECT_TRUE(yes && *yes);
    return Ok();
  });
  EXPECT_TRUE(exists);
}

// Read-modify-write under a lock name: concurrent increments of one
// counter all count, and a check-then-insert lets exactly one thread in.
TEST_P(StoreConformanceTest, TransactUnderLockIsAtomicAcrossThreads) {
  constexpr int kThreads = 4;
  constexpr int kIncrements = 50;
  auto store = Open(false);
  ASSERT_TRUE(store);
  std::atomic<int> failures{0};
  std::atomic<int> winners{0};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrements; ++i) {
        Status s = store->Transact([&](Transaction& tx) -> Status {
          COFFRE_TRY(tx.Lock("counter"));
          COFFRE_ASSIGN_OR_RETURN(auto v, tx.Get(Space::kCounters, "n"));
          int n = v ? std::stoi(*v) : 0;
          tx.batch().Put(Space::kCounters, "n", std::to_string(n + 1));
          return Ok();
        });
        if (!s) ++failures;
      }
      Status once = store->Transact([&](Transaction& tx) -> Status {
        COFFRE_TRY(tx.Lock("unique/a"));
        COFFRE_ASSIGN_OR_RETURN(bool taken, tx.Exists(Space::kIndex, "u/a/"));
        if (taken) return Fail(ErrorCode::kAlreadyExists, "taken");
        tx.batch().Put(Space::kIndex, "u/a/" + std::to_string(winners.load()), "");
        return Ok();
      });
      if (once) {
        ++winners;
      } else if (once.error().code != ErrorCode::kAlreadyExists) {
        ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(winners.load(), 1);
  EXPECT_EQ(GetOrDie(*store, Space::kCounters, "n"), std::to_string(kThreads * kIncrements));
  EXPECT_EQ(ScanAll(*store, Space::kIndex, "u/a/").size(), 1u);
}

TEST_P(StoreConformanceTest, NowMicrosIsNearTheSystemClock) {
  auto store = Open(false);
  ASSERT_TRUE(store);
  auto now = store->NowMicros();
  ASSERT_TRUE(now);
  int64_t mine = std::chrono::duration_cast<std::chrono::microseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
  EXPECT_LT(std::abs(*now - mine), int64_t{5'000'000});
}

// Crypto-shredding relies on deleted values leaving the disk (DESIGN.md:
// erasing a person deletes, then compacts). Values must be stored
// uncompressed for the search to mean anything: factories for this suite
// turn compression off.
TEST_P(StoreConformanceTest, CompactSpaceRemovesDeletedValuesFromFiles) {
  if (!GetParam().data_in_dir) GTEST_SKIP() << "backend keeps no files under the test dir";
  // Distinctive 64-byte markers; built at run time so the test binary's own
  // bytes do not matter (the search is only under dir_ anyway).
  auto marker = [](char tag) {
    std::string m = "COFFRE-SHRED-MARKER-";
    m.push_back(tag);
    while (m.size() < 64) m.push_back(static_cast<char>('A' + (m.size() * 7) % 26));
    return m;
  };
  const std::string flushed = marker('1');  // reaches a table file before deletion
  const std::string logged = marker('2');   // only ever in the write-ahead log / memtable
  ASSERT_EQ(flushed.size(), 64u);

  auto store = Open(false);
  ASSERT_TRUE(store);
  auto batch = store->NewBatch();
  for (int i = 0; i < 100; ++i) batch->Put(Space::kRecords, Key("keep", 4, i), RandomBytes(200, i));
  batch->Put(Space::kRecords, "victim-1", flushed);
  batch->Put(Space::kMeta, "meta-1", "meta value");
  ASSERT_TRUE(store->Write(*batch));
  ASSERT_TRUE(store->Flush());
  ASSERT_TRUE(AnyFileContains(dir_, flushed)) << "the search itself must work";

  PutOne(*store, Space::kRecords, "victim-2", logged);
  // Data of another space in the same log file must not keep it alive.
  PutOne(*store, Space::kMeta, "meta-2", "meta value");
  ASSERT_TRUE(AnyFileContains(dir_, logged));

  auto erase = store->NewBatch();
  erase->Delete(Space::kRecords, "victim-1");
  erase->Delete(Space::kRecords, "victim-2");
  ASSERT_TRUE(store->Write(*erase));
  auto s = store->CompactSpace(Space::kRecords);
  ASSERT_TRUE(s) << s.error().ToString();

  EXPECT_FALSE(AnyFileContains(dir_, flushed));
  EXPECT_FALSE(AnyFileContains(dir_, logged));
  EXPECT_EQ(GetOrDie(*store, Space::kRecords, "victim-1"), std::nullopt);
  EXPECT_EQ(ScanAll(*store, Space::kRecords, "keep/").size(), 100u);
  EXPECT_EQ(GetOrDie(*store, Space::kMeta, "meta-2"), "meta value");
}

// Bulk import's fast path: sorted files land in several spaces at once,
// replace existing entries with the same keys, and are moved in.
TEST_P(StoreConformanceTest, IngestAtomicallyAcrossSpacesMovesTheFilesIn) {
  auto store = Open(false);
  ASSERT_TRUE(store);
  PutOne(*store, Space::kRecords, "r/0001", "old");
  PutOne(*store, Space::kRecords, "r/9999", "untouched");
  const std::string files = dir_ + "/ingest";
  ASSERT_TRUE(std::filesystem::create_directories(files));
  auto write_file = [&](const std::string& name, const Entries& entries) {
    std::string path = files + "/" + name;
    auto w = SortedFileWriter::Create(path, entries.size());
    EXPECT_TRUE(w) << w.error().ToString();
    if (!w) return path;
    for (const auto& [k, v] : entries) EXPECT_TRUE((*w)->Add(k, v));
    auto n = (*w)->Finish();
    EXPECT_TRUE(n) << n.error().ToString();
    return path;
  };
  const std::string r1 = write_file("r1.sst", {{"r/0001", "new"}, {"r/0002", "two"}});
  const std::string r2 = write_file("r2.sst", {{"r/0003", "three"}});
  const std::string i1 = write_file("i1.sst", {{Bytes({'i', 0xff}), ""}});
  auto s = store->IngestAtomically(
      {IngestSet{Space::kRecords, {r1, r2}}, IngestSet{Space::kIndex, {i1}}});
  ASSERT_TRUE(s) << s.error().ToString();
  EXPECT_EQ(
      ScanAll(*store, Space::kRecords, "r/"),
      (Entries{
          {"r/0001", "new"}, {"r/0002", "two"}, {"r/0003", "three"}, {"r/9999", "untouched"}}));
  EXPECT_EQ(GetOrDie(*store, Space::kIndex, Bytes({'i', 0xff})), "");
  EXPECT_EQ(GetOrDie(*store, Space::kMeta, "r/0002"), std::nullopt);
  for (const std::string& p : {r1, r2, i1}) EXPECT_FALSE(std::filesystem::exists(p)) << p;
  // Nothing to ingest is fine.
  ASSERT_TRUE(store->IngestAtomically({}));
  store.reset();
  store = Open(true);
  ASSERT_TRUE(store);
  EXPECT_EQ(GetOrDie(*store, Space::kRecords, "r/0002"), "two");
}

TEST_P(StoreConformanceTest, CompactingAnEmptySpaceIsFine) {
  auto store = Open(false);
  ASSERT_TRUE(store);
  for (Space s : kAll) ASSERT_TRUE(store->CompactSpace(s));
  ASSERT_TRUE(store->Flush());
}

}  // namespace coffre::storage
