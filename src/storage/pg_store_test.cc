// Tests of the PostgreSQL store against a PostgreSQL of the test's own
// (tests/pg_server.h): the conformance suite, then what only a shared store
// has (two stores writing at once, a connection killed mid-batch, a server
// restart, Transact across stores), the URL rules and opening.

#include "storage/pg_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "storage/sorted_file_writer.h"
#include "storage/store_conformance.h"
#include "tests/pg_server.h"

namespace coffre::storage {
namespace {

// One server for the whole binary (initdb takes seconds); a database per
// test directory. Stopped and removed at exit.
coffre::testing::PgServer& Server() {
  static coffre::testing::PgServer server;
  static const bool started = (server.Start(), true);
  (void)started;
  return server;
}

// A fresh database; its name in `name` when asked.
std::string NewDatabase(std::string* name = nullptr) {
  static std::atomic<int> n{0};
  std::string db = "t" + std::to_string(++n);
  if (name != nullptr) *name = db;
  return Server().NewDatabase(db);
}

StoreBackend PgBackend() {
  auto url_by_dir = std::make_shared<std::map<std::string, std::string>>();
  return {.name = "PostgreSQL",
          .open = [url_by_dir](const std::string& dir, bool reopen) -> std::unique_ptr<Store> {
            auto& url = (*url_by_dir)[dir];
            if (!reopen || url.empty()) url = NewDatabase();
            auto s = OpenPgStore({.url = url, .create_if_missing = !reopen});
            if (!s) {
              ADD_FAILURE() << s.error().ToString();
              return nullptr;
            }
            return std::move(*s);
          },
          .data_in_dir = false};
}

INSTANTIATE_TEST_SUITE_P(PostgreSQL, StoreConformanceTest, ::testing::Values(PgBackend()),
                         StoreBackendName);

std::unique_ptr<Store> OpenOrDie(const std::string& url, bool create = true,
                                 const std::string& app = "coffre") {
  auto s = OpenPgStore({.url = url, .application_name = app, .create_if_missing = create});
  EXPECT_TRUE(s) << s.error().ToString();
  return s ? std::move(*s) : nullptr;
}

void PutOrDie(Store& store, Space space, std::string_view k, std::string_view v) {
  auto b = store.NewBatch();
  b->Put(space, k, v);
  auto s = store.Write(*b);
  ASSERT_TRUE(s) << s.error().ToString();
}

std::optional<std::string> GetOrDie(Store& store, Space space, std::string_view k) {
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

std::string Key(const char* tag, int i) {
  std::string n = std::to_string(i);
  return std::string(tag) + "/" + std::string(6 - std::min<size_t>(6, n.size()), '0') + n;
}

// Two stores on one database, as two nodes: each sees the other's batches
// whole, never part of one, and concurrent writers all land.
TEST(PgStoreTest, TwoStoresWriteConcurrentlyAndSeeEachOtherWhole) {
  const std::string url = NewDatabase();
  auto a = OpenOrDie(url);
  auto b = OpenOrDie(url);
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(a->shared());
  constexpr int kBatches = 200;
  std::atomic<int> failures{0};
  std::atomic<int> torn{0};
  std::atomic<bool> done{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      Store& mine = w % 2 == 0 ? *a : *b;
      for (int i = 0; i < kBatches; ++i) {
        auto batch = mine.NewBatch();
        const std::string k = Key(("w" + std::to_string(w)).c_str(), i);
        batch->Put(Space::kRecords, k, "record");
        batch->Put(Space::kIndex, k, "index");
        batch->Put(Space::kSubjects, k, "subject");
        // One key every writer fights over: last writer wins, no error.
        batch->Put(Space::kMeta, "shared", std::to_string(w));
        if (!mine.Write(*batch)) ++failures;
      }
    });
  }
  // Reads on the other store: the last space of a batch visible means the
  // first one is too.
  std::thread reader([&] {
    while (!done.load()) {
      for (int w = 0; w < 4; w += 2) {
        for (int i = 0; i < kBatches; i += 13) {
          const std::string k = Key(("w" + std::to_string(w)).c_str(), i);
          auto last = b->Get(Space::kSubjects, k);
          if (!last || !*last) continue;
          auto first = b->Get(Space::kRecords, k);
          if (!first || !*first) ++torn;
        }
      }
    }
  });
  for (auto& t : writers) t.join();
  done = true;
  reader.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(torn.load(), 0);
  for (Store* s : {a.get(), b.get()}) {
    EXPECT_EQ(CountPrefix(*s, Space::kRecords, "w"), 4u * kBatches);
    EXPECT_EQ(CountPrefix(*s, Space::kIndex, "w"), 4u * kBatches);
    auto shared = GetOrDie(*s, Space::kMeta, "shared");
    ASSERT_TRUE(shared);
    EXPECT_TRUE(*shared == "0" || *shared == "1" || *shared == "2" || *shared == "3");
  }
}

// Transact across two stores (two nodes): read-modify-writes under one
// lock name all count, and a check-then-insert admits exactly one.
TEST(PgStoreTest, TransactIsExactAcrossTwoStores) {
  const std::string url = NewDatabase();
  auto a = OpenOrDie(url);
  auto b = OpenOrDie(url);
  ASSERT_TRUE(a && b);
  constexpr int kThreads = 6;
  constexpr int kIncrements = 40;
  std::atomic<int> failures{0};
  std::atomic<int> winners{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Store& mine = t % 2 == 0 ? *a : *b;
      for (int i = 0; i < kIncrements; ++i) {
        Status s = mine.Transact([&](Transaction& tx) -> Status {
          // Two names, in sorted order, as callers take them.
          COFFRE_TRY(tx.Lock("q/alice"));
          COFFRE_TRY(tx.Lock("q/bob"));
          COFFRE_ASSIGN_OR_RETURN(auto v, tx.Get(Space::kCounters, "n"));
          int n = v ? std::stoi(*v) : 0;
          tx.batch().Put(Space::kCounters, "n", std::to_string(n + 1));
          return Ok();
        });
        if (!s) {
          ADD_FAILURE() << s.error().ToString();
          ++failures;
        }
      }
      Status once = mine.Transact([&](Transaction& tx) -> Status {
        COFFRE_TRY(tx.Lock("u/people/email/abc"));
        COFFRE_ASSIGN_OR_RETURN(bool taken, tx.Exists(Space::kIndex, "u/abc/"));
        if (taken) return Fail(ErrorCode::kAlreadyExists, "taken");
        tx.batch().Put(Space::kIndex, "u/abc/" + std::to_string(t), "");
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
  EXPECT_EQ(GetOrDie(*a, Space::kCounters, "n"), std::to_string(kThreads * kIncrements));
  EXPECT_EQ(CountPrefix(*b, Space::kIndex, "u/abc/"), 1u);
}

// Two bodies taking two names in opposite orders deadlock in the database;
// the store retries the victim, and both commit.
TEST(PgStoreTest, TransactRetriesADeadlockBetweenStores) {
  const std::string url = NewDatabase();
  auto a = OpenOrDie(url);
  auto b = OpenOrDie(url);
  ASSERT_TRUE(a && b);
  std::atomic<int> arrived{0};
  auto body = [&](const char* first, const char* second, const char* key) {
    int runs = 0;
    return [&, first, second, key, runs](Transaction& tx) mutable -> Status {
      COFFRE_TRY(tx.Lock(first));
      if (runs++ == 0) {
        ++arrived;
        // Both hold their first lock before either asks for its second.
        for (int i = 0; i < 500 && arrived.load() < 2; ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
      }
      COFFRE_TRY(tx.Lock(second));
      tx.batch().Put(Space::kCounters, key, "done");
      return Ok();
    };
  };
  Status sa, sb;
  std::thread ta([&] { sa = a->Transact(body("x", "y", "a")); });
  std::thread tb([&] { sb = b->Transact(body("y", "x", "b")); });
  ta.join();
  tb.join();
  EXPECT_TRUE(sa) << sa.error().ToString();
  EXPECT_TRUE(sb) << sb.error().ToString();
  EXPECT_EQ(GetOrDie(*a, Space::kCounters, "a"), "done");
  EXPECT_EQ(GetOrDie(*a, Space::kCounters, "b"), "done");
}

// The connection of a Write is killed while the batch is half applied (its
// statement waits on a row another session holds, after inserting the rows
// before it): nothing of the batch lands, the Write reports kIoError, and
// the store works again on the next call.
TEST(PgStoreTest, ConnectionKilledMidBatchLeavesNothing) {
  std::string db;
  const std::string url = NewDatabase(&db);
  auto store = OpenOrDie(url, true, "coffre-victim");
  ASSERT_TRUE(store);
  PutOrDie(*store, Space::kRecords, Key("m", 500), "old");
  auto holder = Server().Connect(db);
  holder->Sql("BEGIN; SELECT 1 FROM coffre_records WHERE k = convert_to('" + Key("m", 500) +
              "', 'UTF8') FOR UPDATE");
  Status written;
  std::thread writer([&] {
    auto batch = store->NewBatch();
    for (int i = 0; i < 1000; ++i) {
      batch->Put(Space::kIndex, Key("m", i), "index");
      batch->Put(Space::kRecords, Key("m", i), "new");
    }
    written = store->Write(*batch);
  });
  // Wait until the write is blocked on the held row, then kill it.
  bool killed = false;
  for (int i = 0; i < 1000 && !killed; ++i) {
    std::string pids = Server().Sql(
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'coffre-victim' AND "
        "wait_event_type = 'Lock'");
    if (!pids.empty()) {
      killed = Server().Sql("SELECT pg_terminate_backend(" + pids + ")") == "t";
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  writer.join();
  holder->Sql("ROLLBACK");
  ASSERT_TRUE(killed);
  ASSERT_FALSE(written);
  EXPECT_EQ(written.error().code, ErrorCode::kIoError);
  EXPECT_NE(written.error().message.find("outcome is unknown"), std::string::npos)
      << written.error().message;
  // All or nothing: nothing.
  EXPECT_EQ(CountPrefix(*store, Space::kIndex, "m/"), 0u);
  EXPECT_EQ(CountPrefix(*store, Space::kRecords, "m/"), 1u);
  EXPECT_EQ(GetOrDie(*store, Space::kRecords, Key("m", 500)), "old");
  EXPECT_EQ(Server().Sql("SELECT count(*) FROM coffre_index", db), "0");
  // The store reconnects by itself.
  PutOrDie(*store, Space::kRecords, "after", "yes");
  EXPECT_EQ(GetOrDie(*store, Space::kRecords, "after"), "yes");
}

// A transaction whose connection dies before it commits leaves nothing.
TEST(PgStoreTest, ConnectionKilledInsideTransactLeavesNothing) {
  const std::string url = NewDatabase();
  auto store = OpenOrDie(url, true, "coffre-tx-victim");
  ASSERT_TRUE(store);
  Status s = store->Transact([&](Transaction& tx) -> Status {
    COFFRE_TRY(tx.Lock("q/x"));
    tx.batch().Put(Space::kCounters, "n", "1");
    Server().Sql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = "
        "'coffre-tx-victim' AND state = 'idle in transaction'");
    return Ok();
  });
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kIoError);
  EXPECT_EQ(GetOrDie(*store, Space::kCounters, "n"), std::nullopt);
  ASSERT_TRUE(store->Transact([&](Transaction& tx) -> Status {
    tx.batch().Put(Space::kCounters, "n", "2");
    return Ok();
  }));
  EXPECT_EQ(GetOrDie(*store, Space::kCounters, "n"), "2");
}

// The server stops, then starts again; later, it is killed with SIGKILL and
// restarted. While it is down, calls fail with kIoError (no hang, no
// crash); afterwards the same store object works again, with every
// acknowledged write in place.
TEST(PgStoreTest, ServerRestartAndCrashTheStoreReconnects) {
  const std::string url = NewDatabase();
  auto store = OpenOrDie(url);
  ASSERT_TRUE(store);
  for (int i = 0; i < 20; ++i) PutOrDie(*store, Space::kRecords, Key("r", i), "before");
  EXPECT_EQ(CountPrefix(*store, Space::kRecords, "r/"), 20u);  // connections now pooled

  Server().Stop();
  auto down = store->Get(Space::kRecords, Key("r", 1));
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().code, ErrorCode::kIoError);
  auto batch = store->NewBatch();
  batch->Put(Space::kRecords, "while-down", "x");
  auto w = store->Write(*batch);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code, ErrorCode::kIoError);
  EXPECT_FALSE(store->Transact([](Transaction&) -> Status { return Ok(); }));
  Server().StartAgain();
  EXPECT_EQ(GetOrDie(*store, Space::kRecords, Key("r", 1)), "before");
  for (int i = 20; i < 40; ++i) PutOrDie(*store, Space::kRecords, Key("r", i), "between");

  Server().Kill9();
  EXPECT_FALSE(store->Get(Space::kRecords, Key("r", 1)));
  Server().StartAgain();
  // Pooled connections died with the server: the first call already works.
  EXPECT_EQ(GetOrDie(*store, Space::kRecords, Key("r", 39)), "between");
  EXPECT_EQ(CountPrefix(*store, Space::kRecords, "r/"), 40u);
  EXPECT_EQ(GetOrDie(*store, Space::kRecords, "while-down"), std::nullopt);
  PutOrDie(*store, Space::kRecords, "after", "yes");
  ASSERT_TRUE(store->Transact([](Transaction& tx) -> Status {
    COFFRE_TRY(tx.Lock("q/after"));
    tx.batch().Put(Space::kCounters, "after", "yes");
    return Ok();
  }));
  EXPECT_EQ(GetOrDie(*store, Space::kCounters, "after"), "yes");
}

// A long scan (a cursor, in pages) whose visitor calls the store: no
// deadlock on the pool, every entry once, in order.
TEST(PgStoreTest, LongScanWhoseVisitorCallsTheStore) {
  const std::string url = NewDatabase();
  auto store = OpenPgStore({.url = url, .pool_size = 1, .create_if_missing = true});
  ASSERT_TRUE(store) << store.error().ToString();
  auto batch = (*store)->NewBatch();
  for (int i = 0; i < 3000; ++i) batch->Put(Space::kRecords, Key("s", i), std::to_string(i));
  ASSERT_TRUE((*store)->Write(*batch));
  int seen = 0;
  bool ordered = true;
  auto s = (*store)->Scan(Space::kRecords, "s/", [&](std::string_view k, std::string_view v) {
    if (k != Key("s", seen)) ordered = false;
    auto again = (*store)->Get(Space::kRecords, k);
    if (!again || *again != v) ordered = false;
    ++seen;
    return true;
  });
  ASSERT_TRUE(s) << s.error().ToString();
  EXPECT_TRUE(ordered);
  EXPECT_EQ(seen, 3000);
}

// Bulk ingestion: many entries from several files in one transaction; a
// second ingestion over existing keys replaces them; a set with an
// unreadable file lands nothing at all.
TEST(PgStoreTest, IngestIsOneTransactionAndReplacesExistingKeys) {
  const std::string url = NewDatabase();
  auto store = OpenOrDie(url);
  ASSERT_TRUE(store);
  char tmpl[] = "/tmp/coffre-ingest-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  auto write_file = [&](const std::string& name, int from, int to, const std::string& value) {
    std::string path = dir + "/" + name;
    auto w = SortedFileWriter::Create(path);
    EXPECT_TRUE(w);
    for (int i = from; i < to; ++i) EXPECT_TRUE((*w)->Add(Key("i", i), value));
    EXPECT_TRUE((*w)->Finish());
    return path;
  };
  ASSERT_TRUE(store->IngestAtomically(
      {IngestSet{Space::kRecords,
                 {write_file("a", 0, 5000, "one"), write_file("b", 5000, 10000, "one")}},
       IngestSet{Space::kIndex, {write_file("c", 0, 100, "")}}}));
  EXPECT_EQ(CountPrefix(*store, Space::kRecords, "i/"), 10000u);
  EXPECT_EQ(CountPrefix(*store, Space::kIndex, "i/"), 100u);
  // Over existing keys: replaced.
  auto s = store->IngestSortedFiles(Space::kRecords, {write_file("d", 9990, 10010, "two")});
  ASSERT_TRUE(s) << s.error().ToString();
  EXPECT_EQ(GetOrDie(*store, Space::kRecords, Key("i", 9989)), "one");
  EXPECT_EQ(GetOrDie(*store, Space::kRecords, Key("i", 9995)), "two");
  EXPECT_EQ(GetOrDie(*store, Space::kRecords, Key("i", 10005)), "two");
  // One good file in one set, a missing one in the next: nothing lands.
  const std::string good = write_file("e", 20000, 20100, "three");
  auto bad = store->IngestAtomically(
      {IngestSet{Space::kRecords, {good}}, IngestSet{Space::kIndex, {dir + "/missing"}}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(GetOrDie(*store, Space::kRecords, Key("i", 20000)), std::nullopt);
  EXPECT_TRUE(std::filesystem::exists(good));
  EXPECT_EQ(CountPrefix(*store, Space::kRecords, "i/"), 10010u);
  std::filesystem::remove_all(dir);
}

TEST(PgStoreTest, OpenWithoutTablesIsNotFoundAndNamesTheUrl) {
  const std::string url = NewDatabase();
  auto s = OpenPgStore({.url = url});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(s.error().message, "no vault in the database at " + url);
  auto with_query = OpenPgStore({.url = url + "?connect_timeout=5"});
  ASSERT_FALSE(with_query);
  EXPECT_EQ(with_query.error().message, "no vault in the database at " + url);
  // Created once, it opens without create_if_missing, from another store too.
  ASSERT_TRUE(OpenOrDie(url, true));
  EXPECT_TRUE(OpenOrDie(url, false));
}

TEST(PgStoreTest, UnreachableServerIsIoErrorAndWrongPasswordToo) {
  auto s = OpenPgStore({.url = "postgresql://coffre@127.0.0.1:1/coffre"});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kIoError);
  EXPECT_NE(s.error().message.find(
                "cannot connect to the store at postgresql://coffre@127.0.0.1:1/coffre"),
            std::string::npos)
      << s.error().message;
  // A passfile with a wrong password: refused by the server.
  char tmpl[] = "/tmp/coffre-pgpass-XXXXXX";
  int fd = mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  const std::string line = "*:*:*:coffre:not-the-password\n";
  ASSERT_EQ(write(fd, line.data(), line.size()), static_cast<ssize_t>(line.size()));
  close(fd);
  auto wrong = OpenPgStore({.url = Server().url() + "?passfile=" + tmpl});
  unlink(tmpl);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, ErrorCode::kIoError);
  EXPECT_EQ(wrong.error().message.find("not-the-password"), std::string::npos);
}

TEST(PgStoreTest, CheckStoreUrlRefusesSecretsWithoutRepeatingThem) {
  EXPECT_TRUE(CheckStoreUrl("postgresql://coffre@127.0.0.1:5432/coffre"));
  EXPECT_TRUE(
      CheckStoreUrl("postgres://coffre@h1:5432,h2:5433/coffre?target_session_attrs=read-write"));
  EXPECT_TRUE(
      CheckStoreUrl("postgresql://coffre@db/coffre?sslmode=verify-full&sslcert=/etc/c.crt"));
  for (const std::string bad : {"postgresql://coffre:Sup3rSecret@127.0.0.1/coffre",
                                "postgresql://coffre@127.0.0.1/coffre?password=Sup3rSecret",
                                "postgresql://coffre@127.0.0.1/coffre?sslpassword=Sup3rSecret"}) {
    Status s = CheckStoreUrl(bad);
    ASSERT_FALSE(s) << bad;
    EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(s.error().message.find("passfile"), std::string::npos);
    EXPECT_EQ(s.error().message.find("Sup3rSecret"), std::string::npos);
    auto opened = OpenPgStore({.url = bad});
    ASSERT_FALSE(opened);
    EXPECT_EQ(opened.error().message.find("Sup3rSecret"), std::string::npos);
  }
  for (const std::string bad : {"host=db password=Sup3rSecret", "mysql://db/coffre",
                                "postgresql://coffre@db/coffre?nosuchoption=Sup3rSecret", ""}) {
    Status s = CheckStoreUrl(bad);
    ASSERT_FALSE(s) << bad;
    EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(s.error().message.find("Sup3rSecret"), std::string::npos);
  }
}

// coffre needs no superuser and no extension: the role the tests use is
// neither, owns its tables, and the database gains no extension.
TEST(PgStoreTest, NeedsNoSuperuserNorExtension) {
  std::string db;
  const std::string url = NewDatabase(&db);
  ASSERT_TRUE(OpenOrDie(url));
  EXPECT_EQ(Server().Sql("SELECT rolsuper FROM pg_roles WHERE rolname = 'coffre'"), "f");
  EXPECT_EQ(
      Server().Sql("SELECT DISTINCT tableowner FROM pg_tables WHERE tablename LIKE 'coffre%'", db),
      "coffre");
  EXPECT_EQ(Server().Sql("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'coffre%'", db),
            std::to_string(kSpaceCount + 1));  // one per space, and coffre_sync
  EXPECT_EQ(Server().Sql("SELECT count(*) FROM pg_extension WHERE extname <> 'plpgsql'", db), "0");
}

TEST(PgStoreTest, ReadOnlyOpenerReadsAndRefusesWrites) {
  const std::string url = NewDatabase();
  auto writable = PgStoreOpener(url)({.path = "/ignored", .create_if_missing = true});
  ASSERT_TRUE(writable) << writable.error().ToString();
  PutOrDie(**writable, Space::kMeta, "k", "v");
  auto ro = PgStoreOpener(url)({.path = "/ignored", .read_only = true});
  ASSERT_TRUE(ro) << ro.error().ToString();
  EXPECT_EQ(GetOrDie(**ro, Space::kMeta, "k"), "v");
  auto b = (*ro)->NewBatch();
  b->Put(Space::kMeta, "k", "w");
  auto w = (*ro)->Write(*b);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_FALSE((*ro)->Transact([](Transaction& tx) -> Status {
    tx.batch().Put(Space::kMeta, "k", "w");
    return Ok();
  }));
  EXPECT_FALSE((*ro)->CompactSpace(Space::kMeta));
  EXPECT_EQ(GetOrDie(**ro, Space::kMeta, "k"), "v");
  auto copy = (*ro)->CopyLiveFiles([](const LiveFile&) -> Status { return Ok(); });
  ASSERT_FALSE(copy);
  EXPECT_NE(copy.error().message.find("pg_basebackup"), std::string::npos);
}

// NowMicros is the database server's clock.
TEST(PgStoreTest, NowMicrosIsTheDatabaseClock) {
  auto store = OpenOrDie(NewDatabase());
  ASSERT_TRUE(store);
  auto before =
      std::stoll(Server().Sql("SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::int8"));
  auto now = store->NowMicros();
  auto after =
      std::stoll(Server().Sql("SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::int8"));
  ASSERT_TRUE(now);
  EXPECT_LE(before, *now);
  EXPECT_LE(*now, after);
}

}  // namespace
}  // namespace coffre::storage
