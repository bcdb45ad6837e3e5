// The guard on a shared store (a cluster; docs/adr/0042-guard-across-nodes.md):
// two nodes, each with its own QuotaTracker (or its own vault, directory,
// audit log and Guard) on one shared MemoryData, as two processes on one
// PostgreSQL database. Threads hammering both nodes with distinct subjects
// get exactly `hard` through, and one suspension; the suspension holds on
// the other node from its next request; the search cap is exact across
// nodes; alerts are numbered in one sequence; a canary added on one node is
// recognised on the other; an embedded store keeps the in-memory path.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>

#include "crypto/crypto.h"
#include "guard/guard.h"
#include "guard/quota_tracker.h"
#include "storage/memory_store.h"

namespace coffre::guard {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kStart = 1'800'000'000;

std::string Subject(uint64_t n) {
  std::string id(16, '\0');
  std::memcpy(id.data(), &n, 8);
  id[15] = 'c';
  return id;
}

policy::Limits SubjectLimits(uint64_t soft, uint64_t hard) {
  policy::Limits l;
  l.subjects = {{3600, "1h", soft, hard}};
  return l;
}

// Two nodes' stores on one data set.
struct TwoStores {
  std::shared_ptr<storage::MemoryData> data = storage::NewMemoryData();
  std::unique_ptr<storage::Store> a = *storage::OpenMemoryStore({.data = data, .shared = true});
  std::unique_ptr<storage::Store> b = *storage::OpenMemoryStore({.data = data, .shared = true});
  storage::SpaceHandle HandleA() { return storage::SpaceHandle(*a, "guard", kAlertSpaces); }
  storage::SpaceHandle HandleB() { return storage::SpaceHandle(*b, "guard", kAlertSpaces); }
};

ExposureOutcome Expose(QuotaTracker& q, std::string_view name, const policy::Limits& l,
                       std::vector<std::string> subjects) {
  Counted who[] = {{name, &l}};
  return q.ChargeSubjects(who, subjects);
}

TEST(SharedQuotaTracker, ThreadsOnTwoNodesExposeExactlyHardAndSuspendOnce) {
  TwoStores stores;
  FakeClock clock(kStart);
  QuotaTracker node_a(clock, stores.HandleA());
  QuotaTracker node_b(clock, stores.HandleB());
  ASSERT_TRUE(node_a.shared());
  ASSERT_TRUE(node_b.shared());
  constexpr uint64_t kHard = 40;
  constexpr uint64_t kRequests = 200;
  const policy::Limits l = SubjectLimits(30, kHard);
  std::atomic<uint64_t> next{1}, exposed{0}, hard{0}, suspended{0}, errors{0};
  auto hammer = [&](QuotaTracker& q) {
    for (uint64_t n; (n = next.fetch_add(1)) <= kRequests;) {
      ExposureOutcome out = Expose(q, "spread-app", l, {Subject(n)});
      if (out.error) ++errors;
      if (!out.refused()) ++exposed;
      if (!out.hard.empty()) ++hard;
      if (!out.suspended.empty()) ++suspended;
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(8);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back(hammer, std::ref(node_a));
    threads.emplace_back(hammer, std::ref(node_b));
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0u);
  EXPECT_EQ(exposed.load(), kHard);
  // One request crossed the limit and committed the suspension; every later
  // one, on either node, found it.
  EXPECT_EQ(hard.load(), 1u);
  EXPECT_EQ(suspended.load(), kRequests - kHard - 1);
  EXPECT_EQ(node_a.ExposedCounts("spread-app", l), std::vector<size_t>{kHard});
  EXPECT_EQ(node_b.ExposedCounts("spread-app", l), std::vector<size_t>{kHard});
  EXPECT_EQ(*node_a.IsSuspended("spread-app"), true);
  EXPECT_EQ(*node_b.IsSuspended("spread-app"), true);
}

TEST(SharedQuotaTracker, OneWindowAcrossNodesWithTheSameRulesAsOneNode) {
  TwoStores stores;
  FakeClock clock(kStart);
  QuotaTracker a(clock, stores.HandleA());
  QuotaTracker b(clock, stores.HandleB());
  const policy::Limits l = SubjectLimits(2, 4);
  EXPECT_FALSE(Expose(a, "app", l, {Subject(1)}).refused());
  // A re-read on the other node is free.
  ExposureOutcome again = Expose(b, "app", l, {Subject(1)});
  EXPECT_FALSE(again.refused());
  EXPECT_TRUE(again.soft.empty());
  EXPECT_TRUE(Expose(b, "app", l, {Subject(2)}).soft.empty());
  // The soft crossing is seen once, whichever node makes it.
  EXPECT_EQ(Expose(a, "app", l, {Subject(3)}).soft.size(), 1u);
  EXPECT_TRUE(Expose(b, "app", l, {Subject(4)}).soft.empty());
  EXPECT_EQ(a.ExposedCounts("app", l), std::vector<size_t>{4});
  EXPECT_EQ(b.UsageOf("app", l).subjects, std::vector<uint64_t>{4});
  EXPECT_EQ(a.TrackedNames(), 1u);
  // The window ends for both nodes.
  clock.Advance(3600);
  EXPECT_EQ(b.ExposedCounts("app", l), std::vector<size_t>{0});
  for (uint64_t i = 10; i < 14; ++i)
    EXPECT_FALSE(Expose(i % 2 ? a : b, "app", l, {Subject(i)}).refused());
  // Over the limit: refused on A, nothing counted, suspended everywhere.
  ExposureOutcome over = Expose(a, "app", l, {Subject(20)});
  ASSERT_EQ(over.hard.size(), 1u);
  EXPECT_EQ(over.hard[0].count, 5u);
  EXPECT_EQ(b.ExposedCounts("app", l), std::vector<size_t>{4});
  ExposureOutcome reread = Expose(b, "app", l, {Subject(10)});
  EXPECT_EQ(reread.suspended, std::vector<size_t>{0});
  EXPECT_TRUE(reread.refused());
  // `principal resume` (Forget) on B lifts it for A too, with empty windows.
  ASSERT_TRUE(b.Forget("app"));
  EXPECT_FALSE(*a.IsSuspended("app"));
  EXPECT_FALSE(Expose(a, "app", l, {Subject(21)}).refused());
  EXPECT_EQ(b.ExposedCounts("app", l), std::vector<size_t>{1});
}

TEST(SharedQuotaTracker, AUsersLimitIsCountedWithThePrincipalsInOneStep) {
  TwoStores stores;
  FakeClock clock(kStart);
  QuotaTracker a(clock, stores.HandleA());
  QuotaTracker b(clock, stores.HandleB());
  const policy::Limits service = SubjectLimits(50, 100);
  const policy::Limits user = SubjectLimits(1, 2);
  Counted who[] = {{"crm-app", &service}, {"alice", &user}};
  std::vector<std::string> s1 = {Subject(1)}, s2 = {Subject(2)}, s3 = {Subject(3)};
  EXPECT_FALSE(a.ChargeSubjects(who, s1).refused());
  EXPECT_FALSE(b.ChargeSubjects(who, s2).refused());
  ExposureOutcome over = a.ChargeSubjects(who, s3);
  ASSERT_EQ(over.hard.size(), 1u);
  EXPECT_EQ(over.hard[0].who, 1u);
  // The service's count did not move, and only the user is suspended.
  EXPECT_EQ(b.ExposedCounts("crm-app", service), std::vector<size_t>{2});
  EXPECT_FALSE(*b.IsSuspended("crm-app"));
  EXPECT_TRUE(*b.IsSuspended("alice"));
}

TEST(SharedQuotaTracker, SearchCapIsExactAcrossNodes) {
  TwoStores stores;
  FakeClock clock(kStart);
  QuotaTracker a(clock, stores.HandleA());
  QuotaTracker b(clock, stores.HandleB());
  policy::Limits l;
  l.searches = policy::SearchCap{600, "10m", 25};
  Counted who[] = {{"searcher", &l}};
  std::atomic<int> allowed{0}, alerts{0};
  auto hammer = [&](QuotaTracker& q) {
    for (int i = 0; i < 30; ++i) {
      SearchOutcome out = q.ChargeSearch(who);
      if (!out.refused()) ++allowed;
      alerts += static_cast<int>(out.alerts.size());
    }
  };
  std::thread t1(hammer, std::ref(a)), t2(hammer, std::ref(b)), t3(hammer, std::ref(a));
  t1.join();
  t2.join();
  t3.join();
  EXPECT_EQ(allowed.load(), 25);
  EXPECT_EQ(alerts.load(), 1);  // the first refusal of the window, on one node
  EXPECT_EQ(b.UsageOf("searcher", l).searches, 25u);
}

TEST(SharedQuotaTracker, DenialThresholdIsCountedAcrossNodes) {
  TwoStores stores;
  FakeClock clock(kStart);
  QuotaTracker a(clock, stores.HandleA());
  QuotaTracker b(clock, stores.HandleB());
  policy::Limits l;
  l.denials = policy::DenialAlert{600, "10m", 3};
  Counted who[] = {{"prober", &l}};
  EXPECT_TRUE(a.CountDenial(who).empty());
  EXPECT_TRUE(b.CountDenial(who).empty());
  EXPECT_EQ(a.CountDenial(who).size(), 1u);
  EXPECT_TRUE(b.CountDenial(who).empty());
}

TEST(SharedQuotaTracker, AMalformedStoredStateRefusesRatherThanCounting) {
  TwoStores stores;
  FakeClock clock(kStart);
  QuotaTracker a(clock, stores.HandleA());
  auto batch = stores.b->NewBatch();
  batch->Put(storage::Space::kCounters, "quota/app", "\x07garbage");
  ASSERT_TRUE(stores.b->Write(*batch));
  const policy::Limits l = SubjectLimits(2, 4);
  ExposureOutcome out = Expose(a, "app", l, {Subject(1)});
  ASSERT_TRUE(out.error);
  EXPECT_EQ(out.error->code, ErrorCode::kDataLoss);
  EXPECT_TRUE(out.refused());
}

TEST(SharedQuotaTracker, AnEmbeddedStoreKeepsTheCountsInMemory) {
  auto data = storage::NewMemoryData();
  auto store = storage::OpenMemoryStore({.data = data});
  ASSERT_TRUE(store);
  FakeClock clock(kStart);
  QuotaTracker q(clock, storage::SpaceHandle(**store, "guard", kAlertSpaces));
  EXPECT_FALSE(q.shared());
  const policy::Limits l = SubjectLimits(1, 2);
  EXPECT_FALSE(Expose(q, "app", l, {Subject(1)}).refused());
  EXPECT_FALSE(Expose(q, "app", l, {Subject(2)}).refused());
  EXPECT_EQ(Expose(q, "app", l, {Subject(3)}).hard.size(), 1u);
  EXPECT_FALSE(*q.IsSuspended("app"));  // the directory's flag is the only one
  size_t stored = 0;
  ASSERT_TRUE(
      (*store)->Scan(storage::Space::kCounters, "", [&](std::string_view, std::string_view) {
        ++stored;
        return true;
      }));
  EXPECT_EQ(stored, 0u);
}

// A timing note, not a check (run with --gtest_also_run_disabled_tests):
// microseconds per charge, in memory and on the shared memory store, with
// a window already holding `fill` subjects; a new subject each time, then
// a re-read (no write). docs/adr/0042-guard-across-nodes.md quotes it.
TEST(SharedQuotaTracker, DISABLED_ChargeCost) {
  for (uint64_t fill : {0, 100, 1000, 5000}) {
    for (bool shared : {false, true}) {
      TwoStores stores;
      auto embedded = storage::OpenMemoryStore({.data = storage::NewMemoryData()});
      FakeClock clock(kStart);
      QuotaTracker q(clock, shared ? stores.HandleA()
                                   : storage::SpaceHandle(**embedded, "guard", kAlertSpaces));
      const policy::Limits l = SubjectLimits(1'000'000, 1'000'000);
      for (uint64_t i = 0; i < fill; ++i) (void)Expose(q, "app", l, {Subject(1'000'000 + i)});
      constexpr int kRuns = 500;
      auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < kRuns; ++i)
        (void)Expose(q, "app", l, {Subject(i % 2 ? 1 : 2'000'000 + i)});
      auto t1 = std::chrono::steady_clock::now();
      for (int i = 0; i < kRuns; ++i) (void)Expose(q, "app", l, {Subject(1)});
      auto t2 = std::chrono::steady_clock::now();
      auto us = [](auto d) { return std::chrono::duration<double, std::micro>(d).count() / kRuns; };
      std::printf("fill %5llu %-8s new/re-read mix %8.1f us   re-read %8.1f us\n",
                  static_cast<unsigned long long>(fill), shared ? "shared" : "memory", us(t1 - t0),
                  us(t2 - t1));
    }
  }
}

// ---------------------------------------------------------------- guards

constexpr std::string_view kPolicy = R"(
[purposes]
support = "Support"
[roles.agent.collections.people]
actions = ["read", "search"]
purposes = ["support"]
fields = { "*" = "masked" }
[roles.agent.limits]
subjects = [ { window = "1h", soft = 3, hard = 5 } ]
)";

// One node: its own vault, directory, audit log and guard on the shared data.
struct Node {
  std::unique_ptr<vault::Vault> vault;
  std::unique_ptr<auth::Directory> directory;
  std::unique_ptr<audit::AuditLog> audit;
  std::unique_ptr<Guard> guard;
  std::vector<std::string> logs;
};

class GuardClusterTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto::Init());
    char tmpl[] = "/tmp/coffre-guard-cluster-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
    const storage::StoreOpener shared = storage::MemoryStoreOpener(data_, /*shared=*/true);
    ASSERT_TRUE(vault::Vault::Init({tmp_ + "/v",
                                    std::string(COFFRE_SOURCE_DIR) + "/examples/people.toml",
                                    tmp_ + "/v.key",
                                    "",
                                    {},
                                    {},
                                    shared,
                                    ""}));
    for (int i = 0; i < 2; ++i) {
      Node& n = nodes_[i];
      auto v =
          vault::Vault::Open({.dir = tmp_ + "/v", .key_file = tmp_ + "/v.key", .store = shared});
      ASSERT_TRUE(v) << v.error().ToString();
      n.vault = std::move(*v);
      n.directory = std::make_unique<auth::Directory>(
          *n.vault->Grant("auth", auth::kDirectorySpaces), n.vault->keyring().api_key_hash_key(),
          n.vault->keyring().pepper(), clock_, crypto::kTestPasswordHashParams);
      if (i == 0) {
        ASSERT_TRUE(
            n.directory->Add({.name = "agent-app", .kind = auth::Kind::kService, .role = "agent"}));
      }
      auto audit = audit::AuditLog::Open(
          *n.vault->Grant("audit", audit::kAuditSpaces),
          crypto::SigningKey::FromSeed(n.vault->keyring().audit_signing_seed()),
          {.anchor_path = tmp_ + "/anchor" + std::to_string(i), .clock = &clock_});
      ASSERT_TRUE(audit) << audit.error().ToString();
      n.audit = std::move(*audit);
      auto g = Guard::Open({.vault = *n.vault,
                            .directory = *n.directory,
                            .audit = *n.audit,
                            .clock = clock_,
                            .alerts = *n.vault->Grant("guard", kAlertSpaces),
                            .log = [&n](std::string_view m) { n.logs.emplace_back(m); }});
      ASSERT_TRUE(g) << g.error().ToString();
      n.guard = std::move(*g);
    }
    auto p = policy::Policy::Parse(kPolicy, nodes_[0].vault->schema(), "test");
    ASSERT_TRUE(p) << p.error().message;
    policy_ = std::make_unique<policy::Policy>(std::move(*p));
  }
  void TearDown() override {
    for (Node& n : nodes_) {
      n.guard.reset();
      n.audit.reset();
      n.directory.reset();
      n.vault.reset();
    }
    fs::remove_all(tmp_);
  }
  Verdict Read(int node, uint64_t subject) {
    std::vector<std::string> s = {Subject(subject)};
    return nodes_[node].guard->Expose(*policy_, agent_, s);
  }
  std::vector<Alert> Alerts(int node) {
    std::vector<Alert> out;
    EXPECT_TRUE(nodes_[node].guard->alerts().List({}, [&](const Alert& a) {
      out.push_back(a);
      return true;
    }));
    return out;
  }

  std::shared_ptr<storage::MemoryData> data_ = storage::NewMemoryData();
  std::string tmp_;
  FakeClock clock_{kStart};
  std::array<Node, 2> nodes_;
  std::unique_ptr<policy::Policy> policy_;
  const Requester agent_{{"agent-app", "agent"}, std::nullopt};
};

TEST_F(GuardClusterTest, ASuspensionOnOneNodeRefusesOnTheOtherAtOnce) {
  // Node B has read the principal before (its directory may cache it).
  ASSERT_TRUE(nodes_[1].directory->Get("agent-app"));
  for (uint64_t i = 1; i <= 5; ++i) EXPECT_TRUE(Read(i % 2, i).allowed()) << i;
  ASSERT_FALSE(*nodes_[1].guard->IsSuspended("agent-app"));
  Verdict refused = Read(0, 6);
  ASSERT_EQ(refused.kind, Verdict::kSuspended);
  // Committed before the refusal returned: node B's next request sees it,
  // a re-read included (which its quota alone would have let through).
  EXPECT_TRUE(*nodes_[1].guard->IsSuspended("agent-app"));
  EXPECT_EQ(Read(1, 1).kind, Verdict::kSuspended);
  // The directory's record is suspended too (node A wrote it).
  auto fresh = nodes_[0].directory->Get("agent-app");
  ASSERT_TRUE(fresh);
  EXPECT_TRUE(fresh->suspended);
  // One critical alert, which both nodes list.
  std::vector<Alert> a = Alerts(0), b = Alerts(1);
  ASSERT_EQ(a.size(), b.size());
  size_t hard = 0;
  for (const Alert& x : b) hard += x.kind == AlertKind::kQuotaHard;
  EXPECT_EQ(hard, 1u);
  // Resumed (Forget) on B: A serves it again.
  ASSERT_TRUE(nodes_[1].guard->quotas().Forget("agent-app"));
  EXPECT_FALSE(*nodes_[0].guard->IsSuspended("agent-app"));
}

TEST_F(GuardClusterTest, ThreadsOnBothNodesStopAtExactlyHard) {
  std::atomic<uint64_t> next{1}, allowed{0};
  auto hammer = [&](int node) {
    for (uint64_t n; (n = next.fetch_add(1)) <= 60;) {
      if (Read(node, n).allowed()) ++allowed;
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(6);
  for (int i = 0; i < 6; ++i) threads.emplace_back(hammer, i % 2);
  for (auto& t : threads) t.join();
  EXPECT_EQ(allowed.load(), 5u);
  size_t hard = 0;
  for (const Alert& x : Alerts(1)) hard += x.kind == AlertKind::kQuotaHard;
  EXPECT_EQ(hard, 1u);
}

TEST_F(GuardClusterTest, AlertsFromBothNodesShareOneSequence) {
  // Soft crossings on both nodes, alternately, for different principals.
  for (int round = 0; round < 3; ++round) {
    for (int node = 0; node < 2; ++node) {
      Alert a;
      a.severity = Severity::kWarning;
      a.kind = AlertKind::kDenials;
      a.principal = "agent-app";
      auto stored = nodes_[node].guard->alerts().Raise(a);
      ASSERT_TRUE(stored) << stored.error().ToString();
      EXPECT_EQ(stored->id, static_cast<uint64_t>(round * 2 + node + 1));
    }
  }
  EXPECT_EQ(nodes_[0].guard->alerts().last_id(), 6u);
  std::vector<Alert> a = Alerts(0), b = Alerts(1);
  ASSERT_EQ(a.size(), 6u);
  ASSERT_EQ(b.size(), 6u);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].id, i + 1);
}

TEST_F(GuardClusterTest, ACanaryAddedOnOneNodeIsRecognisedOnTheOther) {
  // `coffre canary add` served by node A: stored, and in A's live set.
  auto ids = AddCanaries(*nodes_[0].vault, "people", 1, "canary.example.org",
                         &nodes_[0].guard->canaries());
  ASSERT_TRUE(ids) << ids.error().ToString();
  ASSERT_EQ(ids->size(), 1u);
  // Node B reloads its set from the store at most a second later.
  clock_.Advance(2);
  Verdict v = nodes_[1].guard->Expose(*policy_, agent_, *ids);
  EXPECT_TRUE(v.allowed());  // the response goes out unchanged
  EXPECT_TRUE(*nodes_[1].guard->IsSuspended("agent-app"));
  size_t canary = 0;
  for (const Alert& x : Alerts(0)) canary += x.kind == AlertKind::kCanary;
  EXPECT_EQ(canary, 1u);
}

}  // namespace
}  // namespace coffre::guard
