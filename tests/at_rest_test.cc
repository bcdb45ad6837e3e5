// Incident 2 (the open search cluster): a copied data directory must reveal
// nothing. We import 10,000 synthetic people through the CLI, let the process
// end, then read every byte of every file of the data directory (SST, WAL
// .log, MANIFEST, OPTIONS, LOG, ...) and search it for each person's values,
// in the form they were given and in the canonical form the vault works
// with. Expect zero hits.
//
// Compression could hide plaintext from a byte search, so the test also
// checks, in the OPTIONS file RocksDB wrote, that no space compresses (and
// that the unused "default" column family, which keeps RocksDB's Snappy
// default, holds nothing).
//
// Assertion messages name people by their line number and fields by name,
// never by value.
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include <algorithm>
#include <bitset>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "cli_runner.h"
#include "gen/people_gen.h"
#include "schema/schema.h"
#include "test_util.h"

namespace coffre::testing {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kPeople = 10000;
constexpr uint64_t kSeed = 77001;

// Needles shorter than this are not searched. Every value searched here is
// at least this long except some names: a 5-byte sequence of printable bytes
// turns up in ~10 MB of random ciphertext with probability ~1e-4, but short
// names ("Roy", "Noël") are also ordinary substrings of RocksDB's own text
// files and would only produce noise.
constexpr size_t kMinNeedle = 5;

struct Needle {
  std::string text;
  std::string what;  // "line 17 email (canonical)": no value
  bool is_name = false;
};

// Multi-needle search: each needle is anchored on its rarest 5-byte window
// (rarest across all needles), and a scan looks every 5-byte window of the
// haystack up in the anchors (behind a bitset pre-filter), verifying the
// whole needle on a hit. One pass over the bytes whatever the needle count.
class MultiSearcher {
 public:
  explicit MultiSearcher(const std::vector<Needle>& needles) : needles_(needles) {
    std::unordered_map<uint64_t, uint32_t> freq;
    for (const Needle& n : needles_) {
      std::set<uint64_t> grams;
      for (size_t i = 0; i + kMinNeedle <= n.text.size(); ++i)
        grams.insert(Gram(n.text.data() + i));
      for (uint64_t g : grams) ++freq[g];
    }
    for (uint32_t idx = 0; idx < needles_.size(); ++idx) {
      const std::string& t = needles_[idx].text;
      size_t best = 0;
      uint32_t best_freq = UINT32_MAX;
      for (size_t i = 0; i + kMinNeedle <= t.size(); ++i) {
        uint32_t f = freq[Gram(t.data() + i)];
        if (f < best_freq) {
          best_freq = f;
          best = i;
        }
      }
      uint64_t g = Gram(t.data() + best);
      anchors_[g].push_back({idx, static_cast<uint32_t>(best)});
      filter_->set(Hash(g));
    }
  }

  // Calls hit(needle index, offset) for every occurrence in `hay`.
  template <typename F>
  void Scan(std::string_view hay, F&& hit) const {
    if (hay.size() < kMinNeedle) return;
    const auto* p = reinterpret_cast<const unsigned char*>(hay.data());
    uint64_t g = 0;
    for (size_t i = 0; i < kMinNeedle - 1; ++i) g = (g << 8) | p[i];
    for (size_t end = kMinNeedle - 1; end < hay.size(); ++end) {
      g = ((g << 8) | p[end]) & kMask;
      if (!filter_->test(Hash(g))) continue;
      auto it = anchors_.find(g);
      if (it == anchors_.end()) continue;
      size_t at = end + 1 - kMinNeedle;  // where the window starts
      for (const Anchor& a : it->second) {
        const std::string& t = needles_[a.needle].text;
        if (at < a.offset) continue;
        size_t start = at - a.offset;
        if (start + t.size() > hay.size()) continue;
        if (std::memcmp(hay.data() + start, t.data(), t.size()) == 0) hit(a.needle, start);
      }
    }
  }

 private:
  static constexpr uint64_t kMask = (uint64_t{1} << (8 * kMinNeedle)) - 1;
  static constexpr size_t kFilterBits = size_t{1} << 24;
  struct Anchor {
    uint32_t needle;
    uint32_t offset;
  };
  static uint64_t Gram(const char* s) {
    uint64_t g = 0;
    for (size_t i = 0; i < kMinNeedle; ++i) g = (g << 8) | static_cast<unsigned char>(s[i]);
    return g;
  }
  static size_t Hash(uint64_t g) { return (g * 0x9E3779B97F4A7C15ull) >> (64 - 24); }

  const std::vector<Needle>& needles_;
  std::unordered_map<uint64_t, std::vector<Anchor>> anchors_;
  std::unique_ptr<std::bitset<kFilterBits>> filter_ = std::make_unique<std::bitset<kFilterBits>>();
};

// RocksDB's human-readable files, by kind: a name found in one of them is
// excused only if RocksDB writes that same word into the same kind of file of
// a vault that holds no data at all (then it is RocksDB's vocabulary, not a
// leak).
std::string TextFileKind(const std::string& path) {
  std::string name = fs::path(path).filename().string();
  if (name.rfind("OPTIONS", 0) == 0) return "OPTIONS";
  if (name.rfind("LOG", 0) == 0) return "LOG";
  return "";
}

class AtRestTest : public ::testing::Test {
 protected:
  TempDir tmp_;
};

TEST_F(AtRestTest, NoPersonalValueInAnyFileOfTheDataDirectory) {
  auto started = std::chrono::steady_clock::now();
  const std::string dir = tmp_ / "vault";
  const std::string people_file = tmp_ / "people.ndjson";  // outside the vault
  CliResult r = RunCoffre({"init", dir, "--schema", PeopleSchema()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = RunCoffreToFile({"gen", "--count", std::to_string(kPeople), "--seed", std::to_string(kSeed)},
                      people_file);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = RunCoffre({"import", dir, "people", people_file, "--chunk-rows", "1000"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_NE(r.LastOutLine().find("\"imported\":" + std::to_string(kPeople) + ","),
            std::string::npos)
      << r.LastOutLine();
  // The process has ended: every file below is as a closed vault leaves it.
  // The reference: a vault with no data, for RocksDB's own vocabulary.
  const std::string empty_dir = tmp_ / "empty";
  ASSERT_EQ(RunCoffre({"init", empty_dir, "--schema", PeopleSchema()}).exit_code, 0);
  ASSERT_EQ(RunCoffre({"find", empty_dir, "people", "email=a@example.fr"}).exit_code, 0);

  // The needles: every person again, from the same seed, in the generated
  // and canonical forms.
  auto schema = schema::Schema::LoadFile(PeopleSchema());
  ASSERT_TRUE(schema) << schema.error().message;
  const schema::Collection* people = schema->Find("people");
  ASSERT_NE(people, nullptr);
  std::vector<Needle> needles;
  std::unordered_map<std::string, size_t> seen;
  size_t short_names = 0;
  auto add = [&](const std::string& text, std::string what, bool is_name) {
    if (text.size() < kMinNeedle) {
      ++short_names;
      return;
    }
    if (seen.emplace(text, needles.size()).second)
      needles.push_back({text, std::move(what), is_name});
  };
  std::vector<size_t> as_generated;  // needles the NDJSON file must contain
  gen::PeopleGenerator generator(kSeed);
  gen::Person p;
  for (uint64_t line = 1; line <= kPeople; ++line) {
    generator.Next(p);
    std::string tag = "line " + std::to_string(line) + " ";
    auto canonical = [&](const char* field, const std::string& value) {
      auto v = schema::Normalize(*people->Find(field), schema::Input::String(value));
      EXPECT_TRUE(v) << tag << field << " does not validate";
      return v ? *v : value;
    };
    struct {
      const char* field;
      const std::string& value;
      bool is_name;
    } fields[] = {{"email", p.email, false},
                  {"phone", p.phone, false},
                  {"nir", p.nir, false},
                  {"iban", p.iban, false},
                  {"last_name", p.last_name, true},
                  {"first_name", p.first_name, true},
                  {"postal_address", p.postal_address, false}};
    for (const auto& f : fields) {
      add(f.value, tag + f.field + " (as generated)", f.is_name);
      if (f.value.size() >= kMinNeedle) as_generated.push_back(seen.at(f.value));
      add(canonical(f.field, f.value), tag + f.field + " (canonical)", f.is_name);
    }
  }
  ASSERT_GT(needles.size(), 6 * kPeople);
  MultiSearcher searcher(needles);

  // Positive control 1: the searcher finds every needle, in every form, in
  // a haystack of random bytes where each one was planted.
  {
    std::mt19937_64 rng(12345);
    std::string hay;
    for (const Needle& n : needles) {
      for (int i = 0; i < 7; ++i) hay.push_back(static_cast<char>(rng()));
      hay += n.text;
    }
    std::vector<bool> found(needles.size(), false);
    searcher.Scan(hay, [&](uint32_t idx, size_t) { found[idx] = true; });
    size_t missed = std::count(found.begin(), found.end(), false);
    ASSERT_EQ(missed, 0u) << "the searcher misses planted needles";
  }
  // Positive control 2: the file that was imported contains every value as
  // generated, so the needles are the imported people.
  {
    std::string ndjson = ReadFileOrDie(people_file);
    std::vector<bool> found(needles.size(), false);
    searcher.Scan(ndjson, [&](uint32_t idx, size_t) { found[idx] = true; });
    size_t missed = 0;
    for (size_t idx : as_generated) missed += found[idx] ? 0 : 1;
    ASSERT_EQ(missed, 0u) << "the generator in the test and `coffre gen` disagree";
  }

  // What RocksDB writes in its text files when there is no data.
  std::map<std::string, std::string> vocabulary;  // kind -> concatenated text
  for (const std::string& f : ListFilesRecursively(empty_dir)) {
    std::string kind = TextFileKind(f);
    if (!kind.empty()) vocabulary[kind] += ReadFileOrDie(f) + "\n";
  }

  // The search. Every byte of every file.
  std::vector<std::string> files = ListFilesRecursively(dir);
  ASSERT_FALSE(files.empty());
  size_t bytes = 0, hits = 0, excused = 0;
  bool saw_wal = false, saw_sst = false, saw_manifest = false, saw_options = false;
  for (const std::string& path : files) {
    std::string name = fs::path(path).filename().string();
    saw_wal |= name.ends_with(".log");
    saw_sst |= name.ends_with(".sst");
    saw_manifest |= name.rfind("MANIFEST", 0) == 0;
    saw_options |= name.rfind("OPTIONS", 0) == 0;
    std::string content;
    ASSERT_TRUE(ReadFile(path, content)) << "cannot read " << name;
    bytes += content.size();
    std::string kind = TextFileKind(path);
    searcher.Scan(content, [&](uint32_t idx, size_t offset) {
      const Needle& n = needles[idx];
      if (n.is_name && !kind.empty() && vocabulary[kind].find(n.text) != std::string::npos) {
        ++excused;
        return;
      }
      ++hits;
      ADD_FAILURE() << "plaintext at rest: " << n.what << " in " << name << " at offset " << offset;
    });
  }
  EXPECT_EQ(hits, 0u);
  EXPECT_TRUE(saw_wal || saw_sst) << "no data file found: did the import write anywhere?";
  EXPECT_TRUE(saw_manifest);
  EXPECT_TRUE(saw_options);
  EXPECT_GT(bytes, kPeople * 100) << "the data directory is implausibly small";
  std::cout << "[ at rest ] " << files.size() << " files, " << bytes << " bytes, " << needles.size()
            << " needles, " << hits << " hits, " << excused
            << " name hits excused as RocksDB words, " << short_names << " values shorter than "
            << kMinNeedle << " bytes skipped, "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()
            << " s\n";
}

// Byte search only means something if RocksDB stored the bytes as they are.
TEST_F(AtRestTest, NoSpaceIsCompressed) {
  const std::string dir = tmp_ / "vault";
  CliResult r = RunCoffre({"init", dir, "--schema", PeopleSchema()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string options_file;
  for (const std::string& f : ListFilesRecursively(dir)) {
    std::string name = fs::path(f).filename().string();
    if (name.rfind("OPTIONS-", 0) == 0 && f > options_file) options_file = f;  // the newest
  }
  ASSERT_FALSE(options_file.empty());
  std::string text = ReadFileOrDie(options_file);

  // section name -> key -> value
  std::map<std::string, std::map<std::string, std::string>> sections;
  std::string section;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(start, nl - start);
    start = nl + 1;
    line.erase(0, line.find_first_not_of(" \t"));
    if (line.empty() || line[0] == '#') continue;
    if (line[0] == '[') {
      section = line;
      continue;
    }
    auto eq = line.find('=');
    if (eq != std::string::npos) sections[section][line.substr(0, eq)] = line.substr(eq + 1);
  }
  EXPECT_EQ(sections["[DBOptions]"]["wal_compression"], "kNoCompression");
  for (const char* space : {"meta", "keys", "records", "index", "subjects"}) {
    SCOPED_TRACE(space);
    auto& cf = sections[std::string("[CFOptions \"") + space + "\"]"];
    ASSERT_FALSE(cf.empty()) << "no options for this space";
    EXPECT_EQ(cf["compression"], "kNoCompression");
    EXPECT_TRUE(cf["bottommost_compression"] == "kNoCompression" ||
                cf["bottommost_compression"] == "kDisableCompressionOption")
        << cf["bottommost_compression"];
    EXPECT_EQ(cf["compression_per_level"], "");
    EXPECT_EQ(cf["blob_compression_type"], "kNoCompression");
  }

  // "default" is not a space: RocksDB creates it and coffre never writes to
  // it, which makes its compression setting moot. Check it stays empty once
  // records were put and imported.
  r = RunCoffre({"gen", "--count", "3", "--seed", "5"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> rows = r.OutLines();
  ASSERT_EQ(rows.size(), 3u);
  ASSERT_EQ(RunCoffre({"put", dir, "people", "-"}, {}, rows[0]).exit_code, 0);
  WriteFileOrDie(tmp_ / "two.ndjson", rows[1] + "\n" + rows[2] + "\n");
  r = RunCoffre({"import", dir, "people", tmp_ / "two.ndjson"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), dir, &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const auto& n : names) cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), dir, cfs, &handles, &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] != rocksdb::kDefaultColumnFamilyName) continue;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), handles[i]));
    it->SeekToFirst();
    EXPECT_FALSE(it->Valid()) << "the default column family (compressed) holds data";
  }
  for (auto* h : handles) (void)db->DestroyColumnFamilyHandle(h);
}

}  // namespace
}  // namespace coffre::testing
