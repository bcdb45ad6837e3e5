#include "bulk/bulk_export.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <set>

#include "common/bytes.h"
#include "crypto/sealed_file.h"
#include "gen/people_gen.h"
#include "guard/canary_set.h"
#include "storage/memory_store.h"
#include "vault/importer.h"
#include "vault/record_json.h"

namespace coffre::bulk {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

class BulkExportTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto::Init());
    char tmpl[] = "/tmp/coffre-bulk-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
    // The store in memory (storage/memory_store.h): no file needed.
    const storage::StoreOpener mem = storage::MemoryStoreOpener(storage::NewMemoryData());
    auto init = vault::Vault::Init({tmp_ + "/vault",
                                    COFFRE_SOURCE_DIR "/examples/people.toml",
                                    tmp_ + "/vault.key",
                                    tmp_ + "/vault.erasures",
                                    {},
                                    {},
                                    mem,
                                    ""});
    ASSERT_TRUE(init) << init.error().message;
    auto v = vault::Vault::Open({.dir = tmp_ + "/vault",
                                 .key_file = tmp_ + "/vault.key",
                                 .erasure_journal = tmp_ + "/vault.erasures",
                                 .store = mem});
    ASSERT_TRUE(v) << v.error().message;
    vault_ = std::move(*v);
    auto log =
        audit::AuditLog::Open(*vault_->Grant("audit", audit::kAuditSpaces),
                              crypto::SigningKey::FromSeed(vault_->keyring().audit_signing_seed()),
                              {.anchor_path = tmp_ + "/vault.audit-anchor", .clock = &clock_});
    ASSERT_TRUE(log) << log.error().ToString();
    log_ = std::move(*log);
    approvals_ =
        std::make_unique<approval::Approvals>(*vault_->Grant("approval", approval::kApprovalSpaces),
                                              vault_->keyring().secrets_key(), clock_);
    gen::PeopleGenerator gen(5);
    gen::Person p;
    for (int i = 0; i < 250; ++i) {
      gen.Next(p);
      auto ref = vault_->Put("people", {{"first_name", schema::Input::String(p.first_name)},
                                        {"last_name", schema::Input::String(p.last_name)},
                                        {"sex", schema::Input::String(p.sex)},
                                        {"birth_date", schema::Input::String(p.birth_date)},
                                        {"nir", schema::Input::String(p.nir)},
                                        {"email", schema::Input::String(p.email)},
                                        {"phone", schema::Input::String(p.phone)},
                                        {"postal_address", schema::Input::String(p.postal_address)},
                                        {"iban", schema::Input::String(p.iban)},
                                        {"agency", schema::Input::String(p.agency)}});
      ASSERT_TRUE(ref) << ref.error().message;
      subjects_.insert(ref->subject);
      if (i == 0) first_email_ = p.email;
    }
  }
  void TearDown() override {
    approvals_.reset();
    log_.reset();
    vault_.reset();
    fs::remove_all(tmp_);
  }
  std::string Approved(const std::string& collection) {
    auto a = approvals_->Request(approval::kBulkExport, {{"collection", collection}}, "alice");
    EXPECT_TRUE(a);
    EXPECT_TRUE(approvals_->Approve(a->id, "bob"));
    return a->id;
  }
  ExportOptions Options(const std::string& approval, const std::string& out) {
    return {.collection = "people",
            .approval_id = approval,
            .recipient_public_key = crypto::BoxPublicKey(secret_),
            .out_path = out,
            .source = "cli:uid=1000",
            .page_records = 100};
  }
  std::vector<audit::Entry> Entries(const std::string& action) {
    std::vector<audit::Entry> out;
    EXPECT_TRUE(log_->Query({.principal = "local"}, [&](const audit::Entry& e) {
      if (e.action == action) out.push_back(e);
      return true;
    }));
    return out;
  }

  // A new, empty vault of examples/people.toml at `dir` (key file and
  // journal beside it), opened: where a re-import goes.
  static Result<std::unique_ptr<vault::Vault>> NewVault(const std::string& dir) {
    const storage::StoreOpener mem = storage::MemoryStoreOpener(storage::NewMemoryData());
    COFFRE_TRY(vault::Vault::Init({dir,
                                   COFFRE_SOURCE_DIR "/examples/people.toml",
                                   dir + ".key",
                                   dir + ".erasures",
                                   {},
                                   {},
                                   mem,
                                   ""}));
    return vault::Vault::Open(
        {.dir = dir, .key_file = dir + ".key", .erasure_journal = dir + ".erasures", .store = mem});
  }

  FakeClock clock_{1'800'000'000};
  crypto::SecretKey secret_ = crypto::SecretKey::Random();
  std::string tmp_;
  std::string first_email_;
  std::set<std::string> subjects_;
  std::unique_ptr<vault::Vault> vault_;
  std::unique_ptr<audit::AuditLog> log_;
  std::unique_ptr<approval::Approvals> approvals_;
};

TEST_F(BulkExportTest, ExportsEverythingSealedAndAuditsEverySubject) {
  const std::string out = tmp_ + "/people.sealed";
  auto r = Export(*vault_, *log_, *approvals_, Options(Approved("people"), out));
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->records, 250u);
  EXPECT_EQ(r->audit_entries, 3u);  // pages of 100
  struct stat st {};
  ASSERT_EQ(stat(out.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), r->bytes);

  // Sealed: no personal value in the file; the recipient's key opens it.
  std::string plain;
  ASSERT_TRUE(crypto::OpenSealedFile(out, secret_, [&](std::string_view p) {
    plain.append(p);
    return Ok();
  }));
  std::set<std::string> exported;
  size_t lines = 0;
  for (size_t at = 0; at < plain.size();) {
    size_t nl = plain.find('\n', at);
    ASSERT_NE(nl, std::string::npos);
    json::object o = json::parse(plain.substr(at, nl - at)).as_object();
    EXPECT_EQ(o.at("collection").as_string(), "people");
    EXPECT_EQ(o.at("fields").as_object().size(), 10u);
    exported.insert(*ParseId(std::string_view(o.at("subject").as_string()), "subject"));
    ++lines;
    at = nl + 1;
  }
  EXPECT_EQ(lines, 250u);
  EXPECT_EQ(exported, subjects_);
  EXPECT_NE(plain.find(first_email_), std::string::npos);

  // The audit log lists every exported subject, every field in clear.
  std::set<std::string> audited;
  for (const audit::Entry& e : Entries("bulk_export")) {
    EXPECT_EQ(e.collection, "people");
    EXPECT_EQ(e.fields.size(), 10u);
    for (const auto& f : e.fields) EXPECT_EQ(f.view, audit::kViewClear);
    EXPECT_NE(e.reason.find("approval"), std::string::npos);
    audited.insert(e.subjects.begin(), e.subjects.end());
  }
  EXPECT_EQ(audited, subjects_);
  ASSERT_EQ(Entries("approval.consume").size(), 1u);
}

TEST_F(BulkExportTest, AnApprovalIsUsedOnceAndOnlyWhenApproved) {
  std::string id = Approved("people");
  ASSERT_TRUE(Export(*vault_, *log_, *approvals_, Options(id, tmp_ + "/one.sealed")));
  auto again = Export(*vault_, *log_, *approvals_, Options(id, tmp_ + "/two.sealed"));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kPermissionDenied);
  EXPECT_FALSE(fs::exists(tmp_ + "/two.sealed"));

  auto pending = approvals_->Request(approval::kBulkExport, {{"collection", "people"}}, "alice");
  ASSERT_TRUE(pending);
  auto early = Export(*vault_, *log_, *approvals_, Options(pending->id, tmp_ + "/three.sealed"));
  ASSERT_FALSE(early);
  EXPECT_EQ(early.error().code, ErrorCode::kPermissionDenied);
  EXPECT_FALSE(fs::exists(tmp_ + "/three.sealed"));
  EXPECT_TRUE(Entries("bulk_export").size() == 3u);  // only the first export's pages
}

TEST_F(BulkExportTest, AnExistingOutputWastesNoApproval) {
  std::string id = Approved("people");
  std::ofstream(tmp_ + "/taken") << "x";
  auto r = Export(*vault_, *log_, *approvals_, Options(id, tmp_ + "/taken"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(approvals_->Get(id)->StateAt(clock_.NowUnixMillis()), approval::State::kApproved);
  ExportOptions o = Options(id, tmp_ + "/bad-key");
  o.recipient_public_key = std::string(32, '\0');
  EXPECT_EQ(Export(*vault_, *log_, *approvals_, o).error().code, ErrorCode::kInvalidArgument);
  EXPECT_TRUE(Export(*vault_, *log_, *approvals_, Options(id, tmp_ + "/fine.sealed")));
}

// Issue 13: a bulk export is a migration path. Its plaintext imports into a
// new vault with every record and subject id kept, the same values, the
// blind indexes rebuilt, and its canaries flagged inside the sealed file and
// recreated as canaries.
TEST_F(BulkExportTest, ReimportsIntoANewVaultWithItsIdsAndCanaries) {
  guard::CanarySet canaries;
  auto added = guard::AddCanaries(*vault_, "people", 3, "", &canaries, /*seed=*/99);
  ASSERT_TRUE(added) << added.error().message;
  const std::string out = tmp_ + "/people.sealed";
  ExportOptions o = Options(Approved("people"), out);
  o.is_canary = [&](std::string_view s) { return canaries.Contains(s); };
  auto r = Export(*vault_, *log_, *approvals_, o);
  ASSERT_TRUE(r) << r.error().ToString();
  ASSERT_EQ(r->records, 253u);

  std::string plain;
  ASSERT_TRUE(crypto::OpenSealedFile(out, secret_, [&](std::string_view p) {
    plain.append(p);
    return Ok();
  }));
  std::vector<json::object> lines;
  std::set<std::string> flagged;
  for (size_t at = 0; at < plain.size();) {
    size_t nl = plain.find('\n', at);
    lines.push_back(json::parse(plain.substr(at, nl - at)).as_object());
    if (const json::value* c = lines.back().if_contains("canary")) {
      EXPECT_TRUE(c->as_bool());
      flagged.insert(*FromHex(std::string(lines.back().at("subject").as_string())));
    }
    at = nl + 1;
  }
  EXPECT_EQ(flagged, std::set<std::string>(added->begin(), added->end()));
  const std::string plain_path = tmp_ + "/people.ndjson";
  std::ofstream(plain_path) << plain;

  // A new vault.
  const std::string dir = tmp_ + "/new";
  auto opened = NewVault(dir);
  ASSERT_TRUE(opened) << opened.error().message;
  std::unique_ptr<vault::Vault> fresh = std::move(*opened);
  vault::ImportOptions io{
      .collection = "people", .path = plain_path, .format = vault::ImportFormat::kExport};
  io.chunk_rows = 64;
  io.commit_rows = 128;
  io.on_canaries = [&](const std::vector<std::string>& s) {
    return guard::RegisterCanaries(*fresh, s);
  };
  auto stats = vault::Import(*fresh, io);
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats->imported, 253u);
  EXPECT_EQ(stats->rejected, 0u);
  EXPECT_EQ(stats->canaries, 3u);

  const schema::Collection* people = fresh->schema().Find("people");
  for (const json::object& line : lines) {
    std::string id = *FromHex(std::string(line.at("id").as_string()));
    auto rec = fresh->Get("people", id);
    ASSERT_TRUE(rec) << rec.error().message;
    EXPECT_EQ(rec->subject, *FromHex(std::string(line.at("subject").as_string())));
    EXPECT_TRUE(vault::RecordToJson(*people, *rec).at("fields") == line.at("fields"))
        << "values differ";
  }
  auto found = fresh->Find("people", "email", schema::Input::String(first_email_));
  ASSERT_TRUE(found);
  EXPECT_EQ(found->size(), 1u);
  guard::CanarySet reloaded;
  ASSERT_TRUE(reloaded.Load(*fresh));
  EXPECT_EQ(reloaded.size(), 3u);
  for (const std::string& s : *added) EXPECT_TRUE(reloaded.Contains(s));

  // Once only: the ids are taken now.
  auto again = vault::Import(*fresh, io);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);
}

TEST_F(BulkExportTest, ReimportRefusesRepeatedOrUnorderedIds) {
  const std::string out = tmp_ + "/people.sealed";
  ASSERT_TRUE(Export(*vault_, *log_, *approvals_, Options(Approved("people"), out)));
  std::string plain;
  ASSERT_TRUE(crypto::OpenSealedFile(out, secret_, [&](std::string_view p) {
    plain.append(p);
    return Ok();
  }));
  std::vector<std::string> lines;
  for (size_t at = 0; at < plain.size();) {
    size_t nl = plain.find('\n', at);
    lines.push_back(plain.substr(at, nl - at + 1));
    at = nl + 1;
  }
  // Line 2 goes before line 1 (out of order: rejected); line 3 is repeated
  // at the end, in another chunk (rejected); a line of another collection.
  std::string text = lines[1] + lines[0] + lines[2] + lines[3] + lines[4] + lines[2];
  text += "{\"collection\":\"other\",\"id\":\"00\",\"subject\":\"00\",\"fields\":{}}\n";
  const std::string path = tmp_ + "/tampered.ndjson";
  std::ofstream(path) << text;
  const std::string dir = tmp_ + "/new";
  auto opened = NewVault(dir);
  ASSERT_TRUE(opened) << opened.error().message;
  vault::ImportOptions io{.collection = "people",
                          .path = path,
                          .rejects_path = tmp_ + "/rejects",
                          .format = vault::ImportFormat::kExport};
  io.chunk_rows = 2;
  auto stats = vault::Import(**opened, io);
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats->read, 7u);
  EXPECT_EQ(stats->imported, 4u);
  EXPECT_EQ(stats->rejected, 3u);
  std::ifstream in(tmp_ + "/rejects");
  std::string rejects((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(rejects.find("line 2: record id repeated or out of order"), std::string::npos)
      << rejects;
  EXPECT_NE(rejects.find("line 6: record id repeated or out of order"), std::string::npos)
      << rejects;
  EXPECT_NE(rejects.find("line 7: the line is of another collection"), std::string::npos)
      << rejects;
}

}  // namespace
}  // namespace coffre::bulk
