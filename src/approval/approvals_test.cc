#include "approval/approvals.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "common/bytes.h"
#include "storage/memory_store.h"

namespace coffre::approval {
namespace {

using storage::Space;

class ApprovalsTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto::Init());
    char tmpl[] = "/tmp/coffre-approval-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    // No file needed: the in-memory store (storage/memory_store.h).
    auto store = storage::OpenMemoryStore({.data = storage::NewMemoryData()});
    ASSERT_TRUE(store) << store.error().ToString();
    store_ = std::move(*store);
    approvals_ = std::make_unique<Approvals>(
        storage::SpaceHandle(*store_, "approval", kApprovalSpaces), key_, clock_);
  }
  void TearDown() override {
    approvals_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  Approval Approved(const std::string& action, const Params& params) {
    auto a = approvals_->Request(action, params, "alice");
    EXPECT_TRUE(a) << a.error().ToString();
    auto b = approvals_->Approve(a->id, "bob");
    EXPECT_TRUE(b) << b.error().ToString();
    return *b;
  }

  FakeClock clock_{1'800'000'000};
  crypto::SecretKey key_ = crypto::SecretKey::Random();
  std::string dir_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<Approvals> approvals_;
};

TEST_F(ApprovalsTest, NeedsTwoPrincipalsAndIsConsumedOnce) {
  auto a = approvals_->Request(kBulkExport, {{"collection", "people"}}, "alice");
  ASSERT_TRUE(a) << a.error().ToString();
  EXPECT_EQ(a->StateAt(clock_.NowUnixMillis()), State::kPending);
  EXPECT_EQ(a->expires_ms - a->created_ms, 24LL * 3600 * 1000);
  // Not yet approved: not usable.
  auto early = approvals_->Consume(a->id, kBulkExport, {{"collection", "people"}});
  ASSERT_FALSE(early);
  EXPECT_EQ(early.error().code, ErrorCode::kPermissionDenied);
  // The requester cannot approve their own request.
  auto self = approvals_->Approve(a->id, "alice");
  ASSERT_FALSE(self);
  EXPECT_EQ(self.error().code, ErrorCode::kPermissionDenied);
  auto b = approvals_->Approve(a->id, "bob");
  ASSERT_TRUE(b) << b.error().ToString();
  EXPECT_EQ(b->approver, "bob");
  EXPECT_EQ(approvals_->Approve(a->id, "carol").error().code, ErrorCode::kFailedPrecondition);
  // Another action or other parameters: refused, and not consumed.
  EXPECT_EQ(approvals_->Consume(a->id, kBulkExport, {{"collection", "cards"}}).error().code,
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(approvals_
                ->Consume(a->id, kBreachNotification,
                          {{"principal", "x"},
                           {"from", "2027-01-01T00:00:00Z"},
                           {"to", "2027-01-02T00:00:00Z"}})
                .error()
                .code,
            ErrorCode::kPermissionDenied);
  auto used = approvals_->Consume(a->id, kBulkExport, {{"collection", "people"}});
  ASSERT_TRUE(used) << used.error().ToString();
  EXPECT_EQ(approvals_->Get(a->id)->StateAt(clock_.NowUnixMillis()), State::kConsumed);
  auto again = approvals_->Consume(a->id, kBulkExport, {{"collection", "people"}});
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("consumed"), std::string::npos);
}

TEST_F(ApprovalsTest, ExpireAfter24Hours) {
  auto a = approvals_->Request(kBulkExport, {{"collection", "people"}}, "alice");
  ASSERT_TRUE(a);
  clock_.Advance(24 * 3600);
  EXPECT_EQ(approvals_->Approve(a->id, "bob").error().code, ErrorCode::kFailedPrecondition);
  Approval b = Approved(std::string(kBulkExport), {{"collection", "people"}});
  clock_.Advance(24 * 3600 - 1);
  EXPECT_EQ(approvals_->Get(b.id)->StateAt(clock_.NowUnixMillis()), State::kApproved);
  clock_.Advance(1);
  auto late = approvals_->Consume(b.id, kBulkExport, {{"collection", "people"}});
  ASSERT_FALSE(late);
  EXPECT_NE(late.error().message.find("expired"), std::string::npos);
}

TEST_F(ApprovalsTest, BreachNotificationParametersAreCanonical) {
  Approval a = Approved(std::string(kBreachNotification), {{"principal", "support-app"},
                                                           {"from", "2027-01-01T00:00:00.500Z"},
                                                           {"to", "2027-01-02T00:00:00+00:00"}});
  EXPECT_EQ(a.params.at("from"),
            "2027-01-01T00:00:00.500Z");  // the report's window, to the millisecond
  EXPECT_EQ(a.params.at("to"), "2027-01-02T00:00:00Z");
  // Any offset and plain dates (issue 13, item 5): the same window reads the same.
  Approval b = Approved(
      std::string(kBreachNotification),
      {{"principal", "support-app"}, {"from", "2027-01-01T01:00:00+01:00"}, {"to", "2027-01-01"}});
  EXPECT_EQ(b.params.at("from"), "2027-01-01T00:00:00Z");
  EXPECT_EQ(b.params.at("to"), "2027-01-01T23:59:59Z");  // the whole day
  EXPECT_TRUE(approvals_->Consume(b.id, kBreachNotification,
                                  {{"principal", "support-app"},
                                   {"from", "2027-01-01T00:00:00Z"},
                                   {"to", "2027-01-01T23:59:59Z"}}));
  auto impossible = approvals_->Request(
      kBreachNotification, {{"principal", "x"}, {"from", "2027-02-29"}, {"to", "2027-03-01"}},
      "alice");
  ASSERT_FALSE(impossible);
  EXPECT_NE(impossible.error().message.find("2027-02 has no day 29"), std::string::npos);
  // A user the approval did not name is another report.
  EXPECT_FALSE(approvals_->Consume(a.id, kBreachNotification,
                                   {{"principal", "support-app"},
                                    {"user", "u1"},
                                    {"from", "2027-01-01T00:00:00Z"},
                                    {"to", "2027-01-02T00:00:00Z"}}));
  // Another window (from a whole second earlier) is another report.
  EXPECT_FALSE(approvals_->Consume(a.id, kBreachNotification,
                                   {{"principal", "support-app"},
                                    {"from", "2027-01-01T00:00:00Z"},
                                    {"to", "2027-01-02T00:00:00Z"}}));
  EXPECT_TRUE(approvals_->Consume(a.id, kBreachNotification,
                                  {{"principal", "support-app"},
                                   {"from", "2027-01-01T01:00:00.5+01:00"},
                                   {"to", "2027-01-02T00:00:00Z"}}));
}

TEST_F(ApprovalsTest, RefusesUnknownActionsAndBadParameters) {
  EXPECT_EQ(approvals_->Request("drop_everything", {}, "alice").error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_FALSE(approvals_->Request(kBulkExport, {}, "alice"));
  EXPECT_FALSE(
      approvals_->Request(kBulkExport, {{"collection", "people"}, {"extra", "1"}}, "alice"));
  EXPECT_FALSE(approvals_->Request(kBulkExport, {{"collection", "Jean Dupont"}}, "alice"));
  EXPECT_FALSE(approvals_->Request(
      kBreachNotification, {{"from", "2027-01-01T00:00:00Z"}, {"to", "2027-01-02T00:00:00Z"}},
      "alice"));
  EXPECT_FALSE(approvals_->Request(
      kBreachNotification,
      {{"principal", "x"}, {"from", "2027-01-02T00:00:00Z"}, {"to", "2027-01-01T00:00:00Z"}},
      "alice"));
  EXPECT_FALSE(approvals_->Request(
      kBreachNotification,
      {{"principal", "x"}, {"from", "yesterday"}, {"to", "2027-01-01T00:00:00Z"}}, "alice"));
  EXPECT_EQ(approvals_->Get(std::string(16, 'x')).error().code, ErrorCode::kNotFound);
}

TEST_F(ApprovalsTest, AStoredApprovalCannotBeForgedEditedOrMoved) {
  auto a = approvals_->Request(kBulkExport, {{"collection", "people"}}, "alice");
  auto b = approvals_->Request(kBulkExport, {{"collection", "people"}}, "carol");
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(approvals_->Approve(b->id, "bob"));
  // Copy b's (approved) value over a's key: does not open under a's id.
  auto value = store_->Get(Space::kCounters, "approval/" + ToHex(b->id));
  ASSERT_TRUE(value && *value);
  auto batch = store_->NewBatch();
  batch->Put(Space::kCounters, "approval/" + ToHex(a->id), **value);
  ASSERT_TRUE(store_->Write(*batch));
  EXPECT_EQ(approvals_->Get(a->id).error().code, ErrorCode::kDataLoss);
  EXPECT_FALSE(approvals_->Consume(a->id, kBulkExport, {{"collection", "people"}}));
  // Plain JSON written by someone without the key is refused too.
  batch = store_->NewBatch();
  batch->Put(Space::kCounters, "approval/" + ToHex(a->id), R"({"action":"bulk_export"})");
  ASSERT_TRUE(store_->Write(*batch));
  EXPECT_EQ(approvals_->Get(a->id).error().code, ErrorCode::kDataLoss);
}

// GET /v1/approvals?state=pending: what waits, oldest first, by state.
TEST_F(ApprovalsTest, ListsByStateOldestFirst) {
  auto first = approvals_->Request(kBulkExport, {{"collection", "people"}}, "alice");
  ASSERT_TRUE(first);
  clock_.Advance(5);
  auto second = approvals_->Request(kBulkExport, {{"collection", "orders"}}, "alice");
  ASSERT_TRUE(second);
  clock_.Advance(5);
  Approval done = Approved(std::string(kBulkExport), {{"collection", "cards"}});
  auto pending = approvals_->List(State::kPending, 100);
  ASSERT_TRUE(pending) << pending.error().ToString();
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ((*pending)[0].id, first->id);
  EXPECT_EQ((*pending)[1].id, second->id);
  auto approved = approvals_->List(State::kApproved, 100);
  ASSERT_TRUE(approved);
  ASSERT_EQ(approved->size(), 1u);
  EXPECT_EQ((*approved)[0].id, done.id);
  bool more = false;
  auto one = approvals_->List(std::nullopt, 1, &more);
  ASSERT_TRUE(one);
  EXPECT_EQ(one->size(), 1u);
  EXPECT_TRUE(more);
  clock_.Advance(24 * 3600);
  EXPECT_TRUE(approvals_->List(State::kPending, 100)->empty());
  EXPECT_EQ(approvals_->List(State::kExpired, 100)->size(), 3u);
  // An altered value fails the listing, as Get does.
  auto batch = store_->NewBatch();
  batch->Put(Space::kCounters, "approval/" + ToHex(first->id), "garbage");
  ASSERT_TRUE(store_->Write(*batch));
  auto broken = approvals_->List(std::nullopt, 100);
  ASSERT_FALSE(broken);
  EXPECT_EQ(broken.error().code, ErrorCode::kDataLoss);
}

// Two nodes of a cluster (two stores on one shared data set, ADR 0042):
// threads on both consume one approval; exactly one wins, and a second
// approval by another node is refused as not pending.
TEST(ApprovalsCluster, OneApprovalIsConsumedOnceAcrossNodes) {
  ASSERT_TRUE(crypto::Init());
  auto data = storage::NewMemoryData();
  auto a = storage::OpenMemoryStore({.data = data, .shared = true});
  auto b = storage::OpenMemoryStore({.data = data, .shared = true});
  ASSERT_TRUE(a && b);
  FakeClock clock{1'800'000'000};
  const crypto::SecretKey key = crypto::SecretKey::Random();
  Approvals node_a(storage::SpaceHandle(**a, "approval", kApprovalSpaces), key, clock);
  Approvals node_b(storage::SpaceHandle(**b, "approval", kApprovalSpaces), key, clock);
  const Params params{{"collection", "people"}};
  for (int round = 0; round < 20; ++round) {
    auto asked = node_a.Request(kBulkExport, params, "alice");
    ASSERT_TRUE(asked) << asked.error().ToString();
    std::atomic<int> approved{0};
    std::thread ta([&] { approved += node_a.Approve(asked->id, "bob").has_value(); });
    std::thread tb([&] { approved += node_b.Approve(asked->id, "carol").has_value(); });
    ta.join();
    tb.join();
    EXPECT_EQ(approved.load(), 1);
    std::atomic<int> consumed{0};
    std::vector<std::thread> threads;
    threads.reserve(4);
    for (int i = 0; i < 4; ++i) {
      threads.emplace_back([&, i] {
        Approvals& node = i % 2 ? node_b : node_a;
        consumed += node.Consume(asked->id, kBulkExport, params).has_value();
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(consumed.load(), 1) << "round " << round;
  }
}

}  // namespace
}  // namespace coffre::approval
