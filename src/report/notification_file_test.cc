#include "report/notification_file.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/json.hpp>
#include <filesystem>
#include <map>
#include <set>

#include "common/bytes.h"
#include "crypto/sealed_file.h"
#include "gen/people_gen.h"
#include "storage/memory_store.h"

namespace coffre::report {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

class NotificationFileTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto::Init());
    char tmpl[] = "/tmp/coffre-notify-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
    anchor_ = tmp_ + "/vault.audit-anchor";
    // The store in memory (storage/memory_store.h): no file needed.
    const storage::StoreOpener mem = storage::MemoryStoreOpener(storage::NewMemoryData());
    ASSERT_TRUE(vault::Vault::Init({tmp_ + "/vault",
                                    COFFRE_SOURCE_DIR "/examples/people.toml",
                                    tmp_ + "/vault.key",
                                    tmp_ + "/vault.erasures",
                                    {},
                                    {},
                                    mem,
                                    ""}));
    auto v = vault::Vault::Open({.dir = tmp_ + "/vault",
                                 .key_file = tmp_ + "/vault.key",
                                 .erasure_journal = tmp_ + "/vault.erasures",
                                 .store = mem});
    ASSERT_TRUE(v) << v.error().message;
    vault_ = std::move(*v);
    auto log =
        audit::AuditLog::Open(*vault_->Grant("audit", audit::kAuditSpaces),
                              crypto::SigningKey::FromSeed(vault_->keyring().audit_signing_seed()),
                              {.anchor_path = anchor_, .clock = &clock_});
    ASSERT_TRUE(log) << log.error().ToString();
    log_ = std::move(*log);
    approvals_ =
        std::make_unique<approval::Approvals>(*vault_->Grant("approval", approval::kApprovalSpaces),
                                              vault_->keyring().secrets_key(), clock_);
    gen::PeopleGenerator gen(9);
    for (int i = 0; i < 5; ++i) {
      gen::Person p;
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
      subjects_.push_back(ref->subject);
      records_.push_back(ref->id);
    }
  }
  void TearDown() override {
    approvals_.reset();
    log_.reset();
    vault_.reset();
    fs::remove_all(tmp_);
  }
  void Read(int person, std::vector<audit::FieldView> fields) {
    audit::Entry e;
    e.principal = "support";
    e.action = "read";
    e.collection = "people";
    e.record_id = records_[static_cast<size_t>(person)];
    e.subjects = {subjects_[static_cast<size_t>(person)]};
    e.fields = std::move(fields);
    e.outcome = "allowed";
    e.source = "https:127.0.0.1";
    ASSERT_TRUE(log_->Append(std::move(e)));
  }
  BreachReport Report() {
    EXPECT_TRUE(log_->Checkpoint());
    auto r = BuildBreachReport(
        log_->reader(), vault_->schema(), anchor_,
        {.principal = "support", .from_ms = 1'700'000'000'000, .to_ms = 1'900'000'000'999},
        clock_.NowUnixMillis());
    EXPECT_TRUE(r && r->verification.ok);
    return *r;
  }
  std::string Approved(const BreachQuery& q) {
    auto a = approvals_->Request(approval::kBreachNotification, NotificationParams(q), "alice");
    EXPECT_TRUE(a) << a.error().ToString();
    EXPECT_TRUE(approvals_->Approve(a->id, "bob"));
    return a->id;
  }
  NotificationOptions Options(const std::string& id, const std::string& out) {
    return {.approval_id = id,
            .recipient_public_key = crypto::BoxPublicKey(secret_),
            .out_path = out,
            .source = "cli:uid=1000",
            .page_people = 2};
  }

  FakeClock clock_{1'800'000'000};
  crypto::SecretKey secret_ = crypto::SecretKey::Random();
  std::string tmp_, anchor_;
  std::vector<std::string> subjects_, records_;
  std::unique_ptr<vault::Vault> vault_;
  std::unique_ptr<audit::AuditLog> log_;
  std::unique_ptr<approval::Approvals> approvals_;
};

TEST_F(NotificationFileTest, ListsTheContactChannelsOfExactlyTheExposedPeople) {
  Read(0, {{"first_name", 'c'}, {"email", 'm'}});
  Read(2, {{"iban", 'c'}});
  Read(3, {{"phone", 'm'}});
  ASSERT_TRUE(vault_->EraseSubject(subjects_[3]));  // erased since
  BreachReport r = Report();
  ASSERT_EQ(r.subjects.size(), 3u);
  const std::string out = tmp_ + "/notify.sealed";
  auto written =
      WriteNotificationFile(*vault_, *log_, *approvals_, r, Options(Approved(r.query), out));
  ASSERT_TRUE(written) << written.error().ToString();
  EXPECT_EQ(written->people, 3u);
  EXPECT_EQ(written->reachable, 2u);
  EXPECT_EQ(written->erased, 1u);

  std::string plain;
  ASSERT_TRUE(crypto::OpenSealedFile(out, secret_, [&](std::string_view p) {
    plain.append(p);
    return Ok();
  }));
  std::vector<json::object> lines;
  for (size_t at = 0; at < plain.size();) {
    size_t nl = plain.find('\n', at);
    lines.push_back(json::parse(plain.substr(at, nl - at)).as_object());
    at = nl + 1;
  }
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0].at("people").as_int64(), 3);
  EXPECT_EQ(lines[0].at("principal").as_string(), "support");
  std::map<std::string, json::object> by_subject;
  for (size_t i = 1; i < lines.size(); ++i)
    by_subject[std::string(lines[i].at("subject").as_string())] = lines[i];
  auto person0 = vault_->Get("people", records_[0]);
  ASSERT_TRUE(person0);
  const json::object& l0 = by_subject.at(ToHex(subjects_[0]));
  const json::object& contact = l0.at("contact").as_object();
  EXPECT_EQ(contact.size(), 3u);  // email, phone, postal address; nothing else
  for (const auto& f : person0->fields) {
    if (f.name == "email" || f.name == "phone" || f.name == "postal_address") {
      EXPECT_EQ(contact.at("people." + f.name).as_string(), f.value) << f.name;
    }
  }
  EXPECT_EQ(l0.at("exposed").at("people.email").as_string(), "masked");
  EXPECT_EQ(l0.at("exposed").at("people.first_name").as_string(), "clear");
  EXPECT_TRUE(by_subject.at(ToHex(subjects_[3])).at("erased").as_bool());
  EXPECT_FALSE(by_subject.contains(ToHex(subjects_[1])));

  // The decryptions are in the audit log, as reads by local.
  std::set<std::string> audited;
  ASSERT_TRUE(log_->Query({.principal = "local"}, [&](const audit::Entry& e) {
    if (e.action != "read") return true;
    EXPECT_NE(e.reason.find("breach notification"), std::string::npos);
    for (const auto& f : e.fields) {
      EXPECT_TRUE(f.field == "people.email" || f.field == "people.phone" ||
                  f.field == "people.postal_address")
          << f.field;
    }
    audited.insert(e.subjects.begin(), e.subjects.end());
    return true;
  }));
  EXPECT_EQ(audited, (std::set<std::string>{subjects_[0], subjects_[2]}));
}

TEST_F(NotificationFileTest, NeedsAnApprovalForThisVeryReport) {
  Read(0, {{"email", 'm'}});
  BreachReport r = Report();
  BreachQuery other = r.query;
  other.to_ms += 1000;
  auto wrong =
      WriteNotificationFile(*vault_, *log_, *approvals_, r, Options(Approved(other), tmp_ + "/a"));
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, ErrorCode::kPermissionDenied);
  EXPECT_FALSE(fs::exists(tmp_ + "/a"));
  auto pending =
      approvals_->Request(approval::kBreachNotification, NotificationParams(r.query), "alice");
  ASSERT_TRUE(pending);
  EXPECT_EQ(WriteNotificationFile(*vault_, *log_, *approvals_, r, Options(pending->id, tmp_ + "/b"))
                .error()
                .code,
            ErrorCode::kPermissionDenied);
  BreachReport tampered = r;
  tampered.verification.ok = false;
  EXPECT_EQ(WriteNotificationFile(*vault_, *log_, *approvals_, tampered,
                                  Options(Approved(r.query), tmp_ + "/c"))
                .error()
                .code,
            ErrorCode::kDataLoss);
}

}  // namespace
}  // namespace coffre::report
