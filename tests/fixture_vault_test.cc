// Upgrades: every vault made by an earlier main opens and works with this
// one. Each directory under tests/fixtures/ holds a vault made by
// tests/fixtures/make-fixture with the binary of the main before a format
// change, and an expected.json of what it must still answer. Every fixture
// is copied to a scratch directory (the committed copy stays as made) and:
// its audit log verifies, its records read back exactly as they were
// stored, the erased person stays gone (the journal is replayed), a new
// record can be written and read, and the log still verifies afterwards.
//
// Synthetic people only (`coffre gen`); assertion messages name ids, never
// values.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <filesystem>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "test_util.h"

namespace coffre::testing {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

std::vector<fs::path> Fixtures() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(fs::path(SourceDir()) / "tests" / "fixtures")) {
    if (e.is_directory() && fs::exists(e.path() / "expected.json")) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

class FixtureVaultTest : public ::testing::TestWithParam<fs::path> {
 protected:
  void SetUp() override {
    fs::copy(GetParam(), tmp_.path(), fs::copy_options::recursive);
    // git keeps no file modes but the executable bit: the key file is
    // private, as `init` made it.
    fs::permissions(tmp_ / "vault.key", fs::perms::owner_read | fs::perms::owner_write);
    expected_ = json::parse(ReadFileOrDie(tmp_ / "expected.json")).as_object();
    vault_ = tmp_ / "vault";
  }

  CliResult Run(std::vector<std::string> args, const std::string& input = "") {
    return RunCoffre(args,
                     {{"COFFRE_KEY_FILE", tmp_ / "vault.key"},
                      {"COFFRE_ERASURE_JOURNAL", tmp_ / "vault.erasures"}},
                     input);
  }

  TempDir tmp_;
  json::object expected_;
  std::string vault_;
};

TEST_P(FixtureVaultTest, OpensVerifiesReadsAndWrites) {
  auto verify = Run({"audit", "verify", vault_});
  ASSERT_EQ(verify.exit_code, kExitOk) << verify.err;

  // Records read back exactly as the earlier main stored them.
  const auto& records = expected_.at("records").as_array();
  ASSERT_FALSE(records.empty());
  for (const auto& want : records) {
    std::string id(want.at("id").as_string());
    auto got = Run({"get", vault_, "people", id});
    ASSERT_EQ(got.exit_code, kExitOk) << "record " << id << ": " << got.err;
    EXPECT_EQ(json::parse(got.LastOutLine()), want) << "record " << id << " reads differently";
  }

  // The erased person stays erased: nothing to export, nothing found.
  std::string erased(expected_.at("erased_subject").as_string());
  auto exported = Run({"export-subject", vault_, erased});
  EXPECT_EQ(exported.exit_code, kExitNotFound) << "erased subject " << erased << " came back";
  auto found = Run(
      {"find", vault_, "people", "email=" + std::string(expected_.at("erased_email").as_string())});
  ASSERT_EQ(found.exit_code, kExitOk) << found.err;
  EXPECT_TRUE(found.OutLines().empty()) << "the erased person is still indexed";

  // Principals made then still exist.
  auto principals = Run({"principal", "list", vault_});
  ASSERT_EQ(principals.exit_code, kExitOk) << principals.err;
  EXPECT_NE(principals.out.find("fixture-support"), std::string::npos);
  // ... and take the lifecycle operations added later (ADR 0017): a key
  // rotation with grace writes the newer credential format over the old.
  auto rotated = Run({"principal", "rotate-key", vault_, "fixture-support", "--grace", "1h"});
  EXPECT_EQ(rotated.exit_code, kExitOk) << rotated.err;
  EXPECT_NE(rotated.out.find("coffre_sk_"), std::string::npos);
  auto updated = Run({"principal", "update", vault_, "fixture-support", "--attr", "team=b"});
  EXPECT_EQ(updated.exit_code, kExitOk) << updated.err;
  auto usage = Run({"principal", "usage", vault_, "fixture-support"});
  EXPECT_EQ(usage.exit_code, kExitOk) << usage.err;

  // A held subject can be released (the hold was kept).
  auto release =
      Run({"retention", "release", vault_, std::string(expected_.at("held_subject").as_string())});
  EXPECT_EQ(release.exit_code, kExitOk) << release.err;

  // The vault takes new writes, and reads them back.
  auto person = RunCoffre({"gen", "--count", "1", "--seed", "99"});
  ASSERT_EQ(person.exit_code, kExitOk) << person.err;
  auto put = Run({"put", vault_, "people", person.LastOutLine()});
  ASSERT_EQ(put.exit_code, kExitOk) << put.err;
  auto put_json = json::parse(put.LastOutLine()).as_object();
  std::string new_id(put_json.at("id").as_string());
  auto got = Run({"get", vault_, "people", new_id});
  EXPECT_EQ(got.exit_code, kExitOk) << got.err;

  verify = Run({"audit", "verify", vault_});
  EXPECT_EQ(verify.exit_code, kExitOk) << verify.err;
}

INSTANTIATE_TEST_SUITE_P(AllFixtures, FixtureVaultTest, ::testing::ValuesIn(Fixtures()),
                         [](const auto& info) {
                           std::string name = info.param.filename().string();
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace coffre::testing
