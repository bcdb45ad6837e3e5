// `coffre retention run|report|hold|release DIR`, end to end (docs/
// retention.md): the real binary on a scratch vault, without a server
// (the command opens DIR) and with one (the command goes over the admin
// socket), and the refusals of bad input with their exit codes.
//
// Periods counted from a date field use dates relative to today; the
// last-activity test moves the clock of every command through the test
// hook (COFFRE_TEST_CLOCK_FILE) and is skipped without it. The e-mail
// addresses are in the reserved example.org domain.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

#include "cli_runner.h"
#include "test_util.h"

namespace coffre::testing {
namespace {

namespace json = boost::json;

constexpr int64_t kDay = 86400;

constexpr const char* kSchema = R"(version = 1

[collections.prospects]
fields = [
  { name = "email",        type = "email", required = true, unique = true, searchable = true },
  { name = "last_contact", type = "date" },
]
[collections.prospects.retention]
category      = "prospect"
from          = "last_contact"
archive_after = "1y"

[collections.clients]
fields = [
  { name = "email",            type = "email", required = true },
  { name = "relationship_end", type = "date" },
]
[collections.clients.retention]
category = "client"
from     = "relationship_end"

[collections.visits]
fields = [ { name = "note", type = "text", required = true } ]
[collections.visits.retention]
archive_after = "10d"
delete_after  = "30d"

[collections.notes]
fields = [ { name = "text", type = "text" } ]
)";

// "YYYY-MM-DD" of now + `days` (UTC).
std::string Date(int64_t days) {
  std::time_t t = std::time(nullptr) + days * kDay;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

// The RFC 3339 midnight of `date` plus `years` calendar years (29 February
// clamps to the 28th, as schema::AddDuration does).
std::string MidnightPlusYears(const std::string& date, int years) {
  std::string md = date.substr(5);
  int y = std::stoi(date.substr(0, 4)) + years;
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (md == "02-29" && !leap) md = "02-28";
  return std::to_string(y) + "-" + md + "T00:00:00Z";
}

struct Ref {
  std::string id, subject;
};

class RetentionCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFileOrDie(tmp_ / "schema.toml", kSchema);
    SetClock(0);
    CliResult r = Coffre({"init", dir_, "--schema", tmp_ / "schema.toml"});
    ASSERT_EQ(r.exit_code, kExitOk) << r.err;
  }

  // Every command gets the test clock (ignored by builds without hooks).
  CliResult Coffre(const std::vector<std::string>& args) {
    return RunCoffre(args, {{"COFFRE_TEST_CLOCK_FILE", clock_}});
  }
  void SetClock(int64_t offset) { WriteFileOrDie(clock_, std::to_string(offset) + "\n"); }

  Ref Put(const std::string& collection, const json::object& fields,
          const std::string& subject = "") {
    std::vector<std::string> args = {"put", dir_, collection, json::serialize(fields)};
    if (!subject.empty()) args.insert(args.end(), {"--subject", subject});
    CliResult r = Coffre(args);
    EXPECT_EQ(r.exit_code, kExitOk) << r.err;
    if (r.exit_code != kExitOk) return {};
    json::object o = json::parse(r.LastOutLine()).as_object();
    return {std::string(o.at("id").as_string()), std::string(o.at("subject").as_string())};
  }

  int GetExit(const std::string& collection, const Ref& ref) {
    return Coffre({"get", dir_, collection, ref.id}).exit_code;
  }

  // Runs a retention command that must succeed; its JSON answer.
  json::object Retention(const std::vector<std::string>& args) {
    CliResult r = Coffre(args);
    EXPECT_EQ(r.exit_code, kExitOk) << args[1] << ": " << r.err;
    if (r.exit_code != kExitOk) return {};
    EXPECT_EQ(r.OutLines().size(), 1u) << "one JSON object";
    last_out_ = r.out;
    return json::parse(r.LastOutLine()).as_object();
  }
  json::object Run() { return Retention({"retention", "run", dir_}); }
  json::object Report() { return Retention({"retention", "report", dir_}); }

  // A copy: callers pass a temporary report.
  static json::object CollectionOf(const json::object& report, const std::string& name) {
    for (const json::value& c : report.at("collections").as_array()) {
      if (c.at("collection").as_string() == name) return c.as_object();
    }
    ADD_FAILURE() << "collection " << name << " is not in the report";
    return {};
  }

  static int64_t Count(const json::object& o, const char* key) {
    return o.at(key).to_number<int64_t>();
  }

  TempDir tmp_;
  std::string dir_ = tmp_ / "vault";
  std::string clock_ = tmp_ / "clock";
  std::string last_out_;
};

TEST_F(RetentionCliTest, RunArchivesAndShredsWhatIsDueAndTheReportSaidWhen) {
  const std::string arch_contact = Date(-400), new_contact = Date(-10);
  Ref p_old =
      Put("prospects", {{"email", "old.prospect@example.org"}, {"last_contact", "2000-03-10"}});
  Ref p_arch = Put("prospects",
                   {{"email", "archived.prospect@example.org"}, {"last_contact", arch_contact}});
  Ref p_new =
      Put("prospects", {{"email", "new.prospect@example.org"}, {"last_contact", new_contact}});
  Ref c_old =
      Put("clients", {{"email", "former.client@example.org"}, {"relationship_end", "2001-05-20"}});
  Ref c_on = Put("clients", {{"email", "current.client@example.org"}});
  // Same subject as the former client, in a collection without a rule.
  Ref note = Put("notes", {{"text", "kept"}}, c_old.subject);
  ASSERT_EQ(note.subject, c_old.subject);

  // The report says what will go and when, and does nothing.
  json::object report = Report();
  EXPECT_EQ(last_out_.find("example.org"), std::string::npos) << "the report carries a value";
  ASSERT_EQ(report.at("collections").as_array().size(), 3u) << "notes has no rule";
  const json::object prospects = CollectionOf(report, "prospects");
  EXPECT_EQ(prospects.at("rule").as_object(), (json::object{{"from", "last_contact"},
                                                            {"delete_after", "3y"},
                                                            {"archive_after", "1y"},
                                                            {"category", "prospect"}}));
  EXPECT_EQ(Count(prospects, "online"), 3);
  EXPECT_EQ(Count(prospects, "archived"), 0);
  EXPECT_EQ(Count(prospects, "due_now"), 2);
  const json::array& planned = prospects.at("records").as_array();
  ASSERT_EQ(planned.size(), 3u);
  // Soonest first, with ids and subjects only.
  EXPECT_EQ(planned[0].as_object(), (json::object{{"id", p_old.id},
                                                  {"subject", p_old.subject},
                                                  {"state", "online"},
                                                  {"action", "delete"},
                                                  {"due", "2003-03-10T00:00:00Z"},
                                                  {"held", false}}));
  EXPECT_EQ(planned[1].at("id").as_string(), p_arch.id);
  EXPECT_EQ(planned[1].at("action").as_string(), "archive");
  EXPECT_EQ(planned[1].at("due").as_string(), MidnightPlusYears(arch_contact, 1));
  EXPECT_EQ(planned[2].at("id").as_string(), p_new.id);
  EXPECT_EQ(planned[2].at("due").as_string(), MidnightPlusYears(new_contact, 1));
  const json::object clients = CollectionOf(report, "clients");
  EXPECT_EQ(Count(clients, "online"), 2);
  EXPECT_EQ(Count(clients, "undated"), 1) << "a client without an end of relationship is kept";
  ASSERT_EQ(clients.at("records").as_array().size(), 1u);
  EXPECT_EQ(clients.at("records").as_array()[0].at("id").as_string(), c_old.id);
  EXPECT_EQ(clients.at("records").as_array()[0].at("due").as_string(), "2004-05-20T00:00:00Z");
  EXPECT_EQ(GetExit("prospects", p_old), kExitOk) << "the report deleted something";

  json::object run = Run();
  EXPECT_EQ(Count(run, "archived"), 1);
  EXPECT_EQ(Count(run, "deleted"), 2);
  EXPECT_EQ(Count(run, "held"), 0);
  EXPECT_TRUE(run.at("held_subjects").as_array().empty());
  EXPECT_EQ(run.at("cards").as_object(),
            (json::object{{"expired", 0}, {"evidence_deleted", 0}, {"unreadable", 0}}))
      << "the card sweep runs too";

  // Past their rule: not readable, not findable.
  EXPECT_EQ(GetExit("prospects", p_old), kExitNotFound);
  EXPECT_EQ(GetExit("prospects", p_arch), kExitNotFound) << "archived: out of the online base";
  EXPECT_EQ(GetExit("clients", c_old), kExitNotFound);
  CliResult found = Coffre({"find", dir_, "prospects", "email=archived.prospect@example.org"});
  EXPECT_EQ(found.exit_code, kExitOk) << found.err;
  EXPECT_TRUE(found.OutLines().empty()) << "an archived record is still indexed";
  // The rest stays.
  EXPECT_EQ(GetExit("prospects", p_new), kExitOk);
  EXPECT_EQ(GetExit("clients", c_on), kExitOk);
  EXPECT_EQ(GetExit("notes", note), kExitOk) << "shredding one collection's key spares the others";

  json::object again = Run();
  EXPECT_EQ(Count(again, "archived") + Count(again, "deleted"), 0)
      << "a second run has nothing to do";

  // The archived prospect is now counted down to its deletion.
  report = Report();
  const json::object after = CollectionOf(report, "prospects");
  EXPECT_EQ(Count(after, "online"), 1);
  EXPECT_EQ(Count(after, "archived"), 1);
  const json::array& next = after.at("records").as_array();
  ASSERT_EQ(next.size(), 2u);
  EXPECT_EQ(next[0].at("id").as_string(), p_new.id)
      << "archived in a year, before the other's deletion";
  EXPECT_EQ(next[1].as_object(), (json::object{{"id", p_arch.id},
                                               {"subject", p_arch.subject},
                                               {"state", "archived"},
                                               {"action", "delete"},
                                               {"due", MidnightPlusYears(arch_contact, 3)},
                                               {"held", false}}));

  // Audited as principal coffre, with ids and the rule, never a value.
  CliResult audit = Coffre({"audit", "list", dir_, "--principal", "coffre"});
  ASSERT_EQ(audit.exit_code, kExitOk) << audit.err;
  EXPECT_EQ(audit.out.find("example.org"), std::string::npos) << "an audit entry carries a value";
  std::vector<std::string> deleted, archived;
  int sweeps = 0;
  for (const std::string& line : audit.OutLines()) {
    json::object e = json::parse(line).as_object();
    const std::string action(e.at("action").as_string());
    if (action == "retention.delete") deleted.emplace_back(e.at("record_id").as_string());
    if (action == "retention.archive") archived.emplace_back(e.at("record_id").as_string());
    if (action == "retention.sweep") ++sweeps;
    if (action == "retention.delete" && e.at("record_id").as_string() == c_old.id) {
      EXPECT_EQ(e.at("reason").as_string(), "delete_after 3y from relationship_end (client)");
      EXPECT_EQ(e.at("subjects").as_array(), (json::array{json::value(c_old.subject)}));
      EXPECT_TRUE(e.at("fields").as_array().empty());
    }
  }
  std::sort(deleted.begin(), deleted.end());
  std::vector<std::string> want_deleted = {p_old.id, c_old.id};
  std::sort(want_deleted.begin(), want_deleted.end());
  EXPECT_EQ(deleted, want_deleted);
  EXPECT_EQ(archived, std::vector<std::string>{p_arch.id});
  EXPECT_EQ(sweeps, 2);
}

TEST_F(RetentionCliTest, AHoldKeepsTheSubjectUntilReleased) {
  Ref c_old =
      Put("clients", {{"email", "held.client@example.org"}, {"relationship_end", "2001-05-20"}});

  json::object held = Retention({"retention", "hold", dir_, c_old.subject});
  EXPECT_EQ(held.at("subject").as_string(), c_old.subject);
  EXPECT_TRUE(held.at("held").as_bool());
  EXPECT_EQ(held.at("by").as_string(), "local");
  EXPECT_TRUE(held.at("since").is_string());
  // Holding again is no error (the hold is replaced).
  EXPECT_TRUE(Retention({"retention", "hold", dir_, c_old.subject}).at("held").as_bool());

  json::object run = Run();
  EXPECT_EQ(Count(run, "deleted"), 0);
  EXPECT_EQ(Count(run, "held"), 1);
  EXPECT_EQ(run.at("held_subjects").as_array(), (json::array{json::value(c_old.subject)}));
  EXPECT_EQ(GetExit("clients", c_old), kExitOk) << "a held record was deleted";
  const json::object clients = CollectionOf(Report(), "clients");
  EXPECT_EQ(Count(clients, "held"), 1);
  EXPECT_TRUE(clients.at("records").as_array()[0].at("held").as_bool());

  json::object released = Retention({"retention", "release", dir_, c_old.subject});
  EXPECT_EQ(released, (json::object{{"subject", c_old.subject}, {"held", false}}));
  CliResult twice = Coffre({"retention", "release", dir_, c_old.subject});
  EXPECT_EQ(twice.exit_code, kExitNotFound);
  EXPECT_NE(twice.err.find("not under a legal hold"), std::string::npos) << twice.err;

  EXPECT_EQ(Count(Run(), "deleted"), 1);
  EXPECT_EQ(GetExit("clients", c_old), kExitNotFound);
  // The subject is gone with its last record: nothing left to hold.
  CliResult gone = Coffre({"retention", "hold", dir_, c_old.subject});
  EXPECT_EQ(gone.exit_code, kExitNotFound);
  EXPECT_NE(gone.err.find("unknown subject"), std::string::npos) << gone.err;
}

TEST_F(RetentionCliTest, BadInputIsRefusedWithAClearErrorAndNothingChanges) {
  Ref c_old = Put("clients", {{"email", "client@example.org"}, {"relationship_end", "2001-05-20"}});
  struct Case {
    std::vector<std::string> args;
    int exit_code;
    std::string message;
  };
  const std::string unknown(32, '0');
  const std::vector<Case> cases = {
      {{"retention", "hold", dir_, "not-hex"},
       kExitInvalid,
       "subject must be 32 hexadecimal characters"},
      {{"retention", "hold", dir_, c_old.subject.substr(0, 30)}, kExitInvalid, "32 hexadecimal"},
      {{"retention", "release", dir_, "ZZ"}, kExitInvalid, "32 hexadecimal"},
      {{"retention", "hold", dir_, unknown}, kExitNotFound, "unknown subject"},
      {{"retention", "release", dir_, unknown}, kExitNotFound, "not under a legal hold"},
      {{"retention", "release", dir_, c_old.subject}, kExitNotFound, "not under a legal hold"},
      {{"retention", "run", tmp_ / "missing"}, kExitNotFound, "no vault at " + tmp_ / "missing"},
      {{"retention", "report", tmp_ / "missing"}, kExitNotFound, "no vault at"},
      {{"retention", "hold", tmp_ / "missing", c_old.subject}, kExitNotFound, "no vault at"},
      {{"retention", "run"}, kExitInvalid, "DIR is required"},
      {{"retention", "hold", dir_}, kExitInvalid, "SUBJECT is required"},
      {{"retention", "report", dir_, "--limit", "0"}, kExitInvalid, "--limit"},
      {{"retention", "sweep", dir_}, kExitInvalid, ""},
      {{"retention"}, kExitInvalid, ""},
  };
  for (const Case& c : cases) {
    CliResult r = Coffre(c.args);
    std::string shown;
    for (const std::string& a : c.args) shown += a + " ";
    EXPECT_EQ(r.exit_code, c.exit_code) << shown << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << shown << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << shown;
  }
  // Nothing was held, swept or created by the refusals.
  EXPECT_FALSE(std::filesystem::exists(tmp_ / "missing"));
  EXPECT_EQ(Count(CollectionOf(Report(), "clients"), "held"), 0);
  EXPECT_EQ(GetExit("clients", c_old), kExitOk);
}

TEST_F(RetentionCliTest, TheSameCommandsGoToARunningServer) {
  Ref p_old =
      Put("prospects", {{"email", "old.prospect@example.org"}, {"last_contact", "2000-03-10"}});
  Ref c_old =
      Put("clients", {{"email", "former.client@example.org"}, {"relationship_end", "2001-05-20"}});
  Ref c_on = Put("clients", {{"email", "current.client@example.org"}});

  // The server sweeps at start too (ADR 0012): c_old is held before, and
  // the test waits for that first sweep to have taken p_old, so that the
  // runs below are its own. While the server runs, only the socket reaches
  // the vault (the server holds RocksDB's lock).
  EXPECT_TRUE(Retention({"retention", "hold", dir_, c_old.subject}).at("held").as_bool());
  CliChild server;
  std::string error;
  ASSERT_TRUE(server.Start({"serve", dir_, "--listen", "127.0.0.1:0"},
                           {{"COFFRE_TEST_CLOCK_FILE", clock_}}, error))
      << error;
  auto line = server.ReadLine();
  ASSERT_TRUE(line && line->find("\"listening\"") != std::string::npos) << "serve did not start";
  int64_t online = -1;
  for (int i = 0; i < 100 && online != 0; ++i) {
    online = Count(CollectionOf(Report(), "prospects"), "online");
    if (online != 0) ::usleep(100 * 1000);
  }
  ASSERT_EQ(online, 0) << "the start-up sweep did not run";

  json::object run = Run();
  EXPECT_EQ(Count(run, "deleted"), 0);
  EXPECT_EQ(Count(run, "held"), 1);
  EXPECT_EQ(run.at("held_subjects").as_array(), (json::array{json::value(c_old.subject)}));
  EXPECT_TRUE(run.at("cards").is_object());
  // Errors cross the socket with their codes.
  CliResult bad = Coffre({"retention", "hold", dir_, "not-hex"});
  EXPECT_EQ(bad.exit_code, kExitInvalid) << bad.err;
  EXPECT_NE(bad.err.find("32 hexadecimal"), std::string::npos) << bad.err;
  CliResult unknown = Coffre({"retention", "release", dir_, c_on.subject});
  EXPECT_EQ(unknown.exit_code, kExitNotFound) << unknown.err;
  EXPECT_NE(unknown.err.find("not under a legal hold"), std::string::npos) << unknown.err;

  EXPECT_FALSE(Retention({"retention", "release", dir_, c_old.subject}).at("held").as_bool());
  run = Run();
  EXPECT_EQ(Count(run, "deleted"), 1);
  EXPECT_EQ(Count(run, "held"), 0);
  EXPECT_EQ(server.Kill(SIGTERM), 0);

  EXPECT_EQ(GetExit("prospects", p_old), kExitNotFound);
  EXPECT_EQ(GetExit("clients", c_old), kExitNotFound);
  EXPECT_EQ(GetExit("clients", c_on), kExitOk);
}

TEST_F(RetentionCliTest, LastActivityCountsFromTheLastWrite) {
#ifndef COFFRE_TEST_HOOKS
  GTEST_SKIP() << "needs the test clock (COFFRE_TEST_HOOKS)";
#else
  Ref first = Put("visits", {{"note", "first visit"}});
  SetClock(5 * kDay);
  Ref second = Put("visits", {{"note", "second visit"}});

  SetClock(9 * kDay);
  EXPECT_EQ(Count(Run(), "archived"), 0);
  EXPECT_EQ(GetExit("visits", first), kExitOk);  // a read is no activity
  SetClock(11 * kDay);
  json::object run = Run();
  EXPECT_EQ(Count(run, "archived"), 1);
  EXPECT_EQ(GetExit("visits", first), kExitNotFound);
  EXPECT_EQ(GetExit("visits", second), kExitOk);
  const json::array planned = CollectionOf(Report(), "visits").at("records").as_array();
  ASSERT_EQ(planned.size(), 2u);
  EXPECT_EQ(planned[0].at("id").as_string(), second.id)
      << "the second visit is archived 4 days before";
  EXPECT_EQ(planned[0].at("action").as_string(), "archive");
  EXPECT_EQ(planned[1].at("id").as_string(), first.id);
  EXPECT_EQ(planned[1].at("state").as_string(), "archived");
  EXPECT_EQ(planned[1].at("action").as_string(), "delete");

  SetClock(16 * kDay);
  EXPECT_EQ(Count(Run(), "archived"), 1);
  SetClock(31 * kDay);
  run = Run();
  EXPECT_EQ(Count(run, "deleted"), 1) << "the first visit, from the archive";
  SetClock(36 * kDay);
  EXPECT_EQ(Count(Run(), "deleted"), 1);
  const json::object visits = CollectionOf(Report(), "visits");
  EXPECT_EQ(Count(visits, "online") + Count(visits, "archived"), 0);
#endif
}

}  // namespace
}  // namespace coffre::testing
