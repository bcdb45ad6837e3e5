// Unique values across two nodes on a real PostgreSQL (ADR 0044): two
// vaults, each with its own PostgreSQL store (its own connections), over one
// database the test starts (tests/pg_server.h). Threads on both nodes create
// the same person at once; an import on one node races creates on the other.
// Each unique email ends up held by exactly one record.
//
// People are synthetic (src/gen). Assertion messages show counts, never values.
#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "crypto/crypto.h"
#include "gen/people_gen.h"
#include "pg_server.h"
#include "storage/pg_store.h"
#include "test_util.h"
#include "vault/importer.h"
#include "vault/vault.h"

namespace coffre {
namespace {

std::vector<vault::NamedInput> Inputs(const gen::Person& p) {
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

std::vector<gen::Person> People(size_t count, uint64_t seed) {
  gen::PeopleGenerator g(seed);
  std::vector<gen::Person> people(count);
  for (auto& p : people) g.Next(p);
  return people;
}

class PgUniqueTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ =
        new testing::PgServer();  // NOLINT(cppcoreguidelines-owning-memory): TearDownTestSuite
    server_->Start();
  }
  static void TearDownTestSuite() {
    delete server_;  // NOLINT(cppcoreguidelines-owning-memory)
    server_ = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(crypto::Init());
    db_ = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    for (char& c : db_) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    url_ = server_->NewDatabase(db_);
    auto init = vault::Vault::Init({tmp_ / "node-a",
                                    testing::PeopleSchema(),
                                    tmp_ / "vault.key",
                                    "",
                                    {},
                                    {},
                                    storage::PgStoreOpener(url_),
                                    ""});
    ASSERT_TRUE(init) << init.error().ToString();
    std::filesystem::create_directories(tmp_ / "node-b");
    for (auto [node, dir] : {std::pair{&a_, "node-a"}, std::pair{&b_, "node-b"}}) {
      auto v = vault::Vault::Open({.dir = tmp_ / dir,
                                   .key_file = tmp_ / "vault.key",
                                   .store = storage::PgStoreOpener(url_)});
      ASSERT_TRUE(v) << v.error().ToString();
      *node = std::move(*v);
    }
    ASSERT_TRUE(a_->store().shared());
  }

  vault::Vault& Node(size_t i) { return i % 2 == 0 ? *a_ : *b_; }

  static testing::PgServer* server_;
  testing::TempDir tmp_;
  std::string db_;  // lower case: PostgreSQL folds unquoted names
  std::string url_;
  std::unique_ptr<vault::Vault> a_, b_;
};

testing::PgServer* PgUniqueTest::server_ = nullptr;

TEST_F(PgUniqueTest, TwoNodesCreatingOneEmailGiveOneSuccessAndConflicts) {
  constexpr size_t kRounds = 10, kThreads = 8;
  const auto people = People(kRounds, 44);
  for (size_t round = 0; round < kRounds; ++round) {
    std::atomic<bool> go{false};
    std::atomic<int> created{0}, clashed{0}, other{0};
    std::vector<std::thread> threads;
    for (size_t t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        while (!go.load()) std::this_thread::yield();
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
    go.store(true);
    for (auto& t : threads) t.join();
    EXPECT_EQ(created.load(), 1) << "round " << round;
    EXPECT_EQ(clashed.load(), static_cast<int>(kThreads) - 1) << "round " << round;
    EXPECT_EQ(other.load(), 0) << "round " << round;
  }
  EXPECT_EQ(server_->Sql("SELECT count(*) FROM coffre_records", db_), std::to_string(kRounds));
}

TEST_F(PgUniqueTest, ImportOnOneNodeRacingCreatesOnAnotherNeverDuplicates) {
  constexpr size_t kPeople = 2000;
  constexpr uint64_t kSeed = 4416;
  {
    std::ofstream out(tmp_ / "people.ndjson");
    gen::WriteNdjson(out, kPeople, kSeed);
  }
  const auto people = People(kPeople, kSeed);
  std::atomic<bool> go{false}, importing{true};
  std::atomic<int> b_created{0}, b_other{0};
  std::vector<std::thread> creators;
  for (size_t t = 0; t < 2; ++t) {
    creators.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      for (size_t k = 0; 4 * k < kPeople; ++k) {
        size_t i = t == 0 ? 4 * k : kPeople - 1 - 4 * k;
        auto ref = b_->Put("people", Inputs(people[i]));
        if (ref) {
          ++b_created;
        } else if (ref.error().code != ErrorCode::kAlreadyExists) {
          ++b_other;
        }
        if (!importing.load() && k % 32 == 31) break;
      }
    });
  }
  vault::ImportOptions options{.collection = "people", .path = tmp_ / "people.ndjson"};
  options.rejects_path = tmp_ / "people.rejects";
  options.chunk_rows = 64;
  options.commit_rows = 256;
  go.store(true);
  auto stats = vault::Import(*a_, options);
  importing.store(false);
  for (auto& t : creators) t.join();
  ASSERT_TRUE(stats) << stats.error().ToString();
  EXPECT_EQ(b_other.load(), 0);
  EXPECT_EQ(stats->imported + stats->rejected, kPeople);
  EXPECT_EQ(stats->imported + static_cast<uint64_t>(b_created.load()), kPeople)
      << "imported " << stats->imported << ", created on B " << b_created.load();
  // Every email is held by exactly one record.
  EXPECT_EQ(server_->Sql("SELECT count(*) FROM coffre_records", db_), std::to_string(kPeople));
  for (size_t i = 0; i < kPeople; i += 53) {
    auto found = b_->Find("people", "email", schema::Input::String(people[i].email), 10);
    ASSERT_TRUE(found) << found.error().ToString();
    EXPECT_EQ(found->size(), 1u) << "person " << i;
  }
}

}  // namespace
}  // namespace coffre
