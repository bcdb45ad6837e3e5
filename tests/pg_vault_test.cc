// A vault on the PostgreSQL store (ADR 0039), end to end through the vault
// library: init, puts, a bulk import (its fast path ingests sorted files by
// COPY), a second import whose duplicates of unique values are rejected
// into `.rejects`, a unique lookup, an erasure (then VACUUM), and a second
// opening of the same database, as another node would.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "crypto/crypto.h"
#include "gen/people_gen.h"
#include "pg_server.h"
#include "storage/pg_store.h"
#include "test_util.h"
#include "vault/importer.h"
#include "vault/vault.h"

namespace coffre {
namespace {

class PgVaultTest : public ::testing::Test {
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
  void SetUp() override { ASSERT_TRUE(crypto::Init()); }

  Result<std::unique_ptr<vault::Vault>> OpenVault(const std::string& node_dir) {
    return vault::Vault::Open({.dir = node_dir,
                               .key_file = tmp_ / "vault.key",
                               // Where a cluster keeps its journal is the
                               // node slice's (ADR 0040): one file here.
                               .erasure_journal = tmp_ / "node1.erasures",
                               .store = storage::PgStoreOpener(server_->url())});
  }

  static testing::PgServer* server_;
  testing::TempDir tmp_;
};

testing::PgServer* PgVaultTest::server_ = nullptr;

TEST_F(PgVaultTest, InitImportFindEraseAndOpenFromAnotherNode) {
  const std::string schema = testing::PeopleSchema();
  auto init = vault::Vault::Init({tmp_ / "node1",
                                  schema,
                                  tmp_ / "vault.key",
                                  tmp_ / "node1.erasures",
                                  {},
                                  {},
                                  storage::PgStoreOpener(server_->url()),
                                  ""});
  ASSERT_TRUE(init) << init.error().ToString();
  EXPECT_NE(server_->Sql("SELECT count(*) FROM coffre_meta"), "0");

  auto v = OpenVault(tmp_ / "node1");
  ASSERT_TRUE(v) << v.error().ToString();
  {
    std::ofstream out(tmp_ / "people.ndjson");
    gen::WriteNdjson(out, 3000, 11);
  }
  auto stats = vault::Import(**v, {.collection = "people", .path = tmp_ / "people.ndjson"});
  ASSERT_TRUE(stats) << stats.error().ToString();
  EXPECT_EQ(stats->imported, 3000u);
  EXPECT_EQ(stats->rejected, 0u);
  EXPECT_EQ(server_->Sql("SELECT count(*) FROM coffre_records"), "3000");

  // The same people again: every row breaks the unique email, all rejected.
  auto again = vault::Import(**v, {.collection = "people", .path = tmp_ / "people.ndjson"});
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_EQ(again->imported, 0u);
  EXPECT_EQ(again->rejected, 3000u);
  EXPECT_TRUE(std::filesystem::exists(again->rejects_path));

  // A unique lookup finds the one person; the record opens.
  std::string email;
  {
    std::ifstream in(tmp_ / "people.ndjson");
    std::string line;
    std::getline(in, line);
    const std::string tag = "\"email\":\"";
    auto at = line.find(tag);
    ASSERT_NE(at, std::string::npos);
    email = line.substr(at + tag.size(), line.find('"', at + tag.size()) - at - tag.size());
  }
  auto found = (*v)->Find("people", "email", schema::Input::String(email));
  ASSERT_TRUE(found) << found.error().ToString();
  ASSERT_EQ(found->size(), 1u);
  auto record = (*v)->Get("people", (*found)[0].id);
  ASSERT_TRUE(record) << record.error().ToString();

  // Another node (its own local directory, as `coffre join` makes it)
  // opens the same database and sees the same vault.
  std::filesystem::create_directories(tmp_ / "node2");
  auto other = OpenVault(tmp_ / "node2");
  ASSERT_TRUE(other) << other.error().ToString();
  auto seen = (*other)->Find("people", "email", schema::Input::String(email));
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->size(), 1u);

  // Erasure: gone for both nodes.
  auto erased = (*v)->EraseSubject((*found)[0].subject);
  ASSERT_TRUE(erased) << erased.error().ToString();
  EXPECT_EQ(erased->records, 1u);
  auto after = (*other)->Get("people", (*found)[0].id);
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(server_->Sql("SELECT count(*) FROM coffre_records"), "2999");
}

TEST_F(PgVaultTest, OpeningAnEmptyDatabaseSaysThereIsNoVault) {
  const std::string url = server_->NewDatabase("empty");
  std::filesystem::create_directories(tmp_ / "node");
  auto v = vault::Vault::Open(
      {.dir = tmp_ / "node", .key_file = tmp_ / "vault.key", .store = storage::PgStoreOpener(url)});
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ErrorCode::kNotFound);
  EXPECT_NE(v.error().message.find("no vault in the database at " + url), std::string::npos)
      << v.error().message;
}

}  // namespace
}  // namespace coffre
