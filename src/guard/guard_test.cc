// The guard over a real vault, directory and audit log: the hard limit
// suspends (stored, audited as "coffre", one critical alert however many
// requests race), the soft limit warns at soft+1, a user's limit suspends
// the user and not the service, canaries alert and suspend unless the role
// says "alert", the search cap answers quota_exceeded, denials warn, and
// alerts reach the webhook.
#include "guard/guard.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <thread>

#include "crypto/crypto.h"
#include "storage/memory_store.h"

namespace coffre::guard {
namespace {

namespace fs = std::filesystem;
const std::string kSource = COFFRE_SOURCE_DIR;
constexpr int64_t kStart = 1'800'000'000;

constexpr std::string_view kPolicy = R"(
[purposes]
support = "Support"
[roles.agent.collections.people]
actions = ["read", "search"]
purposes = ["support"]
fields = { "*" = "masked" }
[roles.agent.limits]
subjects = [ { window = "1h", soft = 3, hard = 5 } ]
searches = { window = "10m", max = 2 }
denials = { window = "10m", alert = 3 }
[roles.crm]
delegation = true
[roles.crm.collections.people]
actions = ["read"]
purposes = ["support"]
[roles.crm.limits]
subjects = [ { window = "1h", soft = 50, hard = 100 } ]
[roles.watcher.collections.people]
actions = ["read"]
purposes = ["support"]
[roles.watcher.limits]
on_canary = "alert"
[roles.batch.collections.people]
actions = ["read"]
purposes = ["support"]
)";

std::string Subject(uint64_t n) {
  std::string id(16, '\0');
  std::memcpy(id.data(), &n, 8);
  id[15] = 'g';
  return id;
}

class RecordingTransport final : public WebhookTransport {
 public:
  explicit RecordingTransport(std::shared_ptr<std::vector<std::string>> out,
                              std::shared_ptr<std::mutex> mu)
      : out_(std::move(out)), mu_(std::move(mu)) {}
  Status Post(std::string_view body) override {
    std::lock_guard lock(*mu_);
    out_->emplace_back(body);
    return Ok();
  }

 private:
  std::shared_ptr<std::vector<std::string>> out_;
  std::shared_ptr<std::mutex> mu_;
};

class GuardTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto::Init());
    char tmpl[] = "/tmp/coffre-guard-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
    // The vault's store in memory (storage/memory_store.h): no file needed.
    const storage::StoreOpener mem = storage::MemoryStoreOpener(storage::NewMemoryData());
    ASSERT_TRUE(vault::Vault::Init(
        {tmp_ + "/v", kSource + "/examples/people.toml", tmp_ + "/v.key", "", {}, {}, mem, ""}));
    auto v = vault::Vault::Open({.dir = tmp_ + "/v", .key_file = tmp_ + "/v.key", .store = mem});
    ASSERT_TRUE(v);
    vault_ = std::move(*v);
    auto p = policy::Policy::Parse(kPolicy, vault_->schema(), "test");
    ASSERT_TRUE(p) << p.error().message;
    policy_ = std::make_unique<policy::Policy>(std::move(*p));
    directory_ = std::make_unique<auth::Directory>(
        *vault_->Grant("auth", auth::kDirectorySpaces), vault_->keyring().api_key_hash_key(),
        vault_->keyring().pepper(), clock_, crypto::kTestPasswordHashParams);
    for (auto [name, kind, role] : {std::tuple{"agent-app", auth::Kind::kService, "agent"},
                                    std::tuple{"crm-app", auth::Kind::kService, "crm"},
                                    std::tuple{"alice", auth::Kind::kUser, "agent"},
                                    std::tuple{"watch-app", auth::Kind::kService, "watcher"},
                                    std::tuple{"batch-app", auth::Kind::kService, "batch"}}) {
      ASSERT_TRUE(directory_->Add({.name = name, .kind = kind, .role = role}));
    }
    auto audit =
        audit::AuditLog::Open(*vault_->Grant("audit", audit::kAuditSpaces),
                              crypto::SigningKey::FromSeed(vault_->keyring().audit_signing_seed()),
                              {.anchor_path = tmp_ + "/anchor", .clock = &clock_});
    ASSERT_TRUE(audit) << audit.error().ToString();
    audit_ = std::move(*audit);
    posted_ = std::make_shared<std::vector<std::string>>();
    posted_mu_ = std::make_shared<std::mutex>();
    WebhookOptions wo;
    wo.transport = std::make_unique<RecordingTransport>(posted_, posted_mu_);
    auto g = Guard::Open({.vault = *vault_,
                          .directory = *directory_,
                          .audit = *audit_,
                          .clock = clock_,
                          .alerts = *vault_->Grant("guard", kAlertSpaces),
                          .webhook = std::move(wo),
                          .log = [this](std::string_view m) { logs_.emplace_back(m); }});
    ASSERT_TRUE(g) << g.error().ToString();
    guard_ = std::move(*g);
  }
  void TearDown() override {
    guard_.reset();
    audit_.reset();
    directory_.reset();
    vault_.reset();
    fs::remove_all(tmp_);
  }

  std::vector<Alert> Alerts() {
    std::vector<Alert> out;
    EXPECT_TRUE(guard_->alerts().List({}, [&](const Alert& a) {
      out.push_back(a);
      return true;
    }));
    return out;
  }
  bool Suspended(std::string_view name) {
    auto p = directory_->Get(name);
    EXPECT_TRUE(p);
    return p && p->suspended;
  }
  std::vector<audit::Entry> EntriesBy(std::string_view principal) {
    std::vector<audit::Entry> out;
    EXPECT_TRUE(audit_->Query({.principal = std::string(principal)}, [&](const audit::Entry& e) {
      out.push_back(e);
      return true;
    }));
    return out;
  }
  Verdict Read(const Requester& who, uint64_t n) {
    std::vector<std::string> s = {Subject(n)};
    return guard_->Expose(*policy_, who, s);
  }

  std::string tmp_;
  FakeClock clock_{kStart};
  std::unique_ptr<vault::Vault> vault_;
  std::unique_ptr<policy::Policy> policy_;
  std::unique_ptr<auth::Directory> directory_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::shared_ptr<std::vector<std::string>> posted_;
  std::shared_ptr<std::mutex> posted_mu_;
  std::vector<std::string> logs_;
  std::unique_ptr<Guard> guard_;
  const Requester agent_{{"agent-app", "agent"}, std::nullopt};
};

TEST_F(GuardTest, SoftWarnsAtSoftPlusOneAndHardSuspendsStoredAndAudited) {
  for (uint64_t i = 1; i <= 3; ++i) EXPECT_TRUE(Read(agent_, i).allowed());
  EXPECT_TRUE(Alerts().empty());
  EXPECT_TRUE(Read(agent_, 4).allowed());
  auto alerts = Alerts();
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].kind, AlertKind::kQuotaSoft);
  EXPECT_EQ(alerts[0].severity, Severity::kWarning);
  EXPECT_EQ(alerts[0].count, 4u);
  EXPECT_EQ(alerts[0].limit, 3u);
  EXPECT_EQ(alerts[0].window, "1h");
  EXPECT_EQ(alerts[0].principal, "agent-app");
  EXPECT_FALSE(alerts[0].user);
  EXPECT_FALSE(alerts[0].suspended);
  EXPECT_TRUE(Read(agent_, 5).allowed());
  EXPECT_TRUE(Read(agent_, 1).allowed());  // a re-read at the limit
  EXPECT_FALSE(Suspended("agent-app"));

  Verdict refused = Read(agent_, 6);
  ASSERT_EQ(refused.kind, Verdict::kSuspended);
  EXPECT_NE(refused.message.find("hard limit of role 'agent' (5 people per 1h)"), std::string::npos)
      << refused.message;
  EXPECT_TRUE(Suspended("agent-app"));
  alerts = Alerts();
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_EQ(alerts[1].kind, AlertKind::kQuotaHard);
  EXPECT_EQ(alerts[1].severity, Severity::kCritical);
  EXPECT_EQ(alerts[1].count, 6u);
  EXPECT_EQ(alerts[1].limit, 5u);
  EXPECT_TRUE(alerts[1].suspended);
  auto by_guard = EntriesBy(kGuardPrincipal);
  ASSERT_EQ(by_guard.size(), 1u);
  EXPECT_EQ(by_guard[0].action, "principal.suspend");
  EXPECT_EQ(by_guard[0].outcome, "allowed");
  EXPECT_NE(by_guard[0].reason.find("'agent-app'"), std::string::npos) << by_guard[0].reason;

  // Still refused (the directory refuses it at authentication anyway); no
  // second suspension, audit entry or alert.
  EXPECT_EQ(Read(agent_, 7).kind, Verdict::kSuspended);
  EXPECT_EQ(Alerts().size(), 2u);
  EXPECT_EQ(EntriesBy(kGuardPrincipal).size(), 1u);
  // The webhook got both alerts, as stored.
  for (int i = 0; i < 400; ++i) {
    if (guard_->webhook()->stats().delivered == 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::lock_guard lock(*posted_mu_);
  ASSERT_EQ(posted_->size(), 2u);
  EXPECT_EQ((*posted_)[1], AlertToJson(alerts[1]));
}

TEST_F(GuardTest, RacingRefusalsSuspendAndAlertOnce) {
  for (uint64_t i = 1; i <= 5; ++i) ASSERT_TRUE(Read(agent_, i).allowed());
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] { refused += Read(agent_, 100 + t).kind == Verdict::kSuspended; });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(refused.load(), 8);
  size_t hard = 0;
  for (const Alert& a : Alerts()) hard += a.kind == AlertKind::kQuotaHard;
  EXPECT_EQ(hard, 1u);
  EXPECT_EQ(EntriesBy(kGuardPrincipal).size(), 1u);
}

TEST_F(GuardTest, AUsersHardLimitSuspendsTheUserNotTheService) {
  const Requester crm_for_alice{{"crm-app", "crm"}, Party{"alice", "agent"}};
  for (uint64_t i = 1; i <= 5; ++i) ASSERT_TRUE(Read(crm_for_alice, i).allowed());
  Verdict v = Read(crm_for_alice, 6);
  ASSERT_EQ(v.kind, Verdict::kSuspended);
  EXPECT_EQ(v.message.rfind("the on-behalf-of user", 0), 0u) << v.message;
  EXPECT_TRUE(Suspended("alice"));
  EXPECT_FALSE(Suspended("crm-app"));
  auto alerts = Alerts();
  ASSERT_FALSE(alerts.empty());
  EXPECT_EQ(alerts.back().kind, AlertKind::kQuotaHard);
  EXPECT_EQ(alerts.back().principal, "crm-app");
  EXPECT_EQ(alerts.back().user, "alice");
  EXPECT_NE(alerts.back().detail.find("user 'alice' (role 'agent')"), std::string::npos)
      << alerts.back().detail;
  // The service's own count was not charged for the refused request.
  EXPECT_EQ(guard_->quotas().ExposedCounts("crm-app", *policy_->LimitsOf("crm")),
            std::vector<size_t>{5});
}

TEST_F(GuardTest, CanariesAlertAndSuspendUnlessTheRoleSaysAlert) {
  auto added = guard_->AddCanaries("people", 2, "");
  ASSERT_TRUE(added) << added.error().ToString();
  EXPECT_EQ(*added, 2u);
  ASSERT_EQ(guard_->canaries().size(), 2u);
  std::vector<std::string> canary;
  ASSERT_TRUE(vault_->GetSecret(kCanariesSecret));
  std::string ids = **vault_->GetSecret(kCanariesSecret);
  canary = {ids.substr(0, 16)};

  const Requester watcher{{"watch-app", "watcher"}, std::nullopt};
  EXPECT_TRUE(guard_->Expose(*policy_, watcher, canary).allowed());
  EXPECT_FALSE(Suspended("watch-app"));
  auto alerts = Alerts();
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].kind, AlertKind::kCanary);
  EXPECT_EQ(alerts[0].severity, Severity::kCritical);
  EXPECT_FALSE(alerts[0].suspended);
  // The alert never names the canary.
  EXPECT_EQ(AlertToJson(alerts[0]).find(canary[0]), std::string::npos);

  // A role without limits (and one with): suspended, the response allowed.
  const Requester batch{{"batch-app", "batch"}, std::nullopt};
  std::vector<std::string> mixed = {Subject(1), canary[0]};
  EXPECT_TRUE(guard_->Expose(*policy_, batch, mixed).allowed());
  EXPECT_TRUE(Suspended("batch-app"));
  alerts = Alerts();
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_TRUE(alerts[1].suspended);
  EXPECT_EQ(alerts[1].count, 1u);
  // On behalf of a user: both suspended.
  const Requester crm_for_alice{{"crm-app", "crm"}, Party{"alice", "agent"}};
  EXPECT_TRUE(guard_->Expose(*policy_, crm_for_alice, canary).allowed());
  EXPECT_TRUE(Suspended("crm-app"));
  EXPECT_TRUE(Suspended("alice"));
  EXPECT_EQ(EntriesBy(kGuardPrincipal).size(), 3u);
}

TEST_F(GuardTest, SearchCapRefusesWithRetryAfterAndWarnsOnce) {
  EXPECT_TRUE(guard_->ChargeSearch(*policy_, agent_).allowed());
  EXPECT_TRUE(guard_->ChargeSearch(*policy_, agent_).allowed());
  Verdict v = guard_->ChargeSearch(*policy_, agent_);
  ASSERT_EQ(v.kind, Verdict::kQuotaExceeded);
  EXPECT_EQ(v.retry_after_seconds, 600);
  EXPECT_NE(v.message.find("search cap of role 'agent' (2 searches per 10m)"), std::string::npos)
      << v.message;
  EXPECT_EQ(guard_->ChargeSearch(*policy_, agent_).kind, Verdict::kQuotaExceeded);
  auto alerts = Alerts();
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].kind, AlertKind::kSearchCap);
  EXPECT_EQ(alerts[0].limit, 2u);
  EXPECT_FALSE(Suspended("agent-app"));
  clock_.Advance(600);
  EXPECT_TRUE(guard_->ChargeSearch(*policy_, agent_).allowed());
}

TEST_F(GuardTest, DenialsWarnAtTheThreshold) {
  guard_->CountDenial(*policy_, agent_);
  guard_->CountDenial(*policy_, agent_);
  EXPECT_TRUE(Alerts().empty());
  guard_->CountDenial(*policy_, agent_);
  auto alerts = Alerts();
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].kind, AlertKind::kDenials);
  EXPECT_EQ(alerts[0].count, 3u);
  EXPECT_EQ(alerts[0].window, "10m");
  guard_->CountDenial(*policy_, agent_);
  EXPECT_EQ(Alerts().size(), 1u);
  // Roles without a threshold count nothing.
  const Requester batch{{"batch-app", "batch"}, std::nullopt};
  for (int i = 0; i < 10; ++i) guard_->CountDenial(*policy_, batch);
  EXPECT_EQ(Alerts().size(), 1u);
}

TEST_F(GuardTest, UnlimitedRolesAreNotCounted) {
  const Requester batch{{"batch-app", "batch"}, std::nullopt};
  for (uint64_t i = 1; i <= 50; ++i) EXPECT_TRUE(Read(batch, i).allowed());
  EXPECT_TRUE(Alerts().empty());
  EXPECT_EQ(guard_->quotas().TrackedNames(), 0u);
}

}  // namespace
}  // namespace coffre::guard
