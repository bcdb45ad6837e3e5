// Unique values across the nodes of a cluster (docs/adr/0044-unique-and-
// erasure-across-nodes.md): two vaults on one shared in-memory store
// (storage::MemoryStoreOpener(data, /*shared=*/true)) play two nodes over
// one PostgreSQL database. Threads on both create, update and bulk-import the
// same unique values at once; each value ends up held by exactly one record.
//
// People are synthetic (src/gen, as `coffre gen`). Assertion messages show
// counts, never values.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gen/people_gen.h"
#include "storage/memory_store.h"
#include "vault/erasure_journal.h"
#include "vault/importer.h"
#include "vault/vault.h"

namespace coffre::vault {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kSchema = R"(version = 1

[collections.people]
fields = [
  { name = "first_name",     type = "name",           required = true },
  { name = "last_name",      type = "name",           required = true },
  { name = "sex",            type = "enum",           required = true, values = ["F", "M"] },
  { name = "birth_date",     type = "date",           required = true },
  { name = "nir",            type = "nir",            required = true, searchable = true },
  { name = "email",          type = "email",          required = true, searchable = true, unique = true },
  { name = "phone",          type = "phone",          required = true, searchable = true },
  { name = "postal_address", type = "postal_address", required = true },
  { name = "iban",           type = "iban",           required = true },
  { name = "agency",         type = "text",           required = true },
]

[collections.contracts]
fields = [
  { name = "insurer",         type = "text", required = true },
  { name = "contract_number", type = "text", required = true, searchable = true },
]
)";

std::vector<gen::Person> People(size_t count, uint64_t seed = 16) {
  gen::PeopleGenerator g(seed);
  std::vector<gen::Person> people(count);
  for (auto& p : people) g.Next(p);
  return people;
}

std::vector<NamedInput> Inputs(const gen::Person& p) {
  return {{"first_name", schema::Input::String(p.first_name)},
          {"last_name", schema::Input::String(p.last_name)},
          {"sex", schema::Input::String(p.sex)},
          {"birth_date", schema::Input::String(p.birth_date)},
          {"nir", schema::Input::String(p.nir)},
          {"email", schema::Input::String(p.email)},
          {"phone", schema::Input::String(p.phone)},
          {"postal_address", schema::Input::String(p.postal_address)},
          {"iban", schema::Input::String(p.iban)},
          {"agency", schema::Input::String(p.agency)}};
}

std::string FieldOf(const Record& r, std::string_view name) {
  for (const FieldValue& f : r.fields) {
    if (f.name == name) return f.value;
  }
  return "";
}

// Makes index reads outside transactions meet: once armed for n, each such
// read, once made, waits (up to a second) until n of them have been made,
// so that checks made by plain reads on two nodes surely overlap, whatever
// the machine's load. A check made by a plain read and followed by a
// separate write would then let both nodes through; the transactions' reads
// do not come here.
class Rendezvous {
 public:
  void Arm(int n) {
    std::lock_guard lock(mu_);
    wanted_ = n;
    arrived_ = 0;
  }
  void Disarm() { Arm(0); }
  void Arrive() {
    std::unique_lock lock(mu_);
    if (wanted_ == 0) return;
    if (++arrived_ >= wanted_) {
      cv_.notify_all();
      return;
    }
    cv_.wait_for(lock, std::chrono::seconds(1),
                 [&] { return wanted_ == 0 || arrived_ >= wanted_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int wanted_ = 0;
  int arrived_ = 0;
};

// A node's view of the shared store, its index reads meeting at `meet`.
class MeetingIndexReads : public storage::Store {
 public:
  MeetingIndexReads(std::unique_ptr<storage::Store> inner, std::shared_ptr<Rendezvous> meet)
      : inner_(std::move(inner)), meet_(std::move(meet)) {}
  std::unique_ptr<storage::WriteBatch> NewBatch() override { return inner_->NewBatch(); }
  Status Write(storage::WriteBatch& batch, bool sync) override {
    return inner_->Write(batch, sync);
  }
  Result<std::optional<std::string>> Get(storage::Space space, std::string_view key) override {
    auto found = inner_->Get(space, key);
    if (space == storage::Space::kIndex) meet_->Arrive();
    return found;
  }
  Result<std::vector<std::optional<std::string>>> MultiGet(
      storage::Space space, const std::vector<std::string_view>& keys) override {
    auto found = inner_->MultiGet(space, keys);
    if (space == storage::Space::kIndex) meet_->Arrive();
    return found;
  }
  Status Scan(storage::Space space, std::string_view prefix,
              const storage::ScanVisitor& visit) override {
    return inner_->Scan(space, prefix, visit);
  }
  Status ScanRange(storage::Space space, std::string_view begin, std::string_view end,
                   const storage::ScanVisitor& visit) override {
    return inner_->ScanRange(space, begin, end, visit);
  }
  Status CompactSpace(storage::Space space) override { return inner_->CompactSpace(space); }
  Status Flush() override { return inner_->Flush(); }
  Status SyncWal() override { return inner_->SyncWal(); }
  Status IngestAtomically(const std::vector<storage::IngestSet>& sets) override {
    return inner_->IngestAtomically(sets);
  }
  Status Transact(const storage::TransactionBody& body) override { return inner_->Transact(body); }
  bool shared() const override { return inner_->shared(); }
  Result<int64_t> NowMicros() override { return inner_->NowMicros(); }

 private:
  std::unique_ptr<storage::Store> inner_;
  std::shared_ptr<Rendezvous> meet_;
};

storage::StoreOpener NodeOpener(std::shared_ptr<storage::MemoryData> data,
                                std::shared_ptr<Rendezvous> meet) {
  return [open = storage::MemoryStoreOpener(std::move(data), true),
          meet](const storage::StoreRequest& request) -> Result<std::unique_ptr<storage::Store>> {
    COFFRE_ASSIGN_OR_RETURN(auto inner, open(request));
    return std::unique_ptr<storage::Store>(
        std::make_unique<MeetingIndexReads>(std::move(inner), meet));
  };
}

// Releases every thread at once.
class StartLine {
 public:
  void Wait() {
    while (!go_.load(std::memory_order_acquire)) std::this_thread::yield();
  }
  void Go() { go_.store(true, std::memory_order_release); }

 private:
  std::atomic<bool> go_{false};
};

class VaultClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "coffre-vault-cluster-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    tmp_ = tmpl;
    std::ofstream(tmp_ + "/schema.toml") << kSchema;
    auto init = Vault::Init({tmp_ + "/vault",
                             tmp_ + "/schema.toml",
                             tmp_ + "/vault.key",
                             "",
                             {},
                             {},
                             storage::MemoryStoreOpener(data_, true),
                             ""});
    ASSERT_TRUE(init) << init.error().message;
    for (auto* node : {&a_, &b_}) {
      auto v = Vault::Open({.dir = tmp_ + "/vault",
                            .key_file = tmp_ + "/vault.key",
                            .store = NodeOpener(data_, meet_)});
      ASSERT_TRUE(v) << v.error().message;
      *node = std::move(*v);
    }
    ASSERT_TRUE(a_->store().shared());
  }
  void TearDown() override {
    a_.reset();
    b_.reset();
    std::error_code ec;
    fs::remove_all(tmp_, ec);
  }

  Vault& Node(size_t i) { return i % 2 == 0 ? *a_ : *b_; }

  size_t Holders(Vault& v, const std::string& email) {
    auto found = v.Find("people", "email", schema::Input::String(email), 10);
    EXPECT_TRUE(found) << found.error().message;
    return found ? found->size() : 0;
  }

  std::string tmp_;
  std::shared_ptr<storage::MemoryData> data_ = storage::NewMemoryData();
  std::shared_ptr<Rendezvous> meet_ = std::make_shared<Rendezvous>();
  std::unique_ptr<Vault> a_, b_;
};

TEST_F(VaultClusterTest, TwoNodesCreatingTheSameUniqueValueGiveExactlyOneSuccess) {
  constexpr size_t kRounds = 12, kThreads = 8;
  const auto people = People(kRounds);
  for (size_t round = 0; round < kRounds; ++round) {
    StartLine start;
    std::atomic<int> created{0}, clashed{0}, other{0};
    std::vector<std::thread> threads;
    for (size_t t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        start.Wait();
        auto ref = Node(t).Put("people", Inputs(people[round]));
        if (ref) {
          ++created;
        } else if (ref.error().code == ErrorCode::kAlreadyExists) {
          ++clashed;
        } else {
          ++other;
        }
      });
    }
    meet_->Arm(2);  // one check per node at a time (each node serialises its own)
    start.Go();
    for (auto& t : threads) t.join();
    meet_->Disarm();
    EXPECT_EQ(created.load(), 1) << "round " << round;
    EXPECT_EQ(clashed.load(), static_cast<int>(kThreads) - 1) << "round " << round;
    EXPECT_EQ(other.load(), 0) << "round " << round;
    EXPECT_EQ(Holders(*a_, people[round].email), 1u) << "round " << round;
    EXPECT_EQ(Holders(*b_, people[round].email), 1u) << "round " << round;
  }
}

TEST_F(VaultClusterTest, UpdatesToOneValueOnTwoNodesGiveExactlyOneSuccess) {
  constexpr size_t kRounds = 10, kRecords = 6;
  const auto people = People(kRecords + kRounds);
  std::vector<std::string> ids;
  for (size_t i = 0; i < kRecords; ++i) {
    auto ref = Node(i).Put("people", Inputs(people[i]));
    ASSERT_TRUE(ref) << ref.error().message;
    ids.push_back(ref->id);
  }
  for (size_t round = 0; round < kRounds; ++round) {
    const std::string& wanted = people[kRecords + round].email;
    StartLine start;
    std::atomic<int> updated{0}, clashed{0};
    std::vector<std::thread> threads;
    for (size_t t = 0; t < kRecords; ++t) {
      threads.emplace_back([&, t] {
        start.Wait();
        auto r = Node(t).Update("people", ids[t], {{"email", schema::Input::String(wanted)}});
        if (r) {
          ++updated;
        } else if (r.error().code == ErrorCode::kAlreadyExists) {
          ++clashed;
        }
      });
    }
    meet_->Arm(2);
    start.Go();
    for (auto& t : threads) t.join();
    meet_->Disarm();
    EXPECT_EQ(updated.load(), 1) << "round " << round;
    EXPECT_EQ(clashed.load(), static_cast<int>(kRecords) - 1) << "round " << round;
    EXPECT_EQ(Holders(*a_, wanted), 1u) << "round " << round;
  }
}

// Two nodes changing one record's unique value at once: the record's lock
// makes the second update start from what the first wrote, so no index
// entry is left behind pointing at a value the record no longer holds.
TEST_F(VaultClusterTest, ConcurrentUpdatesOfOneRecordLeaveOneIndexEntry) {
  constexpr size_t kRounds = 10;
  const auto people = People(1 + 2 * kRounds);
  auto p = a_->Put("people", Inputs(people[0]));
  ASSERT_TRUE(p);
  for (size_t round = 0; round < kRounds; ++round) {
    const std::string values[] = {people[1 + 2 * round].email, people[2 + 2 * round].email};
    StartLine start;
    std::atomic<int> failed{0};
    std::vector<std::thread> threads;
    for (size_t t = 0; t < 2; ++t) {
      threads.emplace_back([&, t] {
        start.Wait();
        auto r = Node(t).Update("people", p->id, {{"email", schema::Input::String(values[t])}});
        if (!r) ++failed;
      });
    }
    start.Go();
    for (auto& t : threads) t.join();
    EXPECT_EQ(failed.load(), 0) << "round " << round;
    auto now = b_->Get("people", p->id);
    ASSERT_TRUE(now) << now.error().message;
    const std::string kept = FieldOf(*now, "email");
    const bool first = kept == values[0];
    EXPECT_TRUE(first || kept == values[1]) << "round " << round;
    EXPECT_EQ(Holders(*a_, values[0]), first ? 1u : 0u) << "round " << round;
    EXPECT_EQ(Holders(*a_, values[1]), first ? 0u : 1u) << "round " << round;
    EXPECT_EQ(Holders(*a_, people[0].email), 0u) << "round " << round;
  }
}

// Records attached to one subject in a collection where it has no data key
// yet, from both nodes at once: one data key wins and every record opens.
TEST_F(VaultClusterTest, AttachingOnTwoNodesAtOnceSharesOneDataKey) {
  constexpr size_t kRounds = 6, kThreads = 4;
  const auto people = People(kRounds);
  for (size_t round = 0; round < kRounds; ++round) {
    auto person = a_->Put("people", Inputs(people[round]));
    ASSERT_TRUE(person);
    StartLine start;
    std::atomic<int> failed{0};
    std::vector<std::thread> threads;
    for (size_t t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        start.Wait();
        auto r = Node(t).Put(
            "contracts",
            {{"insurer", schema::Input::String("Mutuelle " + std::to_string(t))},
             {"contract_number", schema::Input::String("C-" + std::to_string(round * 10 + t))}},
            person->subject);
        if (!r) ++failed;
      });
    }
    start.Go();
    for (auto& t : threads) t.join();
    EXPECT_EQ(failed.load(), 0) << "round " << round;
    auto records = b_->ExportSubject(person->subject);
    ASSERT_TRUE(records) << "round " << round << ": " << records.error().message;
    EXPECT_EQ(records->size(), 1 + kThreads) << "round " << round;
  }
}

// A bulk import on node A while node B creates people whose emails the file
// also holds: every value ends up held by exactly one record, the import's
// row or B's create, never both.
TEST_F(VaultClusterTest, ImportOnOneNodeRacingCreatesOnAnotherNeverDuplicates) {
  constexpr size_t kPeople = 3000;
  const auto people = People(kPeople, 1616);
  std::string text;
  {
    gen::PeopleGenerator g(1616);
    for (size_t i = 0; i < kPeople; ++i) g.NextNdjson(text);
  }
  const std::string input = tmp_ + "/people.ndjson";
  std::ofstream(input) << text;

  StartLine start;
  std::atomic<bool> importing{true};
  std::atomic<int> b_created{0}, b_clashed{0}, b_other{0};
  std::vector<std::thread> creators;
  for (size_t t = 0; t < 2; ++t) {
    creators.emplace_back([&, t] {
      start.Wait();
      // Every third person, from both ends, while the import runs.
      for (size_t k = 0; 3 * k < kPeople; ++k) {
        size_t i = t == 0 ? 3 * k : kPeople - 1 - 3 * k;
        auto ref = b_->Put("people", Inputs(people[i]));
        if (ref) {
          ++b_created;
        } else if (ref.error().code == ErrorCode::kAlreadyExists) {
          ++b_clashed;
        } else {
          ++b_other;
        }
        if (!importing.load() && k % 64 == 63) break;
      }
    });
  }
  ImportOptions options{.collection = "people", .path = input};
  options.rejects_path = tmp_ + "/people.rejects";
  options.threads = 2;
  options.chunk_rows = 64;
  options.commit_rows = 256;
  start.Go();
  auto stats = Import(*a_, options);
  importing.store(false);
  for (auto& t : creators) t.join();
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(b_other.load(), 0);
  EXPECT_EQ(stats->read, kPeople);
  EXPECT_EQ(stats->imported + stats->rejected, kPeople);

  // No two records hold one email, and every email is held.
  std::map<std::string, int> holders;
  size_t records = 0;
  std::string after;
  while (true) {
    auto page = a_->WalkRecords("people", false, after, 500);
    ASSERT_TRUE(page) << page.error().message;
    for (const Record& r : page->records) {
      ++holders[FieldOf(r, "email")];
      ++records;
    }
    if (!page->more) break;
    after = page->last;
  }
  EXPECT_EQ(holders.size(), kPeople);
  EXPECT_EQ(records, kPeople) << "imported " << stats->imported << ", created on B "
                              << b_created.load();
  for (const auto& [email, n] : holders) EXPECT_EQ(n, 1) << "an email held more than once";
  EXPECT_EQ(stats->imported + static_cast<uint64_t>(b_created.load()), kPeople);
  for (size_t i = 0; i < kPeople; i += 97) EXPECT_EQ(Holders(*b_, people[i].email), 1u);
}

// Each node keeps its own erasure journal. An erasure on A shreds the
// subject's wrapped keys in the shared store for every node; B, whose journal
// lists fewer deletions than A's, still opens (its applied count is its own),
// and a journal replayed on B after a restore erases again what it lists.
TEST_F(VaultClusterTest, EachNodeReplaysItsOwnErasureJournal) {
  const auto people = People(3);
  const std::string vault_id = [&] {
    auto id = a_->store().Get(storage::Space::kMeta, "vault_id");
    return id && *id ? **id : std::string();
  }();
  ASSERT_FALSE(vault_id.empty());
  const std::string journals[] = {tmp_ + "/a.erasures", tmp_ + "/b.erasures"};
  const std::string node_ids[] = {std::string(32, 'a'), std::string(32, 'b')};
  auto open = [&](size_t i) {
    auto v = Vault::Open({.dir = tmp_ + "/vault",
                          .key_file = tmp_ + "/vault.key",
                          .erasure_journal = journals[i],
                          .store = NodeOpener(data_, meet_),
                          .node_id = node_ids[i]});
    EXPECT_TRUE(v) << v.error().message;
    return v ? std::move(*v) : nullptr;
  };
  for (const std::string& j : journals) ASSERT_TRUE(ErasureJournal::Create(j, vault_id));
  a_ = open(0);
  b_ = open(1);
  ASSERT_TRUE(a_ && b_);

  auto p0 = a_->Put("people", Inputs(people[0]));
  auto p1 = b_->Put("people", Inputs(people[1]));
  auto p2 = b_->Put("people", Inputs(people[2]));
  ASSERT_TRUE(p0 && p1 && p2);
  ASSERT_TRUE(a_->EraseSubject(p0->subject));
  ASSERT_TRUE(a_->EraseSubject(p1->subject));
  // Shredded for B as well: the wrapped key is gone from the shared store.
  EXPECT_TRUE(IsNotFound(b_->Get("people", p1->id)));
  EXPECT_EQ(Holders(*b_, people[1].email), 0u);

  // B's journal lists no deletion while A applied two: B reopens all the same.
  b_ = open(1);
  ASSERT_TRUE(b_);
  // B erases p2; then the store goes back to before (a restore of a base
  // backup taken earlier): B's journal erases p2 again when B opens.
  auto snapshot = storage::NewMemoryData();
  {
    auto from = storage::OpenMemoryStore({.data = data_, .read_only = true});
    ASSERT_TRUE(from);
    auto to = storage::OpenMemoryStore({.data = snapshot});
    ASSERT_TRUE(to);
    for (int sp = 0; sp < storage::kSpaceCount; ++sp) {
      auto batch = (*to)->NewBatch();
      ASSERT_TRUE((*from)->Scan(static_cast<storage::Space>(sp), "",
                                [&](std::string_view k, std::string_view v) {
                                  batch->Put(static_cast<storage::Space>(sp), k, v);
                                  return true;
                                }));
      ASSERT_TRUE((*to)->Write(*batch));
    }
  }
  ASSERT_TRUE(b_->EraseSubject(p2->subject));
  a_.reset();
  b_.reset();
  data_ = snapshot;  // the restored database
  b_ = open(1);
  a_ = open(0);
  ASSERT_TRUE(a_ && b_);
  EXPECT_TRUE(IsNotFound(a_->Get("people", p2->id)));
  EXPECT_EQ(Holders(*a_, people[2].email), 0u);
  EXPECT_TRUE(IsNotFound(a_->Get("people", p0->id)));
}

}  // namespace
}  // namespace coffre::vault
