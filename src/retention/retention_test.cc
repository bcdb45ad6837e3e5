// The sweeper with an injected clock: rules counted from a date field and
// from last activity, archive then delete, legal holds, crypto-shredding
// (the data key is gone and the raw sealed record no longer opens), the
// report, and the audit entries. People are synthetic.
#include "retention/retention.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "audit/entry.h"
#include "crypto/crypto.h"
#include "storage/memory_store.h"

namespace coffre::retention {
namespace {

namespace fs = std::filesystem;
using storage::Space;

constexpr std::string_view kSchema = R"(version = 1

[collections.prospects]
fields = [
  { name = "email",        type = "email", required = true, unique = true },
  { name = "last_contact", type = "date" },
]
[collections.prospects.retention]
category      = "prospect"
from          = "last_contact"
archive_after = "1y"

[collections.visits]
fields = [{ name = "note", type = "text", required = true }]
[collections.visits.retention]
delete_after = "30d"

[collections.clients]
fields = [
  { name = "email",            type = "email", required = true, searchable = true },
  { name = "relationship_end", type = "date" },
]
[collections.clients.retention]
category = "client"
from     = "relationship_end"

[collections.notes]
fields = [{ name = "text", type = "text", required = true }]
)";

constexpr int64_t kDay = 86400;

class RetentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto::Init());
    tmp_ = fs::temp_directory_path() /
           ("coffre-retention-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(tmp_);
    fs::create_directories(tmp_);
    std::ofstream(tmp_ / "s.toml") << kSchema;
    auto init = vault::Vault::Init({.dir = tmp_ / "v",
                                    .schema_path = tmp_ / "s.toml",
                                    .key_file = tmp_ / "v.key",
                                    .erasure_journal = tmp_ / "v.erasures",
                                    .store = Opener()});
    ASSERT_TRUE(init) << init.error().message;
    OpenAll("v.audit-anchor");
  }
  // The store in memory (storage/memory_store.h), reopened on the same
  // data; RocksDB in tmp_/v for the tests of what reaches the files.
  storage::StoreOpener Opener() {
    if (on_disk_) return nullptr;
    if (!memory_) memory_ = storage::NewMemoryData();
    return storage::MemoryStoreOpener(memory_);
  }
  bool on_disk_ = false;
  std::shared_ptr<storage::MemoryData> memory_;
  // Opens the vault (replaying its erasure journal), its audit log with the
  // anchor `anchor` beside it, and the retention rules.
  void OpenAll(const std::string& anchor) {
    retention_.reset();
    audit_.reset();
    vault_.reset();
    auto v = vault::Vault::Open({.dir = tmp_ / "v",
                                 .key_file = tmp_ / "v.key",
                                 .erasure_journal = tmp_ / "v.erasures",
                                 .clock = &clock_,
                                 .erasers = {&hold_eraser_},
                                 .store = Opener()});
    ASSERT_TRUE(v) << v.error().message;
    vault_ = std::move(*v);
    audit::Options ao;
    ao.anchor_path = tmp_ / anchor;
    ao.recreate_anchor = anchor != "v.audit-anchor";
    ao.clock = &clock_;
    auto log = audit::AuditLog::Open(
        *vault_->Grant("audit", audit::kAuditSpaces),
        crypto::SigningKey::FromSeed(vault_->keyring().audit_signing_seed()), ao);
    ASSERT_TRUE(log) << log.error().message;
    audit_ = std::move(*log);
    retention_ = std::make_unique<Retention>(*vault_, *vault_->Grant("retention", kRetentionSpaces),
                                             *audit_, clock_);
  }
  void TearDown() override {
    retention_.reset();
    audit_.reset();
    vault_.reset();
    fs::remove_all(tmp_);
  }

  vault::RecordRef Put(std::string_view collection,
                       std::vector<std::pair<std::string, std::string>> fields,
                       std::optional<std::string> subject = std::nullopt) {
    std::vector<vault::NamedInput> in;
    for (auto& [k, v] : fields) in.emplace_back(k, schema::Input::String(v));
    auto r = vault_->Put(collection, in, subject);
    EXPECT_TRUE(r) << r.error().message;
    return r.value_or(vault::RecordRef{});
  }
  bool Online(std::string_view collection, const vault::RecordRef& r) {
    auto g = vault_->Get(collection, r.id);
    if (!g) EXPECT_EQ(g.error().code, ErrorCode::kNotFound);
    return g.has_value();
  }
  bool Archived(std::string_view collection, const vault::RecordRef& r) {
    auto g = vault_->GetArchived(collection, r.id);
    if (!g) EXPECT_EQ(g.error().code, ErrorCode::kNotFound);
    return g.has_value();
  }
  size_t DataKeys(std::string_view subject) {
    size_t n = 0;
    EXPECT_TRUE(vault_->store().Scan(Space::kKeys, subject, [&](auto, auto) { return ++n, true; }));
    return n;
  }
  // The raw stored value of a record (key: lp(collection) || id).
  std::pair<std::string, std::string> Raw(Space space, std::string_view id) {
    std::pair<std::string, std::string> found;
    EXPECT_TRUE(vault_->store().Scan(space, "", [&](std::string_view k, std::string_view v) {
      if (k.size() >= id.size() && k.substr(k.size() - id.size()) == id)
        found = {std::string(k), std::string(v)};
      return true;
    }));
    return found;
  }
  std::vector<audit::Entry> AuditEntries(std::string_view action) {
    std::vector<audit::Entry> out;
    audit::Filter f;
    f.principal = "coffre";
    EXPECT_TRUE(audit_->Query(f, [&](const audit::Entry& e) {
      if (e.action == action) out.push_back(e);
      return true;
    }));
    return out;
  }
  SweepResult Sweep() {
    auto r = retention_->Sweep();
    EXPECT_TRUE(r) << r.error().message;
    return r.value_or(SweepResult{});
  }

  FakeClock clock_{ParseRfc3339("2026-12-01T08:00:00Z").value()};
  fs::path tmp_;
  HoldEraser hold_eraser_;  // registered as the runtime does (src/app/runtime.cc)
  std::unique_ptr<vault::Vault> vault_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::unique_ptr<Retention> retention_;
};

TEST_F(RetentionTest, DeletesByCryptoShreddingWhenTheDateFieldIsPastItsRule) {
  auto old =
      Put("prospects", {{"email", "old.prospect@example.fr"}, {"last_contact", "2023-06-30"}});
  auto recent =
      Put("prospects", {{"email", "recent.prospect@example.fr"}, {"last_contact", "2026-11-01"}});
  auto [old_key, old_sealed] = Raw(Space::kRecords, old.id);
  ASSERT_FALSE(old_sealed.empty());
  ASSERT_EQ(DataKeys(old.subject), 1u);

  // 2023-06-30 + 3y = 2026-06-30: due. The recent one is not even due for the archive.
  SweepResult r = Sweep();
  EXPECT_EQ(r.deleted, 1u);
  EXPECT_EQ(r.archived, 0u);
  EXPECT_FALSE(Online("prospects", old));
  EXPECT_FALSE(Archived("prospects", old));
  EXPECT_TRUE(Online("prospects", recent));
  auto found = vault_->Find("prospects", "email", schema::Input::String("old.prospect@example.fr"));
  ASSERT_TRUE(found);
  EXPECT_TRUE(found->empty());
  EXPECT_FALSE(vault_->HasSubject(old.subject).value());

  // Crypto-shredding: the data key is gone, so the sealed record, put back
  // as it was (a copy from a backup), no longer opens.
  EXPECT_EQ(DataKeys(old.subject), 0u);
  auto batch = vault_->store().NewBatch();
  batch->Put(Space::kRecords, old_key, old_sealed);
  ASSERT_TRUE(vault_->store().Write(*batch));
  ASSERT_EQ(vault_->store().Get(Space::kRecords, old_key).value(), old_sealed);
  auto reopened = vault_->Get("prospects", old.id);
  ASSERT_FALSE(reopened) << "a shredded record opened again";
  EXPECT_EQ(reopened.error().code, ErrorCode::kNotFound);

  auto entries = AuditEntries("retention.delete");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].principal, "coffre");
  EXPECT_EQ(entries[0].collection, "prospects");
  EXPECT_EQ(entries[0].record_id, old.id);
  EXPECT_EQ(entries[0].subjects, std::vector<std::string>{old.subject});
  EXPECT_EQ(entries[0].reason, "delete_after 3y from last_contact (prospect)");
  EXPECT_TRUE(entries[0].fields.empty());
  EXPECT_EQ(AuditEntries("retention.sweep").size(), 1u);
}

// Issue 13 item 2: records the sweeper deleted (online or from the archive)
// stay deleted when a backup taken before the sweep is restored.
TEST_F(RetentionTest, ARestoredBackupForgetsWhatTheSweepDeleted) {
  auto recent =
      Put("prospects", {{"email", "recent.prospect@example.fr"}, {"last_contact", "2026-11-01"}});
  auto mid =
      Put("prospects", {{"email", "mid.prospect@example.fr"}, {"last_contact", "2023-12-30"}});
  EXPECT_EQ(Sweep().archived, 1u);  // mid: past 1y, not yet 3y
  ASSERT_TRUE(Archived("prospects", mid));
  auto old =
      Put("prospects", {{"email", "old.prospect@example.fr"}, {"last_contact", "2023-06-30"}});
  auto visit = Put("visits", {{"note", "a visit"}});
  clock_.Advance(31 * kDay);  // the visit and mid are due for deletion too
  retention_.reset();
  audit_.reset();
  vault_.reset();
  fs::copy(tmp_ / "v", tmp_ / "backup", fs::copy_options::recursive);
  OpenAll("v.audit-anchor");
  EXPECT_EQ(Sweep().deleted, 3u);
  retention_.reset();
  audit_.reset();
  vault_.reset();
  fs::remove_all(tmp_ / "v");
  fs::rename(tmp_ / "backup", tmp_ / "v");
  OpenAll("restored.audit-anchor");  // the restored log is older than its anchor
  EXPECT_FALSE(Online("prospects", old)) << "a record deleted by the sweep came back";
  EXPECT_FALSE(Online("visits", visit)) << "a record deleted by the sweep came back";
  EXPECT_EQ(DataKeys(old.subject), 0u);
  EXPECT_EQ(DataKeys(visit.subject), 0u);
  EXPECT_FALSE(Archived("prospects", mid)) << "an archived record deleted by the sweep came back";
  EXPECT_EQ(DataKeys(mid.subject), 0u);
  EXPECT_TRUE(Online("prospects", recent));
}

TEST_F(RetentionTest, LastActivityCountsWritesNotReads) {
  auto visit = Put("visits", {{"note", "came by"}});
  EXPECT_EQ(vault_->LastActivity(visit.subject, "visits", visit.id).value(),
            clock_.NowUnixSeconds());
  clock_.Advance(29 * kDay);
  EXPECT_EQ(Sweep().deleted, 0u);
  // An update is activity: the 30 days start again.
  ASSERT_TRUE(vault_->Update("visits", visit.id, {{"note", schema::Input::String("came back")}}));
  const int64_t updated = clock_.NowUnixSeconds();
  EXPECT_EQ(vault_->LastActivity(visit.subject, "visits", visit.id).value(), updated);
  clock_.Advance(20 * kDay);  // day 49: 20 days after the update
  EXPECT_EQ(Sweep().deleted, 0u);
  // Reads are not: a bulk read at breach time must not keep data alive.
  ASSERT_TRUE(vault_->Get("visits", visit.id));
  ASSERT_TRUE(vault_->ExportSubject(visit.subject));
  EXPECT_EQ(vault_->LastActivity(visit.subject, "visits", visit.id).value(), updated);
  clock_.Advance(10 * kDay);  // 30 days after the update
  EXPECT_EQ(Sweep().deleted, 1u);
  EXPECT_FALSE(Online("visits", visit));
  EXPECT_EQ(DataKeys(visit.subject), 0u);
}

TEST_F(RetentionTest, ArchivesThenDeletes) {
  // Last contact 400 days ago: past archive_after (1y), not delete_after (3y).
  auto p =
      Put("prospects", {{"email", "archived.prospect@example.fr"}, {"last_contact", "2025-10-27"}});
  // Another record of the same subject in another collection is untouched.
  auto note = Put("notes", {{"text", "kept"}}, p.subject);
  SweepResult r = Sweep();
  EXPECT_EQ(r.archived, 1u);
  EXPECT_EQ(r.deleted, 0u);
  EXPECT_FALSE(Online("prospects", p));
  EXPECT_TRUE(Archived("prospects", p));
  auto found =
      vault_->Find("prospects", "email", schema::Input::String("archived.prospect@example.fr"));
  ASSERT_TRUE(found);
  EXPECT_TRUE(found->empty()) << "archiving removes the index entries";
  EXPECT_TRUE(Raw(Space::kRecords, p.id).first.empty());
  EXPECT_FALSE(Raw(Space::kArchive, p.id).first.empty());
  auto listed = vault_->ListRecords("prospects", "", 10);
  ASSERT_TRUE(listed);
  EXPECT_TRUE(listed->empty());
  auto archived = vault_->GetArchived("prospects", p.id);
  ASSERT_TRUE(archived);
  EXPECT_EQ(archived->subject, p.subject);
  EXPECT_EQ(DataKeys(p.subject), 2u) << "the archive still needs the data key";
  EXPECT_EQ(AuditEntries("retention.archive").size(), 1u);
  EXPECT_EQ(Sweep().archived, 0u) << "archiving is done once";

  clock_.Advance(2 * 366 * kDay);  // past 2025-10-27 + 3y
  r = Sweep();
  EXPECT_EQ(r.deleted, 1u);
  EXPECT_FALSE(Archived("prospects", p));
  EXPECT_TRUE(Online("notes", note));
  EXPECT_EQ(DataKeys(p.subject), 1u) << "the prospects key is shredded, the notes key stays";
  auto entries = AuditEntries("retention.delete");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].reason, "delete_after 3y from last_contact (prospect), from the archive");
}

// ADR 0012: a copied index reveals nothing about archived records, so an
// archive-only sweep compacts too: the blind-index entries it deleted leave
// the older files, not only the live view.
class RetentionOnDiskTest : public RetentionTest {
 protected:
  RetentionOnDiskTest() { on_disk_ = true; }
};

TEST_F(RetentionOnDiskTest, ArchivedIndexEntriesAreGoneFromEveryFile) {
  Put("prospects", {{"email", "archived.only@example.fr"}, {"last_contact", "2025-10-27"}});
  std::vector<std::string> index_keys;
  ASSERT_TRUE(vault_->store().Scan(Space::kIndex, "", [&](std::string_view k, std::string_view) {
    index_keys.emplace_back(k);
    return true;
  }));
  ASSERT_FALSE(index_keys.empty());
  auto files_holding = [&](const std::string& needle) {
    size_t n = 0;
    for (const auto& e : fs::recursive_directory_iterator(tmp_ / "v")) {
      // Table and log files. A MANIFEST keeps the boundary keys of files
      // that compaction removed until it is rewritten (at the next open).
      const std::string ext = e.path().extension().string();
      if (!e.is_regular_file() || (ext != ".sst" && ext != ".log")) continue;
      std::ifstream in(e.path(), std::ios::binary);
      std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (content.find(needle) != std::string::npos) ++n;
    }
    return n;
  };
  ASSERT_TRUE(vault_->store().Flush());
  for (const std::string& k : index_keys)
    ASSERT_GT(files_holding(k), 0u) << "positive control: on disk";
  SweepResult r = Sweep();
  ASSERT_EQ(r.archived, 1u);
  ASSERT_EQ(r.deleted, 0u);
  for (const std::string& k : index_keys)
    EXPECT_EQ(files_holding(k), 0u) << "archived record's index entry on disk";
}

// A record that no longer opens, or one whose subject went between the
// walk's scan and the work on it, must not keep every other record online.
TEST_F(RetentionTest, OneBadRecordDoesNotStopTheSweep) {
  auto a = Put("visits", {{"note", "first"}});
  auto corrupt = Put("visits", {{"note", "second"}});
  auto vanished = Put("visits", {{"note", "third"}});
  auto d = Put("visits", {{"note", "fourth"}});
  clock_.Advance(31 * kDay);
  auto [key, sealed] = Raw(Space::kRecords, corrupt.id);
  ASSERT_FALSE(sealed.empty());
  sealed.back() = static_cast<char>(sealed.back() ^ 1);
  auto [member, activity] = Raw(Space::kSubjects, vanished.id);
  ASSERT_FALSE(member.empty());
  auto batch = vault_->store().NewBatch();
  batch->Put(Space::kRecords, key, sealed);  // does not open any more: kDataLoss
  batch->Delete(Space::kSubjects, member);   // as if erased during the walk
  ASSERT_TRUE(vault_->store().Write(*batch));
  ASSERT_EQ(vault_->Get("visits", corrupt.id).error().code, ErrorCode::kDataLoss);

  SweepResult r = Sweep();
  EXPECT_EQ(r.deleted, 2u);
  EXPECT_EQ(r.unreadable, 1u);
  EXPECT_EQ(r.skipped, 1u);
  EXPECT_FALSE(Online("visits", a));
  EXPECT_FALSE(Online("visits", d));
  EXPECT_EQ(Raw(Space::kRecords, corrupt.id).second, sealed)
      << "an unreadable record is left in place";
  auto summary = AuditEntries("retention.sweep");
  ASSERT_FALSE(summary.empty());
  EXPECT_EQ(summary.back().outcome, "allowed");
  EXPECT_EQ(summary.back().reason, "0 archived, 2 deleted, 0 held, 1 unreadable");
}

TEST_F(RetentionTest, HeldSubjectIsSkippedThenSweptAfterRelease) {
  auto c =
      Put("clients", {{"email", "held.client@example.fr"}, {"relationship_end", "2020-01-15"}});
  auto ongoing = Put("clients", {{"email", "ongoing.client@example.fr"}});
  ASSERT_TRUE(retention_->SetHold(c.subject, "dpo"));
  auto hold = retention_->GetHold(c.subject);
  ASSERT_TRUE(hold && *hold);
  EXPECT_EQ((*hold)->by, "dpo");
  EXPECT_EQ((*hold)->since, clock_.NowUnixSeconds());

  SweepResult r = Sweep();
  EXPECT_EQ(r.deleted, 0u);
  EXPECT_EQ(r.held, 1u);
  EXPECT_EQ(r.held_subjects, std::vector<std::string>{c.subject});
  EXPECT_TRUE(Online("clients", c));

  auto plan = retention_->Report(100);
  ASSERT_TRUE(plan) << plan.error().message;
  const CollectionPlan* clients = nullptr;
  for (const auto& cp : plan->collections) {
    if (cp.collection == "clients") clients = &cp;
  }
  ASSERT_NE(clients, nullptr);
  EXPECT_EQ(clients->online, 2u);
  EXPECT_EQ(clients->undated, 1u) << "no end of relationship: the relationship goes on";
  EXPECT_EQ(clients->due_now, 1u);
  EXPECT_EQ(clients->held, 1u);
  ASSERT_EQ(clients->records.size(), 1u);
  EXPECT_EQ(clients->records[0].id, c.id);
  EXPECT_TRUE(clients->records[0].held);
  EXPECT_EQ(clients->records[0].action, "delete");
  EXPECT_EQ(FormatRfc3339(clients->records[0].due), "2023-01-15T00:00:00Z");

  ASSERT_TRUE(retention_->ReleaseHold(c.subject));
  EXPECT_EQ(retention_->ReleaseHold(c.subject).error().code, ErrorCode::kNotFound);
  r = Sweep();
  EXPECT_EQ(r.deleted, 1u);
  EXPECT_EQ(r.held, 0u);
  EXPECT_FALSE(Online("clients", c));
  EXPECT_TRUE(Online("clients", ongoing));
  EXPECT_EQ(DataKeys(c.subject), 0u);
}

TEST_F(RetentionTest, HoldNeedsAKnownSubject) {
  EXPECT_EQ(retention_->SetHold(std::string(16, 'x'), "dpo").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(retention_->SetHold("short", "dpo").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(retention_->GetHold("short").error().code, ErrorCode::kInvalidArgument);
}

TEST_F(RetentionTest, ReportListsSoonestFirstWithoutDoingAnything) {
  auto a = Put("prospects", {{"email", "a@example.fr"}, {"last_contact", "2026-01-10"}});
  auto b = Put("prospects", {{"email", "b@example.fr"}, {"last_contact", "2025-06-01"}});
  auto v = Put("visits", {{"note", "x"}});
  auto plan = retention_->Report(1);
  ASSERT_TRUE(plan) << plan.error().message;
  ASSERT_EQ(plan->collections.size(), 3u);  // notes has no rule
  const CollectionPlan& prospects = plan->collections[0];
  EXPECT_EQ(prospects.collection, "prospects");
  EXPECT_EQ(prospects.online, 2u);
  EXPECT_EQ(prospects.due_now, 1u);
  ASSERT_EQ(prospects.records.size(), 1u);
  EXPECT_TRUE(prospects.truncated);
  EXPECT_EQ(prospects.records[0].id, b.id);
  EXPECT_EQ(prospects.records[0].action, "archive");
  EXPECT_EQ(FormatRfc3339(prospects.records[0].due), "2026-06-01T00:00:00Z");
  const CollectionPlan& visits = plan->collections[1];
  ASSERT_EQ(visits.records.size(), 1u);
  EXPECT_EQ(visits.records[0].subject, v.subject);
  EXPECT_EQ(visits.records[0].due, clock_.NowUnixSeconds() + 30 * kDay);
  EXPECT_TRUE(Online("prospects", a));
  EXPECT_TRUE(Online("prospects", b));
}

TEST_F(RetentionTest, ErasureAlsoRemovesArchivedRecords) {
  auto p = Put("prospects", {{"email", "erased@example.fr"}, {"last_contact", "2025-10-27"}});
  EXPECT_EQ(Sweep().archived, 1u);
  auto erased = vault_->EraseSubject(p.subject);
  ASSERT_TRUE(erased) << erased.error().message;
  EXPECT_EQ(erased->records, 1u);
  EXPECT_FALSE(Archived("prospects", p));
  EXPECT_TRUE(Raw(Space::kArchive, p.id).first.empty());
  EXPECT_EQ(DataKeys(p.subject), 0u);
}

// A legal hold is retention's state about a subject: it goes with the
// subject's erasure, in the same batch (HoldEraser), and only the subject's.
TEST_F(RetentionTest, ErasureRemovesTheSubjectsHold) {
  auto held = Put("prospects", {{"email", "held@example.fr"}, {"last_contact", "2025-10-27"}});
  auto other = Put("prospects", {{"email", "other@example.fr"}, {"last_contact", "2025-10-27"}});
  ASSERT_TRUE(retention_->SetHold(held.subject, "dpo"));
  ASSERT_TRUE(retention_->SetHold(other.subject, "dpo"));
  auto erased = vault_->EraseSubject(held.subject);
  ASSERT_TRUE(erased) << erased.error().message;
  EXPECT_EQ(erased->records, 1u);
  EXPECT_EQ(erased->Count("holds"), 1u);
  auto hold = retention_->GetHold(held.subject);
  ASSERT_TRUE(hold);
  EXPECT_FALSE(hold->has_value()) << "a hold on an erased subject stayed";
  auto kept = retention_->GetHold(other.subject);
  ASSERT_TRUE(kept);
  EXPECT_TRUE(kept->has_value());
  // A subject without a hold: nothing of retention's to erase.
  auto plain = Put("prospects", {{"email", "plain@example.fr"}, {"last_contact", "2025-10-27"}});
  auto erased_plain = vault_->EraseSubject(plain.subject);
  ASSERT_TRUE(erased_plain) << erased_plain.error().message;
  EXPECT_EQ(erased_plain->Count("holds"), 0u);
}

}  // namespace
}  // namespace coffre::retention
