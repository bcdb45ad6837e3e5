// Alerts: the exact JSON form, refusal of malformed stored values, ids and
// times that survive a reopen and never go backwards, and List's time
// window (a binary search over ids) and limit.
#include "guard/alert_log.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <thread>

#include "common/bytes.h"
#include "storage/memory_store.h"

namespace coffre::guard {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kStart = 1'795'000'000;  // 2026-11-17T...Z

Alert Soft() {
  return Alert{.severity = Severity::kWarning,
               .kind = AlertKind::kQuotaSoft,
               .principal = "support-app",
               .user = "alice",
               .window = "1h",
               .count = 51,
               .limit = 50,
               .detail = "51 distinct subjects in 1h"};
}

TEST(AlertJson, IsExactlyTheDocumentedShape) {
  Alert a = Soft();
  a.id = 7;
  a.time = 1'795'334'400;  // 2026-11-22T08:00:00Z
  EXPECT_EQ(AlertToJson(a),
            R"({"id":7,"time":"2026-11-22T08:00:00Z","severity":"warning","kind":"quota_soft",)"
            R"("principal":"support-app","user":"alice","window":"1h","count":51,"limit":50,)"
            R"("action":"none","detail":"51 distinct subjects in 1h"})");
  Alert canary{.id = 8,
               .time = a.time,
               .severity = Severity::kCritical,
               .kind = AlertKind::kCanary,
               .principal = "app",
               .suspended = true,
               .detail = "x"};
  EXPECT_EQ(AlertToJson(canary),
            R"({"id":8,"time":"2026-11-22T08:00:00Z","severity":"critical","kind":"canary",)"
            R"("principal":"app","user":null,"window":null,"count":null,"limit":null,)"
            R"("action":"suspended","detail":"x"})");
  for (const Alert& x : {a, canary}) {
    auto back = AlertFromJson(AlertToJson(x));
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(*back, x);
  }
  EXPECT_EQ(KindName(AlertKind::kQuotaHard), "quota_hard");
  EXPECT_EQ(KindName(AlertKind::kSearchCap), "search_cap");
  EXPECT_EQ(KindName(AlertKind::kDenials), "denials");
}

TEST(AlertJson, MalformedStoredValuesAreDataLoss) {
  Alert a = Soft();
  a.id = 1;
  a.time = kStart;
  std::string good = AlertToJson(a);
  auto replaced = [&](std::string_view from, std::string_view to) {
    std::string s = good;
    size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return s.replace(at, from.size(), to);
  };
  for (const std::string& bad :
       {std::string(""), std::string("[]"), std::string("{}"), good.substr(0, good.size() - 1),
        replaced(R"("id":1)", R"("id":-1)"), replaced(R"("id":1)", R"("id":null)"),
        replaced(R"("severity":"warning")", R"("severity":"info")"),
        replaced(R"("kind":"quota_soft")", R"("kind":"quota")"),
        replaced(R"("action":"none")", R"("action":"ignored")"),
        replaced(R"("count":51)", R"("count":"51")"), replaced(R"("user":"alice")", R"("user":3)"),
        replaced(R"("time":"2026)", R"("time":"x2026)"),
        replaced(R"("time":"2026)", R"("time":"0226)"), replaced(R"("detail")", R"("details")")}) {
    auto r = AlertFromJson(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kDataLoss);
  }
}

class AlertLogTest : public testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/coffre-alerts-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    Reopen();
  }
  void TearDown() override {
    log_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }
  void Reopen() {
    log_.reset();
    store_.reset();
    // Reopened on the same in-memory data (storage/memory_store.h).
    auto store = storage::OpenMemoryStore({.data = data_});
    ASSERT_TRUE(store) << store.error().ToString();
    store_ = std::move(*store);
    auto log = AlertLog::Open(storage::SpaceHandle(*store_, "guard", kAlertSpaces), clock_);
    ASSERT_TRUE(log) << log.error().ToString();
    log_ = std::move(*log);
  }
  std::vector<uint64_t> Ids(const AlertFilter& f) {
    std::vector<uint64_t> ids;
    EXPECT_TRUE(log_->List(f, [&](const Alert& a) {
      ids.push_back(a.id);
      return true;
    }));
    return ids;
  }

  std::string dir_;
  FakeClock clock_{kStart};
  std::shared_ptr<storage::MemoryData> data_ = storage::NewMemoryData();
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<AlertLog> log_;
};

TEST_F(AlertLogTest, RaiseNumbersStampsAndStoresUnderBigEndianIds) {
  auto first = log_->Raise(Soft());
  ASSERT_TRUE(first) << first.error().ToString();
  EXPECT_EQ(first->id, 1u);
  EXPECT_EQ(first->time, kStart);
  clock_.Advance(5);
  auto second = log_->Raise(Soft());
  ASSERT_TRUE(second);
  EXPECT_EQ(second->id, 2u);
  EXPECT_EQ(second->time, kStart + 5);
  std::string key;
  AppendBigEndian64(key, 2);
  auto raw = store_->Get(storage::Space::kAlerts, key);
  ASSERT_TRUE(raw && *raw);
  EXPECT_EQ(**raw, AlertToJson(*second));
}

TEST_F(AlertLogTest, IdsAndTimesContinueAfterReopenAndNeverGoBack) {
  ASSERT_TRUE(log_->Raise(Soft()));
  clock_.Advance(100);
  ASSERT_TRUE(log_->Raise(Soft()));
  Reopen();
  EXPECT_EQ(log_->last_id(), 2u);
  clock_.Advance(-1000);  // the clock steps back
  auto third = log_->Raise(Soft());
  ASSERT_TRUE(third);
  EXPECT_EQ(third->id, 3u);
  EXPECT_EQ(third->time, kStart + 100);
}

TEST_F(AlertLogTest, ListFiltersByTimeAndLimit) {
  // 40 alerts, two per 10 s.
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(log_->Raise(Soft()));
    if (i % 2 == 1) clock_.Advance(10);
  }
  EXPECT_EQ(Ids({}).size(), 40u);
  std::vector<uint64_t> window = Ids({.from = kStart + 50, .to = kStart + 69});
  EXPECT_EQ(window, (std::vector<uint64_t>{11, 12, 13, 14}));
  EXPECT_EQ(Ids({.from = kStart + 51, .to = kStart + 60}), (std::vector<uint64_t>{13, 14}));
  EXPECT_EQ(Ids({.from = kStart + 50, .limit = 3}), (std::vector<uint64_t>{11, 12, 13}));
  EXPECT_TRUE(Ids({.from = kStart + 1000}).empty());
  EXPECT_TRUE(Ids({.to = kStart - 1}).empty());
  EXPECT_TRUE(Ids({.from = kStart + 60, .to = kStart + 50}).empty());
  EXPECT_EQ(Ids({.to = kStart}), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(Ids({.from = kStart + 190}), (std::vector<uint64_t>{39, 40}));
  // Paging by id.
  EXPECT_EQ(Ids({.limit = 3, .after_id = 12}), (std::vector<uint64_t>{13, 14, 15}));
  EXPECT_EQ(Ids({.from = kStart + 10, .limit = 2, .after_id = 1}), (std::vector<uint64_t>{3, 4}));
  EXPECT_EQ(Ids({.to = kStart + 10, .after_id = 3}), (std::vector<uint64_t>{4}));
  EXPECT_TRUE(Ids({.after_id = 40}).empty());
  EXPECT_TRUE(Ids({.after_id = 1000}).empty());
}

TEST_F(AlertLogTest, ConcurrentRaisesGetDistinctContiguousIds) {
  std::vector<std::thread> threads;
  std::mutex mu;
  std::set<uint64_t> ids;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        auto a = log_->Raise(Soft());
        ASSERT_TRUE(a);
        std::lock_guard lock(mu);
        ids.insert(a->id);
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(ids.size(), 40u);
  EXPECT_EQ(*ids.begin(), 1u);
  EXPECT_EQ(*ids.rbegin(), 40u);
  EXPECT_EQ(Ids({}).size(), 40u);
}

TEST_F(AlertLogTest, AMalformedStoredAlertFailsTheListing) {
  ASSERT_TRUE(log_->Raise(Soft()));
  std::string key;
  AppendBigEndian64(key, 1);
  auto batch = store_->NewBatch();
  batch->Put(storage::Space::kAlerts, key, "{not json");
  ASSERT_TRUE(store_->Write(*batch));
  Status s = log_->List({}, [](const Alert&) { return true; });
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kDataLoss);
}

}  // namespace
}  // namespace coffre::guard
