#include "crypto/shamir.h"

#include <gtest/gtest.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

extern "C" {
#include <libgfshare.h>
}

#include "crypto/sealed_file.h"

namespace coffre::crypto {
namespace {

class ShamirTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(Init()); }
};

std::vector<KeyShare> Pick(const std::vector<KeyShare>& all, const std::vector<int>& indexes) {
  std::vector<KeyShare> out;
  for (int i : indexes) out.push_back({all[i - 1].index, all[i - 1].share.Clone()});
  return out;
}

// The filler libgfshare draws its coefficients from is libsodium's, and
// drawing through it gives fresh random bytes (not random()'s sequence).
TEST_F(ShamirTest, FillerIsLibsodium) {
  EXPECT_TRUE(ShamirFillerIsLibsodium());
  ASSERT_NE(gfshare_fill_rand, nullptr);
  EXPECT_NE(gfshare_fill_rand, gfshare_bad_idea_but_fill_rand_using_random);
  unsigned char a[32] = {}, b[32] = {};
  gfshare_fill_rand(a, sizeof a);
  gfshare_fill_rand(b, sizeof b);
  EXPECT_NE(std::string(reinterpret_cast<char*>(a), 32), std::string(32, '\0'));
  EXPECT_NE(std::string(reinterpret_cast<char*>(a), 32),
            std::string(reinterpret_cast<char*>(b), 32));
}

TEST_F(ShamirTest, SplitRefusesAnotherFiller) {
  gfshare_fill_rand = gfshare_bad_idea_but_fill_rand_using_random;
  auto shares = SplitKey(SecretKey::Random(), 2, 3);
  internal::InstallShamirFiller();
  ASSERT_FALSE(shares);
  EXPECT_EQ(shares.error().code, ErrorCode::kInternal);
  EXPECT_TRUE(ShamirFillerIsLibsodium());
}

TEST_F(ShamirTest, AnyThresholdSubsetRecombines) {
  SecretKey key = SecretKey::Random();
  auto all = SplitKey(key, 3, 5);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 5u);
  for (size_t i = 0; i < all->size(); ++i) {
    EXPECT_EQ((*all)[i].index, i + 1);
    EXPECT_FALSE((*all)[i].share.ConstantTimeEquals(key)) << "a share is not the key";
  }
  for (const std::vector<int>& picked :
       std::vector<std::vector<int>>{{1, 2, 3}, {5, 3, 1}, {2, 4, 5}, {1, 2, 3, 4, 5}}) {
    auto back = CombineKey(Pick(*all, picked));
    ASSERT_TRUE(back);
    EXPECT_TRUE(back->ConstantTimeEquals(key));
  }
}

TEST_F(ShamirTest, FewerThanThresholdDoNotGiveTheKey) {
  SecretKey key = SecretKey::Random();
  auto all = SplitKey(key, 3, 5);
  ASSERT_TRUE(all);
  for (const std::vector<int>& picked : std::vector<std::vector<int>>{{1, 2}, {4, 5}, {3, 1}}) {
    auto back = CombineKey(Pick(*all, picked));
    ASSERT_TRUE(back);
    EXPECT_FALSE(back->ConstantTimeEquals(key));
  }
}

TEST_F(ShamirTest, TwoSplitsOfOneKeyDiffer) {
  SecretKey key = SecretKey::Random();
  auto a = SplitKey(key, 2, 2);
  auto b = SplitKey(key, 2, 2);
  ASSERT_TRUE(a && b);
  EXPECT_FALSE((*a)[0].share.ConstantTimeEquals((*b)[0].share)) << "coefficients are random";
  // Mixing shares of two splits gives something else than the key.
  std::vector<KeyShare> mixed;
  mixed.push_back({1, (*a)[0].share.Clone()});
  mixed.push_back({2, (*b)[1].share.Clone()});
  auto back = CombineKey(mixed);
  ASSERT_TRUE(back);
  EXPECT_FALSE(back->ConstantTimeEquals(key));
}

TEST_F(ShamirTest, CorruptShareGivesAnotherKey) {
  SecretKey key = SecretKey::Random();
  auto all = SplitKey(key, 2, 3);
  ASSERT_TRUE(all);
  auto subset = Pick(*all, {1, 2});
  std::string bytes(subset[0].share.view());
  bytes[7] ^= 1;
  subset[0].share = *SecretKey::FromBytes(bytes);
  auto back = CombineKey(subset);
  ASSERT_TRUE(back);
  EXPECT_FALSE(back->ConstantTimeEquals(key));
}

TEST_F(ShamirTest, RefusesBadParameters) {
  SecretKey key = SecretKey::Random();
  EXPECT_EQ(SplitKey(key, 1, 3).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(SplitKey(key, 4, 3).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(SplitKey(key, 2, 256).error().code, ErrorCode::kInvalidArgument);
  auto max = SplitKey(key, 255, 255);
  ASSERT_TRUE(max);
  EXPECT_EQ(max->back().index, 255);
  auto back = CombineKey(*max);
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->ConstantTimeEquals(key));

  auto all = SplitKey(key, 2, 3);
  ASSERT_TRUE(all);
  auto twice = Pick(*all, {1, 1});
  EXPECT_EQ(CombineKey(twice).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(CombineKey(Pick(*all, {1})).error().code, ErrorCode::kInvalidArgument);
  auto zero = Pick(*all, {1, 2});
  zero[0].index = 0;
  EXPECT_EQ(CombineKey(zero).error().code, ErrorCode::kInvalidArgument);
}

TEST_F(ShamirTest, SmallSealedFileOpensLikeAWrittenOne) {
  SecretKey sk = SecretKey::Random();
  std::string pk = BoxPublicKey(sk);
  auto image = SealSmallFile(pk, "one line\n");
  ASSERT_TRUE(image);
  EXPECT_EQ(image->find("one line"), std::string::npos);
  auto path = std::filesystem::temp_directory_path() /
              ("coffre-small-sealed-" + std::to_string(::getpid()));
  { std::ofstream(path, std::ios::binary) << *image; }
  std::string plain;
  ASSERT_TRUE(OpenSealedFile(path, sk, [&](std::string_view p) {
    plain.append(p);
    return Ok();
  }));
  EXPECT_EQ(plain, "one line\n");
  EXPECT_FALSE(OpenSealedFile(path, SecretKey::Random(), [](std::string_view) { return Ok(); }));
  std::filesystem::remove(path);
  EXPECT_EQ(SealSmallFile(pk, std::string(kSealedFileChunkBytes + 1, 'x')).error().code,
            ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace coffre::crypto
