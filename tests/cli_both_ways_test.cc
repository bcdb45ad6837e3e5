// Every CLI command that touches a vault works whether or not `coffre serve`
// runs on its directory (issue 14, item 1; ADR 0024): the same
// commands run twice on one vault, first with no server (the command opens
// the directory itself), then with one (the command goes over the admin
// socket), and give the same output, the same exit status, the same error
// message and the same audit entry (principal `local`, source
// "cli:uid=<the caller's uid>").
//
// People come from `coffre gen`; assertion messages name commands and
// fields, never values.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <functional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "app/admin_channel.h"
#include "cli_runner.h"
#include "test_util.h"

namespace coffre::testing {
namespace {

namespace json = boost::json;

// How a command's standard output is compared between the two runs.
enum class Compare {
  kExact,  // byte for byte
  kKeys,   // the same JSON keys on every line (times, new ids differ)
};

struct Step {
  std::string name;
  std::vector<std::string> args;  // "DIR" stands for the data directory
  std::string stdin_data;
  Compare compare = Compare::kExact;
  int exit_code = kExitOk;
  // `audit verify` without a server reads the store read-only with no key
  // (an auditor's check), so it writes no entry then (ADR 0024).
  bool audited_without_server = true;
};

struct Outcome {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::set<std::string> KeysOfLines(const std::string& out) {
  std::set<std::string> keys;
  CliResult r;
  r.out = out;
  for (const std::string& line : r.OutLines()) {
    json::value v = json::parse(line);
    if (!v.is_object()) continue;
    for (const auto& kv : v.as_object()) keys.insert(std::string(kv.key()));
  }
  return keys;
}

class CliBothWaysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CliResult r = RunCoffre({"init", dir_, "--schema", PeopleSchema(), "--policy",
                             SourceDir() + "/examples/people-policy.toml"});
    ASSERT_EQ(r.exit_code, kExitOk) << r.err;
    CliResult g = RunCoffre({"gen", "--count", "3", "--seed", "14"});
    ASSERT_EQ(g.exit_code, kExitOk) << g.err;
    people_ = g.OutLines();
    ASSERT_EQ(people_.size(), 3u);
  }

  Outcome Run(const Step& s) {
    std::vector<std::string> args;
    for (const std::string& a : s.args) args.push_back(a == "DIR" ? dir_ : a);
    CliResult r = RunCoffre(args, {}, s.stdin_data);
    return {r.exit_code, r.out, r.err};
  }

  void StartServer() { StartServerOn(dir_); }
  void StartServerOn(const std::string& dir) {
    std::string error;
    ASSERT_TRUE(server_.Start({"serve", dir, "--listen", "127.0.0.1:0"}, {}, error)) << error;
    auto line = server_.ReadLine();
    ASSERT_TRUE(line && line->find("\"listening\"") != std::string::npos) << "serve did not start";
  }
  void StopServer() { EXPECT_EQ(server_.Kill(SIGTERM), 0) << "serve did not stop cleanly"; }

  // The audit entries of principal `local`, oldest first, read with no
  // server running.
  std::vector<json::object> LocalEntries() { return LocalEntriesOf(dir_); }
  static std::vector<json::object> LocalEntriesOf(const std::string& dir) {
    CliResult r = RunCoffre({"audit", "list", dir, "--principal", "local"});
    EXPECT_EQ(r.exit_code, kExitOk) << r.err;
    std::vector<json::object> out;
    for (const std::string& line : r.OutLines()) out.push_back(json::parse(line).as_object());
    return out;
  }

  // An entry without what differs between two runs of one command: its
  // place and time; for a command that made or erased its own record, which
  // record and subject.
  static json::object Normalised(json::object e) {
    e.erase("seq");
    e.erase("time");
    e.erase("prev_hash");
    e.erase("hash");
    const std::string action(e.at("action").as_string());
    if ((action == "create" || action == "erase") && e.at("outcome").as_string() == "allowed") {
      e.erase("record_id");
      EXPECT_EQ(e.at("subjects").as_array().size(), 1u) << action << ": one subject";
      e.erase("subjects");
    }
    return e;
  }

  // The steps of one run, on `own` (a record this run adds then erases)
  // and `kept` (a record both runs read).
  std::vector<Step> Steps(const std::string& phase, const std::string& own_person,
                          const std::string& kept_id, const std::string& kept_subject,
                          const std::string& kept_email) {
    // A record carrying a card security code is refused before any rule.
    json::object with_cvv = json::parse(own_person).as_object();
    with_cvv["cvv"] = "123";
    return {
        {"put", {"put", "DIR", "people", "-"}, own_person, Compare::kKeys},
        {"put with a security code",
         {"put", "DIR", "people", "-"},
         json::serialize(with_cvv),
         Compare::kExact,
         kExitInvalid},
        {"get", {"get", "DIR", "people", kept_id}},
        {"get of no record",
         {"get", "DIR", "people", std::string(32, '0')},
         "",
         Compare::kExact,
         kExitNotFound},
        {"find", {"find", "DIR", "people", "email"}, kept_email + "\n"},
        {"export-subject", {"export-subject", "DIR", kept_subject}},
        {"alerts", {"alerts", "DIR"}},
        {"principal list", {"principal", "list", "DIR"}},
        {"audit list", {"audit", "list", "DIR", "--principal", "nobody"}},
        {"cards sweep", {"cards", "sweep", "DIR"}, "", Compare::kKeys},
        {"retention report", {"retention", "report", "DIR"}, "", Compare::kKeys},
        {"keys rotate", {"keys", "rotate", "DIR"}, "", Compare::kKeys},
        {"get after the rotation", {"get", "DIR", "people", kept_id}},
        {"policy load", {"policy", "load", "DIR", SourceDir() + "/examples/people-policy.toml"}},
        {"audit verify", {"audit", "verify", "DIR"}, "", Compare::kKeys, kExitOk, false},
        {"canary add", {"canary", "add", "DIR", "people", "--count", "1"}},
        {"retention hold", {"retention", "hold", "DIR", kept_subject}, "", Compare::kKeys},
        {"retention release", {"retention", "release", "DIR", kept_subject}},
        {"retention run", {"retention", "run", "DIR"}, "", Compare::kKeys},
        {"breach-report",
         {"breach-report", "DIR", "--principal", "local", "--from", "2020-01-01", "--to",
          "2100-01-01", "--format", "json", "--out", tmp_ / ("report-" + phase + ".json")},
         "",
         Compare::kKeys},
    };
  }

  TempDir tmp_;
  std::string dir_ = tmp_ / "vault";
  std::vector<std::string> people_;
  CliChild server_;
};

TEST_F(CliBothWaysTest, EveryCommandGivesTheSameResultAndAuditEntryWithOrWithoutAServer) {
  // The record both runs read, put before either.
  CliResult kept = RunCoffre({"put", dir_, "people", "-"}, {}, people_[0]);
  ASSERT_EQ(kept.exit_code, kExitOk) << kept.err;
  json::object ref = json::parse(kept.LastOutLine()).as_object();
  const std::string kept_id(ref.at("id").as_string());
  const std::string kept_subject(ref.at("subject").as_string());
  const std::string kept_email(json::parse(people_[0]).at("email").as_string());

  auto run_all = [&](const std::string& phase, const std::string& own_person,
                     std::vector<Outcome>& outcomes) {
    std::vector<Step> steps = Steps(phase, own_person, kept_id, kept_subject, kept_email);
    for (const Step& s : steps) {
      outcomes.push_back(Run(s));
      EXPECT_EQ(outcomes.back().exit_code, s.exit_code) << s.name << ": " << outcomes.back().err;
    }
    // Erase what this run put (its subject id is in the first output).
    std::string own_subject(json::parse(CliResult{0, outcomes.front().out, ""}.LastOutLine())
                                .at("subject")
                                .as_string());
    outcomes.push_back(
        Run({"erase-subject", {"erase-subject", "DIR", own_subject}, "", Compare::kKeys}));
    EXPECT_EQ(outcomes.back().exit_code, kExitOk) << "erase-subject: " << outcomes.back().err;
    return steps.size() + 1;
  };

  std::vector<Outcome> alone, served;
  const size_t n = run_all("alone", people_[1], alone);
  ASSERT_NO_FATAL_FAILURE(StartServer());
  run_all("served", people_[2], served);
  StopServer();

  std::vector<Step> steps = Steps("alone", people_[1], kept_id, kept_subject, kept_email);
  steps.push_back({"erase-subject", {}, "", Compare::kKeys});
  ASSERT_EQ(alone.size(), served.size());
  for (size_t i = 0; i < n; ++i) {
    const Step& s = steps[i];
    EXPECT_EQ(alone[i].exit_code, served[i].exit_code) << s.name;
    if (s.compare == Compare::kExact) {
      EXPECT_EQ(alone[i].err, served[i].err) << s.name << ": the same message either way";
      EXPECT_EQ(alone[i].out, served[i].out) << s.name << ": the same output either way";
    } else {
      EXPECT_EQ(KeysOfLines(alone[i].out), KeysOfLines(served[i].out)) << s.name;
      // Messages name new files by the time (keys rotate): their start.
      EXPECT_EQ(alone[i].err.substr(0, 40), served[i].err.substr(0, 40)) << s.name;
      EXPECT_FALSE(alone[i].out.empty()) << s.name;
    }
  }

  // One entry per command each way (after vault.init and the put of the
  // kept record), the same but for their place, time and own records.
  std::vector<json::object> entries = LocalEntries();
  std::string actions;
  for (const json::object& e : entries) actions += std::string(e.at("action").as_string()) + " ";
  std::vector<size_t> audited_alone;
  for (size_t i = 0; i < n; ++i) {
    if (steps[i].audited_without_server) audited_alone.push_back(i);
  }
  ASSERT_EQ(entries.size(), 2 + audited_alone.size() + n)
      << "one entry per command and run: " << actions;
  const std::vector<json::object> alone_entries(entries.begin() + 2,
                                                entries.begin() + 2 + audited_alone.size());
  const std::vector<json::object> served_entries(entries.begin() + 2 + audited_alone.size(),
                                                 entries.end());
  const std::string source = "cli:uid=" + std::to_string(::getuid());
  for (size_t k = 0; k < audited_alone.size(); ++k) {
    const size_t i = audited_alone[k];
    const json::object& a = alone_entries[k];
    const json::object& b = served_entries[i];
    EXPECT_EQ(a.at("source").as_string(), source) << steps[i].name;
    EXPECT_EQ(Normalised(a), Normalised(b))
        << steps[i].name << ": " << json::serialize(Normalised(a)) << " vs "
        << json::serialize(Normalised(b));
  }
  for (const json::object& b : served_entries) EXPECT_EQ(b.at("source").as_string(), source);
}

// What one way of `coffre import` gave: per command its exit status,
// output (without the time it took) and messages (without the default
// rejects file's timestamp); then the files it wrote and the rows it made.
struct ImportRun {
  std::vector<Outcome> outcomes;
  std::string file_rejects;  // FILE.rejects beside the file
  std::string pipe_rejects;  // ./coffre-import-<UTC>.rejects of the pipe
  std::vector<std::string> ids_lines_without_ids;
  std::vector<std::string> records;  // the fields of every imported row, by `get`
  std::vector<mode_t> modes;         // of the rejects and ids files
};

std::string WithoutSeconds(const std::string& out) {
  std::string kept;
  CliResult r;
  r.out = out;
  for (const std::string& line : r.OutLines()) {
    json::object o = json::parse(line).as_object();
    o.erase("seconds");
    kept += json::serialize(o) + "\n";
  }
  return kept;
}

std::string WithoutStamp(const std::string& err) {
  static const std::regex stamp("coffre-import-[0-9]{8}T[0-9]{6}Z");
  return std::regex_replace(err, stamp, "coffre-import-STAMP");
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0;
}

TEST_F(CliBothWaysTest, ImportGivesTheSameResultAuditAndFilesWithOrWithoutAServer) {
  // The same input into two vaults of one schema: `alone` with no server,
  // `served` while `coffre serve` holds it (the import then runs in the
  // server, on the files and pipe this command opened).
  CliResult gen = RunCoffre({"gen", "--count", "40", "--seed", "23"});
  ASSERT_EQ(gen.exit_code, kExitOk) << gen.err;
  std::vector<std::string> people = gen.OutLines();
  ASSERT_EQ(people.size(), 40u);
  // A file with a rejected row (line 3) and a pipe straight from `gen` with
  // one more, each into its own collection-worth of people.
  std::string file_text, pipe_text;
  for (size_t i = 0; i < 20; ++i) {
    if (i == 2) file_text += "{\"not_a_field\":\"x\"}\n";
    file_text += people[i] + "\n";
  }
  for (size_t i = 20; i < 40; ++i) pipe_text += people[i] + "\n";
  pipe_text += "{\"email\":\"not an address\"}\n";

  auto run = [&](const std::string& phase, const std::string& vault, bool serve) {
    ImportRun r;
    const std::string cwd = tmp_ / phase;
    std::filesystem::create_directories(cwd);
    if (vault != dir_) {
      CliResult init = RunCoffre({"init", vault, "--schema", PeopleSchema(), "--policy",
                                  SourceDir() + "/examples/people-policy.toml"});
      EXPECT_EQ(init.exit_code, kExitOk) << init.err;
    }
    WriteFileOrDie(cwd + "/people.ndjson", file_text);
    if (serve) StartServerOn(vault);
    const std::vector<std::pair<std::vector<std::string>, std::string>> commands = {
        {{"import", vault, "people", "people.ndjson", "--ids-out", "ids.ndjson", "--report-commits",
          "--commit-rows", "8", "--chunk-rows", "8"},
         ""},
        {{"import", vault, "people", "-"}, pipe_text},
        // Every row rejected: exit 2, rejects to the file named.
        {{"import", vault, "people", "-", "--rejects", "all.rejects"}, "{\"x\":1}\n"},
        // Failures: an unknown collection, an absent file, an ids file
        // that exists, --rejects naming the input.
        {{"import", vault, "nope", "people.ndjson"}, ""},
        {{"import", vault, "people", "absent.ndjson"}, ""},
        {{"import", vault, "people", "people.ndjson", "--ids-out", "ids.ndjson"}, ""},
        {{"import", vault, "people", "people.ndjson", "--rejects", "people.ndjson"}, ""},
    };
    for (const auto& [args, in] : commands) {
      CliResult c = RunCoffreIn(cwd, args, {}, in);
      r.outcomes.push_back({c.exit_code, WithoutSeconds(c.out), WithoutStamp(c.err)});
    }
    if (serve) StopServer();
    r.file_rejects = ReadFileOrDie(cwd + "/people.ndjson.rejects");
    for (const auto& f : std::filesystem::directory_iterator(cwd)) {
      const std::string name = f.path().filename().string();
      if (name.rfind("coffre-import-", 0) == 0) {
        EXPECT_TRUE(r.pipe_rejects.empty()) << phase << ": one default rejects file";
        r.pipe_rejects = ReadFileOrDie(f.path().string());
        r.modes.push_back(ModeOf(f.path().string()));
      }
    }
    r.modes.push_back(ModeOf(cwd + "/people.ndjson.rejects"));
    r.modes.push_back(ModeOf(cwd + "/ids.ndjson"));
    r.modes.push_back(ModeOf(cwd + "/all.rejects"));
    CliResult ids;
    ids.out = ReadFileOrDie(cwd + "/ids.ndjson");
    for (const std::string& line : ids.OutLines()) {
      json::object o = json::parse(line).as_object();
      CliResult got = RunCoffre({"get", vault, "people", std::string(o.at("id").as_string())});
      EXPECT_EQ(got.exit_code, kExitOk) << phase << ": get of an imported row: " << got.err;
      if (got.exit_code == kExitOk) {
        r.records.push_back(json::serialize(json::parse(got.LastOutLine()).at("fields")));
      }
      o.erase("id");
      o.erase("subject");
      r.ids_lines_without_ids.push_back(json::serialize(o));
    }
    return r;
  };

  ImportRun alone = run("alone", dir_, false);
  ImportRun served = run("served", tmp_ / "served-vault", true);

  const char* names[] = {"file",        "pipe",       "all rejected",        "unknown collection",
                         "absent file", "ids exists", "rejects is the input"};
  const int codes[] = {kExitOk,       kExitOk,     kExitInvalid, kExitNotFound,
                       kExitNotFound, kExitExists, kExitInvalid};
  ASSERT_EQ(alone.outcomes.size(), served.outcomes.size());
  for (size_t i = 0; i < alone.outcomes.size(); ++i) {
    EXPECT_EQ(alone.outcomes[i].exit_code, codes[i]) << names[i] << ": " << alone.outcomes[i].err;
    EXPECT_EQ(alone.outcomes[i].exit_code, served.outcomes[i].exit_code) << names[i];
    EXPECT_EQ(alone.outcomes[i].out, served.outcomes[i].out) << names[i] << ": the same summary";
    EXPECT_EQ(alone.outcomes[i].err, served.outcomes[i].err) << names[i] << ": the same messages";
  }
  EXPECT_NE(alone.outcomes[0].out.find("committed_through_line"), std::string::npos)
      << "--report-commits reports commits";
  EXPECT_FALSE(alone.file_rejects.empty());
  EXPECT_EQ(alone.file_rejects, served.file_rejects) << "the same rejects beside the file";
  EXPECT_FALSE(alone.pipe_rejects.empty());
  EXPECT_EQ(alone.pipe_rejects, served.pipe_rejects) << "the same rejects of the pipe";
  EXPECT_EQ(alone.modes, served.modes) << "the files the command made, mode 0600 either way";
  for (mode_t m : served.modes) EXPECT_EQ(m, 0600u);
  EXPECT_EQ(alone.ids_lines_without_ids.size(), 20u);
  EXPECT_EQ(alone.ids_lines_without_ids, served.ids_lines_without_ids);
  EXPECT_EQ(alone.records.size(), 20u);
  EXPECT_EQ(alone.records, served.records) << "the same rows, readable afterwards";

  // The same audit entries (after vault.init), principal `local`.
  std::vector<json::object> a = LocalEntriesOf(dir_), b = LocalEntriesOf(tmp_ / "served-vault");
  auto imports = [](const std::vector<json::object>& entries) {
    std::vector<json::object> out;
    for (const json::object& e : entries) {
      if (e.at("action").as_string() == "import") out.push_back(Normalised(e));
    }
    return out;
  };
  std::vector<json::object> ia = imports(a), ib = imports(b);
  // Three imports completed (two of them with some rows); the failed
  // imports are audited through the server only (ADR 0024).
  ASSERT_GE(ia.size(), 3u);
  ASSERT_GE(ib.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(ia[i], ib[i]) << json::serialize(ia[i]) << " vs " << json::serialize(ib[i]);
    EXPECT_EQ(ib[i].at("source").as_string(), "cli:uid=" + std::to_string(::getuid()));
  }
}

TEST_F(CliBothWaysTest, TheServerRefusesAnImportWithoutDescriptors) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  // A request naming files by path only: the server opens no path.
  auto r = app::CallAdminSocket(dir_ + "/admin.sock", {{"op", "records.import"},
                                                       {"collection", "people"},
                                                       {"path", "/etc/hostname"},
                                                       {"rejects_path", tmp_ / "r.rejects"}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("descriptors"), std::string::npos) << r.error().message;
  EXPECT_FALSE(std::filesystem::exists(tmp_ / "r.rejects"));
  StopServer();
  // Audited as a failed local operation.
  std::vector<json::object> entries = LocalEntries();
  ASSERT_FALSE(entries.empty());
  EXPECT_EQ(entries.back().at("action").as_string(), "import");
  EXPECT_EQ(entries.back().at("outcome").as_string(), "error");
}

}  // namespace
}  // namespace coffre::testing
