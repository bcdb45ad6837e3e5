#include "storage/space_handle.h"

#include <gtest/gtest.h>

#include <string>

#include "storage/memory_store.h"

namespace coffre::storage {
namespace {

class SpaceHandleTest : public testing::Test {
 protected:
  void SetUp() override {
    auto s = OpenMemoryStore({.data = NewMemoryData()});
    ASSERT_TRUE(s);
    store_ = std::move(*s);
    auto b = store_->NewBatch();
    b->Put(Space::kRecords, "r", "sealed");
    b->Put(Space::kAudit, "a", "entry");
    ASSERT_TRUE(store_->Write(*b));
  }
  std::unique_ptr<Store> store_;
};

TEST_F(SpaceHandleTest, GrantedSpacesWorkAsTheStore) {
  SpaceHandle h(*store_, "cards", Spaces({Space::kCards}));
  auto b = h.NewBatch();
  b->Put(Space::kCards, "c", "1");
  b->Put(Space::kCards, "d", "2");
  b->Delete(Space::kCards, "d");
  ASSERT_TRUE(h.Write(*b));
  EXPECT_EQ(h.Get(Space::kCards, "c").value(), "1");
  EXPECT_EQ(h.Get(Space::kCards, "d").value(), std::nullopt);
  auto many = h.MultiGet(Space::kCards, {"c", "d"});
  ASSERT_TRUE(many);
  EXPECT_EQ((*many)[0], "1");
  int n = 0;
  ASSERT_TRUE(h.Scan(Space::kCards, "", [&](auto, auto) { return ++n, true; }));
  ASSERT_TRUE(h.ScanRange(Space::kCards, "a", "z", [&](auto, auto) { return ++n, true; }));
  ASSERT_TRUE(h.ScanRangeOnce(Space::kCards, "a", "", [&](auto, auto) { return ++n, true; }));
  EXPECT_EQ(n, 3);
  EXPECT_TRUE(h.CompactSpace(Space::kCards));
  EXPECT_TRUE(h.SyncWal());
}

TEST_F(SpaceHandleTest, OtherSpacesAreRefusedAndNothingIsWritten) {
  SpaceHandle h(*store_, "cards", Spaces({Space::kCards}));
  auto get = h.Get(Space::kRecords, "r");
  ASSERT_FALSE(get);
  EXPECT_EQ(get.error().code, ErrorCode::kInternal);
  EXPECT_NE(get.error().message.find("'cards'"), std::string::npos);
  EXPECT_NE(get.error().message.find("'records'"), std::string::npos);
  EXPECT_FALSE(h.MultiGet(Space::kRecords, {"r"}));
  bool visited = false;
  EXPECT_FALSE(h.Scan(Space::kRecords, "", [&](auto, auto) { return visited = true; }));
  EXPECT_FALSE(h.ScanRange(Space::kAudit, "", "", [&](auto, auto) { return visited = true; }));
  EXPECT_FALSE(h.ScanRangeOnce(Space::kAudit, "", "", [&](auto, auto) { return visited = true; }));
  EXPECT_FALSE(visited);
  EXPECT_FALSE(h.CompactSpace(Space::kRecords));

  // A batch that strays is refused whole, however little it strays.
  auto b = h.NewBatch();
  b->Put(Space::kCards, "c", "1");
  b->Delete(Space::kRecords, "r");
  auto w = h.Write(*b);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code, ErrorCode::kInternal);
  EXPECT_NE(w.error().message.find("'records'"), std::string::npos);
  EXPECT_EQ(store_->Get(Space::kRecords, "r").value(), "sealed");
  EXPECT_EQ(store_->Get(Space::kCards, "c").value(), std::nullopt);
  // Clear forgets what the batch touched.
  b->Clear();
  b->Put(Space::kCards, "c", "1");
  EXPECT_TRUE(h.Write(*b));
}

TEST_F(SpaceHandleTest, ReadOnlyGrantsReadButNoWrite) {
  SpaceHandle audit(*store_, "audit", Spaces({Space::kAudit, Space::kAuditByPrincipal}));
  SpaceHandle report = audit.ReadOnly();
  EXPECT_EQ(report.Get(Space::kAudit, "a").value(), "entry");
  EXPECT_FALSE(report.Get(Space::kRecords, "r"));
  auto b = report.NewBatch();
  b->Put(Space::kAudit, "a", "forged");
  EXPECT_FALSE(report.Write(*b));
  EXPECT_FALSE(report.SyncWal());
  EXPECT_FALSE(report.CompactSpace(Space::kAudit));
  EXPECT_EQ(store_->Get(Space::kAudit, "a").value(), "entry");

  SpaceHandle mixed(*store_, "guard", Spaces({Space::kAlerts}), Spaces({Space::kRecords}));
  EXPECT_EQ(mixed.Get(Space::kRecords, "r").value(), "sealed");
  auto w = mixed.NewBatch();
  w->Put(Space::kRecords, "r", "x");
  EXPECT_FALSE(mixed.Write(*w));
}

TEST_F(SpaceHandleTest, UnknownSpacesAreNeverGranted) {
  SpaceHandle h(*store_, "x", ~SpaceSet{0} >> 1);  // every bit but the last
  const auto bad = static_cast<Space>(200);
  EXPECT_EQ(SpaceBit(bad), SpaceSet{1} << 63);
  auto r = h.Get(bad, "k");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("unknown space"), std::string::npos);
}

}  // namespace
}  // namespace coffre::storage
