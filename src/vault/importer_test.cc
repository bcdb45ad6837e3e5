// Unit tests of the bulk importer through the library: standard input is
// read once (nothing lost to format detection), every row read is counted
// as imported or rejected, --ids-out lists exactly the committed rows, and
// --subject-key attaches rows to existing people, sharing their data key.
//
// People come from the synthetic generator (src/gen). Assertion messages
// show line numbers and counts, never values.
#include "vault/importer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/bytes.h"
#include "gen/people_gen.h"

namespace coffre::vault {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

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
  { name = "contract_number", type = "text", required = true, searchable = true, unique = true },
]
)";

// `count` generated people, one NDJSON line each; `extra(i)` (if given) is
// spliced in as the first members of person i's object.
std::vector<gen::Person> People(size_t count, uint64_t seed = 20261207) {
  gen::PeopleGenerator g(seed);
  std::vector<gen::Person> people(count);
  for (auto& p : people) g.Next(p);
  return people;
}

std::string PersonJson(const gen::Person& p, const std::string& extra = "") {
  json::object o;
  o["first_name"] = p.first_name;
  o["last_name"] = p.last_name;
  o["sex"] = p.sex;
  o["birth_date"] = p.birth_date;
  o["nir"] = p.nir;
  o["email"] = p.email;
  o["phone"] = p.phone;
  o["postal_address"] = p.postal_address;
  o["iban"] = p.iban;
  o["agency"] = p.agency;
  std::string s = json::serialize(o);
  if (!extra.empty()) s.insert(1, extra + ",");
  return s;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class ImporterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "coffre-importer-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    tmp_ = tmpl;
    std::ofstream(tmp_ + "/schema.toml") << kSchema;
    auto init = Vault::Init({tmp_ + "/vault", tmp_ + "/schema.toml", tmp_ + "/vault.key", ""});
    ASSERT_TRUE(init) << init.error().message;
    auto v = Vault::Open({.dir = tmp_ + "/vault", .key_file = tmp_ + "/vault.key"});
    ASSERT_TRUE(v) << v.error().message;
    vault_ = std::move(*v);
  }
  void TearDown() override {
    vault_.reset();
    std::error_code ec;
    fs::remove_all(tmp_, ec);
  }

  // Imports `text` fed through a pipe on standard input, read as `path`
  // ("-" or "/dev/stdin"); the writer trickles it in small pieces, as a
  // producer in a shell pipeline does.
  Result<ImportStats> ImportFromStdin(const std::string& text, ImportOptions o) {
    int fds[2];
    EXPECT_EQ(::pipe(fds), 0);
    int saved = ::dup(STDIN_FILENO);
    ::dup2(fds[0], STDIN_FILENO);
    ::close(fds[0]);
    std::thread writer([&] {
      for (size_t at = 0; at < text.size();) {
        size_t n = std::min<size_t>(3000, text.size() - at);
        ssize_t w = ::write(fds[1], text.data() + at, n);
        if (w <= 0) break;
        at += static_cast<size_t>(w);
      }
      ::close(fds[1]);
    });
    auto stats = Import(*vault_, o);
    writer.join();
    ::dup2(saved, STDIN_FILENO);
    ::close(saved);
    return stats;
  }

  std::string File(const std::string& name, const std::string& text) {
    std::string path = tmp_ + "/" + name;
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  size_t FindCount(const std::string& collection, const std::string& field,
                   const std::string& value) {
    auto refs = vault_->Find(collection, field, schema::Input::String(value));
    EXPECT_TRUE(refs) << refs.error().message;
    return refs ? refs->size() : 0;
  }

  std::string tmp_;
  std::unique_ptr<Vault> vault_;
};

// Finding of issue 13: `gen | import DIR people /dev/stdin` lost 29 rows of
// 1,000 to format detection reading the pipe first. Both spellings of
// standard input now import every row.
TEST_F(ImporterTest, StandardInputIsReadOnceAndEveryRowImported) {
  auto people = People(1000);
  std::string text;
  for (const auto& p : people) text += PersonJson(p) + "\n";
  for (std::string path : {"-", "/dev/stdin"}) {
    SCOPED_TRACE(path);
    // A fresh vault per spelling (the emails are unique).
    TearDown();
    SetUp();
    ImportOptions o{.collection = "people", .path = path, .rejects_path = tmp_ + "/rejects"};
    o.chunk_rows = 64;
    auto stats = ImportFromStdin(text, o);
    ASSERT_TRUE(stats) << stats.error().message;
    EXPECT_EQ(stats->read, 1000u);
    EXPECT_EQ(stats->imported, 1000u);
    EXPECT_EQ(stats->rejected, 0u);
    EXPECT_FALSE(fs::exists(tmp_ + "/rejects"));
    for (size_t i : {0, 1, 28, 29, 500, 999})
      EXPECT_EQ(FindCount("people", "email", people[i].email), 1u) << i;
  }
}

// CSV through a pipe: the header is detected from the bytes read, not by a
// second read.
TEST_F(ImporterTest, CsvOnStandardInputKeepsItsHeader) {
  auto people = People(50);
  std::string text =
      "first_name,last_name,sex,birth_date,nir,email,phone,postal_address,iban,agency\n";
  for (const auto& p : people) {
    for (const std::string* v : {&p.first_name, &p.last_name, &p.sex, &p.birth_date, &p.nir,
                                 &p.email, &p.phone, &p.postal_address, &p.iban, &p.agency}) {
      text += "\"" + *v + "\"" + (v == &p.agency ? "\n" : ",");
    }
  }
  auto stats = ImportFromStdin(
      text, {.collection = "people", .path = "-", .rejects_path = tmp_ + "/rejects"});
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats->read, 50u);
  EXPECT_EQ(stats->imported, 50u);
}

TEST_F(ImporterTest, EveryRowReadIsImportedOrRejected) {
  auto people = People(40);
  std::string text;
  for (size_t i = 0; i < people.size(); ++i) {
    if (i % 7 == 3) {
      text += "{\"not\": \"a person\"}\n";
    } else if (i % 11 == 5) {
      text += PersonJson(people[i]).substr(0, 30) + "\n";  // broken JSON
    } else if (i == 20) {
      text += PersonJson(people[i]) + "\n\n   \n";  // blank lines are not rows
    } else {
      text += PersonJson(people[i]) + "\n";
    }
  }
  text += PersonJson(people[0]);  // a last line without '\n', and a duplicate email
  ImportOptions o{
      .collection = "people", .path = File("mixed", text), .rejects_path = tmp_ + "/rejects"};
  o.chunk_rows = 4;
  o.commit_rows = 8;
  auto stats = Import(*vault_, o);
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats->read, 41u);
  EXPECT_EQ(stats->imported + stats->rejected, stats->read);
  EXPECT_EQ(stats->rejected, Lines(ReadFile(tmp_ + "/rejects")).size());
  EXPECT_EQ(stats->rejected, 6u + 3u + 1u);  // i = 3,10,17,24,31,38; 5,16,27; the duplicate
  EXPECT_EQ(stats->rejects_path, tmp_ + "/rejects");
  struct stat st {};
  ASSERT_EQ(::stat((tmp_ + "/rejects").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(ImporterTest, DefaultRejectsPathNeverBesideADevice) {
  std::string regular = File("people.ndjson", "");
  EXPECT_EQ(DefaultRejectsPath(regular, 0), regular + ".rejects");
  // 2026-12-07T13:05:09Z
  EXPECT_EQ(DefaultRejectsPath("-", 1796648709), "./coffre-import-20261207T130509Z.rejects");
  EXPECT_EQ(DefaultRejectsPath("/dev/stdin", 1796648709),
            "./coffre-import-20261207T130509Z.rejects");
  EXPECT_EQ(DefaultRejectsPath("/dev/null", 0), "./coffre-import-19700101T000000Z.rejects");
  // `import DIR people /dev/stdin < file`: /dev/stdin stats as a regular
  // file, and still no file is written in /dev.
  int saved = ::dup(STDIN_FILENO);
  int fd = ::open(regular.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ::dup2(fd, STDIN_FILENO);
  ::close(fd);
  std::string redirected = DefaultRejectsPath("/dev/stdin", 0);
  ::dup2(saved, STDIN_FILENO);
  ::close(saved);
  EXPECT_EQ(redirected, "./coffre-import-19700101T000000Z.rejects");
}

TEST_F(ImporterTest, RejectsNeverReplaceTheInput) {
  std::string input = File("people.ndjson", PersonJson(People(1)[0]) + "\n{}\n");
  auto stats = Import(*vault_, {.collection = "people", .path = input, .rejects_path = input});
  ASSERT_FALSE(stats);
  EXPECT_EQ(stats.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(ReadFile(input), PersonJson(People(1)[0]) + "\n{}\n");
}

TEST_F(ImporterTest, IdsOutListsEveryImportedRowWithItsKey) {
  auto people = People(30);
  std::string text;
  for (size_t i = 0; i < people.size(); ++i) {
    if (i == 4) {
      text += "\n";  // line 5 blank
      continue;
    }
    std::string key = "\"crm_id\":\"C-" + std::to_string(100 + i) + "\"";
    if (i == 9) key = "\"crm_id\":12345";
    if (i == 12) key = "\"crm_id\":null";
    std::string row = PersonJson(people[i], key);
    if (i == 7) row = PersonJson(people[0], key);  // duplicate email: rejected by the committer
    if (i == 15) row = "{\"crm_id\":\"C-115\",\"email\":\"x\"}";  // invalid: rejected by a worker
    text += row + "\n";
  }
  ImportOptions o{.collection = "people",
                  .path = File("people.ndjson", text),
                  .rejects_path = tmp_ + "/rejects"};
  o.ids_out_path = tmp_ + "/ids.ndjson";
  o.key_field = "crm_id";
  o.chunk_rows = 4;
  o.commit_rows = 8;
  auto stats = Import(*vault_, o);
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats->read, 29u);
  EXPECT_EQ(stats->imported, 27u);

  struct stat st {};
  ASSERT_EQ(::stat(o.ids_out_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto lines = Lines(ReadFile(o.ids_out_path));
  ASSERT_EQ(lines.size(), 27u);
  std::set<uint64_t> seen;
  for (const std::string& line : lines) {
    json::object e = json::parse(line).as_object();
    uint64_t n = e.at("line").to_number<uint64_t>();
    seen.insert(n);
    size_t i = n - 1;  // line 5 is blank in place of person 4
    ASSERT_TRUE(FromHex(std::string(e.at("id").as_string())).has_value());
    std::string id = *FromHex(std::string(e.at("id").as_string()));
    std::string subject = *FromHex(std::string(e.at("subject").as_string()));
    auto rec = vault_->Get("people", id);
    ASSERT_TRUE(rec) << "line " << n << ": " << rec.error().message;
    EXPECT_EQ(rec->subject, subject) << "line " << n;
    // The key column is not a field: not stored.
    for (const auto& f : rec->fields) EXPECT_NE(f.name, "crm_id");
    EXPECT_TRUE(rec->fields[5].value == people[i].email) << "line " << n;
    if (i == 9) {
      EXPECT_EQ(e.at("key").as_string(), "12345");
    } else if (i == 12) {
      EXPECT_TRUE(e.at("key").is_null());
    } else {
      EXPECT_EQ(e.at("key").as_string(), "C-" + std::to_string(100 + i)) << "line " << n;
    }
  }
  EXPECT_EQ(seen.size(), 27u);
  EXPECT_EQ(seen.count(5), 0u);   // blank
  EXPECT_EQ(seen.count(8), 0u);   // duplicate
  EXPECT_EQ(seen.count(16), 0u);  // invalid
}

TEST_F(ImporterTest, IdsOutIsNeverOverwritten) {
  std::string path = File("ids.ndjson", "earlier run\n");
  ImportOptions o{.collection = "people",
                  .path = File("p.ndjson", PersonJson(People(1)[0]) + "\n")};
  o.ids_out_path = path;
  auto stats = Import(*vault_, o);
  ASSERT_FALSE(stats);
  EXPECT_EQ(stats.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(ReadFile(path), "earlier run\n");
  EXPECT_EQ(FindCount("people", "email", People(1)[0].email), 0u);
}

// Descriptors a caller opened (a local caller over the admin socket): the
// input is read from its descriptor (a pipe here), the rejects and ids
// lines are written to theirs, the paths only name them; stale content of
// the rejects file goes, and the input cannot be its own rejects file.
TEST_F(ImporterTest, DescriptorsTheCallerOpenedAreReadAndWritten) {
  auto people = People(20);
  std::string text;
  for (size_t i = 0; i < people.size(); ++i) {
    text += (i == 6 ? std::string("{\"not\": \"a person\"}") : PersonJson(people[i])) + "\n";
  }
  int in[2];
  ASSERT_EQ(::pipe(in), 0);
  std::thread writer([&] {
    for (size_t at = 0; at < text.size();) {
      ssize_t w = ::write(in[1], text.data() + at, std::min<size_t>(500, text.size() - at));
      if (w <= 0) break;
      at += static_cast<size_t>(w);
    }
    ::close(in[1]);
  });
  std::string rejects_path = File("caller.rejects", "stale content from an earlier run\n");
  int rejects = ::open(rejects_path.c_str(), O_WRONLY);
  std::string ids_path = tmp_ + "/caller.ids";
  int ids = ::open(ids_path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  ASSERT_GE(rejects, 0);
  ASSERT_GE(ids, 0);
  ImportOptions o{.collection = "people", .path = "-", .rejects_path = "shown.rejects"};
  o.ids_out_path = "shown.ids";
  o.input_fd = in[0];
  o.rejects_fd = rejects;
  o.ids_out_fd = ids;
  o.chunk_rows = 4;
  auto stats = Import(*vault_, o);
  writer.join();
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats->read, 20u);
  EXPECT_EQ(stats->imported, 19u);
  EXPECT_EQ(stats->rejects_path, "shown.rejects");
  EXPECT_FALSE(fs::exists("shown.rejects"));
  EXPECT_FALSE(fs::exists("shown.ids"));
  // The caller's descriptors stay open (they are the caller's).
  EXPECT_GE(::fcntl(rejects, F_GETFD), 0);
  EXPECT_GE(::fcntl(in[0], F_GETFD), 0);
  ::close(in[0]);
  ::close(rejects);
  ::close(ids);
  EXPECT_EQ(ReadFile(rejects_path), "line 7: field 'not': unknown in collection 'people'\n");
  EXPECT_EQ(Lines(ReadFile(ids_path)).size(), 19u);
  EXPECT_EQ(FindCount("people", "email", people[19].email), 1u);

  // The same file as input and rejects, by descriptor: refused, untouched.
  std::string input = File("self.ndjson", PersonJson(People(21)[20]) + "\n{}\n");
  int a = ::open(input.c_str(), O_RDONLY), b = ::open(input.c_str(), O_WRONLY);
  ImportOptions self{.collection = "people", .path = "self.ndjson", .rejects_path = "self.ndjson"};
  self.input_fd = a;
  self.rejects_fd = b;
  auto refused = Import(*vault_, self);
  ::close(a);
  ::close(b);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(ReadFile(input), PersonJson(People(21)[20]) + "\n{}\n");
}

TEST_F(ImporterTest, SubjectKeyAttachesRowsToExistingPeople) {
  auto people = People(12);
  std::string text;
  for (const auto& p : people) text += PersonJson(p) + "\n";
  auto first = Import(*vault_, {.collection = "people", .path = File("people.ndjson", text)});
  ASSERT_TRUE(first) << first.error().message;
  ASSERT_EQ(first->imported, 12u);
  auto subject_of = [&](size_t i) {
    auto refs = vault_->Find("people", "email", schema::Input::String(people[i].email));
    EXPECT_TRUE(refs && refs->size() == 1);
    return refs && refs->size() == 1 ? (*refs)[0].subject : std::string();
  };
  // Person 0 already has a contract (a data key in the store, reused).
  auto before = vault_->Put("contracts",
                            {{"insurer", schema::Input::String("MAIF")},
                             {"contract_number", schema::Input::String("K-0")}},
                            subject_of(0));
  ASSERT_TRUE(before) << before.error().message;

  // Contracts for people 0..9, two each for 1 and 2 (in different chunks),
  // one for an email nobody has, one without email.
  std::string contracts;
  std::vector<std::pair<std::string, size_t>> expected;  // contract number -> person
  auto add = [&](const std::string& number, const std::string& email) {
    contracts += "{\"insurer\":\"MACIF\",\"contract_number\":\"" + number + "\",\"email\":\"" +
                 email + "\"}\n";
  };
  for (size_t i = 0; i < 10; ++i) {
    add("K-" + std::to_string(i + 1), people[i].email);
    expected.emplace_back("K-" + std::to_string(i + 1), i);
  }
  add("K-21", people[1].email);
  expected.emplace_back("K-21", 1);
  add("K-22", " " + people[2].email);  // normalised like the field (spaces)
  expected.emplace_back("K-22", 2);
  add("K-99", "nobody@example.invalid");
  contracts += "{\"insurer\":\"MACIF\",\"contract_number\":\"K-98\"}\n";
  ImportOptions o{.collection = "contracts",
                  .path = File("contracts.ndjson", contracts),
                  .rejects_path = tmp_ + "/rejects",
                  .ids_out_path = tmp_ + "/ids"};
  o.subject_key = "email";  // people.email, the only unique email
  o.chunk_rows = 3;
  o.commit_rows = 6;
  auto stats = Import(*vault_, o);
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats->read, 14u);
  EXPECT_EQ(stats->imported, 12u);
  EXPECT_EQ(stats->rejected, 2u);
  std::string rejects = ReadFile(tmp_ + "/rejects");
  EXPECT_NE(rejects.find("line 13: field 'email': no subject in collection 'people'"),
            std::string::npos);
  EXPECT_NE(rejects.find("line 14: field 'email': missing"), std::string::npos);
  EXPECT_EQ(rejects.find("nobody"), std::string::npos);

  std::map<std::string, std::string> ids_subject;  // ids-out: record id -> subject
  for (const std::string& line : Lines(ReadFile(tmp_ + "/ids"))) {
    json::object e = json::parse(line).as_object();
    ids_subject[*FromHex(std::string(e.at("id").as_string()))] =
        *FromHex(std::string(e.at("subject").as_string()));
  }
  EXPECT_EQ(ids_subject.size(), 12u);
  for (const auto& [number, person] : expected) {
    auto refs = vault_->Find("contracts", "contract_number", schema::Input::String(number));
    ASSERT_TRUE(refs && refs->size() == 1) << number;
    EXPECT_EQ((*refs)[0].subject, subject_of(person)) << number;
    EXPECT_EQ(ids_subject[(*refs)[0].id], subject_of(person)) << number;
    auto rec = vault_->Get("contracts", (*refs)[0].id);
    ASSERT_TRUE(rec) << number << ": " << rec.error().message;
    // The email column matched; it is not a field of contracts.
    EXPECT_EQ(rec->fields.size(), 2u);
  }
  // The contract written before the import still opens: its key was reused.
  auto old = vault_->Get("contracts", before->id);
  EXPECT_TRUE(old) << old.error().message;
  // No new person was created.
  auto all = vault_->ListRecords("people", "", 100);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 12u);
  auto exported = vault_->ExportSubject(subject_of(1));
  ASSERT_TRUE(exported);
  EXPECT_EQ(exported->size(), 3u);  // the person and two contracts
}

TEST_F(ImporterTest, SubjectKeyMustNameAUniqueFieldOfAnotherCollection) {
  std::string path = File("c.ndjson", "{}\n");
  for (const char* spec :
       {"contract_number", "contracts.contract_number", "phone", "people.phone", "nope.email"}) {
    ImportOptions o{.collection = "contracts", .path = path};
    o.subject_key = spec;
    auto stats = Import(*vault_, o);
    ASSERT_FALSE(stats) << spec;
    EXPECT_NE(stats.error().message.find("--subject-key"), std::string::npos) << spec;
  }
}

}  // namespace
}  // namespace coffre::vault
