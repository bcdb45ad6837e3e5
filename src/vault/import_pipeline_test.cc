// Unit tests of the import pipeline itself (ImportPipeline, without Import's
// option handling): unique checks in file order across chunks, groups not
// yet ingested and groups ingested long before; commits in file order with a
// watermark; kept ids (--format export) checked across chunks; canaries
// registered before their group; reader errors stop the import.
//
// People come from the synthetic generator (src/gen). Assertion messages
// show line numbers and counts, never values.
#include "vault/import_pipeline.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "gen/people_gen.h"
#include "vault/internal/layout.h"

namespace coffre::vault {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr std::string_view kSchema = R"(version = 1

[collections.people]
fields = [
  { name = "first_name", type = "name",  required = true },
  { name = "email",      type = "email", required = true, searchable = true, unique = true },
  { name = "agency",     type = "text",  required = true },
]
)";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The line numbers named by a rejects file ("line N: reason").
std::map<uint64_t, std::string> RejectedLines(const std::string& path) {
  std::map<uint64_t, std::string> out;
  std::istringstream in(ReadFile(path));
  for (std::string line; std::getline(in, line);) {
    size_t colon = line.find(':');
    out[std::stoull(line.substr(5, colon - 5))] = line.substr(colon + 2);
  }
  return out;
}

class ImportPipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "coffre-pipeline-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    tmp_ = tmpl;
    std::ofstream(tmp_ + "/schema.toml") << kSchema;
    auto init = Vault::Init({tmp_ + "/vault", tmp_ + "/schema.toml", tmp_ + "/vault.key", ""});
    ASSERT_TRUE(init) << init.error().message;
    auto v = Vault::Open({.dir = tmp_ + "/vault", .key_file = tmp_ + "/vault.key"});
    ASSERT_TRUE(v) << v.error().message;
    vault_ = std::move(*v);
    gen::PeopleGenerator g(20261207);
    people_.resize(300);
    for (auto& p : people_) g.Next(p);
  }
  void TearDown() override {
    vault_.reset();
    std::error_code ec;
    fs::remove_all(tmp_, ec);
  }

  std::string Row(size_t i) const {
    json::object o;
    o["first_name"] = people_[i].first_name;
    o["email"] = people_[i].email;
    o["agency"] = people_[i].agency;
    return json::serialize(o);
  }

  // Runs the pipeline over `text` as Import would, after its option checks.
  Result<ImportStats> Run(const std::string& text, ImportOptions o,
                          ImportFormat format = ImportFormat::kNdjson) {
    o.collection = "people";
    o.path = tmp_ + "/input";
    std::ofstream(o.path, std::ios::binary) << text;
    if (o.rejects_path.empty()) o.rejects_path = tmp_ + "/rejects";
    std::string work = tmp_ + "/vault/" + std::string(layout::kImportDirPrefix) + "test";
    fs::create_directory(work);
    Result<ImportStats> stats = [&]() -> Result<ImportStats> {
      auto writes = vault_->LockWrites();
      ImportPipeline pipeline(*vault_, o,
                              {.collection = vault_->schema().Find("people"),
                               .format = format,
                               .tmp_dir = work,
                               .rejects_path = o.rejects_path});
      COFFRE_TRY(pipeline.OpenIdsOut());
      return pipeline.Run();
    }();
    std::error_code ec;
    fs::remove_all(work, ec);
    return stats;
  }

  size_t FindCount(size_t person) {
    auto refs = vault_->Find("people", "email", schema::Input::String(people_[person].email));
    EXPECT_TRUE(refs) << refs.error().message;
    return refs ? refs->size() : 0;
  }

  std::string tmp_;
  std::unique_ptr<Vault> vault_;
  std::vector<gen::Person> people_;
};

// The later of two rows with the same unique value is rejected wherever the
// earlier one is: the same chunk, a group not yet ingested (checked from
// memory), or a group ingested long before (checked in the store).
TEST_F(ImportPipelineTest, UniqueClashRejectsTheLaterRowWhereverTheEarlierIs) {
  std::map<size_t, size_t> repeat = {
      {2, 1}, {14, 10}, {40, 39}, {250, 1}, {252, 251}};  // line: earlier line
  std::string text;
  for (size_t line = 1; line <= 260; ++line) {
    auto it = repeat.find(line);
    text += Row(it != repeat.end() ? it->second - 1 : line - 1) + "\n";
  }
  ImportOptions o;
  o.chunk_rows = 3;
  o.commit_rows = 6;
  o.threads = 2;
  o.ids_out_path = tmp_ + "/ids";
  auto stats = Run(text, o);
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats->read, 260u);
  EXPECT_EQ(stats->rejected, 5u);
  EXPECT_EQ(stats->imported, 255u);
  auto rejected = RejectedLines(tmp_ + "/rejects");
  ASSERT_EQ(rejected.size(), 5u);
  for (const auto& [line, earlier] : repeat) {
    EXPECT_EQ(rejected[line], "field 'email': value already exists (unique)") << "line " << line;
  }
  // The earlier rows are the ones kept: the ids file lists their lines.
  std::map<uint64_t, std::string> ids;
  std::istringstream in(ReadFile(o.ids_out_path));
  for (std::string line; std::getline(in, line);) {
    json::object e = json::parse(line).as_object();
    ids[e.at("line").to_number<uint64_t>()] = std::string(e.at("id").as_string());
  }
  EXPECT_EQ(ids.size(), 255u);
  for (const auto& [line, earlier] : repeat) {
    EXPECT_EQ(ids.count(line), 0u) << "line " << line;
    EXPECT_EQ(ids.count(earlier), 1u) << "line " << earlier;
    EXPECT_EQ(FindCount(earlier - 1), 1u) << "line " << earlier;
  }
}

// Commits follow the file: the watermark only grows, every commit is
// counted once, and the ids file lists the rows in input order.
TEST_F(ImportPipelineTest, CommitsFollowTheFileWithAGrowingWatermark) {
  std::string text;
  for (size_t i = 0; i < 100; ++i) text += (i % 9 == 4 ? std::string("{}") : Row(i)) + "\n";
  ImportOptions o;
  o.chunk_rows = 4;
  o.commit_rows = 8;
  o.threads = 3;
  o.ids_out_path = tmp_ + "/ids";
  std::vector<ImportProgress> commits;
  o.on_commit = [&](const ImportProgress& p) { commits.push_back(p); };
  auto stats = Run(text, o);
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats->rejected, 11u);
  EXPECT_EQ(stats->imported, 89u);
  ASSERT_EQ(commits.size(), 13u);  // 100 rows in groups of 8
  for (size_t i = 1; i < commits.size(); ++i) {
    EXPECT_GT(commits[i].committed_through_line, commits[i - 1].committed_through_line);
    EXPECT_GT(commits[i].imported + commits[i].rejected,
              commits[i - 1].imported + commits[i - 1].rejected);
  }
  EXPECT_EQ(commits[0].committed_through_line, 8u);
  EXPECT_EQ(commits.back().committed_through_line, 100u);
  EXPECT_EQ(commits.back().imported, 89u);
  EXPECT_EQ(stats->committed_through_line, 100u);
  uint64_t previous = 0;
  std::istringstream in(ReadFile(o.ids_out_path));
  size_t count = 0;
  for (std::string line; std::getline(in, line); ++count) {
    uint64_t n = json::parse(line).as_object().at("line").to_number<uint64_t>();
    EXPECT_GT(n, previous);
    EXPECT_NE(n % 9, 5u) << "line " << n;  // the rejected rows
    previous = n;
  }
  EXPECT_EQ(count, 89u);
}

std::string ExportLine(size_t id, const std::string& fields, bool canary = false) {
  char hex[33];
  std::snprintf(hex, sizeof hex, "%032zx", id);
  std::string subject(hex);
  subject[0] = 'a';
  return std::string("{\"collection\":\"people\",\"id\":\"") + hex + "\",\"subject\":\"" + subject +
         "\",\"fields\":" + fields + (canary ? ",\"canary\":true" : "") + "}\n";
}

// --format export keeps ids, which must increase: a repeated or smaller id
// is rejected in the same chunk (worker) and across chunks (committer).
TEST_F(ImportPipelineTest, ExportRejectsIdsOutOfOrderAcrossChunks) {
  std::vector<size_t> ids = {1, 2, 3, /* next chunk */ 3, 5, 4, /* next */ 6, 7, 8};
  std::string text;
  for (size_t i = 0; i < ids.size(); ++i) text += ExportLine(ids[i], Row(i));
  ImportOptions o;
  o.chunk_rows = 3;
  o.threads = 2;
  o.ids_out_path = tmp_ + "/ids";
  auto stats = Run(text, o, ImportFormat::kExport);
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats->imported, 7u);
  auto rejected = RejectedLines(tmp_ + "/rejects");
  ASSERT_EQ(rejected.size(), 2u);
  EXPECT_EQ(rejected[4], "record id repeated or out of order (an export is in id order)");
  EXPECT_EQ(rejected[6], "record id repeated or out of order (an export is in id order)");
  // The ids are the ones given.
  std::istringstream in(ReadFile(o.ids_out_path));
  std::string first;
  std::getline(in, first);
  EXPECT_EQ(json::parse(first).as_object().at("id").as_string(),
            "00000000000000000000000000000001");
}

// Canaries are handed over before the group holding them is ingested; an
// input with canaries and nobody to register them fails before writing them.
TEST_F(ImportPipelineTest, CanariesAreRegisteredBeforeTheirGroup) {
  std::string text = ExportLine(1, Row(0)) + ExportLine(2, Row(1), true) + ExportLine(3, Row(2));
  {
    auto stats = Run(text, {}, ImportFormat::kExport);
    ASSERT_FALSE(stats);
    EXPECT_EQ(stats.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(FindCount(0), 0u);
    EXPECT_EQ(FindCount(1), 0u);
  }
  ImportOptions o;
  std::vector<std::string> registered;
  o.on_canaries = [&](const std::vector<std::string>& subjects) {
    EXPECT_EQ(FindCount(1), 0u);  // not written yet
    registered.insert(registered.end(), subjects.begin(), subjects.end());
    return Ok();
  };
  auto stats = Run(text, o, ImportFormat::kExport);
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats->canaries, 1u);
  ASSERT_EQ(registered.size(), 1u);
  EXPECT_EQ(ToHex(registered[0]), "a0000000000000000000000000000002");
  EXPECT_EQ(FindCount(1), 1u);
}

// The format is detected from the first bytes, CSV rows are named by the
// header, and an input with no header row fails.
TEST_F(ImportPipelineTest, DetectsCsvAndNeedsItsHeader) {
  std::string csv = "\n  \nfirst_name,email,agency\n";
  for (size_t i = 0; i < 5; ++i)
    csv += "\"" + people_[i].first_name + "\"," + people_[i].email + "," + people_[i].agency + "\n";
  auto stats = Run(csv, {}, ImportFormat::kAuto);
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats->imported, 5u);
  EXPECT_EQ(FindCount(4), 1u);

  auto none = Run("\n \n", {}, ImportFormat::kCsv);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().message, "CSV file has no header row");
  auto empty = Run(" \n\n", {}, ImportFormat::kAuto);  // white space only: no row, no header needed
  ASSERT_TRUE(empty) << empty.error().message;
  EXPECT_EQ(empty->read, 0u);
}

}  // namespace
}  // namespace coffre::vault
