// The runner over a real vault, directory and audit log: local callers,
// token callers, the decision, the screen, deferred audit.
#include "app/runner.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "app/operations.h"
#include "common/bytes.h"
#include "crypto/crypto.h"
#include "gen/people_gen.h"
#include "vault/record_json.h"

namespace coffre::app {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

class RunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto::Init());
    tmp_ = fs::temp_directory_path() /
           ("coffre-runner-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(tmp_);
    fs::create_directories(tmp_);
    const std::string src = COFFRE_SOURCE_DIR;
    auto schema = schema::Schema::LoadFile(src + "/examples/people.toml");
    ASSERT_TRUE(schema) << schema.error().message;
    auto pol = policy::Policy::LoadFile(src + "/examples/people-policy.toml", *schema);
    ASSERT_TRUE(pol) << pol.error().message;
    policy_ = std::make_shared<const policy::Policy>(std::move(*pol));
    ASSERT_TRUE(vault::Vault::Init({.dir = (tmp_ / "v").string(),
                                    .schema_path = src + "/examples/people.toml",
                                    .key_file = tmp_ / "v.key",
                                    .erasure_journal = ""}));
    auto v = vault::Vault::Open({.dir = (tmp_ / "v").string(), .key_file = tmp_ / "v.key"});
    ASSERT_TRUE(v) << v.error().message;
    vault_ = std::move(*v);
    directory_ = std::make_unique<auth::Directory>(
        *vault_->Grant("auth", auth::kDirectorySpaces), vault_->keyring().api_key_hash_key(),
        vault_->keyring().pepper(), clock_, crypto::kTestPasswordHashParams);
    audit::Options ao;
    ao.anchor_path = tmp_ / "v.audit-anchor";
    ao.clock = &clock_;
    auto log = audit::AuditLog::Open(
        *vault_->Grant("audit", audit::kAuditSpaces),
        crypto::SigningKey::FromSeed(vault_->keyring().audit_signing_seed()), ao);
    ASSERT_TRUE(log) << log.error().message;
    audit_ = std::move(*log);
    runner_ = std::make_unique<Runner>(Services{.vault = *vault_,
                                                .directory = *directory_,
                                                .audit = *audit_,
                                                .policy = [this] { return policy_; },
                                                .clock = clock_});
    gen::PeopleGenerator people(11);
    std::string line;
    people.NextNdjson(line);
    json::value storage;
    auto inputs = vault::FieldsFromJson(line, storage);
    ASSERT_TRUE(inputs);
    auto ref = vault_->Put("people", *inputs);
    ASSERT_TRUE(ref) << ref.error().message;
    id_ = ToHex(ref->id);
    subject_ = ref->subject;
  }

  void TearDown() override {
    runner_.reset();
    audit_.reset();
    directory_.reset();
    vault_.reset();
    fs::remove_all(tmp_);
  }

  std::vector<audit::Entry> Entries(std::string principal) {
    std::vector<audit::Entry> out;
    audit::Filter f;
    f.principal = std::move(principal);
    auto s = audit_->Query(f, [&](const audit::Entry& e) {
      out.push_back(e);
      return true;
    });
    EXPECT_TRUE(s);
    return out;
  }

  fs::path tmp_;
  FakeClock clock_{1795000000};
  std::shared_ptr<const policy::Policy> policy_;
  std::unique_ptr<vault::Vault> vault_;
  std::unique_ptr<auth::Directory> directory_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::unique_ptr<Runner> runner_;
  std::string id_;
  std::string subject_;
};

TEST_F(RunnerTest, LocalCallerReadsInClearAndIsAuditedAsLocal) {
  Caller me = Caller::Local(1234);
  Outcome out = runner_->Call(me, "record.get", {.collection = "people", .id = id_});
  ASSERT_TRUE(out.ok()) << out.failure->message;
  EXPECT_EQ(out.audited, "allowed");
  const json::object& fields = out.result.at("fields").as_object();
  const schema::Collection* people = vault_->schema().Find("people");
  ASSERT_NE(people, nullptr);
  auto stored = vault_->Get("people", *FromHex(id_));
  ASSERT_TRUE(stored);
  EXPECT_EQ(fields.size(), stored->fields.size()) << "a local caller sees every field";
  auto entries = Entries("local");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].action, "read");
  EXPECT_EQ(entries[0].outcome, "allowed");
  EXPECT_EQ(entries[0].source, "local:uid=1234");
  EXPECT_EQ(entries[0].subjects, std::vector<std::string>{subject_});
  EXPECT_EQ(entries[0].fields.size(), stored->fields.size());
  for (const audit::FieldView& f : entries[0].fields)
    EXPECT_EQ(f.view, audit::kViewClear) << f.field;
}

TEST_F(RunnerTest, UnknownOperationIsNotFoundAndNotAudited) {
  Outcome out = runner_->Call(Caller::Local(1), "record.frobnicate", {});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.failure->code, ErrorCode::kNotFound);
  EXPECT_EQ(out.failure->name, "not_found");
  EXPECT_TRUE(Entries("local").empty());
}

TEST_F(RunnerTest, FailuresAreAuditedAsErrorsWithTheirName) {
  Outcome out = runner_->Call(Caller::Local(1), "record.get", {.collection = "people", .id = "zz"});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.failure->name, "invalid_request");
  EXPECT_EQ(out.failure->code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(out.audited, "error");
  auto entries = Entries("local");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].outcome, "error");
  EXPECT_EQ(entries[0].reason, "invalid_request");
}

TEST_F(RunnerTest, SecurityCodesAreRefusedBeforeTheOperationRuns) {
  Outcome out = runner_->Call(
      Caller::Local(1), "record.search",
      {.collection = "people", .body = R"({"field":"email","value":"x","cvv":"123"})"});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.failure->name, "invalid_value");
  auto entries = Entries("local");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].action, "search");
  EXPECT_EQ(entries[0].reason, "invalid_value: security_code");
}

TEST_F(RunnerTest, TokenCallersAreDecidedByThePolicyAndDenialsAudited) {
  auto added = directory_->Add(
      {.name = "intake-app", .kind = auth::Kind::kService, .role = "support_agent"});
  ASSERT_TRUE(added) << added.error().message;
  Caller c;
  c.address = "192.0.2.1";
  c.source = "https:192.0.2.1";
  ASSERT_FALSE(runner_->Authenticate(c, added->api_key));
  EXPECT_EQ(c.principal.name, "intake-app");
  c.purpose = "support";
  const Operation* op = FindOperation("audit.list");
  ASSERT_NE(op, nullptr);
  Outcome out = runner_->Run(c, *op, {});
  ASSERT_FALSE(out.ok());
  EXPECT_TRUE(out.failure->denied());
  EXPECT_EQ(out.failure->name, "forbidden");
  auto entries = Entries("intake-app");
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].action, "audit.read");
  EXPECT_EQ(entries[0].outcome, "denied");

  Caller nobody;
  nobody.address = "192.0.2.1";
  auto refused = runner_->Authenticate(nobody, "coffre_ak_not-a-key");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->name, "unauthenticated");
}

TEST_F(RunnerTest, DeferredEntriesStayWithTheCaller) {
  std::vector<audit::Entry> deferred;
  Caller me = Caller::Local(7);
  me.deferred = &deferred;
  Outcome out = runner_->Call(me, "record.get", {.collection = "people", .id = id_});
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(deferred.size(), 1u);
  EXPECT_EQ(deferred[0].principal, "local");
  EXPECT_TRUE(Entries("local").empty()) << "nothing appended: the caller makes them durable";
}

}  // namespace
}  // namespace coffre::app
