// Canaries: written as ordinary generated people, listed only in the sealed
// secret (never in clear in the store), reloaded after a reopen, appended
// to; the set answers membership; bad requests are refused.
#include "guard/canary_set.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "crypto/crypto.h"
#include "gen/people_gen.h"

namespace coffre::guard {
namespace {

namespace fs = std::filesystem;
const std::string kSource = COFFRE_SOURCE_DIR;

class CanaryTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto::Init());
    char tmpl[] = "/tmp/coffre-canary-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
    ASSERT_TRUE(vault::Vault::Init({tmp_ + "/v",
                                    kSource + "/examples/people.toml",
                                    tmp_ + "/v.key",
                                    "",
                                    {},
                                    {},
                                    nullptr,
                                    ""}));
    Open();
  }
  void TearDown() override {
    vault_.reset();
    fs::remove_all(tmp_);
  }
  void Open() {
    vault_.reset();
    auto v = vault::Vault::Open({.dir = tmp_ + "/v", .key_file = tmp_ + "/v.key"});
    ASSERT_TRUE(v) << v.error().ToString();
    vault_ = std::move(*v);
  }

  std::string tmp_;
  std::unique_ptr<vault::Vault> vault_;
};

TEST_F(CanaryTest, AddedCanariesAreOrdinaryPeopleListedOnlyInTheSealedSecret) {
  CanarySet live;
  ASSERT_TRUE(live.Load(*vault_));
  EXPECT_EQ(live.size(), 0u);
  auto added = AddCanaries(*vault_, "people", 5, "canary.example.org", &live);
  ASSERT_TRUE(added) << added.error().ToString();
  ASSERT_EQ(added->size(), 5u);
  EXPECT_EQ(live.size(), 5u);
  std::set<std::string> distinct(added->begin(), added->end());
  EXPECT_EQ(distinct.size(), 5u);
  for (const std::string& subject : *added) {
    EXPECT_TRUE(live.Contains(subject));
    auto records = vault_->ExportSubject(subject);
    ASSERT_TRUE(records);
    ASSERT_EQ(records->size(), 1u);
    EXPECT_EQ((*records)[0].collection, "people");
    EXPECT_EQ((*records)[0].fields.size(), 10u);  // every field, like anyone else
    for (const vault::FieldValue& f : (*records)[0].fields) {
      if (f.name == "email") {
        EXPECT_TRUE(f.value.ends_with("@canary.example.org")) << "domain";
      }
    }
  }
  EXPECT_FALSE(live.Contains(std::string(16, 'x')));
  std::vector<std::string> response = {(*added)[0], std::string(16, 'x'), (*added)[0]};
  EXPECT_EQ(live.Count(response), 2u);

  // No canary id appears in clear anywhere in the vault's metadata.
  ASSERT_TRUE(
      vault_->store().Scan(storage::Space::kMeta, "", [&](std::string_view k, std::string_view v) {
        for (const std::string& id : *added) {
          EXPECT_EQ(k.find(id), std::string_view::npos);
          EXPECT_EQ(v.find(id), std::string_view::npos);
        }
        return true;
      }));

  // A reopened vault knows them; more are appended.
  Open();
  CanarySet reloaded;
  ASSERT_TRUE(reloaded.Load(*vault_));
  EXPECT_EQ(reloaded.size(), 5u);
  auto more = AddCanaries(*vault_, "people", 3, "");
  ASSERT_TRUE(more) << more.error().ToString();
  ASSERT_TRUE(reloaded.Load(*vault_));
  EXPECT_EQ(reloaded.size(), 8u);
  for (const std::string& s : *added) EXPECT_TRUE(reloaded.Contains(s));
  for (const std::string& s : *more) EXPECT_TRUE(reloaded.Contains(s));
}

TEST_F(CanaryTest, ASeedGivesTheGeneratorsPeopleForDrills) {
  auto added = AddCanaries(*vault_, "people", 2, "drill.example.org", nullptr, 99);
  ASSERT_TRUE(added) << added.error().ToString();
  gen::PeopleGenerator expected(99);
  for (const std::string& subject : *added) {
    gen::Person p;
    expected.Next(p);
    auto records = vault_->ExportSubject(subject);
    ASSERT_TRUE(records);
    for (const vault::FieldValue& f : (*records)[0].fields) {
      if (f.name == "email") {
        EXPECT_EQ(f.value, p.email.substr(0, p.email.find('@')) + "@drill.example.org");
      }
      if (f.name == "last_name") {
        EXPECT_EQ(f.value, p.last_name);
      }
    }
  }
  // Without a seed, two calls give different people.
  auto a = AddCanaries(*vault_, "people", 1, "");
  auto b = AddCanaries(*vault_, "people", 1, "");
  ASSERT_TRUE(a && b);
  auto ra = vault_->ExportSubject((*a)[0]);
  auto rb = vault_->ExportSubject((*b)[0]);
  ASSERT_TRUE(ra && rb);
  auto nir = [](const std::vector<vault::FieldValue>& fields) {
    for (const auto& f : fields) {
      if (f.name == "nir") return f.value;
    }
    return std::string();
  };
  EXPECT_NE(nir((*ra)[0].fields), nir((*rb)[0].fields));
}

TEST_F(CanaryTest, BadRequestsAreRefusedAndWriteNothing) {
  auto refused = [&](std::string_view collection, uint64_t count, std::string_view domain,
                     ErrorCode code) {
    auto r = AddCanaries(*vault_, collection, count, domain);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, code) << r.error().message;
  };
  refused("people", 0, "", ErrorCode::kInvalidArgument);
  refused("people", kMaxCanariesPerCall + 1, "", ErrorCode::kInvalidArgument);
  refused("people", 1, "not a domain", ErrorCode::kInvalidArgument);
  refused("people", 1, "nodot", ErrorCode::kInvalidArgument);
  refused("peple", 1, "", ErrorCode::kNotFound);
  auto stored = vault_->GetSecret(kCanariesSecret);
  ASSERT_TRUE(stored);
  EXPECT_FALSE(*stored);
}

TEST_F(CanaryTest, ACollectionNeedingFieldsPeopleDoNotHaveIsRefused) {
  vault_.reset();
  std::ofstream(tmp_ + "/cards.toml")
      << "version = 1\n[collections.wallet]\nfields = [\n"
         "  { name = \"email\", type = \"email\", required = true },\n"
         "  { name = \"pan\", type = \"pan\", required = true },\n]\n";
  ASSERT_TRUE(vault::Vault::Init(
      {tmp_ + "/w", tmp_ + "/cards.toml", tmp_ + "/w.key", "", {}, {}, nullptr, ""}));
  auto v = vault::Vault::Open({.dir = tmp_ + "/w", .key_file = tmp_ + "/w.key"});
  ASSERT_TRUE(v);
  auto r = AddCanaries(**v, "wallet", 1, "");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("requires field 'pan'"), std::string::npos) << r.error().message;
}

// The import of a bulk export registers its canaries by subject id: each
// once, whatever how often a subject comes, and beside those already listed.
TEST_F(CanaryTest, RegisteredSubjectsJoinTheListOnce) {
  auto first = AddCanaries(*vault_, "people", 1, "");
  ASSERT_TRUE(first) << first.error().ToString();
  const std::string a(16, 'a'), b(16, 'b');
  CanarySet live;
  ASSERT_TRUE(RegisterCanaries(*vault_, std::vector<std::string>{a, b, a, (*first)[0]}, &live));
  ASSERT_TRUE(RegisterCanaries(*vault_, std::vector<std::string>{b}));
  auto stored = vault_->GetSecret(kCanariesSecret);
  ASSERT_TRUE(stored && *stored);
  EXPECT_EQ((*stored)->size(), 3u * 16);
  CanarySet set;
  ASSERT_TRUE(set.Load(*vault_));
  EXPECT_EQ(set.size(), 3u);
  EXPECT_TRUE(set.Contains(a) && set.Contains(b) && set.Contains((*first)[0]));
  EXPECT_TRUE(live.Contains(a));
  EXPECT_FALSE(RegisterCanaries(*vault_, std::vector<std::string>{"short"}));
}

TEST_F(CanaryTest, AMalformedStoredListIsDataLoss) {
  ASSERT_TRUE(vault_->PutSecret(kCanariesSecret, std::string(15, 'x')));
  CanarySet set;
  Status s = set.Load(*vault_);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kDataLoss);
}

}  // namespace
}  // namespace coffre::guard
