// Authentication across two nodes on a real PostgreSQL (ADR 0043): two
// PostgreSQL stores on one database are two nodes. The same properties as
// src/auth/shared_directory_test.cc (which runs them on the shared memory
// store), here with the store's advisory locks and READ COMMITTED.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "auth/principals.h"
#include "auth/totp.h"
#include "pg_server.h"
#include "storage/pg_store.h"

namespace coffre {
namespace {

constexpr std::string_view kPassword = "Violet-Harbor-42!x";  // fake, passes the policy

class PgAuthTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ =
        new testing::PgServer();  // NOLINT(cppcoreguidelines-owning-memory): TearDownTestSuite
    server_->Start();
  }
  static void TearDownTestSuite() {
    delete server_;  // NOLINT(cppcoreguidelines-owning-memory)
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(crypto::Init());
    // A database per test (lower case: PostgreSQL folds the name).
    static int databases = 0;
    db_ = "auth_" + std::to_string(++databases);
    const std::string url = server_->NewDatabase(db_);
    for (auto* store : {&store_a_, &store_b_}) {
      auto s = storage::OpenPgStore({.url = url, .create_if_missing = true});
      ASSERT_TRUE(s) << s.error().ToString();
      *store = std::move(*s);
    }
    a_ = Node(*store_a_);
    b_ = Node(*store_b_);
  }
  std::unique_ptr<auth::Directory> Node(storage::Store& store) {
    return std::make_unique<auth::Directory>(
        storage::SpaceHandle(store, "auth", auth::kDirectorySpaces), hash_key_, pepper_, clock_,
        crypto::kTestPasswordHashParams, auth::DirectoryOptions{});
  }
  std::string AddHuman(auth::Directory& d, const std::string& name) {
    auto r = d.Add({.name = name,
                    .kind = auth::Kind::kHuman,
                    .role = "support",
                    .password = std::string(kPassword)});
    EXPECT_TRUE(r) << r.error().ToString();
    if (!r) return {};
    auto secret = auth::totp::Base32Decode(r->totp_secret_base32);
    return secret ? *secret : std::string();
  }
  std::string Code(const std::string& secret) {
    auto code = auth::totp::Generate(secret, clock_.NowUnixSeconds());
    return code ? *code : std::string();
  }

  static testing::PgServer* server_;
  std::string db_;
  FakeClock clock_{1'800'000'010};
  crypto::SecretKey hash_key_ = crypto::SecretKey::Random();
  crypto::SecretKey pepper_ = crypto::SecretKey::Random();
  std::unique_ptr<storage::Store> store_a_, store_b_;
  std::unique_ptr<auth::Directory> a_, b_;
};

testing::PgServer* PgAuthTest::server_ = nullptr;

TEST_F(PgAuthTest, SessionCrossesNodesAndLogoutHoldsOnBoth) {
  const std::string secret = AddHuman(*a_, "alice");
  auto login = a_->Login({"alice", kPassword, Code(secret), "192.0.2.1"});
  ASSERT_TRUE(login) << login.error().ToString();
  auto on_b = b_->AuthenticateSession(login->session_token);
  ASSERT_TRUE(on_b) << on_b.error().ToString();
  EXPECT_EQ(on_b->name, "alice");
  ASSERT_TRUE(b_->Logout(login->session_token));
  EXPECT_FALSE(a_->AuthenticateSession(login->session_token));
  EXPECT_FALSE(b_->AuthenticateSession(login->session_token));
  // The table holds sessions by the token's hash, never the token.
  const std::string& db = db_;
  const std::string body = login->session_token.substr(10);  // base64url: no quote
  EXPECT_EQ(server_->Sql("SELECT count(*) FROM coffre_principals WHERE position(convert_to('" +
                             body + "', 'UTF8') in k) > 0 OR position(convert_to('" + body +
                             "', 'UTF8') in v) > 0",
                         db),
            "0");
  auto second = a_->Login({"alice", kPassword, Code(secret), "192.0.2.1"});
  EXPECT_FALSE(second) << "the TOTP code was accepted twice";
  clock_.Advance(30);
  second = b_->Login({"alice", kPassword, Code(secret), "192.0.2.1"});
  ASSERT_TRUE(second) << second.error().ToString();
  EXPECT_EQ(server_->Sql("SELECT count(*) FROM coffre_principals WHERE k >= 's/' AND k < 's0'", db),
            "1");
}

TEST_F(PgAuthTest, FailedLoginsFromThreadsOnBothNodesLockExactlyAtTheThreshold) {
  const std::string secret = AddHuman(*a_, "alice");
  std::atomic<int> judged{0}, locked{0}, other{0}, next{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      auth::Directory& d = t % 2 ? *a_ : *b_;
      for (int i; (i = next++) < 30;) {
        auto r =
            d.Login({"alice", "wrong-Password-1", "000000", "198.51.100." + std::to_string(i)});
        if (!r && r.error().code == ErrorCode::kUnauthenticated) {
          ++judged;
        } else if (!r && r.error().code == ErrorCode::kResourceExhausted) {
          ++locked;
        } else {
          ++other;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(judged.load(), 10);
  EXPECT_EQ(locked.load(), 20);
  EXPECT_EQ(other.load(), 0);
  auto right = b_->Login({"alice", kPassword, Code(secret), "192.0.2.99"});
  ASSERT_FALSE(right);
  EXPECT_EQ(right.error().code, ErrorCode::kResourceExhausted);
}

TEST_F(PgAuthTest, ThePairThrottleIsOneBudgetAcrossNodes) {
  AddHuman(*a_, "alice");
  std::atomic<int> judged{0}, throttled{0}, next{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auth::Directory& d = t % 2 ? *a_ : *b_;
      while (next++ < 12) {
        auto r = d.Login({"alice", "wrong-Password-1", "000000", "192.0.2.7"});
        if (!r && r.error().code == ErrorCode::kUnauthenticated) ++judged;
        if (!r && r.error().code == ErrorCode::kResourceExhausted) ++throttled;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(judged.load(), 5);  // the (name, source) burst
  EXPECT_EQ(throttled.load(), 7);
}

TEST_F(PgAuthTest, ASuspensionOnOneNodeHoldsOnTheOtherWithinTwoSeconds) {
  auto added = a_->Add({.name = "crm", .kind = auth::Kind::kService, .role = "billing"});
  ASSERT_TRUE(added);
  ASSERT_TRUE(b_->AuthenticateApiKey(added->api_key));
  ASSERT_TRUE(a_->Suspend("crm"));
  const auto start = std::chrono::steady_clock::now();
  while (b_->AuthenticateApiKey(added->api_key)) {
    ASSERT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace
}  // namespace coffre
