// kill -9 in the middle of a bulk import. `coffre import --report-commits`
// promises that every valid row at or before a reported
// committed_through_line is durable. We import 200,000 synthetic people,
// SIGKILL the process after a few reported commits, then reopen the vault
// with the library and check every row up to the last reported watermark,
// field by field. Then a second import of the rest of the file completes the
// vault.
//
// Assertion messages give line numbers and field names, never values.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "gen/people_gen.h"
#include "schema/schema.h"
#include "test_util.h"
#include "vault/vault.h"

namespace coffre::testing {
namespace {

constexpr uint64_t kPeople = 200000;
constexpr uint64_t kSeed = 909090;
constexpr int kChunkRows = 2000;
// Kill as soon as this many commits were reported. A commit may hold one
// chunk or a group of chunks (the importer decides); either way the kill must
// land before the end of the file.
constexpr int kKillAfterCommits = 2;

double SecondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// The generated person's fields in the order of examples/people.toml.
std::vector<std::pair<const char*, const std::string*>> FieldsOf(const gen::Person& p) {
  return {{"first_name", &p.first_name},
          {"last_name", &p.last_name},
          {"sex", &p.sex},
          {"birth_date", &p.birth_date},
          {"nir", &p.nir},
          {"email", &p.email},
          {"phone", &p.phone},
          {"postal_address", &p.postal_address},
          {"iban", &p.iban},
          {"agency", &p.agency}};
}

class CrashTest : public ::testing::Test {
 protected:
  Result<std::unique_ptr<vault::Vault>> OpenVault() {
    return vault::Vault::Open(
        {.dir = dir_, .key_file = dir_ + ".key", .erasure_journal = dir_ + ".erasures"});
  }

  TempDir tmp_;
  std::string dir_ = tmp_ / "vault";
};

TEST_F(CrashTest, EveryReportedCommitSurvivesKillDashNine) {
  auto t0 = std::chrono::steady_clock::now();
  const std::string file = tmp_ / "people.ndjson";
  CliResult r = RunCoffre({"init", dir_, "--schema", PeopleSchema()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = RunCoffreToFile({"gen", "--count", std::to_string(kPeople), "--seed", std::to_string(kSeed)},
                      file);
  ASSERT_EQ(r.exit_code, 0) << r.err;

  // The import, killed after a few durable commits.
  uint64_t watermark = 0;
  int commits = 0;
  {
    CliChild child;
    std::string error;
    ASSERT_TRUE(child.Start({"import", dir_, "people", file, "--report-commits", "--chunk-rows",
                             std::to_string(kChunkRows)},
                            {}, error))
        << error;
    while (auto line = child.ReadLine()) {
      unsigned long long through = 0, imported = 0, rejected = 0;
      if (std::sscanf(line->c_str(),
                      "{\"committed_through_line\":%llu,\"imported\":%llu,\"rejected\":%llu}",
                      &through, &imported, &rejected) == 3) {
        EXPECT_GT(through, watermark) << "the watermark went backwards";
        EXPECT_EQ(rejected, 0u);
        EXPECT_EQ(imported, through) << "every generated person is valid";
        watermark = through;
        if (++commits >= kKillAfterCommits) break;
      } else {
        FAIL() << "the import ended before it could be killed (" << commits
               << " commits reported); make the file bigger";
      }
    }
    ASSERT_EQ(commits, kKillAfterCommits) << "the import stopped reporting";
    EXPECT_EQ(child.Kill(SIGKILL), 128 + SIGKILL);
  }
  ASSERT_GE(watermark, static_cast<uint64_t>(kKillAfterCommits) * kChunkRows);
  ASSERT_LT(watermark, kPeople)
      << "the import had committed everything before the kill; make the file bigger";
  std::cout << "[ crash ] killed after " << commits << " commits, watermark line " << watermark
            << ", " << SecondsSince(t0) << " s\n";

  // The vault opens cleanly after the crash.
  auto opened = OpenVault();
  ASSERT_TRUE(opened) << opened.error().message;
  std::unique_ptr<vault::Vault> v = std::move(*opened);
  const schema::Collection* people = v->schema().Find("people");
  ASSERT_NE(people, nullptr);

  // Every row up to the watermark is there, with its values.
  std::ifstream in(file);
  std::string file_line, generated;
  gen::PeopleGenerator generator(kSeed);
  gen::PeopleGenerator as_ndjson(kSeed);
  gen::Person p;
  size_t missing = 0, wrong = 0;
  for (uint64_t line = 1; line <= watermark; ++line) {
    generator.Next(p);
    if (line <= 50) {
      // The test's generator is the one `coffre gen` used.
      generated.clear();
      as_ndjson.NextNdjson(generated);
      ASSERT_TRUE(std::getline(in, file_line));
      ASSERT_EQ(file_line + "\n", generated) << "line " << line << " differs from the generator's";
    }
    auto refs = v->Find("people", "email", schema::Input::String(p.email));
    ASSERT_TRUE(refs) << "line " << line << ": " << refs.error().message;
    if (refs->size() != 1) {
      if (++missing <= 10)
        ADD_FAILURE() << "line " << line << ": " << refs->size() << " records found";
      continue;
    }
    auto rec = v->Get("people", (*refs)[0].id);
    ASSERT_TRUE(rec) << "line " << line << ": " << rec.error().message;
    auto expected = FieldsOf(p);
    ASSERT_EQ(rec->fields.size(), expected.size()) << "line " << line;
    for (size_t i = 0; i < expected.size(); ++i) {
      auto want = schema::Normalize(*people->Find(expected[i].first),
                                    schema::Input::String(*expected[i].second));
      ASSERT_TRUE(want) << "line " << line << ": " << want.error().message;
      if (rec->fields[i].name != expected[i].first || rec->fields[i].value != *want) {
        if (++wrong <= 10)
          ADD_FAILURE() << "line " << line << ": field " << expected[i].first << " differs";
      }
    }
  }
  EXPECT_EQ(missing, 0u) << "reported-durable rows lost by kill -9";
  EXPECT_EQ(wrong, 0u);

  // Rows after the watermark: the chunks committed after the last report,
  // before the kill landed. Commits are in file order, so the rows present
  // must be exactly a prefix of the file.
  uint64_t records = 0;
  ASSERT_TRUE(
      v->store().Scan(storage::Space::kRecords, "", [&](std::string_view, std::string_view) {
        ++records;
        return true;
      }));
  ASSERT_GE(records, watermark);
  const uint64_t beyond = records - watermark;
  EXPECT_EQ(beyond % kChunkRows, 0u) << "a chunk was committed in part";
  for (uint64_t line = watermark + 1; line <= std::min(kPeople, records + 1); ++line) {
    generator.Next(p);
    auto refs = v->Find("people", "email", schema::Input::String(p.email));
    ASSERT_TRUE(refs);
    EXPECT_EQ(refs->size(), line <= records ? 1u : 0u)
        << "line " << line << ": durable rows are not a prefix";
  }
  std::cout << "[ crash ] " << watermark << " rows verified, " << beyond
            << " more rows committed but unreported, " << SecondsSince(t0) << " s\n";
  v.reset();  // releases the directory lock

  // A second import of the rest of the file completes the vault. Rows that
  // were committed after the watermark come back as unique-email rejects.
  const std::string rest = tmp_ / "rest.ndjson";
  {
    std::ifstream all(file);
    std::ofstream out(rest);
    std::string line;
    for (uint64_t n = 1; std::getline(all, line); ++n) {
      if (n > watermark) out << line << '\n';
    }
  }
  r = RunCoffre({"import", dir_, "people", rest});
  // Exit 2 says that rows were given and none imported: right only when
  // every remaining row was committed before the kill landed.
  ASSERT_TRUE(r.exit_code == 0 || r.exit_code == 2) << r.err;
  unsigned long long imported = 0, rejected = 0;
  ASSERT_EQ(std::sscanf(r.LastOutLine().c_str(), "{\"imported\":%llu,\"rejected\":%llu", &imported,
                        &rejected),
            2)
      << r.LastOutLine();
  EXPECT_EQ(r.exit_code == 2, imported == 0 && rejected > 0) << "exit " << r.exit_code;
  EXPECT_EQ(rejected, beyond);
  EXPECT_EQ(imported + rejected, kPeople - watermark);
  if (rejected > 0) {
    std::string rejects = ReadFileOrDie(rest + ".rejects");
    size_t pos = 0, lines = 0;
    while ((pos = rejects.find('\n', pos)) != std::string::npos) ++pos, ++lines;
    EXPECT_EQ(lines, rejected);
    size_t unique_clashes = 0;
    for (pos = 0; (pos = rejects.find("field 'email': value already exists (unique)", pos)) !=
                  std::string::npos;
         ++pos) {
      ++unique_clashes;
    }
    EXPECT_EQ(unique_clashes, rejected) << "rejects other than already-imported rows";
  }

  opened = OpenVault();
  ASSERT_TRUE(opened) << opened.error().message;
  v = std::move(*opened);
  records = 0;
  ASSERT_TRUE(
      v->store().Scan(storage::Space::kRecords, "", [&](std::string_view, std::string_view) {
        ++records;
        return true;
      }));
  EXPECT_EQ(records, kPeople);
  // Spot checks across the whole file, each person exactly once.
  gen::PeopleGenerator again(kSeed);
  for (uint64_t line = 1; line <= kPeople; ++line) {
    again.Next(p);
    if (line % 997 != 0 && line != kPeople) continue;
    auto refs = v->Find("people", "nir", schema::Input::String(p.nir));
    ASSERT_TRUE(refs);
    EXPECT_GE(refs->size(), 1u) << "line " << line;
    auto by_email = v->Find("people", "email", schema::Input::String(p.email));
    ASSERT_TRUE(by_email);
    EXPECT_EQ(by_email->size(), 1u) << "line " << line;
  }
  std::cout << "[ crash ] second import: " << imported << " imported, " << rejected
            << " rejected; total " << SecondsSince(t0) << " s\n";
}

}  // namespace
}  // namespace coffre::testing
