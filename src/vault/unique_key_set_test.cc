// Unit tests of UniqueKeySet: exact membership by (field, blind value), also
// for values that share their first 8 bytes (the part used as the hash) and
// across the table's growth.
#include "vault/unique_key_set.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace coffre::vault {
namespace {

std::string Blind(uint64_t head, uint64_t tail) {
  std::string b(crypto::kBlindBytes, '\0');
  std::memcpy(b.data(), &head, sizeof head);
  std::memcpy(b.data() + crypto::kBlindBytes - sizeof tail, &tail, sizeof tail);
  return b;
}

TEST(UniqueKeySetTest, EmptySetContainsNothing) {
  UniqueKeySet set;
  EXPECT_FALSE(set.Contains(0, Blind(1, 1).data()));
  EXPECT_EQ(set.size(), 0u);
}

TEST(UniqueKeySetTest, FieldAndWholeBlindValueIdentifyAKey) {
  UniqueKeySet set;
  set.Insert(3, Blind(7, 1).data());
  EXPECT_TRUE(set.Contains(3, Blind(7, 1).data()));
  EXPECT_FALSE(set.Contains(4, Blind(7, 1).data()));  // same value, other field
  EXPECT_FALSE(set.Contains(3, Blind(7, 2).data()));  // same hash head, other value
  set.Insert(3, Blind(7, 1).data());                  // again: no second copy
  EXPECT_EQ(set.size(), 1u);
  set.Insert(4, Blind(7, 1).data());
  set.Insert(3, Blind(7, 2).data());
  EXPECT_EQ(set.size(), 3u);
  EXPECT_TRUE(set.Contains(4, Blind(7, 1).data()));
  EXPECT_TRUE(set.Contains(3, Blind(7, 2).data()));
}

// Many keys (the table grows from 1,024 slots several times), one in 30 of
// them colliding on their head: every one inserted is found, none other is.
TEST(UniqueKeySetTest, ExactAcrossGrowthAndCollisions) {
  UniqueKeySet set;
  std::set<std::pair<uint16_t, std::string>> inserted;
  for (uint64_t i = 0; i < 10000; ++i) {
    uint16_t field = static_cast<uint16_t>(i % 3);
    std::string b = Blind(i % 30 == 0 ? 42 : i * 0x9e3779b97f4a7c15ULL, i);
    set.Insert(field, b.data());
    inserted.emplace(field, b);
  }
  EXPECT_EQ(set.size(), inserted.size());
  for (const auto& [field, b] : inserted) ASSERT_TRUE(set.Contains(field, b.data()));
  for (uint64_t i = 10000; i < 12000; ++i) {
    EXPECT_FALSE(set.Contains(static_cast<uint16_t>(i % 3), Blind(42, i).data()));
    EXPECT_FALSE(set.Contains(0, Blind(i * 0x9e3779b97f4a7c15ULL, i).data()));
  }
}

}  // namespace
}  // namespace coffre::vault
