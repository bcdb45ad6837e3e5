#include "report/breach_report.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <boost/json.hpp>
#include <filesystem>

#include "audit/audit_log.h"
#include "audit/entry_json.h"
#include "audit/internal/format.h"
#include "common/bytes.h"
#include "report/render.h"
#include "storage/memory_store.h"

namespace coffre::report {
namespace {

using storage::Space;
namespace fs = std::filesystem;
namespace json = boost::json;

constexpr char kSchema[] = R"(
version = 1
[collections.people]
fields = [
  { name = "first_name", type = "name", required = true },
  { name = "sex",        type = "enum", required = true, values = ["F", "M"] },
  { name = "email",      type = "email", required = true, searchable = true },
  { name = "nir",        type = "nir", required = true },
  { name = "iban",       type = "iban", required = true },
  { name = "agency",     type = "text", required = true },
]
[collections.notes]
fields = [ { name = "text", type = "text", required = true } ]
)";

std::string Sid(int i) {
  std::string s(16, '\0');
  s[7] = static_cast<char>(i);
  s[15] = static_cast<char>(i * 7 + 1);
  return s;
}

class BreachReportTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto::Init());
    char tmpl[] = "/tmp/coffre-report-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    anchor_ = dir_ + "/db.audit-anchor";
    // The store in memory (storage/memory_store.h); the anchor is a file.
    auto store = storage::OpenMemoryStore({.data = storage::NewMemoryData()});
    ASSERT_TRUE(store) << store.error().ToString();
    store_ = std::move(*store);
    auto schema = schema::Schema::Parse(kSchema);
    ASSERT_TRUE(schema) << schema.error().ToString();
    schema_ = std::move(*schema);
    auto seed = crypto::SecretKey::FromBytes(std::string(32, 'k'));
    auto log =
        audit::AuditLog::Open(storage::SpaceHandle(*store_, "audit", audit::kAuditSpaces),
                              crypto::SigningKey::FromSeed(*seed),
                              {.anchor_path = anchor_, .checkpoint_every = 7, .clock = &clock_});
    ASSERT_TRUE(log) << log.error().ToString();
    log_ = std::move(*log);
  }
  void TearDown() override {
    log_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }

  // One second per entry.
  void Add(audit::Entry e) {
    if (e.outcome.empty()) e.outcome = "allowed";
    if (e.collection.empty() && e.action != "export") e.collection = "people";
    e.source = "https:127.0.0.1";
    ASSERT_TRUE(log_->Append(std::move(e)));
    clock_.Advance(1);
  }
  audit::Entry Read(std::string principal, int subject, std::vector<audit::FieldView> fields) {
    audit::Entry e;
    e.principal = std::move(principal);
    e.action = "read";
    e.record_id = std::string(16, '\x09');
    e.subjects = {Sid(subject)};
    e.fields = std::move(fields);
    return e;
  }
  BreachReport Build(BreachQuery q) {
    EXPECT_TRUE(log_->Checkpoint());
    auto r = BuildBreachReport(log_->reader(), schema_, anchor_, q, clock_.NowUnixMillis());
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? std::move(*r) : BreachReport{};
  }
  std::vector<std::string> Ids(const BreachReport& r) {
    std::vector<std::string> ids;
    for (const auto& s : r.subjects) ids.emplace_back(s.id());
    return ids;
  }
  const SubjectExposure* Find(const BreachReport& r, int subject) {
    for (const auto& s : r.subjects) {
      if (s.id() == Sid(subject)) return &s;
    }
    return nullptr;
  }
  static std::string Views(const BreachReport& r, const SubjectExposure& s) {
    std::string out;
    for (const auto& f : s.fields) out += r.fields[f.field].Name() + "=" + f.view + " ";
    return out;
  }
  static std::vector<std::string> Collections(const BreachReport& r, const SubjectExposure& s) {
    std::vector<std::string> out;
    for (uint32_t c : s.collections) out.push_back(r.collections[c]);
    return out;
  }

  FakeClock clock_{1'700'000'000};
  int64_t T(int seconds) const { return (1'700'000'000 + seconds) * 1000LL; }
  std::string dir_;
  std::string anchor_;
  std::unique_ptr<storage::Store> store_;
  schema::Schema schema_;
  std::unique_ptr<audit::AuditLog> log_;
};

TEST_F(BreachReportTest, ListsExactlyWhatWasReturnedWithClearWinningOverMasked) {
  // t=0: before the window.
  Add(Read("svc", 1, {{"email", 'c'}}));
  // t=1..: the window.
  Add(Read("svc", 2, {{"first_name", 'c'}, {"email", 'm'}}));
  Add(Read("svc", 2, {{"email", 'c'}}));  // clear wins
  Add(Read("svc", 3, {{"email", 'm'}, {"nir", 'm'}}));
  Add(Read("other", 4, {{"email", 'c'}}));  // another principal
  audit::Entry denied = Read("svc", 5, {});
  denied.outcome = "denied";
  denied.subjects.clear();
  Add(denied);
  audit::Entry search;
  search.principal = "svc";
  search.action = "search";
  search.subjects = {Sid(6), Sid(7)};
  search.fields = {{"email", 'm'}};
  Add(search);
  audit::Entry created;  // a write: not an exposure
  created.principal = "svc";
  created.action = "create";
  created.record_id = std::string(16, '\x01');
  created.subjects = {Sid(8)};
  Add(created);
  audit::Entry ids_only = Read("svc", 9, {});  // all fields hidden: id only
  Add(ids_only);
  audit::Entry exported;
  exported.principal = "svc";
  exported.action = "export";
  exported.subjects = {Sid(10)};
  exported.fields = {{"people.iban", 'c'}, {"notes.text", 'c'}};
  Add(exported);
  audit::Entry failed = Read("svc", 11, {{"email", 'c'}});
  failed.outcome = "error";
  Add(failed);
  // t=11: after the window.
  Add(Read("svc", 12, {{"email", 'c'}}));

  BreachReport r = Build({.principal = "svc", .from_ms = T(1), .to_ms = T(10) + 999});
  ASSERT_TRUE(r.verification.ok) << r.verification.problem;
  std::vector<std::string> want = {Sid(2), Sid(3), Sid(6), Sid(7), Sid(9), Sid(10)};
  EXPECT_EQ(Ids(r), want);
  EXPECT_EQ(Views(r, *Find(r, 2)), "people.email=c people.first_name=c ");
  EXPECT_EQ(Views(r, *Find(r, 3)), "people.email=m people.nir=m ");
  EXPECT_EQ(Views(r, *Find(r, 6)), "people.email=m ");
  EXPECT_EQ(Views(r, *Find(r, 9)), "");
  EXPECT_EQ(Collections(r, *Find(r, 9)), std::vector<std::string>{"people"});
  EXPECT_EQ(Views(r, *Find(r, 10)), "notes.text=c people.iban=c ");
  EXPECT_EQ(Collections(r, *Find(r, 10)), (std::vector<std::string>{"notes", "people"}));
  EXPECT_EQ(Find(r, 2)->entries, 2u);
  EXPECT_EQ(Find(r, 2)->first_ms, T(1));
  EXPECT_EQ(Find(r, 2)->last_ms, T(2));
  EXPECT_EQ(r.entries_matched, 9u);
  EXPECT_EQ(r.entries_exposing, 6u);
  EXPECT_EQ(r.entries_denied, 1u);
  EXPECT_EQ(r.records, 7u);  // 6 people in `people`, one of them also in `notes`
  EXPECT_EQ(r.actions, (std::vector<std::string>{"export", "read", "search"}));

  const auto& contact = r.categories[static_cast<size_t>(Category::kContact)];
  EXPECT_EQ(contact.people, 4u);        // 2, 3, 6, 7
  EXPECT_EQ(contact.people_clear, 1u);  // 2
  EXPECT_EQ(contact.fields, std::vector<std::string>{"people.email"});
  const auto& identity = r.categories[static_cast<size_t>(Category::kIdentity)];
  EXPECT_EQ(identity.people, 1u);
  const auto& national = r.categories[static_cast<size_t>(Category::kNationalId)];
  EXPECT_EQ(national.people, 1u);
  EXPECT_EQ(national.people_clear, 0u);
  const auto& financial = r.categories[static_cast<size_t>(Category::kFinancial)];
  EXPECT_EQ(financial.people_clear, 1u);
  const auto& other = r.categories[static_cast<size_t>(Category::kOther)];
  EXPECT_EQ(other.people, 1u);
  EXPECT_EQ(other.records, 1u);
  EXPECT_EQ(other.fields, std::vector<std::string>{"notes.text"});
}

TEST_F(BreachReportTest, SubjectsComeInTheOrderOfTheirHexForms) {
  for (int first : {0xf0, 0x10, 0x80, 0x7f}) {
    audit::Entry e = Read("svc", 1, {{"email", 'm'}});
    e.subjects[0][0] = static_cast<char>(first);
    Add(e);
  }
  BreachReport r = Build({.principal = "svc", .from_ms = 0, .to_ms = T(100)});
  std::vector<std::string> hex;
  for (const auto& s : r.subjects) hex.push_back(ToHex(s.id()));
  ASSERT_EQ(hex.size(), 4u);
  EXPECT_TRUE(std::is_sorted(hex.begin(), hex.end()));
}

TEST_F(BreachReportTest, UsersAndPrincipalsAreToldApart) {
  audit::Entry a = Read("crm", 1, {{"email", 'c'}});
  a.on_behalf_of = "alice";
  Add(a);
  audit::Entry b = Read("crm", 2, {{"email", 'c'}});
  b.on_behalf_of = "bob";
  Add(b);
  audit::Entry c = Read("portal", 3, {{"email", 'c'}});
  c.on_behalf_of = "alice";
  Add(c);
  Add(Read("crm", 4, {{"email", 'c'}}));
  EXPECT_EQ(Ids(Build({.principal = "crm", .from_ms = 0, .to_ms = T(100)})),
            (std::vector<std::string>{Sid(1), Sid(2), Sid(4)}));
  EXPECT_EQ(Ids(Build({.principal = "crm", .user = "alice", .from_ms = 0, .to_ms = T(100)})),
            (std::vector<std::string>{Sid(1)}));
  EXPECT_EQ(Ids(Build({.user = "alice", .from_ms = 0, .to_ms = T(100)})),
            (std::vector<std::string>{Sid(1), Sid(3)}));
  // "alice" never made a request herself: no entry names her as a principal.
  EXPECT_TRUE(
      Build({.principal = "crm", .user = "bob", .from_ms = 0, .to_ms = T(0)}).subjects.empty());
  auto never = BuildBreachReport(log_->reader(), schema_, anchor_,
                                 {.principal = "alice", .from_ms = 0, .to_ms = T(100)}, 0);
  ASSERT_FALSE(never);
  EXPECT_EQ(never.error().code, ErrorCode::kNotFound);
}

// Issue 13, item 6: a name no entry has ever named is a mistake (a typo),
// not a report of no one with a notification draft; a name used before,
// but not in the window, is a report of no one.
TEST_F(BreachReportTest, ANameNeverUsedIsNotFoundAndAQuietWindowIsNoOne) {
  for (int i = 1; i <= 10; ++i) Add(Read("svc", i, {{"email", 'm'}}));
  audit::Entry a = Read("crm", 11, {{"email", 'c'}});
  a.on_behalf_of = "alice";
  Add(a);
  ASSERT_TRUE(log_->Checkpoint());
  auto build = [&](BreachQuery q) {
    return BuildBreachReport(log_->reader(), schema_, anchor_, q, 0);
  };
  for (BreachQuery q :
       {BreachQuery{.principal = "svc2", .from_ms = 0, .to_ms = T(100)},
        BreachQuery{.user = "bob", .from_ms = 0, .to_ms = T(100)},
        BreachQuery{.principal = "svc", .user = "bob", .from_ms = 0, .to_ms = T(100)}}) {
    auto r = build(q);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
    EXPECT_EQ(r.error().message.find("bob"), std::string::npos)
        << "a user's name may be a person's";
  }
  // Named before, quiet in the window: a verified report of no one, and no draft to send.
  auto quiet = build({.principal = "svc", .from_ms = T(50), .to_ms = T(60)});
  ASSERT_TRUE(quiet) << quiet.error().ToString();
  EXPECT_TRUE(quiet->verification.ok);
  EXPECT_TRUE(quiet->subjects.empty());
  std::string md = RenderMarkdown(*quiet);
  EXPECT_NE(md.find("there is no notification to draft"), std::string::npos);
  EXPECT_EQ(md.find("(a) Nature"), std::string::npos);
  auto quiet_user = build({.user = "alice", .from_ms = T(50), .to_ms = T(60)});
  ASSERT_TRUE(quiet_user) << quiet_user.error().ToString();
  EXPECT_TRUE(quiet_user->subjects.empty());

  // The index is not chained: with svc's index keys deleted, the verified
  // log still says that svc was named.
  std::vector<std::string> keys;
  ASSERT_TRUE(store_->Scan(Space::kAuditByPrincipal, "", [&](std::string_view k, std::string_view) {
    keys.emplace_back(k);
    return true;
  }));
  auto batch = store_->NewBatch();
  for (const auto& k : keys) batch->Delete(Space::kAuditByPrincipal, k);
  ASSERT_TRUE(store_->Write(*batch));
  quiet = build({.principal = "svc", .from_ms = T(50), .to_ms = T(60)});
  ASSERT_TRUE(quiet) << quiet.error().ToString();
  EXPECT_TRUE(quiet->verification.ok);
  EXPECT_EQ(build({.principal = "svc2", .from_ms = T(50), .to_ms = T(60)}).error().code,
            ErrorCode::kNotFound);
  // ...and when that walk finds the log altered, the report fails as a tampered window does.
  auto v = store_->Get(Space::kAudit, audit::internal::EntryKey(3));
  ASSERT_TRUE(v && *v);
  std::string value = **v;
  value[value.size() - 33] ^= 1;
  auto edit = store_->NewBatch();
  edit->Put(Space::kAudit, audit::internal::EntryKey(3), value);
  ASSERT_TRUE(store_->Write(*edit));
  quiet = build({.principal = "svc", .from_ms = T(50), .to_ms = T(60)});
  ASSERT_TRUE(quiet) << quiet.error().ToString();
  EXPECT_FALSE(quiet->verification.ok);
  EXPECT_EQ(quiet->verification.first_bad_seq, 3u);
}

// Issue 13, item 6: canary records are planted people; a report counts
// them, never lists them, and they count in no category.
TEST_F(BreachReportTest, CanariesAreCountedNeverListed) {
  Add(Read("svc", 1, {{"email", 'c'}}));
  Add(Read("svc", 2, {{"email", 'm'}}));
  Add(Read("svc", 3, {{"nir", 'c'}}));  // the canary: only it received a nir
  audit::Entry search;
  search.principal = "svc";
  search.action = "search";
  search.subjects = {Sid(2), Sid(3)};
  search.fields = {{"email", 'c'}};
  Add(search);
  ASSERT_TRUE(log_->Checkpoint());
  auto r = BuildBreachReport(log_->reader(), schema_, anchor_,
                             {.principal = "svc", .from_ms = 0, .to_ms = T(100)}, 0,
                             {.is_canary = [](std::string_view s) { return s == Sid(3); }});
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_TRUE(r->verification.ok);
  EXPECT_EQ(Ids(*r), (std::vector<std::string>{Sid(1), Sid(2)}));
  EXPECT_EQ(r->canaries, 1u);
  EXPECT_EQ(r->records, 2u);
  EXPECT_EQ(r->categories[static_cast<size_t>(Category::kNationalId)].people, 0u);
  EXPECT_EQ(r->categories[static_cast<size_t>(Category::kContact)].people, 2u);
  for (const auto& f : r->fields) EXPECT_NE(f.Name(), "people.nir");
  json::value j = json::parse(RenderJson(*r));
  EXPECT_EQ(j.at("people").as_int64(), 2);
  EXPECT_EQ(j.at("canaries").as_int64(), 1);
  for (Format f : {Format::kJson, Format::kMarkdown, Format::kCsv}) {
    for (Lang lang : {Lang::kEn, Lang::kFr}) {
      EXPECT_EQ(Render(*r, f, {.lang = lang}).find(ToHex(Sid(3))), std::string::npos)
          << "a canary's id";
    }
  }
  EXPECT_NE(RenderMarkdown(*r).find("Canary records read: **1**"), std::string::npos);
}

// Issue 13, item 11: shifting the times of the window's first entries made
// the report start from a later checkpoint and drop their exposures while
// saying "ok". The report must include every exposure or fail.
TEST_F(BreachReportTest, ShiftedEntryTimesNeverGiveAnOkReportWithFewerPeople) {
  for (int i = 1; i <= 30; ++i) Add(Read("svc", i, {{"email", 'm'}}));  // entry i at T(i - 1)
  ASSERT_TRUE(log_->Checkpoint());  // checkpoints 7, 14, 21, 28, 30
  const BreachQuery q{.principal = "svc", .from_ms = T(5), .to_ms = T(29)};
  BreachReport clean = Build(q);
  ASSERT_TRUE(clean.verification.ok);
  ASSERT_EQ(clean.subjects.size(), 25u);  // entries 6..30
  // Someone holding DIR moves entries 6..14 before the window (their stored
  // hashes kept): the time search now lands after checkpoint 14.
  for (uint64_t seq = 6; seq <= 14; ++seq) {
    auto v = store_->Get(Space::kAudit, audit::internal::EntryKey(seq));
    ASSERT_TRUE(v && *v);
    auto parts = audit::internal::SplitStoredEntry(**v);
    auto e = audit::DecodeEntry(parts->bytes);
    ASSERT_TRUE(e);
    e->time_ms = T(0);
    auto batch = store_->NewBatch();
    batch->Put(Space::kAudit, audit::internal::EntryKey(seq),
               audit::EncodeEntry(*e) + std::string(parts->hash));
    ASSERT_TRUE(store_->Write(*batch));
  }
  for (unsigned threads : {1u, 3u}) {
    auto r = BuildBreachReport(log_->reader(), schema_, anchor_, q, 0,
                               {.threads = threads, .min_part_entries = 3});
    ASSERT_TRUE(r) << r.error().ToString();
    if (r->verification.ok) {
      EXPECT_EQ(r->subjects.size(), 25u) << "an ok report that lost exposures";
    }
    EXPECT_FALSE(r->verification.ok) << "entries 6..14 were altered and lie in the window";
    EXPECT_TRUE(r->subjects.empty());
  }
}

TEST_F(BreachReportTest, QueriesTakeAnyOffsetAndPlainDates) {
  auto q = MakeQuery("svc", std::nullopt, "2026-12-01", "2026-12-01");
  ASSERT_TRUE(q) << q.error().ToString();
  EXPECT_EQ(q->from_ms, 1'796'083'200'000);
  EXPECT_EQ(q->to_ms, 1'796'083'200'000 + 86'400'000 - 1);
  q = MakeQuery("svc", std::nullopt, "2026-12-01T10:00:00+01:00", "2026-12-01t09:30:00.5z");
  ASSERT_TRUE(q) << q.error().ToString();
  EXPECT_EQ(q->from_ms, 1'796'083'200'000 + 9 * 3'600'000);
  EXPECT_EQ(q->to_ms, 1'796'083'200'000 + 9 * 3'600'000 + 30 * 60'000 + 599);
  auto bad = MakeQuery("svc", std::nullopt, "2026-02-30", "2026-12-01");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.error().message.find("'from': 2026-02 has no day 30"), std::string::npos)
      << bad.error().message;
  // The same instant on both sides, written with different offsets, is a window.
  EXPECT_TRUE(MakeQuery("svc", std::nullopt, "2026-12-01T10:00:00+01:00", "2026-12-01T09:00:00Z"));
  EXPECT_FALSE(MakeQuery("svc", std::nullopt, "2026-12-01T10:00:01+01:00", "2026-12-01T09:00:00Z"));
}

TEST_F(BreachReportTest, ADeletedIndexKeyHidesNothing) {
  for (int i = 1; i <= 20; ++i) Add(Read("svc", i, {{"email", 'm'}}));
  // Someone holding DIR removes the principal's index keys (not chained).
  std::vector<std::string> keys;
  ASSERT_TRUE(store_->Scan(Space::kAuditByPrincipal, "", [&](std::string_view k, std::string_view) {
    keys.emplace_back(k);
    return true;
  }));
  ASSERT_EQ(keys.size(), 20u);
  auto batch = store_->NewBatch();
  for (const auto& k : keys) batch->Delete(Space::kAuditByPrincipal, k);
  ASSERT_TRUE(store_->Write(*batch));
  BreachReport r = Build({.principal = "svc", .from_ms = 0, .to_ms = T(100)});
  EXPECT_TRUE(r.verification.ok);
  EXPECT_EQ(r.subjects.size(), 20u);
}

TEST_F(BreachReportTest, AnAlteredEntryFailsTheReportAndListsNoOne) {
  for (int i = 1; i <= 30; ++i) Add(Read("svc", i, {{"email", 'm'}}));
  ASSERT_TRUE(log_->Checkpoint());
  // Turn entry 12's masked email into... anything: flip its last byte.
  auto v = store_->Get(Space::kAudit, audit::internal::EntryKey(12));
  ASSERT_TRUE(v && *v);
  std::string value = **v;
  value[value.size() - 33] ^= 1;
  auto batch = store_->NewBatch();
  batch->Put(Space::kAudit, audit::internal::EntryKey(12), value);
  ASSERT_TRUE(store_->Write(*batch));
  BreachReport r = Build({.principal = "svc", .from_ms = T(5), .to_ms = T(20)});
  EXPECT_FALSE(r.verification.ok);
  EXPECT_EQ(r.verification.first_bad_seq, 12u);
  EXPECT_TRUE(r.subjects.empty());
  json::value j = json::parse(RenderJson(r));
  EXPECT_FALSE(j.at("verification").at("ok").as_bool());
  EXPECT_EQ(j.at("verification").at("first_bad_seq").to_number<uint64_t>(), 12u);
  EXPECT_FALSE(j.as_object().contains("subjects"));
  EXPECT_NE(RenderMarkdown(r).find("FAILED"), std::string::npos);
  // Another window, away from the damage, still verifies (from its own checkpoint).
  r = Build({.principal = "svc", .from_ms = T(22), .to_ms = T(29)});
  EXPECT_TRUE(r.verification.ok) << r.verification.problem;
  EXPECT_EQ(r.subjects.size(), 8u);
  ASSERT_TRUE(r.verification.start_checkpoint_seq);
  EXPECT_EQ(*r.verification.start_checkpoint_seq, 21u);  // every 7 entries
}

TEST_F(BreachReportTest, AWalkInPartsGivesTheSameReport) {
  // Subjects seen in several parts, with views that change between parts.
  for (int i = 0; i < 120; ++i) {
    audit::Entry e = Read(i % 3 == 0 ? "svc" : "other", i % 17,
                          {{"email", i % 5 == 0 ? 'c' : 'm'}, {i % 2 ? "nir" : "first_name", 'm'}});
    if (i % 11 == 0) {
      e.action = "export";
      e.collection.clear();
      e.fields = {{"notes.text", 'c'}};
    }
    Add(e);
  }
  ASSERT_TRUE(log_->Checkpoint());
  auto one =
      BuildBreachReport(log_->reader(), schema_, anchor_,
                        {.principal = "svc", .from_ms = T(3), .to_ms = T(110)}, 0, {.threads = 1});
  auto three = BuildBreachReport(log_->reader(), schema_, anchor_,
                                 {.principal = "svc", .from_ms = T(3), .to_ms = T(110)}, 0,
                                 {.threads = 3, .min_part_entries = 10});
  ASSERT_TRUE(one && three);
  ASSERT_TRUE(one->verification.ok && three->verification.ok);
  EXPECT_EQ(one->verification.entries, three->verification.entries);
  EXPECT_EQ(RenderJson(*one), RenderJson(*three));
  EXPECT_FALSE(one->subjects.empty());
}

TEST_F(BreachReportTest, RefusesAQueryWithoutWhoOrAnInvertedWindow) {
  auto r = BuildBreachReport(log_->reader(), schema_, anchor_, {.from_ms = 0, .to_ms = 1}, 0);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  r = BuildBreachReport(log_->reader(), schema_, anchor_,
                        {.principal = "x", .from_ms = 5, .to_ms = 1}, 0);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(BreachReportTest, RenderingsCarryIdsAndTheNotificationDraft) {
  Add(Read("svc", 1, {{"first_name", 'c'}, {"email", 'm'}, {"iban", 'c'}}));
  Add(Read("svc", 2, {{"email", 'm'}}));
  BreachReport r = Build({.principal = "svc", .from_ms = 0, .to_ms = T(100)});
  ASSERT_TRUE(r.verification.ok);

  json::value j = json::parse(RenderJson(r));
  const json::object& o = j.as_object();
  EXPECT_EQ(o.at("principal").as_string(), "svc");
  EXPECT_TRUE(o.at("user").is_null());
  EXPECT_EQ(o.at("people").as_int64(), 2);
  const json::array& subjects = o.at("subjects").as_array();
  ASSERT_EQ(subjects.size(), 2u);
  EXPECT_EQ(subjects[0].as_string(), ToHex(Sid(1)));
  const json::object& first = o.at("exposures").as_array()[0].as_object();
  EXPECT_EQ(first.at("fields").at("people.email").as_string(), "masked");
  EXPECT_EQ(first.at("fields").at("people.iban").as_string(), "clear");
  EXPECT_EQ(o.at("categories").at("contact").at("people").as_int64(), 2);
  EXPECT_EQ(o.at("categories").at("contact").at("people_clear").as_int64(), 0);
  EXPECT_EQ(o.at("categories").at("financial").at("people_clear").as_int64(), 1);
  EXPECT_TRUE(o.at("verification").at("ok").as_bool());
  EXPECT_TRUE(o.at("verification").at("anchored").as_bool());

  std::string csv = RenderCsv(r);
  EXPECT_EQ(csv, "subject,collections,fields\n" + ToHex(Sid(1)) +
                     ",people,people.email=masked;people.first_name=clear;people.iban=clear\n" +
                     ToHex(Sid(2)) + ",people,people.email=masked\n");

  std::string md = RenderMarkdown(r);
  for (const char* part :
       {"art. 33(3)", "(a) Nature", "(b) Contact point", "(c) Likely consequences", "(d) Measures",
        "TO BE COMPLETED: name and contact details",
        "Approximate number of data subjects concerned: 2", "Verified"}) {
    EXPECT_NE(md.find(part), std::string::npos) << part;
  }
  EXPECT_NE(md.find(ToHex(Sid(2))), std::string::npos);
  EXPECT_NE(md.find("Draft notice to the people concerned (GDPR art. 34)"), std::string::npos);
  md = RenderMarkdown(r, {.contact = "DPO, dpo@example.org"});
  EXPECT_NE(md.find("DPO, dpo@example.org"), std::string::npos);
  EXPECT_EQ(md.find("TO BE COMPLETED: name and contact details"), std::string::npos);

  // Issue 13, item 6: the drafts in French.
  std::string fr = RenderMarkdown(r, {.lang = Lang::kFr});
  for (const char* part :
       {"Projet de notification à l'autorité de contrôle (RGPD, art. 33)",
        "a) Nature de la violation de données à caractère personnel",
        "Nombre approximatif de personnes concernées : 2", "b) Point de contact",
        "À COMPLÉTER : nom et coordonnées du délégué à la protection des données",
        "c) Conséquences probables", "d) Mesures prises ou envisagées",
        "Projet d'information des personnes concernées (RGPD, art. 34)", "Madame, Monsieur,",
        "Surveillez vos relevés de compte", "CNIL", "coordonnées (adresses électroniques"}) {
    EXPECT_NE(fr.find(part), std::string::npos) << part;
  }
  EXPECT_EQ(fr.find("TO BE COMPLETED"), std::string::npos);
  EXPECT_EQ(fr.find("Draft notification"), std::string::npos);
  EXPECT_EQ(*ParseLang("fr"), Lang::kFr);
  EXPECT_EQ(*ParseLang("en"), Lang::kEn);
  EXPECT_FALSE(ParseLang("de"));
}

TEST(Render, FastTimesAgreeWithTheAuditFormat) {
  uint64_t x = 88172645463325252ull;
  for (int i = 0; i < 20000; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    // Up to the year 9999, and the edges.
    int64_t ms = i == 0   ? 0
                 : i == 1 ? 253402300799999
                          : static_cast<int64_t>(x % 253402300800000ull);
    std::string fast;
    internal::AppendTimeMs(fast, ms);
    ASSERT_EQ(fast, audit::FormatTimeMs(ms)) << ms;
  }
}

TEST(Categories, FollowTheFieldTypes) {
  using schema::FieldType;
  EXPECT_EQ(CategoryOf(FieldType::kName), Category::kIdentity);
  EXPECT_EQ(CategoryOf(FieldType::kDate), Category::kIdentity);
  EXPECT_EQ(CategoryOf(FieldType::kEnum), Category::kIdentity);
  EXPECT_EQ(CategoryOf(FieldType::kEmail), Category::kContact);
  EXPECT_EQ(CategoryOf(FieldType::kPhone), Category::kContact);
  EXPECT_EQ(CategoryOf(FieldType::kPostalAddress), Category::kContact);
  EXPECT_EQ(CategoryOf(FieldType::kNir), Category::kNationalId);
  EXPECT_EQ(CategoryOf(FieldType::kIban), Category::kFinancial);
  EXPECT_EQ(CategoryOf(FieldType::kPan), Category::kFinancial);
  EXPECT_EQ(CategoryOf(FieldType::kText), Category::kOther);
  EXPECT_EQ(CategoryOf(FieldType::kInteger), Category::kOther);
  EXPECT_EQ(CategoryOf(FieldType::kBoolean), Category::kOther);
}

}  // namespace
}  // namespace coffre::report
