// The coffre command line, end to end: every test starts the real binary on
// a fresh vault in a scratch directory and checks the CLI contract (output,
// exit codes, error messages, files left behind). People come from
// `coffre gen`: synthetic, never real.
//
// Assertion messages show line numbers, ids and field names, never values.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <boost/json.hpp>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cli_runner.h"
#include "test_util.h"
#include "tests/vectors/card_numbers.h"

namespace coffre::testing {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

// One person as `coffre gen` prints it: field name -> value, in gen order.
using Person = std::vector<std::pair<std::string, std::string>>;

std::string Field(const Person& p, const std::string& name) {
  for (const auto& [k, v] : p) {
    if (k == name) return v;
  }
  return "";
}

Person With(Person p, const std::string& name, const std::string& value) {
  for (auto& [k, v] : p) {
    if (k == name) {
      v = value;
      return p;
    }
  }
  p.emplace_back(name, value);
  return p;
}

Person Without(Person p, const std::string& name) {
  std::erase_if(p, [&](const auto& kv) { return kv.first == name; });
  return p;
}

std::string ToJson(const Person& p) {
  json::object o;
  for (const auto& [k, v] : p) o[k] = v;
  return json::serialize(o);
}

std::string Upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  return s;
}

// Quotes a CSV cell (RFC 4180) when it holds a comma, quote or newline.
std::string CsvCell(const std::string& v) {
  if (v.find_first_of(",\"\n") == std::string::npos) return v;
  std::string q = "\"";
  for (char c : v) {
    if (c == '"') q += '"';
    q += c;
  }
  return q + "\"";
}

// The names of the fields of `p` whose value (5 bytes or more, so that "F"
// or a short digit run cannot match by chance) occurs in `text`. Used to
// prove that messages and reject files carry no personal value; reports
// names, never values.
std::vector<std::string> LeakedFields(const Person& p, const std::string& text) {
  std::vector<std::string> leaked;
  for (const auto& [k, v] : p) {
    if (v.size() >= 5 && text.find(v) != std::string::npos) leaked.push_back(k);
  }
  return leaked;
}

bool IsHexId(const std::string& s) {
  return s.size() == 32 && std::all_of(s.begin(), s.end(),
                                       [](char c) { return std::isxdigit(c) && !std::isupper(c); });
}

// A NIR whose control key is wrong (the 13 first characters are kept).
std::string WithWrongNirKey(const std::string& nir) {
  int key = std::stoi(nir.substr(13, 2));
  int wrong = key % 97 + 1;
  char buf[8];  // wrong is 1..97: two digits, but the compiler cannot know
  std::snprintf(buf, sizeof buf, "%02d", wrong);
  return nir.substr(0, 13) + buf;
}

class CliE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    CliResult r = RunCoffre({"gen", "--count", "60", "--seed", "20240611"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    people_ = new std::vector<Person>();
    for (const std::string& line : r.OutLines()) {
      Person p;
      json::object o = json::parse(line).as_object();
      for (const auto& kv : o) {
        p.emplace_back(std::string(kv.key()), std::string(kv.value().as_string()));
      }
      people_->push_back(std::move(p));
    }
    ASSERT_EQ(people_->size(), 60u);
  }
  static void TearDownTestSuite() {
    delete people_;
    people_ = nullptr;
  }

  void SetUp() override {
    dir_ = tmp_ / "vault";
    key_ = dir_ + ".key";
  }

  static const Person& person(size_t i) { return (*people_)[i]; }

  CliResult Coffre(const std::vector<std::string>& args, const EnvVars& env = {},
                   const std::string& stdin_data = "") {
    return RunCoffre(args, env, stdin_data);
  }

  void InitVault() {
    CliResult r = Coffre({"init", dir_, "--schema", PeopleSchema()});
    ASSERT_EQ(r.exit_code, kExitOk) << r.err;
  }

  // Puts `p` (the record on standard input), returns {id, subject}.
  std::pair<std::string, std::string> Put(const Person& p,
                                          const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"put", dir_, "people", "-"};
    args.insert(args.end(), extra.begin(), extra.end());
    CliResult r = Coffre(args, {}, ToJson(p));
    EXPECT_EQ(r.exit_code, kExitOk) << r.err;
    if (r.exit_code != kExitOk) return {};
    json::object o = json::parse(r.LastOutLine()).as_object();
    return {std::string(o.at("id").as_string()), std::string(o.at("subject").as_string())};
  }

  // Ids found for FIELD (the value on standard input); fails the test on a
  // non-zero exit.
  std::vector<std::string> Find(const std::string& field, const std::string& value,
                                const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"find", dir_, "people", field};
    args.insert(args.end(), extra.begin(), extra.end());
    CliResult r = Coffre(args, {}, value + "\n");
    EXPECT_EQ(r.exit_code, kExitOk) << "find on field " << field << ": " << r.err;
    std::vector<std::string> ids;
    for (const std::string& line : r.OutLines()) {
      ids.emplace_back(json::parse(line).as_object().at("id").as_string());
    }
    return ids;
  }

  // The fields of a record, or an empty map (and the exit code) on failure.
  std::map<std::string, std::string> GetFields(const std::string& id, int* exit_code = nullptr,
                                               const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"get", dir_, "people", id};
    args.insert(args.end(), extra.begin(), extra.end());
    CliResult r = Coffre(args);
    if (exit_code) *exit_code = r.exit_code;
    std::map<std::string, std::string> fields;
    if (r.exit_code != kExitOk) return fields;
    json::object o = json::parse(r.LastOutLine()).as_object();
    for (const auto& kv : o.at("fields").as_object()) {
      fields[std::string(kv.key())] = std::string(kv.value().as_string());
    }
    return fields;
  }

  // Lines "line N: reason" of a rejects file -> N, checking the format.
  static std::vector<int> RejectedLines(const std::string& rejects) {
    std::vector<int> lines;
    size_t start = 0;
    while (start < rejects.size()) {
      size_t nl = rejects.find('\n', start);
      if (nl == std::string::npos) nl = rejects.size();
      std::string line = rejects.substr(start, nl - start);
      start = nl + 1;
      if (line.empty()) continue;
      int n = 0;
      char colon = 0;
      EXPECT_EQ(std::sscanf(line.c_str(), "line %d%c", &n, &colon), 2) << "malformed reject line";
      EXPECT_EQ(colon, ':');
      lines.push_back(n);
    }
    return lines;
  }

  static std::vector<Person>* people_;
  TempDir tmp_;
  std::string dir_;
  std::string key_;
};

std::vector<Person>* CliE2eTest::people_ = nullptr;

// ---------------------------------------------------------------- init

TEST_F(CliE2eTest, InitCreatesPrivateKeyFileAndPrintsJson) {
  CliResult r = Coffre({"init", dir_, "--schema", PeopleSchema()});
  ASSERT_EQ(r.exit_code, kExitOk) << r.err;
  json::object o = json::parse(r.LastOutLine()).as_object();
  EXPECT_EQ(o.at("vault").as_string(), dir_);
  EXPECT_EQ(o.at("key_file").as_string(), key_);
  EXPECT_TRUE(IsHexId(std::string(o.at("vault_id").as_string())));
  struct stat st {};
  ASSERT_EQ(::stat(key_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_TRUE(fs::is_directory(dir_));
  EXPECT_FALSE(fs::exists(dir_ + "/" + fs::path(key_).filename().string()));
}

TEST_F(CliE2eTest, InitRefusesToOverwriteAKeyFile) {
  WriteFileOrDie(key_, "precious\n");
  CliResult r = Coffre({"init", dir_, "--schema", PeopleSchema()});
  EXPECT_EQ(r.exit_code, kExitExists) << r.err;
  EXPECT_EQ(r.err.rfind("coffre: ", 0), 0u) << r.err;
  EXPECT_EQ(ReadFileOrDie(key_), "precious\n");
  EXPECT_FALSE(fs::exists(dir_));
}

TEST_F(CliE2eTest, InitRefusesANonEmptyDirectory) {
  fs::create_directories(dir_);
  WriteFileOrDie(dir_ + "/notes.txt", "mine");
  CliResult r = Coffre({"init", dir_, "--schema", PeopleSchema()});
  EXPECT_EQ(r.exit_code, kExitExists) << r.err;
  EXPECT_EQ(ReadFileOrDie(dir_ + "/notes.txt"), "mine");
  EXPECT_EQ(ListFilesRecursively(dir_).size(), 1u);
  EXPECT_FALSE(fs::exists(key_));
}

TEST_F(CliE2eTest, InitAcceptsAnEmptyDirectory) {
  fs::create_directories(dir_);
  CliResult r = Coffre({"init", dir_, "--schema", PeopleSchema()});
  EXPECT_EQ(r.exit_code, kExitOk) << r.err;
}

TEST_F(CliE2eTest, InitRefusesAKeyFileInsideTheDataDirectory) {
  for (const std::string& key : {dir_ + "/master.key", dir_ + "/sub/../master.key"}) {
    CliResult r = Coffre({"init", dir_, "--schema", PeopleSchema(), "--key-file", key});
    EXPECT_EQ(r.exit_code, kExitInvalid) << r.err;
    EXPECT_NE(r.err.find("inside the data directory"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(dir_));
  }
  // Same with an existing (empty) directory and a trailing slash.
  fs::create_directories(dir_);
  CliResult r =
      Coffre({"init", dir_ + "/", "--schema", PeopleSchema(), "--key-file", dir_ + "/k.key"});
  EXPECT_EQ(r.exit_code, kExitInvalid) << r.err;
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(CliE2eTest, FailedInitLeavesNothingBehind) {
  // A schema that does not parse: refused before anything is created.
  std::string bad_schema = tmp_ / "bad.toml";
  WriteFileOrDie(bad_schema,
                 "version = 1\n[collections.people]\nfields = [ { name = \"x\", type = "
                 "\"no_such_type\" } ]\n");
  CliResult r = Coffre({"init", dir_, "--schema", bad_schema});
  EXPECT_NE(r.exit_code, kExitOk);
  EXPECT_NE(r.err.find("coffre: "), std::string::npos);
  EXPECT_FALSE(fs::exists(dir_));
  EXPECT_FALSE(fs::exists(key_));

  r = Coffre({"init", dir_, "--schema", tmp_ / "missing.toml"});
  EXPECT_NE(r.exit_code, kExitOk);
  EXPECT_FALSE(fs::exists(dir_));
  EXPECT_FALSE(fs::exists(key_));

  // A failure after the key file was written (the directory cannot be
  // created below a regular file): the key file is removed again.
  WriteFileOrDie(tmp_ / "plainfile", "x");
  std::string key = tmp_ / "elsewhere.key";
  r = Coffre({"init", tmp_ / "plainfile/vault", "--schema", PeopleSchema(), "--key-file", key});
  EXPECT_NE(r.exit_code, kExitOk);
  EXPECT_FALSE(fs::exists(key));
  EXPECT_EQ(ReadFileOrDie(tmp_ / "plainfile"), "x");
}

// ---------------------------------------------------------------- put / get / find

TEST_F(CliE2eTest, PutGetRoundTripNormalises) {
  InitVault();
  Person p =
      With(With(person(0), "email", Upper(Field(person(0), "email"))), "phone", "06 39 98 00 01");
  auto [id, subject] = Put(p);
  ASSERT_TRUE(IsHexId(id));
  ASSERT_TRUE(IsHexId(subject));

  CliResult r = Coffre({"get", dir_, "people", id});
  ASSERT_EQ(r.exit_code, kExitOk) << r.err;
  json::object o = json::parse(r.LastOutLine()).as_object();
  EXPECT_EQ(o.at("id").as_string(), id);
  EXPECT_EQ(o.at("subject").as_string(), subject);
  const json::object& f = o.at("fields").as_object();
  EXPECT_TRUE(f.at("email").as_string() == Field(person(0), "email")) << "email not lower-cased";
  EXPECT_TRUE(f.at("phone").as_string() == "+33639980001") << "phone not stored as E.164";
  for (const char* name : {"first_name", "last_name", "sex", "birth_date", "nir"}) {
    EXPECT_TRUE(f.at(name).as_string() == Field(p, name)) << "field " << name;
  }
  EXPECT_EQ(f.size(), 10u);
}

TEST_F(CliE2eTest, FourPhoneSpellingsFindTheSameRecord) {
  InitVault();
  auto [id, subject] = Put(With(person(1), "phone", "06 39 98 00 01"));
  Put(With(person(2), "phone", "06 39 98 00 02"));
  for (const std::string spelling :
       {"06 39 98 00 01", "06.39.98.00.01", "+33 6 39 98 00 01", "0033639980001", "+33639980001"}) {
    EXPECT_EQ(Find("phone", spelling), std::vector<std::string>{id})
        << "spelling #" << spelling.size();
  }
}

TEST_F(CliE2eTest, FindWithoutMatchExitsZeroWithEmptyOutput) {
  InitVault();
  Put(person(3));
  for (const auto& [field, value] : std::vector<std::pair<std::string, std::string>>{
           {"email", "nobody.at.all@example.fr"},
           {"phone", "06 39 98 00 99"},
           {"nir", Field(person(4), "nir")}}) {  // valid, not stored
    CliResult r = Coffre({"find", dir_, "people", field + "=" + value});
    EXPECT_EQ(r.exit_code, kExitOk) << field << ": " << r.err;
    EXPECT_EQ(r.out, "") << field;
  }
  // The email search normalises case.
  EXPECT_EQ(Find("email", Upper(Field(person(3), "email"))).size(), 1u);
}

// Review finding (issue 13, item 11): a personal value in argv is seen by
// every local user (ps, /proc/PID/cmdline) and kept by the shell history.
// `put DIR C -` and `put DIR C @FILE` take the record from standard input
// or a file, `find DIR C FIELD` the value from standard input; the argv
// forms still work but warn, and the warning names no value.
TEST_F(CliE2eTest, PutTakesTheRecordFromStdinOrAFileSilently) {
  InitVault();
  CliResult r = Coffre({"put", dir_, "people", "-"}, {}, ToJson(person(10)));
  ASSERT_EQ(r.exit_code, kExitOk) << r.err;
  EXPECT_EQ(r.err, "") << "the stdin form must not warn";
  std::string from_stdin(json::parse(r.LastOutLine()).as_object().at("id").as_string());

  const std::string file = tmp_ / "record.json";
  WriteFileOrDie(file, ToJson(person(11)));
  r = Coffre({"put", dir_, "people", "@" + file});
  ASSERT_EQ(r.exit_code, kExitOk) << r.err;
  EXPECT_EQ(r.err, "") << "the @FILE form must not warn";
  std::string from_file(json::parse(r.LastOutLine()).as_object().at("id").as_string());

  EXPECT_EQ(GetFields(from_stdin).at("nir"), Field(person(10), "nir"));
  EXPECT_EQ(GetFields(from_file).at("nir"), Field(person(11), "nir"));

  const std::string missing = tmp_ / "no-such-record.json";
  r = Coffre({"put", dir_, "people", "@" + missing});
  EXPECT_EQ(r.exit_code, kExitNotFound) << r.err;
  EXPECT_NE(r.err.find(missing), std::string::npos) << r.err;

  // Bounded like an API request body (1 MiB).
  std::string huge = "{\"note\":\"" + std::string(size_t{1} << 20, 'x') + "\"}";
  r = Coffre({"put", dir_, "people", "-"}, {}, huge);
  EXPECT_EQ(r.exit_code, kExitInvalid) << r.err;
  EXPECT_NE(r.err.find("larger than"), std::string::npos) << r.err;
}

TEST_F(CliE2eTest, PutWithTheRecordInArgvWarnsWithoutNamingAValue) {
  InitVault();
  CliResult r = Coffre({"put", dir_, "people", ToJson(person(12))});
  ASSERT_EQ(r.exit_code, kExitOk) << r.err;
  EXPECT_NE(r.err.find("coffre: warning: "), std::string::npos) << "no warning";
  EXPECT_NE(r.err.find("command line"), std::string::npos);
  EXPECT_NE(r.err.find("'-'"), std::string::npos) << "the warning gives no safer form";
  EXPECT_EQ(LeakedFields(person(12), r.err), std::vector<std::string>{});
  EXPECT_EQ(r.err.find('{'), std::string::npos) << "the warning quotes the record";
}

TEST_F(CliE2eTest, FindTakesTheValueFromStdin) {
  InitVault();
  auto [id, subject] = Put(person(13));
  const std::string email = Field(person(13), "email");
  for (const std::string& input : {email + "\n", email, email + "\r\n"}) {
    CliResult r = Coffre({"find", dir_, "people", "email"}, {}, input);
    ASSERT_EQ(r.exit_code, kExitOk) << r.err;
    EXPECT_EQ(r.err, "") << "the stdin form must not warn";
    ASSERT_EQ(r.OutLines().size(), 1u) << "input of " << input.size() << " bytes";
    EXPECT_EQ(json::parse(r.LastOutLine()).as_object().at("id").as_string(), id);
  }

  // One value: a second line is refused, not searched.
  CliResult r = Coffre({"find", dir_, "people", "email"}, {}, email + "\n" + email + "\n");
  EXPECT_EQ(r.exit_code, kExitInvalid) << r.err;
  EXPECT_NE(r.err.find("one value"), std::string::npos) << r.err;
  EXPECT_EQ(LeakedFields(person(13), r.err), std::vector<std::string>{});
  r = Coffre({"find", dir_, "people", "email"}, {}, "");
  EXPECT_EQ(r.exit_code, kExitInvalid) << r.err;
  EXPECT_NE(r.err.find("no value on standard input"), std::string::npos) << r.err;
}

TEST_F(CliE2eTest, FindWithTheValueInArgvWarnsWithoutNamingIt) {
  InitVault();
  auto [id, subject] = Put(person(14));
  CliResult r = Coffre({"find", dir_, "people", "nir=" + Field(person(14), "nir")});
  ASSERT_EQ(r.exit_code, kExitOk) << r.err;
  ASSERT_EQ(r.OutLines().size(), 1u);
  EXPECT_EQ(json::parse(r.LastOutLine()).as_object().at("id").as_string(), id);
  EXPECT_NE(r.err.find("coffre: warning: "), std::string::npos) << "no warning";
  EXPECT_NE(r.err.find("standard input"), std::string::npos) << "the warning gives no safer form";
  EXPECT_EQ(LeakedFields(person(14), r.err), std::vector<std::string>{});
}

struct BadPut {
  const char* name;
  std::string json;                       // the record given to put
  std::vector<std::string> must_mention;  // in the message
  std::vector<std::string> secrets;       // must not be in the message
};

TEST_F(CliE2eTest, BadPutsAreRefusedWithoutLeakingOrWriting) {
  InitVault();
  const Person& p = person(5);
  std::string bad_nir = WithWrongNirKey(Field(p, "nir"));
  std::string json_text = ToJson(p);
  std::vector<BadPut> cases = {
      {"invalid NIR key", ToJson(With(p, "nir", bad_nir)), {"'nir'", "control key"}, {bad_nir}},
      {"unknown field",
       ToJson(With(p, "shoe_size", "forty-two-and-a-half")),
       {"'shoe_size'", "unknown"},
       {"forty-two-and-a-half"}},
      {"missing required field", ToJson(Without(p, "iban")), {"'iban'", "required"}, {}},
      {"malformed JSON", json_text.substr(0, json_text.size() - 12), {"JSON"}, {}},
      {"not an email",
       ToJson(With(p, "email", "jean.dupont.example.fr")),
       {"'email'", "@"},
       {"jean.dupont.example.fr"}},
  };
  for (const BadPut& c : cases) {
    SCOPED_TRACE(c.name);
    CliResult r = Coffre({"put", dir_, "people", c.json});
    EXPECT_EQ(r.exit_code, kExitInvalid) << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err.rfind("coffre: ", 0), 0u) << r.err;
    for (const std::string& m : c.must_mention)
      EXPECT_NE(r.err.find(m), std::string::npos) << "message lacks " << m;
    for (const std::string& s : c.secrets)
      EXPECT_EQ(r.err.find(s), std::string::npos) << "message leaks the bad value";
    EXPECT_EQ(LeakedFields(p, r.err), std::vector<std::string>{}) << "message leaks these fields";
  }
  // Nothing was written by any of them.
  EXPECT_EQ(Find("email", Field(p, "email")).size(), 0u);
  EXPECT_EQ(Find("nir", Field(p, "nir")).size(), 0u);
  EXPECT_EQ(Find("phone", Field(p, "phone")).size(), 0u);
  // And the vault still takes the good record.
  Put(p);
  EXPECT_EQ(Find("email", Field(p, "email")).size(), 1u);
}

TEST_F(CliE2eTest, UniqueEmailDuplicateIsRefused) {
  InitVault();
  auto [id, subject] = Put(person(6));
  Person twin = With(person(7), "email", Upper(Field(person(6), "email")));
  CliResult r = Coffre({"put", dir_, "people", ToJson(twin)});
  EXPECT_EQ(r.exit_code, kExitExists) << r.err;
  EXPECT_NE(r.err.find("'email'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("unique"), std::string::npos) << r.err;
  EXPECT_EQ(LeakedFields(twin, r.err), std::vector<std::string>{});
  EXPECT_EQ(Find("email", Field(person(6), "email")), std::vector<std::string>{id});
  EXPECT_EQ(Find("nir", Field(person(7), "nir")).size(), 0u) << "the refused record was written";
}

// ---------------------------------------------------------------- key files

TEST_F(CliE2eTest, AnotherVaultsKeyFileIsRefused) {
  InitVault();
  auto [id, subject] = Put(person(8));
  std::string other = tmp_ / "other";
  ASSERT_EQ(Coffre({"init", other, "--schema", PeopleSchema()}).exit_code, kExitOk);

  CliResult r = Coffre({"get", dir_, "people", id, "--key-file", other + ".key"});
  EXPECT_EQ(r.exit_code, kExitWrongKey) << r.err;
  EXPECT_NE(r.err.find("does not open this vault"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
  // Through the environment too.
  r = Coffre({"find", dir_, "people", "email=" + Field(person(8), "email")},
             {{"COFFRE_KEY_FILE", other + ".key"}});
  EXPECT_EQ(r.exit_code, kExitWrongKey) << r.err;
  EXPECT_EQ(r.out, "");
  r = Coffre({"put", dir_, "people", ToJson(person(9)), "--key-file", other + ".key"});
  EXPECT_EQ(r.exit_code, kExitWrongKey) << r.err;
  EXPECT_EQ(Find("email", Field(person(9), "email")).size(), 0u);
}

TEST_F(CliE2eTest, MissingKeyFileHasAClearMessage) {
  InitVault();
  std::string missing = tmp_ / "nowhere.key";
  CliResult r = Coffre({"find", dir_, "people", "email=a@example.fr", "--key-file", missing});
  EXPECT_NE(r.exit_code, kExitOk);
  EXPECT_NE(r.err.find("key file"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(missing), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("does not exist"), std::string::npos) << r.err;
  // The default DIR.key, moved away.
  fs::rename(key_, tmp_ / "moved.key");
  r = Coffre({"find", dir_, "people", "email=a@example.fr"});
  EXPECT_NE(r.exit_code, kExitOk);
  EXPECT_NE(r.err.find(key_), std::string::npos) << r.err;
  // COFFRE_KEY_FILE is honoured.
  r = Coffre({"find", dir_, "people", "email=a@example.fr"},
             {{"COFFRE_KEY_FILE", tmp_ / "moved.key"}});
  EXPECT_EQ(r.exit_code, kExitOk) << r.err;
}

// ---------------------------------------------------------------- import

TEST_F(CliE2eTest, ImportNdjsonCountsAndRejectsExactly) {
  InitVault();
  // 24 physical lines; bad rows on the lines below, line 12 blank.
  const std::set<int> bad = {3, 6, 9, 14, 17, 20};
  std::string file;
  std::vector<Person> in_file;  // every person whose values appear in the file
  for (int line = 1, i = 10; line <= 24; ++line, ++i) {
    Person p = person(static_cast<size_t>(i));
    std::string text;
    switch (line) {
      case 3:
        p = With(p, "nir", WithWrongNirKey(Field(p, "nir")));
        text = ToJson(p);
        break;
      case 6:
        text = ToJson(p).substr(0, 40);
        break;  // not JSON
      case 9:
        text = ToJson(Without(p, "phone"));
        break;  // missing field
      case 12:
        text = "";
        --i;
        break;  // blank: skipped
      case 14:
        p = With(p, "email", Upper(Field(person(11), "email")));
        text = ToJson(p);
        break;  // dup of line 2
      case 17:
        p = With(p, "favourite_colour", "turquoise-blue");
        text = ToJson(p);
        break;
      case 20:
        p = With(p, "phone", "12 34");
        text = ToJson(p);
        break;
      default:
        text = ToJson(p);
    }
    if (line != 12) in_file.push_back(p);
    file += text + "\n";
  }
  std::string path = tmp_ / "people.ndjson";
  WriteFileOrDie(path, file);

  CliResult r = Coffre({"import", dir_, "people", path, "--chunk-rows", "5", "--report-commits"});
  ASSERT_EQ(r.exit_code, kExitOk) << r.err;
  json::object stats = json::parse(r.LastOutLine()).as_object();
  EXPECT_EQ(stats.at("imported").as_int64(), 23 - static_cast<int64_t>(bad.size()));
  EXPECT_EQ(stats.at("rejected").as_int64(), static_cast<int64_t>(bad.size()));
  EXPECT_TRUE(stats.contains("seconds"));

  // Commit reports: increasing watermarks, ending on the last line.
  auto lines = r.OutLines();
  ASSERT_GE(lines.size(), 2u);
  int64_t previous = 0;
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    json::object c = json::parse(lines[i]).as_object();
    int64_t through = c.at("committed_through_line").as_int64();
    EXPECT_GT(through, previous);
    previous = through;
  }
  EXPECT_GE(previous, 23);

  std::string rejects = ReadFileOrDie(path + ".rejects");
  std::vector<int> rejected = RejectedLines(rejects);
  EXPECT_EQ(std::set<int>(rejected.begin(), rejected.end()), bad);
  EXPECT_EQ(rejected.size(), bad.size());
  for (const Person& p : in_file) {
    EXPECT_EQ(LeakedFields(p, rejects), std::vector<std::string>{})
        << "the rejects file leaks values";
  }
  EXPECT_EQ(rejects.find("turquoise"), std::string::npos);
  EXPECT_NE(rejects.find("line 3: field 'nir'"), std::string::npos);
  EXPECT_NE(rejects.find("line 14: field 'email'"), std::string::npos);

  // Valid rows are there, rejected ones are not.
  for (int line = 1, i = 10; line <= 24; ++line, ++i) {
    if (line == 12) {
      --i;
      continue;
    }
    const Person& p = person(static_cast<size_t>(i));
    size_t expected = bad.count(line) ? 0 : 1;
    EXPECT_EQ(Find("nir", Field(p, "nir")).size(), expected) << "line " << line;
  }
  EXPECT_EQ(Find("email", Field(person(11), "email")).size(), 1u);
}

TEST_F(CliE2eTest, ImportCsvWithQuotedFields) {
  InitVault();
  const std::vector<std::string> columns = {"first_name", "last_name", "sex",   "birth_date",
                                            "nir",        "email",     "phone", "postal_address",
                                            "iban",       "agency"};
  auto row = [&](const Person& p) {
    std::string s;
    for (size_t c = 0; c < columns.size(); ++c) s += (c ? "," : "") + CsvCell(Field(p, columns[c]));
    return s + "\n";
  };
  std::string file;
  for (size_t c = 0; c < columns.size(); ++c) file += (c ? "," : "") + columns[c];
  file += "\n";  // line 1: header
  Person quoted =
      With(person(30), "postal_address", "12, rue \"du Port\", Bât. B, 13002 Marseille");
  file += row(quoted);                                                              // line 2
  file += row(person(31));                                                          // line 3
  file += row(With(person(32), "nir", WithWrongNirKey(Field(person(32), "nir"))));  // line 4: bad
  Person multiline = With(person(33), "postal_address", "3 place Bellecour,\n69002 Lyon");
  file += row(multiline);     // lines 5-6
  file += "Jean,Dupont,M\n";  // line 7: too few columns
  file += row(With(person(34), "email", Upper(Field(person(30), "email"))));  // line 8: duplicate
  file += row(person(35));                                                    // line 9
  file += row(With(person(36), "sex", "X"));                                  // line 10: bad enum
  std::string path = tmp_ / "people.csv";
  WriteFileOrDie(path, file);

  CliResult r = Coffre({"import", dir_, "people", path, "--chunk-rows", "3", "--threads", "2"});
  ASSERT_EQ(r.exit_code, kExitOk) << r.err;
  json::object stats = json::parse(r.LastOutLine()).as_object();
  EXPECT_EQ(stats.at("imported").as_int64(), 4);
  EXPECT_EQ(stats.at("rejected").as_int64(), 4);
  std::string rejects = ReadFileOrDie(path + ".rejects");
  std::vector<int> rejected = RejectedLines(rejects);
  EXPECT_EQ(rejected, (std::vector<int>{4, 7, 8, 10}));
  for (size_t i = 30; i <= 36; ++i) {
    EXPECT_EQ(LeakedFields(person(i), rejects), std::vector<std::string>{}) << "person " << i;
  }
  EXPECT_EQ(rejects.find("Dupont"), std::string::npos);

  // The quoted address kept its commas and quotes; the multi-line one was
  // normalised (spaces collapsed).
  auto ids = Find("email", Field(quoted, "email"));
  ASSERT_EQ(ids.size(), 1u);
  auto fields = GetFields(ids[0]);
  EXPECT_TRUE(fields["postal_address"] == Field(quoted, "postal_address"))
      << "postal_address altered";
  EXPECT_TRUE(fields["nir"] == Field(quoted, "nir"));
  ids = Find("email", Field(multiline, "email"));
  ASSERT_EQ(ids.size(), 1u);
  fields = GetFields(ids[0]);
  EXPECT_TRUE(fields["postal_address"] == "3 place Bellecour, 69002 Lyon") << "multi-line address";
  EXPECT_EQ(Find("nir", Field(person(35), "nir")).size(), 1u);
  EXPECT_EQ(Find("nir", Field(person(34), "nir")).size(), 0u);
}

TEST_F(CliE2eTest, ImportRejectsTheSecondOfTwoEqualEmails) {
  InitVault();
  auto [existing, subject] = Put(person(40));
  std::string file;
  file += ToJson(person(41)) + "\n";  // 1
  file += ToJson(person(42)) + "\n";  // 2
  file += ToJson(With(person(43), "email", " " + Upper(Field(person(41), "email")))) +
          "\n";                                                                  // 3: same chunk
  file += ToJson(person(44)) + "\n";                                             // 4
  file += ToJson(With(person(45), "email", Field(person(42), "email"))) + "\n";  // 5: later chunk
  file +=
      ToJson(With(person(46), "email", Field(person(40), "email"))) + "\n";  // 6: already in vault
  std::string path = tmp_ / "dups.ndjson";
  WriteFileOrDie(path, file);
  CliResult r = Coffre({"import", dir_, "people", path, "--chunk-rows", "3"});
  ASSERT_EQ(r.exit_code, kExitOk) << r.err;
  json::object stats = json::parse(r.LastOutLine()).as_object();
  EXPECT_EQ(stats.at("imported").as_int64(), 3);
  EXPECT_EQ(stats.at("rejected").as_int64(), 3);
  EXPECT_EQ(RejectedLines(ReadFileOrDie(path + ".rejects")), (std::vector<int>{3, 5, 6}));
  // The first of each pair won.
  for (size_t i : {41, 42, 44})
    EXPECT_EQ(Find("nir", Field(person(i), "nir")).size(), 1u) << "person " << i;
  for (size_t i : {43, 45, 46})
    EXPECT_EQ(Find("nir", Field(person(i), "nir")).size(), 0u) << "person " << i;
  EXPECT_EQ(Find("email", Field(person(40), "email")), std::vector<std::string>{existing});
}

// Finding of issue 13: `coffre gen --count 1000 | coffre import DIR people
// /dev/stdin` imported 970, rejected 1, lost 29 and exited 0 (format
// detection read the pipe first). Both spellings of standard input now
// import every row; rejects go to ./coffre-import-TIMESTAMP.rejects (0600),
// never beside the device, and stderr names the file.
TEST_F(CliE2eTest, ImportFromAPipeLosesNoRow) {
  CliResult gen = Coffre({"gen", "--count", "1000", "--seed", "13"});
  ASSERT_EQ(gen.exit_code, kExitOk) << gen.err;
  ASSERT_EQ(gen.OutLines().size(), 1000u);
  const std::string work = tmp_ / "work";
  fs::create_directories(work);
  int round = 0;
  for (std::string input : {"/dev/stdin", "-"}) {
    SCOPED_TRACE(input);
    dir_ = tmp_ / ("vault" + std::to_string(++round));
    InitVault();
    CliResult r =
        RunCoffreIn(work, {"import", dir_, "people", input, "--chunk-rows", "64"}, {}, gen.out);
    ASSERT_EQ(r.exit_code, kExitOk) << r.err;
    json::object stats = json::parse(r.LastOutLine()).as_object();
    EXPECT_EQ(stats.at("imported").as_int64(), 1000);
    EXPECT_EQ(stats.at("rejected").as_int64(), 0);
    ASSERT_TRUE(stats.contains("read"));
    EXPECT_EQ(stats.at("read").as_int64(), 1000);
    EXPECT_TRUE(fs::is_empty(work)) << "no rejects file without rejects";
  }

  // With a bad row (line 3) through a pipe: the rejects file is a new file
  // in the working directory, named on stderr, never /dev/stdin.rejects.
  std::string text = ToJson(person(1)) + "\n" + ToJson(person(2)) + "\n{\"nir\":\"x\"}\n";
  for (std::string input : {"/dev/stdin", "-"}) {
    SCOPED_TRACE(input);
    dir_ = tmp_ / ("vault" + std::to_string(++round));
    InitVault();
    const std::string here = tmp_ / ("work" + std::to_string(round));
    fs::create_directories(here);
    CliResult r = RunCoffreIn(here, {"import", dir_, "people", input}, {}, text);
    ASSERT_EQ(r.exit_code, kExitOk) << r.err;
    EXPECT_EQ(r.err.find("/dev/stdin.rejects"), std::string::npos) << r.err;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(here)) files.push_back(e.path());
    ASSERT_EQ(files.size(), 1u);
    std::string name = files[0].filename().string();
    EXPECT_EQ(name.rfind("coffre-import-", 0), 0u) << name;
    EXPECT_EQ(name.substr(name.size() - 8), ".rejects") << name;
    EXPECT_NE(r.err.find(name), std::string::npos) << r.err;
    EXPECT_EQ(RejectedLines(ReadFileOrDie(files[0].string())), std::vector<int>{3});
    struct stat st {};
    ASSERT_EQ(::stat(files[0].c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
  }

  // --rejects PATH wins.
  dir_ = tmp_ / "vault9";
  InitVault();
  std::string rejects = tmp_ / "my.rejects";
  CliResult r = RunCoffreIn(work, {"import", dir_, "people", "-", "--rejects", rejects}, {}, text);
  ASSERT_EQ(r.exit_code, kExitOk) << r.err;
  EXPECT_EQ(RejectedLines(ReadFileOrDie(rejects)), std::vector<int>{3});
  EXPECT_NE(r.err.find(rejects), std::string::npos) << r.err;
  struct stat st {};
  ASSERT_EQ(::stat(rejects.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(CliE2eTest, ImportOfNothingButRejectedRowsExitsTwo) {
  InitVault();
  std::string path = tmp_ / "bad.ndjson";
  WriteFileOrDie(path, ToJson(Without(person(1), "nir")) + "\n" + "not json\n");
  CliResult r = Coffre({"import", dir_, "people", path});
  EXPECT_EQ(r.exit_code, kExitInvalid) << r.err;
  json::object stats = json::parse(r.LastOutLine()).as_object();
  EXPECT_EQ(stats.at("read").as_int64(), 2);
  EXPECT_EQ(stats.at("imported").as_int64(), 0);
  EXPECT_EQ(stats.at("rejected").as_int64(), 2);
  EXPECT_NE(r.err.find("nothing imported"), std::string::npos) << r.err;
  // A regular file keeps its FILE.rejects (existing scripts read it).
  EXPECT_EQ(RejectedLines(ReadFileOrDie(path + ".rejects")), (std::vector<int>{1, 2}));

  // An empty input is not an error: there was nothing to import.
  std::string empty = tmp_ / "empty.ndjson";
  WriteFileOrDie(empty, "\n");
  r = Coffre({"import", dir_, "people", empty});
  EXPECT_EQ(r.exit_code, kExitOk) << r.err;
}

TEST_F(CliE2eTest, ImportIdsOutListsEachRowsIds) {
  InitVault();
  std::string file;
  for (size_t i = 0; i < 6; ++i) {
    json::object o = json::parse(ToJson(person(i))).as_object();
    o["crm_id"] = "CRM-" + std::to_string(i);
    file += json::serialize(o) + "\n";
  }
  file += ToJson(Without(person(6), "email")) + "\n";  // line 7: rejected
  std::string path = tmp_ / "people.ndjson";
  WriteFileOrDie(path, file);
  std::string ids = tmp_ / "ids.ndjson";
  CliResult r = Coffre({"import", dir_, "people", path, "--ids-out", ids, "--key-field", "crm_id",
                        "--chunk-rows", "2"});
  ASSERT_EQ(r.exit_code, kExitOk) << r.err;
  struct stat st {};
  ASSERT_EQ(::stat(ids.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string text = ReadFileOrDie(ids);
  size_t start = 0;
  int n = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    json::object e = json::parse(text.substr(start, nl - start)).as_object();
    start = nl + 1;
    ++n;
    int64_t line = e.at("line").as_int64();
    EXPECT_EQ(line, n);
    EXPECT_EQ(e.at("key").as_string(), "CRM-" + std::to_string(line - 1));
    std::string id(e.at("id").as_string());
    ASSERT_TRUE(IsHexId(id));
    // The id is the record's: find by email gives it, and get shows the subject.
    EXPECT_EQ(Find("email", Field(person(static_cast<size_t>(line - 1)), "email")),
              std::vector<std::string>{id});
    CliResult got = Coffre({"get", dir_, "people", id});
    ASSERT_EQ(got.exit_code, kExitOk) << got.err;
    json::object rec = json::parse(got.LastOutLine()).as_object();
    EXPECT_EQ(rec.at("subject").as_string(), e.at("subject").as_string());
    EXPECT_FALSE(rec.at("fields").as_object().contains("crm_id")) << "the key column is not stored";
  }
  EXPECT_EQ(n, 6);

  // Never overwritten: a second run refuses before importing anything.
  r = Coffre({"import", dir_, "people", path, "--ids-out", ids});
  EXPECT_EQ(r.exit_code, kExitExists) << r.err;
}

// --subject-key: orders attached to existing customers by their unique email,
// instead of one new person per order.
TEST_F(CliE2eTest, ImportSubjectKeyAttachesToExistingPeople) {
  CliResult init = Coffre({"init", dir_, "--schema", SourceDir() + "/examples/card-site.toml"});
  ASSERT_EQ(init.exit_code, kExitOk) << init.err;
  std::string customers;
  for (size_t i = 0; i < 3; ++i) {
    json::object o;
    for (const char* f : {"first_name", "last_name", "email"}) o[f] = Field(person(i), f);
    customers += json::serialize(o) + "\n";
  }
  std::string cpath = tmp_ / "customers.ndjson";
  WriteFileOrDie(cpath, customers);
  std::string cids = tmp_ / "customers.ids";
  CliResult r = Coffre({"import", dir_, "customers", cpath, "--ids-out", cids});
  ASSERT_EQ(r.exit_code, kExitOk) << r.err;
  std::vector<std::string> subjects;
  {
    std::string text = ReadFileOrDie(cids);
    size_t start = 0;
    while (start < text.size()) {
      size_t nl = text.find('\n', start);
      subjects.emplace_back(
          json::parse(text.substr(start, nl - start)).as_object().at("subject").as_string());
      start = nl + 1;
    }
  }
  ASSERT_EQ(subjects.size(), 3u);

  std::string orders;
  auto order = [&](const std::string& ref, const std::string& email) {
    orders += "{\"reference\":\"" + ref + "\",\"card_token\":\"tok_" + ref +
              "\",\"amount_eur\":\"12.50\",\"status\":\"completed\",\"email\":\"" + email + "\"}\n";
  };
  order("R1", Field(person(0), "email"));
  order("R2", Upper(Field(person(1), "email")));
  order("R3", Field(person(1), "email"));
  order("R4", Field(person(10), "email"));  // not a customer: rejected
  std::string opath = tmp_ / "orders.ndjson";
  WriteFileOrDie(opath, orders);
  std::string oids = tmp_ / "orders.ids";
  r = Coffre({"import", dir_, "orders", opath, "--subject-key", "customers.email", "--ids-out",
              oids, "--key-field", "reference"});
  ASSERT_EQ(r.exit_code, kExitOk) << r.err;
  json::object stats = json::parse(r.LastOutLine()).as_object();
  EXPECT_EQ(stats.at("imported").as_int64(), 3);
  EXPECT_EQ(stats.at("rejected").as_int64(), 1);
  std::string rejects = ReadFileOrDie(opath + ".rejects");
  EXPECT_EQ(RejectedLines(rejects), std::vector<int>{4});
  EXPECT_EQ(LeakedFields(person(10), rejects), std::vector<std::string>{});

  std::map<std::string, std::string> subject_of_ref;
  std::string text = ReadFileOrDie(oids);
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    json::object e = json::parse(text.substr(start, nl - start)).as_object();
    subject_of_ref[std::string(e.at("key").as_string())] = std::string(e.at("subject").as_string());
    start = nl + 1;
  }
  EXPECT_EQ(subject_of_ref["R1"], subjects[0]);
  EXPECT_EQ(subject_of_ref["R2"], subjects[1]);
  EXPECT_EQ(subject_of_ref["R3"], subjects[1]);
  // The subject's export holds the customer and both orders, all readable.
  CliResult exported = Coffre({"export-subject", dir_, subjects[1]});
  ASSERT_EQ(exported.exit_code, kExitOk) << exported.err;
  EXPECT_NE(exported.out.find("tok_R2"), std::string::npos);
  EXPECT_NE(exported.out.find("tok_R3"), std::string::npos);
}

// ---------------------------------------------------------------- subjects

TEST_F(CliE2eTest, PutWithSubjectAttachesAndExportShowsBoth) {
  InitVault();
  auto [first, subject] = Put(person(47));
  auto [second, subject2] = Put(person(48), {"--subject", subject});
  EXPECT_EQ(subject2, subject);
  EXPECT_NE(second, first);
  auto [other, other_subject] = Put(person(49));
  EXPECT_NE(other_subject, subject);

  CliResult r = Coffre({"export-subject", dir_, subject});
  ASSERT_EQ(r.exit_code, kExitOk) << r.err;
  json::object o = json::parse(r.LastOutLine()).as_object();
  EXPECT_EQ(o.at("subject").as_string(), subject);
  std::set<std::string> ids;
  for (const auto& rec : o.at("records").as_array()) {
    const json::object& ro = rec.as_object();
    ids.insert(std::string(ro.at("id").as_string()));
    EXPECT_EQ(ro.at("collection").as_string(), "people");
    EXPECT_EQ(ro.at("subject").as_string(), subject);
    std::string nir(ro.at("fields").as_object().at("nir").as_string());
    EXPECT_TRUE(nir == Field(person(47), "nir") || nir == Field(person(48), "nir"))
        << "unexpected record";
  }
  EXPECT_EQ(ids, (std::set<std::string>{first, second}));

  // An unknown subject: refused as invalid input (exit 2, as the API's
  // 422: put runs record.create of the operation table), nothing written.
  r = Coffre({"put", dir_, "people", ToJson(person(50)), "--subject", std::string(32, 'a')});
  EXPECT_EQ(r.exit_code, kExitInvalid) << r.err;
  EXPECT_EQ(Find("nir", Field(person(50), "nir")).size(), 0u);
  r = Coffre({"export-subject", dir_, std::string(32, 'b')});
  EXPECT_EQ(r.exit_code, kExitNotFound) << r.err;
}

TEST_F(CliE2eTest, EraseSubjectRemovesEverything) {
  InitVault();
  auto [first, subject] = Put(person(51));
  auto [second, same] = Put(person(52), {"--subject", subject});
  auto [kept, kept_subject] = Put(person(53));

  CliResult r = Coffre({"erase-subject", dir_, subject});
  ASSERT_EQ(r.exit_code, kExitOk) << r.err;
  json::object o = json::parse(r.LastOutLine()).as_object();
  EXPECT_EQ(o.at("erased_records").as_int64(), 2);

  int code = 0;
  for (const std::string& id : {first, second}) {
    GetFields(id, &code);
    EXPECT_EQ(code, kExitNotFound);
  }
  EXPECT_EQ(Find("email", Field(person(51), "email")).size(), 0u);
  EXPECT_EQ(Find("phone", Field(person(52), "phone")).size(), 0u);
  EXPECT_EQ(Find("nir", Field(person(51), "nir")).size(), 0u);
  EXPECT_EQ(Coffre({"export-subject", dir_, subject}).exit_code, kExitNotFound);
  EXPECT_EQ(Coffre({"erase-subject", dir_, subject}).exit_code, kExitNotFound);
  // The other person is untouched.
  EXPECT_TRUE(GetFields(kept, &code)["nir"] == Field(person(53), "nir"));
  EXPECT_EQ(code, kExitOk);
  // The email is free again.
  Put(With(person(54), "email", Field(person(51), "email")));
  EXPECT_EQ(Find("email", Field(person(51), "email")).size(), 1u);
}

// ---------------------------------------------------------------- cards

// Incident 1: `coffre put` refuses a security code, at any depth and in any
// case, or a lone 3-digit value beside a card number, by that rule before
// any other (here the keys are unknown to the collection too), naming the
// rule, never the values, and writes nothing.
TEST_F(CliE2eTest, PutRefusesSecurityCodesBeforeAnyOtherRule) {
  InitVault();
  const Person& p = person(8);
  const std::string pan = test_vectors::LuhnNumber("4", 16, 5);
  json::object base;
  for (const auto& [k, v] : p) base[k] = v;
  auto with = [&](const json::object& extra) {
    json::object o = base;
    for (const auto& kv : extra) o[kv.key()] = kv.value();
    return json::serialize(o);
  };
  struct Case {
    const char* what;
    std::string json;
    std::string rule;
  };
  const std::vector<Case> cases = {
      {"cvv key", with(json::object{{"cvv", "582"}}), "security codes"},
      {"nested and cased",
       with(json::object{{"card", json::object{{"number", pan}, {"Card-CVC2", "582"}}}}),
       "security codes"},
      {"in an array",
       with(json::object{{"cards", json::array{json::object{{"CRYPTOGRAMME", 582}}}}}),
       "security codes"},
      {"lone digits beside a pan", with(json::object{{"pan", pan}, {"extra", "582"}}),
       "lone 3- or 4-digit"},
      {"lone digits beside a number",
       with(json::object{{"card", json::object{{"n", pan}, {"c", 582}}}}), "lone 3- or 4-digit"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    CliResult r = Coffre({"put", dir_, "people", c.json});
    EXPECT_EQ(r.exit_code, kExitInvalid) << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find(c.rule), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("582"), std::string::npos) << "the message carries the code";
    EXPECT_EQ(r.err.find(pan), std::string::npos) << "the message carries the number";
    EXPECT_EQ(r.err.find(pan.substr(12)), std::string::npos) << "the message carries the last 4";
    EXPECT_EQ(LeakedFields(p, r.err), std::vector<std::string>{});
  }
  EXPECT_EQ(Find("email", Field(p, "email")).size(), 0u);
  Put(p);
  EXPECT_EQ(Find("email", Field(p, "email")).size(), 1u);
}

// `coffre import`: such rows go to FILE.rejects with their line and the
// rule, never the values; the other rows are imported.
TEST_F(CliE2eTest, ImportRejectsRowsWithSecurityCodes) {
  InitVault();
  const std::string pan = test_vectors::LuhnNumber("4", 16, 6);
  auto row = [&](size_t i, std::string extra) {
    std::string j = ToJson(person(i));
    if (!extra.empty()) j = j.substr(0, j.size() - 1) + "," + extra + "}";
    return j + "\n";
  };
  std::string file;
  file += row(20, "");                                                       // 1
  file += row(21, "\"CVV\":\"582\"");                                        // 2
  file += row(22, "\"card\":{\"number\":\"" + pan + "\",\"cvc\":\"582\"}");  // 3: nested
  file += row(23, "\"pan\":\"" + pan + "\",\"x\":\"0582\"");                 // 4: lone digits
  file += row(24, "\"security-code\":582.0");                                // 5: a double too
  file += row(25, "");                                                       // 6
  const std::string path = tmp_ / "cards.ndjson";
  WriteFileOrDie(path, file);
  CliResult r = Coffre({"import", dir_, "people", path});
  ASSERT_EQ(r.exit_code, kExitOk) << r.err;
  json::object stats = json::parse(r.LastOutLine()).as_object();
  EXPECT_EQ(stats.at("imported").as_int64(), 2);
  EXPECT_EQ(stats.at("rejected").as_int64(), 4);
  const std::string rejects = ReadFileOrDie(path + ".rejects");
  EXPECT_EQ(RejectedLines(rejects), (std::vector<int>{2, 3, 4, 5}));
  for (int line : {2, 3, 5}) {
    EXPECT_NE(rejects.find("line " + std::to_string(line) + ": card security codes"),
              std::string::npos)
        << line;
  }
  EXPECT_NE(rejects.find("line 4: 'x' holds a lone 3- or 4-digit value"), std::string::npos)
      << rejects;
  EXPECT_EQ(rejects.find("582"), std::string::npos) << "the rejects file carries the code";
  EXPECT_EQ(rejects.find(pan), std::string::npos) << "the rejects file carries the number";
  for (size_t i = 20; i <= 25; ++i)
    EXPECT_EQ(LeakedFields(person(i), rejects), std::vector<std::string>{});
  EXPECT_EQ(Find("email", Field(person(20), "email")).size(), 1u);
  EXPECT_EQ(Find("email", Field(person(25), "email")).size(), 1u);
  for (size_t i = 21; i <= 24; ++i)
    EXPECT_EQ(Find("email", Field(person(i), "email")).size(), 0u) << i;

  // CSV: a column named like a security code rejects every row for it,
  // even a row whose columns do not match the header.
  const std::vector<std::string> columns = {"first_name", "last_name", "sex",   "birth_date",
                                            "nir",        "email",     "phone", "postal_address",
                                            "iban",       "agency"};
  auto csv_row = [&](const Person& p, std::string extra) {
    std::string line;
    for (size_t c = 0; c < columns.size(); ++c)
      line += (c ? "," : "") + CsvCell(Field(p, columns[c]));
    return line + extra + "\n";
  };
  std::string header;
  for (size_t c = 0; c < columns.size(); ++c) header += (c ? "," : "") + columns[c];
  std::string csv = header + ",Card_Cvv\n" + csv_row(person(26), ",582") + csv_row(person(27), "");
  const std::string csv_path = tmp_ / "cards.csv";
  WriteFileOrDie(csv_path, csv);
  r = Coffre({"import", dir_, "people", csv_path});
  // Every row rejected: nothing imported, exit 2 (issue 13).
  ASSERT_EQ(r.exit_code, kExitInvalid) << r.err;
  EXPECT_EQ(json::parse(r.LastOutLine()).as_object().at("rejected").as_int64(), 2);
  std::string csv_rejects = ReadFileOrDie(csv_path + ".rejects");
  EXPECT_EQ(RejectedLines(csv_rejects), (std::vector<int>{2, 3}));
  EXPECT_NE(csv_rejects.find("line 3: card security codes"), std::string::npos) << csv_rejects;
  EXPECT_EQ(csv_rejects.find("582"), std::string::npos);
  // A row with one column too many holding a card number and 3 digits.
  csv = header + "\n" + csv_row(person(28), "," + pan + ",582") + csv_row(person(29), "");
  WriteFileOrDie(csv_path, csv);
  r = Coffre({"import", dir_, "people", csv_path});
  ASSERT_EQ(r.exit_code, kExitOk) << r.err;
  csv_rejects = ReadFileOrDie(csv_path + ".rejects");
  EXPECT_EQ(RejectedLines(csv_rejects), (std::vector<int>{2}));
  EXPECT_NE(csv_rejects.find("lone 3- or 4-digit"), std::string::npos) << csv_rejects;
  EXPECT_EQ(csv_rejects.find(pan), std::string::npos);
  EXPECT_EQ(Find("email", Field(person(29), "email")).size(), 1u);
}

// `coffre init --card-evidence-months N`: 1 to 120, checked before anything
// is created; `coffre cards sweep` reports the value in force.
TEST_F(CliE2eTest, InitTakesTheCardEvidenceMonths) {
  for (std::string bad : {"0", "121", "013", "12x", "-1", "", "999999999999"}) {
    SCOPED_TRACE(bad);
    CliResult r = Coffre({"init", dir_, "--schema", PeopleSchema(), "--card-evidence-months", bad});
    EXPECT_EQ(r.exit_code, kExitInvalid) << r.err;
    EXPECT_NE(r.err.find("--card-evidence-months"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(dir_));
    EXPECT_FALSE(fs::exists(key_));
  }
  CliResult r = Coffre({"init", dir_, "--schema", PeopleSchema(), "--card-evidence-months", "24"});
  ASSERT_EQ(r.exit_code, kExitOk) << r.err;
  r = Coffre({"cards", "sweep", dir_});
  ASSERT_EQ(r.exit_code, kExitOk) << r.err;
  json::object o = json::parse(r.LastOutLine()).as_object();
  EXPECT_EQ(o.at("evidence_months").as_int64(), 24);
  EXPECT_EQ(o.at("expired").as_int64(), 0);
  EXPECT_EQ(o.at("evidence_deleted").as_int64(), 0);

  TempDir other;
  const std::string dir2 = other / "vault";
  ASSERT_EQ(Coffre({"init", dir2, "--schema", PeopleSchema()}).exit_code, kExitOk);
  r = Coffre({"cards", "sweep", dir2});
  ASSERT_EQ(r.exit_code, kExitOk) << r.err;
  EXPECT_EQ(json::parse(r.LastOutLine()).as_object().at("evidence_months").as_int64(), 13);
}

// ---------------------------------------------------------------- keys rotate

TEST_F(CliE2eTest, KeyRotationRetiresTheOldKey) {
  InitVault();
  auto [id, subject] = Put(person(55));
  std::string new_key = tmp_ / "new.key";
  CliResult r = Coffre({"keys", "rotate", dir_, "--new-key-file", new_key});
  ASSERT_EQ(r.exit_code, kExitOk) << r.err;
  struct stat st {};
  ASSERT_EQ(::stat(new_key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // The old key (the default DIR.key) no longer opens the vault.
  r = Coffre({"get", dir_, "people", id});
  EXPECT_EQ(r.exit_code, kExitWrongKey) << r.err;
  EXPECT_EQ(r.out, "");
  // The new one does, and search keeps working (blind-index keys survived).
  int code = 0;
  auto fields = GetFields(id, &code, {"--key-file", new_key});
  EXPECT_EQ(code, kExitOk);
  EXPECT_TRUE(fields["nir"] == Field(person(55), "nir"));
  EXPECT_EQ(Find("email", Field(person(55), "email"), {"--key-file", new_key}),
            std::vector<std::string>{id});
  EXPECT_EQ(Find("phone", Field(person(55), "phone"), {"--key-file", new_key}),
            std::vector<std::string>{id});
  r = Coffre({"put", dir_, "people", ToJson(person(56)), "--key-file", new_key});
  EXPECT_EQ(r.exit_code, kExitOk) << r.err;
}

TEST_F(CliE2eTest, KeyRotationRefusesAnExistingKeyFile) {
  InitVault();
  auto [id, subject] = Put(person(57));
  std::string before = ReadFileOrDie(key_);
  CliResult r = Coffre({"keys", "rotate", dir_, "--new-key-file", key_});
  EXPECT_EQ(r.exit_code, kExitExists) << r.err;
  EXPECT_EQ(ReadFileOrDie(key_), before);
  int code = 0;
  GetFields(id, &code);
  EXPECT_EQ(code, kExitOk) << "the vault no longer opens with its key";
}

// docs/key-hierarchy.md: the master key lives outside the data directory, so
// a copy of DIR or of its backups holds no key. init enforces it; rotation
// must too.
TEST_F(CliE2eTest, KeyRotationRefusesANewKeyFileInsideTheDataDirectory) {
  InitVault();
  auto [id, subject] = Put(person(58));
  std::string inside = dir_ + "/rotated.key";
  CliResult r = Coffre({"keys", "rotate", dir_, "--new-key-file", inside});
  EXPECT_EQ(r.exit_code, kExitInvalid) << r.err;
  EXPECT_FALSE(fs::exists(inside)) << "the master key was written into the data directory";
  int code = 0;
  GetFields(id, &code);
  EXPECT_EQ(code, kExitOk) << "the vault no longer opens with its key";
}

// Issue 13 item 9: `keys rotate` without --new-key-file replaces the key
// file in use, keeps the old one apart, and every later command opens the
// vault as before (it used to leave DIR.key.new beside DIR.key and fail).
TEST_F(CliE2eTest, KeyRotationInPlaceLeavesAVaultThatOpens) {
  InitVault();
  auto [id, subject] = Put(person(54));
  const std::string before = ReadFileOrDie(key_);
  CliResult r = Coffre({"keys", "rotate", dir_});
  ASSERT_EQ(r.exit_code, kExitOk) << r.err;
  json::object o = json::parse(r.LastOutLine()).as_object();
  EXPECT_EQ(std::string(o.at("key_file").as_string()), key_);
  const std::string retired(o.at("retired_key_file").as_string());
  EXPECT_EQ(ReadFileOrDie(retired), before) << "the old key is kept apart";
  EXPECT_NE(ReadFileOrDie(key_), before);
  EXPECT_FALSE(fs::exists(key_ + ".new"));
  struct stat st {};
  ASSERT_EQ(::stat(key_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  int code = 0;
  auto fields = GetFields(id, &code);
  EXPECT_EQ(code, kExitOk) << "the vault does not open after keys rotate";
  EXPECT_TRUE(fields["nir"] == Field(person(54), "nir"));
  EXPECT_EQ(Find("email", Field(person(54), "email")), std::vector<std::string>{id});
  r = Coffre({"get", dir_, "people", id, "--key-file", retired});
  EXPECT_EQ(r.exit_code, kExitWrongKey) << r.err;
  // And again: a second rotation keeps both old keys.
  r = Coffre({"keys", "rotate", dir_});
  ASSERT_EQ(r.exit_code, kExitOk) << r.err;
  const std::string retired2(
      json::parse(r.LastOutLine()).as_object().at("retired_key_file").as_string());
  EXPECT_NE(retired2, retired);
  EXPECT_TRUE(fs::exists(retired));
  GetFields(id, &code);
  EXPECT_EQ(code, kExitOk);
}

// Review finding H1: a rejected duplicate must not release the key its
// first holder reserved, or a third row with the same value gets in.
TEST_F(CliE2eTest, ImportRejectsEveryLaterCopyOfAUniqueValue) {
  const Person& a = person(40);
  std::string email = Field(a, "email");
  std::string file = ToJson(a) + "\n" +                                        // line 1: kept
                     ToJson(With(person(41), "email", Upper(email))) + "\n" +  // line 2: dup
                     ToJson(With(person(42), "email", email)) + "\n" +         // line 3: dup
                     ToJson(person(43)) + "\n";                                // line 4: kept
  std::string path = tmp_ / "dups.ndjson";
  WriteFileOrDie(path, file);
  // Chunks of 2 rows; commit groups of 2 (the third row in a later group) and
  // of 4 (all in one group).
  for (const char* commit : {"2", "4"}) {
    for (int round = 0; round < 3; ++round) {
      fs::remove_all(dir_);
      fs::remove(key_);
      fs::remove(dir_ + ".erasures");
      fs::remove(dir_ + ".audit-anchor");
      InitVault();
      CliResult r = Coffre({"import", dir_, "people", path, "--chunk-rows", "2", "--commit-rows",
                            commit, "--threads", "2"});
      ASSERT_EQ(r.exit_code, kExitOk) << r.err;
      json::object stats = json::parse(r.LastOutLine()).as_object();
      EXPECT_EQ(stats.at("imported").as_int64(), 2) << "commit rows " << commit;
      EXPECT_EQ(stats.at("rejected").as_int64(), 2) << "commit rows " << commit;
      EXPECT_EQ(RejectedLines(ReadFileOrDie(path + ".rejects")), (std::vector<int>{2, 3}));
      std::vector<std::string> hits = Find("email", email);
      ASSERT_EQ(hits.size(), 1u);
      EXPECT_EQ(GetFields(hits[0])["nir"], Field(a, "nir")) << "the index points at a later row";
      EXPECT_EQ(Find("nir", Field(person(42), "nir")).size(), 0u);
    }
  }
}

// Review finding M3: a quote inside an unquoted CSV field is a literal
// character (the row is then judged by its values), not the start of a
// quoted section that swallows the following rows.
TEST_F(CliE2eTest, CsvQuoteInsideAnUnquotedFieldSwallowsNothing) {
  InitVault();
  const std::vector<std::string> columns = {"first_name", "last_name", "sex",   "birth_date",
                                            "nir",        "email",     "phone", "postal_address",
                                            "iban",       "agency"};
  std::string file;
  for (size_t c = 0; c < columns.size(); ++c) file += (c ? "," : "") + columns[c];
  file += "\n";
  for (size_t i = 0; i < 5; ++i) {
    Person p = person(44 + i);
    if (i == 2) p = With(p, "first_name", "Thi\"erry");  // line 4
    for (size_t c = 0; c < columns.size(); ++c) {
      std::string v = Field(p, columns[c]);
      file += (c ? "," : "") + (v.find(',') != std::string::npos ? "\"" + v + "\"" : v);
    }
    file += "\n";
  }
  std::string path = tmp_ / "stray.csv";
  WriteFileOrDie(path, file);
  CliResult r = Coffre({"import", dir_, "people", path});
  ASSERT_EQ(r.exit_code, kExitOk) << r.err;
  json::object stats = json::parse(r.LastOutLine()).as_object();
  EXPECT_EQ(stats.at("imported").as_int64(), 4);
  EXPECT_EQ(stats.at("rejected").as_int64(), 1);
  EXPECT_EQ(RejectedLines(ReadFileOrDie(path + ".rejects")), (std::vector<int>{4}));
  EXPECT_EQ(Find("nir", Field(person(48), "nir")).size(), 1u) << "the last row was swallowed";
}

// ---------------------------------------------------------------- erasure journal

TEST_F(CliE2eTest, RestoredBackupForgetsErasedSubjectsAgain) {
  InitVault();
  auto [erased, subject] = Put(person(59));
  auto [kept, kept_subject] = Put(person(0));
  std::string backup = tmp_ / "backup";
  fs::copy(dir_, backup, fs::copy_options::recursive);  // the vault is closed: a consistent copy

  ASSERT_EQ(Coffre({"erase-subject", dir_, subject}).exit_code, kExitOk);
  ASSERT_TRUE(fs::exists(dir_ + ".erasures"));

  // Restore the backup over the data directory; the journal stays. The
  // restored audit log is shorter than its anchor: refused (exit 6) until the
  // operator starts a new anchor, keeping the old one.
  fs::remove_all(dir_);
  fs::copy(backup, dir_, fs::copy_options::recursive);
  int code = 0;
  CliResult refused = Coffre({"get", dir_, "people", kept});
  EXPECT_EQ(refused.exit_code, 6) << refused.err;
  EXPECT_NE(refused.err.find("entries were removed"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("coffre audit reanchor"), std::string::npos)
      << "the refusal must name the command that fixes it: " << refused.err;
  CliResult re = Coffre({"audit", "reanchor", dir_});
  ASSERT_EQ(re.exit_code, kExitOk) << re.err;
  json::object ro = json::parse(re.LastOutLine()).as_object();
  ASSERT_TRUE(ro.contains("previous_anchor"));
  EXPECT_TRUE(fs::exists(std::string(ro.at("previous_anchor").as_string())))
      << "the old anchor is evidence";
  GetFields(erased, &code);
  EXPECT_NE(code, kExitOk) << "an erased person came back with the backup";
  EXPECT_EQ(Find("email", Field(person(59), "email")).size(), 0u);
  EXPECT_EQ(Coffre({"export-subject", dir_, subject}).exit_code, kExitNotFound);
  EXPECT_TRUE(GetFields(kept, &code)["nir"] == Field(person(0), "nir"));
  EXPECT_EQ(code, kExitOk);

  // Also with an explicit journal path (--erasure-journal / env).
  std::string dir2 = tmp_ / "v2";
  std::string journal = tmp_ / "journal2";
  ASSERT_EQ(
      Coffre({"init", dir2, "--schema", PeopleSchema(), "--erasure-journal", journal}).exit_code,
      kExitOk);
  CliResult r = Coffre({"put", dir2, "people", ToJson(person(1)), "--erasure-journal", journal});
  ASSERT_EQ(r.exit_code, kExitOk) << r.err;
  json::object o = json::parse(r.LastOutLine()).as_object();
  std::string id2(o.at("id").as_string()), subject2(o.at("subject").as_string());
  std::string backup2 = tmp_ / "backup2";
  fs::copy(dir2, backup2, fs::copy_options::recursive);
  ASSERT_EQ(
      Coffre({"erase-subject", dir2, subject2}, {{"COFFRE_ERASURE_JOURNAL", journal}}).exit_code,
      kExitOk);
  EXPECT_FALSE(fs::exists(dir2 + ".erasures")) << "the journal flag was ignored";
  fs::remove_all(dir2);
  fs::copy(backup2, dir2, fs::copy_options::recursive);
  ASSERT_EQ(Coffre({"audit", "reanchor", dir2, "--erasure-journal", journal}).exit_code, kExitOk);
  r = Coffre({"get", dir2, "people", id2, "--erasure-journal", journal});
  EXPECT_EQ(r.exit_code, kExitNotFound) << r.err;
}

// Review finding H2: the journal is a hard dependency of the vault.
TEST_F(CliE2eTest, MissingOrOlderJournalIsRefusedAndATornTailIsHarmless) {
  InitVault();
  auto [a_id, a_subject] = Put(person(50));
  auto [b_id, b_subject] = Put(person(51));
  std::string journal = dir_ + ".erasures";
  ASSERT_TRUE(fs::exists(journal)) << "init creates the journal";
  std::string backup = tmp_ / "backup";
  fs::copy(dir_, backup, fs::copy_options::recursive);
  std::string journal_before = ReadFileOrDie(journal);

  // A torn append (no final newline) must not swallow the next erasure.
  WriteFileOrDie(journal, journal_before + "1790000000 0123");
  ASSERT_EQ(Coffre({"erase-subject", dir_, b_subject}).exit_code, kExitOk);
  fs::remove_all(dir_);
  fs::copy(backup, dir_, fs::copy_options::recursive);
  ASSERT_EQ(Coffre({"audit", "reanchor", dir_}).exit_code, kExitOk);
  int code = 0;
  GetFields(b_id, &code);
  EXPECT_EQ(code, kExitNotFound) << "an erasure after a torn line was lost on restore";
  GetFields(a_id, &code);
  EXPECT_EQ(code, kExitOk);

  // A journal older than the vault (replaced by a previous copy) is refused.
  std::string current = ReadFileOrDie(journal);
  WriteFileOrDie(journal, journal_before);
  CliResult r = Coffre({"get", dir_, "people", a_id});
  EXPECT_NE(r.exit_code, kExitOk);
  EXPECT_NE(r.err.find("older copy"), std::string::npos) << r.err;
  WriteFileOrDie(journal, current);

  // A missing journal is refused, never silently recreated empty.
  fs::remove(journal);
  r = Coffre({"get", dir_, "people", a_id});
  EXPECT_NE(r.exit_code, kExitOk);
  EXPECT_NE(r.err.find("missing"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(journal));
}

}  // namespace
}  // namespace coffre::testing
