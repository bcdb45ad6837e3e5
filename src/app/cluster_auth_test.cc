// Two Runtimes on one shared memory store: two nodes of a cluster in one
// process (ADR 0043). A session made on one works on the other, a logout
// on one holds on the other, failed logins over both lock at the
// threshold, and a `policy load` on one is in force on the other within
// 2 seconds.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "app/admin.h"
#include "app/runtime.h"
#include "auth/totp.h"
#include "crypto/crypto.h"
#include "storage/memory_store.h"

namespace coffre::app {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr std::string_view kPassword = "Violet-Harbor-42!x";  // fake, passes the policy

class ClusterAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto::Init());
    tmp_ = fs::temp_directory_path() /
           ("coffre-cluster-auth-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(tmp_);
    fs::create_directories(tmp_);
    const std::string src = COFFRE_SOURCE_DIR;
    std::ifstream in(src + "/examples/people-policy.toml");
    std::ostringstream policy;
    policy << in.rdbuf();
    policy_ = policy.str();
    data_ = storage::NewMemoryData();
    vault::InitOptions o{(tmp_ / "v").string(),
                         src + "/examples/people.toml",
                         tmp_ / "v.key",
                         "",
                         {},
                         {},
                         nullptr,
                         ""};
    o.config.emplace_back(kPolicyConfig, policy_);
    o.store = storage::MemoryStoreOpener(data_, /*shared=*/true);
    ASSERT_TRUE(vault::Vault::Init(o));
    a_ = OpenNode("a");
    b_ = OpenNode("b");
    ASSERT_TRUE(a_ && b_);
  }
  void TearDown() override {
    a_.reset();
    b_.reset();
    fs::remove_all(tmp_);
  }

  std::unique_ptr<Runtime> OpenNode(const std::string& node) {
    fs::create_directories(tmp_ / node);
    auto rt = Runtime::Open({.dir = (tmp_ / "v").string(),
                             .key_file = tmp_ / "v.key",
                             .audit_anchor = tmp_ / node / "audit-anchor",
                             .password_params = crypto::kTestPasswordHashParams,
                             .store = storage::MemoryStoreOpener(data_, /*shared=*/true)});
    EXPECT_TRUE(rt) << rt.error().message;
    return rt ? std::move(*rt) : nullptr;
  }

  std::string AddHuman(Runtime& rt, const std::string& name) {
    auto r = rt.directory().Add({.name = name,
                                 .kind = auth::Kind::kHuman,
                                 .role = "support_agent",
                                 .password = std::string(kPassword)});
    EXPECT_TRUE(r) << r.error().ToString();
    if (!r) return {};
    auto secret = auth::totp::Base32Decode(r->totp_secret_base32);
    return secret ? *secret : std::string();
  }
  std::string Code(Runtime& rt, const std::string& secret) {
    auto code = auth::totp::Generate(secret, rt.clock().NowUnixSeconds());
    return code ? *code : std::string();
  }

  fs::path tmp_;
  std::string policy_;
  std::shared_ptr<storage::MemoryData> data_;
  std::unique_ptr<Runtime> a_, b_;
};

TEST_F(ClusterAuthTest, ASessionTokenFromNodeAWorksOnNodeB) {
  const std::string secret = AddHuman(*a_, "alice");
  auto login = a_->directory().Login({"alice", kPassword, Code(*a_, secret), "192.0.2.1"});
  ASSERT_TRUE(login) << login.error().ToString();
  auto on_b = b_->directory().AuthenticateSession(login->session_token);
  ASSERT_TRUE(on_b) << on_b.error().ToString();
  EXPECT_EQ(on_b->name, "alice");
}

TEST_F(ClusterAuthTest, LogoutOnNodeAIsRefusedOnNodeB) {
  const std::string secret = AddHuman(*a_, "alice");
  auto login = a_->directory().Login({"alice", kPassword, Code(*a_, secret), "192.0.2.1"});
  ASSERT_TRUE(login);
  ASSERT_TRUE(b_->directory().AuthenticateSession(login->session_token));
  ASSERT_TRUE(a_->directory().Logout(login->session_token));
  auto after = b_->directory().AuthenticateSession(login->session_token);
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code, ErrorCode::kUnauthenticated);
}

TEST_F(ClusterAuthTest, FailedLoginsOverBothNodesLockExactlyAtTheThreshold) {
  const std::string secret = AddHuman(*b_, "alice");
  int judged = 0;
  for (int i = 0; i < 10; ++i) {
    Runtime& node = i % 2 ? *a_ : *b_;
    auto r = node.directory().Login(
        {"alice", "wrong-Password-1", "000000", "198.51.100." + std::to_string(i)});
    ASSERT_FALSE(r);
    if (r.error().code == ErrorCode::kUnauthenticated) ++judged;
  }
  EXPECT_EQ(judged, 10);
  for (Runtime* node : {a_.get(), b_.get()}) {
    int64_t retry = 0;
    auto right =
        node->directory().Login({"alice", kPassword, Code(*node, secret), "192.0.2.9"}, &retry);
    ASSERT_FALSE(right);
    EXPECT_EQ(right.error().code, ErrorCode::kResourceExhausted);
    EXPECT_GT(retry, 0);
  }
}

TEST_F(ClusterAuthTest, APolicyLoadOnNodeAIsInForceOnNodeBWithinTwoSeconds) {
  ASSERT_FALSE(b_->policy()->HasRole("night_shift"));  // B has read the policy
  Admin admin_a(*a_);
  const std::string next = policy_ +
                           "\n[roles.night_shift]\ndescription = \"Night support\"\n"
                           "[roles.night_shift.collections.people]\nactions = [\"read\"]\n"
                           "purposes = [\"support\"]\nfields = { \"*\" = \"masked\" }\n"
                           "[roles.night_shift.limits]\n"
                           "subjects = [ { window = \"1h\", soft = 5, hard = 10 } ]\n";
  auto loaded = admin_a.Execute({{"op", "policy.load"}, {"text", next}}, ::getuid());
  ASSERT_TRUE(loaded) << loaded.error().ToString();
  ASSERT_TRUE(a_->policy()->HasRole("night_shift"));
  const auto start = std::chrono::steady_clock::now();
  while (!b_->policy()->HasRole("night_shift")) {
    ASSERT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2))
        << "policy load on A not in force on B";
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // In force for B's own operations too: B may now give a principal the role.
  Admin admin_b(*b_);
  auto added = admin_b.Execute(
      {{"op", "principal.add"}, {"name", "night-1"}, {"kind", "service"}, {"role", "night_shift"}},
      ::getuid());
  EXPECT_TRUE(added) << added.error().ToString();
}

TEST_F(ClusterAuthTest, APrincipalChangeOnNodeAReachesNodeBWithinTwoSeconds) {
  Admin admin_a(*a_);
  auto added = admin_a.Execute(
      {{"op", "principal.add"}, {"name", "crm"}, {"kind", "service"}, {"role", "support_agent"}},
      ::getuid());
  ASSERT_TRUE(added) << added.error().ToString();
  const std::string key(added->at("api_key").as_string());
  ASSERT_TRUE(b_->directory().AuthenticateApiKey(key));  // cached on B
  auto suspended = admin_a.Execute({{"op", "principal.suspend"}, {"name", "crm"}}, ::getuid());
  ASSERT_TRUE(suspended) << suspended.error().ToString();
  const auto start = std::chrono::steady_clock::now();
  while (b_->directory().AuthenticateApiKey(key)) {
    ASSERT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2))
        << "suspension on A not in force on B";
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace
}  // namespace coffre::app
