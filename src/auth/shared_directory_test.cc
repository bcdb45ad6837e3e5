// Two Directories on one shared memory store: two nodes of a cluster in one
// process (ADR 0043). Sessions, lockouts, throttles and principal changes
// must hold across them exactly as on one node.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "auth/principals.h"
#include "auth/totp.h"
#include "storage/memory_store.h"

namespace coffre::auth {
namespace {

constexpr std::string_view kPassword = "Violet-Harbor-42!x";  // fake, passes the policy
constexpr int64_t kStart = 1'800'000'010;                     // 10 s into a TOTP step

class SharedDirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto::Init());
    Open();
  }

  void Open(DirectoryOptions options = {.shared_poll_ms = 0}, bool shared = true) {
    a_.reset();
    b_.reset();
    store_a_.reset();
    store_b_.reset();
    data_ = storage::NewMemoryData();
    auto sa = storage::OpenMemoryStore({.data = data_, .shared = shared});
    ASSERT_TRUE(sa) << sa.error().ToString();
    store_a_ = std::move(*sa);
    if (shared) {
      auto sb = storage::OpenMemoryStore({.data = data_, .shared = true});
      ASSERT_TRUE(sb) << sb.error().ToString();
      store_b_ = std::move(*sb);
    }
    a_ = Node(*store_a_, options);
    if (shared) b_ = Node(*store_b_, options);
  }
  std::unique_ptr<Directory> Node(storage::Store& store, DirectoryOptions options) {
    return std::make_unique<Directory>(storage::SpaceHandle(store, "auth", kDirectorySpaces),
                                       hash_key_, pepper_, clock_, crypto::kTestPasswordHashParams,
                                       options);
  }

  std::string AddHuman(Directory& d, const std::string& name) {
    auto r = d.Add({.name = name,
                    .kind = Kind::kHuman,
                    .role = "support",
                    .password = std::string(kPassword)});
    EXPECT_TRUE(r) << r.error().ToString();
    if (!r) return {};
    auto secret = totp::Base32Decode(r->totp_secret_base32);
    return secret ? *secret : std::string();
  }
  std::string Code(const std::string& secret) {
    auto code = totp::Generate(secret, clock_.NowUnixSeconds());
    return code ? *code : std::string();
  }
  // Every key of the principals space, with its value.
  std::vector<std::pair<std::string, std::string>> Dump() {
    std::vector<std::pair<std::string, std::string>> out;
    EXPECT_TRUE(store_a_->Scan(storage::Space::kPrincipals, "",
                               [&](std::string_view k, std::string_view v) {
                                 out.emplace_back(k, v);
                                 return true;
                               }));
    return out;
  }

  FakeClock clock_{kStart};
  crypto::SecretKey hash_key_ = crypto::SecretKey::Random();
  crypto::SecretKey pepper_ = crypto::SecretKey::Random();
  std::shared_ptr<storage::MemoryData> data_;
  std::unique_ptr<storage::Store> store_a_, store_b_;
  std::unique_ptr<Directory> a_, b_;
};

TEST_F(SharedDirectoryTest, SessionTokenFromOneNodeWorksOnTheOther) {
  const std::string secret = AddHuman(*a_, "alice");
  auto login = a_->Login({"alice", kPassword, Code(secret), "192.0.2.1"});
  ASSERT_TRUE(login) << login.error().ToString();
  auto on_b = b_->AuthenticateSession(login->session_token);
  ASSERT_TRUE(on_b) << on_b.error().ToString();
  EXPECT_EQ(on_b->name, "alice");
  EXPECT_EQ(on_b->role, "support");
}

TEST_F(SharedDirectoryTest, TheStoreHoldsNoTokenAndNoReadableSession) {
  const std::string secret = AddHuman(*a_, "alice");
  auto login = a_->Login({"alice", kPassword, Code(secret), "192.0.2.1"});
  ASSERT_TRUE(login);
  const std::string body = login->session_token.substr(10);
  size_t sessions = 0;
  for (const auto& [k, v] : Dump()) {
    EXPECT_EQ(k.find(body), std::string::npos) << k;
    EXPECT_EQ(v.find(body), std::string::npos) << k;
    if (k.starts_with("s/")) {
      ++sessions;
      EXPECT_EQ(v.find("alice"), std::string::npos) << "session values are sealed";
    }
  }
  EXPECT_EQ(sessions, 1u);
}

TEST_F(SharedDirectoryTest, AnEditedOrMovedSessionRecordIsRefused) {
  const std::string secret = AddHuman(*a_, "alice");
  auto login = a_->Login({"alice", kPassword, Code(secret), "192.0.2.1"});
  ASSERT_TRUE(login);
  std::string key, value;
  for (const auto& [k, v] : Dump()) {
    if (k.starts_with("s/")) std::tie(key, value) = std::pair{k, v};
  }
  ASSERT_FALSE(key.empty());
  // An attacker writing the store flips a byte (to extend the session, say).
  value[value.size() - 1] ^= 1;
  auto batch = store_a_->NewBatch();
  batch->Put(storage::Space::kPrincipals, key, value);
  ASSERT_TRUE(store_a_->Write(*batch));
  EXPECT_FALSE(b_->AuthenticateSession(login->session_token));
}

TEST_F(SharedDirectoryTest, LogoutOnOneNodeEndsTheSessionOnTheOther) {
  const std::string secret = AddHuman(*a_, "alice");
  auto login = a_->Login({"alice", kPassword, Code(secret), "192.0.2.1"});
  ASSERT_TRUE(login);
  ASSERT_TRUE(b_->AuthenticateSession(login->session_token));
  ASSERT_TRUE(a_->Logout(login->session_token));
  auto after = b_->AuthenticateSession(login->session_token);
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code, ErrorCode::kUnauthenticated);
  EXPECT_FALSE(a_->AuthenticateSession(login->session_token));
}

TEST_F(SharedDirectoryTest, SuspensionOnOneNodeEndsSessionsOnTheOtherAtOnce) {
  Open({.shared_poll_ms = 60'000});  // no help from polling: the session itself must go
  const std::string secret = AddHuman(*a_, "alice");
  auto login = a_->Login({"alice", kPassword, Code(secret), "192.0.2.1"});
  ASSERT_TRUE(login);
  ASSERT_TRUE(b_->AuthenticateSession(login->session_token));  // B caches alice
  ASSERT_TRUE(a_->Suspend("alice"));
  EXPECT_FALSE(b_->AuthenticateSession(login->session_token));
}

TEST_F(SharedDirectoryTest, IdleAndAbsoluteExpiryHoldOnEveryNode) {
  const std::string secret = AddHuman(*a_, "alice");
  auto login = a_->Login({"alice", kPassword, Code(secret), "192.0.2.1"});
  ASSERT_TRUE(login);
  // Used on B every 10 minutes: the slide is seen by A.
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(10 * 60);
    ASSERT_TRUE(b_->AuthenticateSession(login->session_token)) << i;
  }
  clock_.Advance(10 * 60);
  ASSERT_TRUE(a_->AuthenticateSession(login->session_token));
  // 15 minutes idle: ended on both.
  clock_.Advance(15 * 60);
  EXPECT_FALSE(b_->AuthenticateSession(login->session_token));
  EXPECT_FALSE(a_->AuthenticateSession(login->session_token));

  // Absolute: 8 hours whatever the use.
  clock_.Advance(60);
  auto again = a_->Login({"alice", kPassword, Code(secret), "192.0.2.1"});
  ASSERT_TRUE(again) << again.error().ToString();
  for (int i = 0; i < 8 * 6 - 1; ++i) {
    clock_.Advance(10 * 60);
    ASSERT_TRUE((i % 2 ? a_ : b_)->AuthenticateSession(again->session_token)) << i;
  }
  clock_.Advance(10 * 60);
  EXPECT_FALSE(b_->AuthenticateSession(again->session_token));
}

TEST_F(SharedDirectoryTest, PerPrincipalSessionBoundHoldsAcrossNodes) {
  Open({.max_sessions_per_principal = 3, .shared_poll_ms = 0});
  const std::string secret = AddHuman(*a_, "alice");
  std::vector<std::string> tokens;
  for (int i = 0; i < 4; ++i) {
    clock_.Advance(30);  // one TOTP step each: a code is accepted once
    auto login = (i % 2 ? a_ : b_)->Login({"alice", kPassword, Code(secret), "192.0.2.1"});
    ASSERT_TRUE(login) << login.error().ToString();
    tokens.push_back(login->session_token);
  }
  EXPECT_FALSE(a_->AuthenticateSession(tokens[0])) << "the oldest went";
  for (int i = 1; i < 4; ++i) EXPECT_TRUE(b_->AuthenticateSession(tokens[i])) << i;
}

TEST_F(SharedDirectoryTest, ATotpCodeIsAcceptedOnceAcrossNodes) {
  const std::string secret = AddHuman(*a_, "alice");
  const std::string code = Code(secret);
  ASSERT_TRUE(a_->Login({"alice", kPassword, code, "192.0.2.1"}));
  auto replay = b_->Login({"alice", kPassword, code, "192.0.2.2"});
  ASSERT_FALSE(replay);
  EXPECT_EQ(replay.error().code, ErrorCode::kUnauthenticated);
}

// Failed logins spread over both nodes, from many sources (so only the
// account lock counts), from threads at once: exactly lockout_failures
// of them are judged, every later one finds the lock.
TEST_F(SharedDirectoryTest, FailedLoginsOverBothNodesLockExactlyAtTheThreshold) {
  for (const char* name : {"alice", "nobody-here"}) {
    SCOPED_TRACE(name);
    Open();
    const std::string secret = AddHuman(*a_, "alice");
    std::atomic<int> judged{0}, locked{0}, other{0};
    std::atomic<int> next{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        Directory& d = t % 2 ? *a_ : *b_;
        for (int i; (i = next++) < 25;) {
          const std::string source = "198.51.100." + std::to_string(i);
          auto r = d.Login({name, "wrong-Password-1", "000000", source});
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
    EXPECT_EQ(locked.load(), 15);
    EXPECT_EQ(other.load(), 0);
    if (std::string_view(name) == "alice") {
      // Locked on both nodes, for the right password too.
      int64_t retry = 0;
      auto right = b_->Login({"alice", kPassword, Code(secret), "192.0.2.99"}, &retry);
      ASSERT_FALSE(right);
      EXPECT_EQ(right.error().code, ErrorCode::kResourceExhausted);
      EXPECT_GT(retry, 0);
      // An unlock on A lifts it for B.
      ASSERT_TRUE(a_->Unlock("alice"));
      EXPECT_TRUE(b_->Login({"alice", kPassword, Code(secret), "192.0.2.99"}));
    }
  }
}

TEST_F(SharedDirectoryTest, NineFailuresOverBothNodesDoNotLock) {
  const std::string secret = AddHuman(*a_, "alice");
  for (int i = 0; i < 9; ++i) {
    auto r =
        (i % 2 ? a_ : b_)
            ->Login({"alice", "wrong-Password-1", "000000", "198.51.100." + std::to_string(i)});
    ASSERT_FALSE(r);
    ASSERT_EQ(r.error().code, ErrorCode::kUnauthenticated) << i;
  }
  EXPECT_TRUE(a_->Login({"alice", kPassword, Code(secret), "192.0.2.1"}));
}

TEST_F(SharedDirectoryTest, AnUnknownNamesCountCarriesIntoTheAccountMadeOnTheOtherNode) {
  for (int i = 0; i < 10; ++i) {
    (void)a_->Login({"carol", "wrong-Password-1", "000000", "198.51.100." + std::to_string(i)});
  }
  const std::string secret = AddHuman(*b_, "carol");
  auto r = a_->Login({"carol", kPassword, Code(secret), "192.0.2.1"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kResourceExhausted) << "the lock did not vanish";
}

TEST_F(SharedDirectoryTest, ThrottlesCountOneBudgetAcrossNodes) {
  AddHuman(*a_, "alice");
  // (name, source): 5 at once, whichever node.
  for (int i = 0; i < 5; ++i) {
    auto r = (i % 2 ? a_ : b_)->Login({"alice", "wrong-Password-1", "000000", "192.0.2.7"});
    ASSERT_EQ(r.error().code, ErrorCode::kUnauthenticated) << i;
  }
  int64_t retry = 0;
  auto sixth = a_->Login({"alice", "wrong-Password-1", "000000", "192.0.2.7"}, &retry);
  ASSERT_FALSE(sixth);
  EXPECT_EQ(sixth.error().code, ErrorCode::kResourceExhausted);
  EXPECT_GE(retry, 1);
  // Another source is not held back by it.
  auto other = b_->Login({"alice", "wrong-Password-1", "000000", "192.0.2.8"});
  EXPECT_EQ(other.error().code, ErrorCode::kUnauthenticated);
  // Per source: 50 at once over all names, whichever node.
  Open({.throttle_burst = 1000, .shared_poll_ms = 0});
  for (int i = 0; i < 50; ++i) {
    auto r = (i % 2 ? a_ : b_)
                 ->Login({"name" + std::to_string(i), "wrong-Password-1", "000000", "203.0.113.5"});
    ASSERT_EQ(r.error().code, ErrorCode::kUnauthenticated) << i;
  }
  auto over = b_->Login({"one-more", "wrong-Password-1", "000000", "203.0.113.5"});
  EXPECT_EQ(over.error().code, ErrorCode::kResourceExhausted);
  // No address and no typed name reaches the store.
  for (const auto& [k, v] : Dump()) {
    EXPECT_EQ(k.find("203.0.113.5"), std::string::npos);
    EXPECT_EQ(k.find("one-more"), std::string::npos);
    EXPECT_EQ(v.find("203.0.113.5"), std::string::npos);
  }
}

TEST_F(SharedDirectoryTest, AddingOneNameOnBothNodesAtOnceMakesOnePrincipal) {
  for (int round = 0; round < 10; ++round) {
    const std::string name = "svc-" + std::to_string(round);
    std::atomic<int> made{0}, taken{0};
    std::thread ta([&] {
      auto r = a_->Add({.name = name, .kind = Kind::kService, .role = "billing"});
      r ? ++made : (r.error().code == ErrorCode::kAlreadyExists ? ++taken : 0);
    });
    std::thread tb([&] {
      auto r = b_->Add({.name = name, .kind = Kind::kService, .role = "billing"});
      r ? ++made : (r.error().code == ErrorCode::kAlreadyExists ? ++taken : 0);
    });
    ta.join();
    tb.join();
    EXPECT_EQ(made.load(), 1);
    EXPECT_EQ(taken.load(), 1);
  }
}

// With the default look every second at most, a change on A is in force
// on B within 2 s, though B had the principal and its key cached.
TEST_F(SharedDirectoryTest, PrincipalChangesReachTheOtherNodeWithinTwoSeconds) {
  Open({});
  auto added = a_->Add({.name = "billing-app", .kind = Kind::kService, .role = "billing"});
  ASSERT_TRUE(added);
  ASSERT_EQ(b_->AuthenticateApiKey(added->api_key)->role, "billing");
  ASSERT_TRUE(a_->Update("billing-app", {.role = "audit"}));
  const auto start = std::chrono::steady_clock::now();
  auto waited = [&] { return std::chrono::steady_clock::now() - start; };
  while (b_->AuthenticateApiKey(added->api_key)->role != "audit") {
    ASSERT_LT(waited(), std::chrono::seconds(2)) << "role change not seen on B";
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // A suspension, then a rotation without grace.
  ASSERT_TRUE(a_->Suspend("billing-app"));
  const auto suspended_at = std::chrono::steady_clock::now();
  while (b_->AuthenticateApiKey(added->api_key)) {
    ASSERT_LT(std::chrono::steady_clock::now() - suspended_at, std::chrono::seconds(2));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(b_->AuthenticateApiKey(added->api_key).error().code, ErrorCode::kPermissionDenied);
  ASSERT_TRUE(a_->Resume("billing-app"));
  auto rotated = a_->RotateApiKey("billing-app", 0);
  ASSERT_TRUE(rotated);
  const auto rotated_at = std::chrono::steady_clock::now();
  while (!b_->AuthenticateApiKey(rotated->api_key)) {
    ASSERT_LT(std::chrono::steady_clock::now() - rotated_at, std::chrono::seconds(2));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  auto old = b_->AuthenticateApiKey(added->api_key);
  ASSERT_FALSE(old) << "the replaced key still works on B";
  EXPECT_EQ(old.error().code, ErrorCode::kUnauthenticated);
}

// A suspension and an update made at once on two nodes: neither undoes
// the other.
TEST_F(SharedDirectoryTest, ConcurrentSuspendAndUpdateKeepBoth) {
  for (int round = 0; round < 20; ++round) {
    const std::string name = "svc-" + std::to_string(round);
    ASSERT_TRUE(a_->Add({.name = name, .kind = Kind::kService, .role = "billing"}));
    std::thread ta([&] { EXPECT_TRUE(a_->Suspend(name)); });
    std::thread tb([&] { EXPECT_TRUE(b_->Update(name, {.role = "audit"})); });
    ta.join();
    tb.join();
    a_->PollChangesNow();
    auto p = a_->Get(name);
    ASSERT_TRUE(p);
    EXPECT_TRUE(p->suspended) << round;
    EXPECT_EQ(p->role, "audit") << round;
  }
}

// Two rotations of one service's key at once on two nodes: one current
// key and no stray lookup entry, as on one node.
TEST_F(SharedDirectoryTest, ConcurrentKeyRotationsLeaveOneKey) {
  for (int round = 0; round < 10; ++round) {
    const std::string name = "svc-" + std::to_string(round);
    auto added = a_->Add({.name = name, .kind = Kind::kService, .role = "billing"});
    ASSERT_TRUE(added);
    Result<RotatedKey> ra = Fail(ErrorCode::kInternal, "not run"), rb = ra;
    std::thread ta([&] { ra = a_->RotateApiKey(name, 0); });
    std::thread tb([&] { rb = b_->RotateApiKey(name, 0); });
    ta.join();
    tb.join();
    ASSERT_TRUE(ra && rb);
    a_->PollChangesNow();
    const int working = (a_->AuthenticateApiKey(ra->api_key) ? 1 : 0) +
                        (a_->AuthenticateApiKey(rb->api_key) ? 1 : 0);
    EXPECT_EQ(working, 1) << round;
    EXPECT_FALSE(a_->AuthenticateApiKey(added->api_key));
  }
  size_t lookups = 0;
  for (const auto& [k, v] : Dump()) lookups += k.starts_with("apikey/") ? 1 : 0;
  EXPECT_EQ(lookups, 10u);
}

TEST_F(SharedDirectoryTest, ATotpResetOnOneNodeEndsSessionsAndTheOldSecretOnTheOther) {
  const std::string secret = AddHuman(*a_, "alice");
  auto login = b_->Login({"alice", kPassword, Code(secret), "192.0.2.1"});
  ASSERT_TRUE(login);
  auto reset = a_->ResetTotp("alice");
  ASSERT_TRUE(reset) << reset.error().ToString();
  EXPECT_FALSE(b_->AuthenticateSession(login->session_token));
  clock_.Advance(30);
  auto old = b_->Login({"alice", kPassword, Code(secret), "192.0.2.1"});
  ASSERT_FALSE(old);
  EXPECT_EQ(old.error().code, ErrorCode::kUnauthenticated);
  auto fresh = totp::Base32Decode(reset->totp_secret_base32);
  ASSERT_TRUE(fresh);
  EXPECT_TRUE(b_->Login({"alice", kPassword, Code(*fresh), "192.0.2.1"}));
}

TEST_F(SharedDirectoryTest, AnEmbeddedStoreWritesNothingNew) {
  Open({}, /*shared=*/false);
  const std::string secret = AddHuman(*a_, "alice");
  auto login = a_->Login({"alice", kPassword, Code(secret), "192.0.2.1"});
  ASSERT_TRUE(login);
  (void)a_->Login({"nobody", "wrong-Password-1", "000000", "192.0.2.1"});
  ASSERT_TRUE(a_->Update("alice", {.role = "audit"}));
  for (const auto& [k, v] : Dump()) {
    EXPECT_TRUE(k.starts_with("p/") || k.starts_with("c/") || k.starts_with("l/")) << k;
  }
  ASSERT_TRUE(a_->AuthenticateSession(login->session_token));
}

}  // namespace
}  // namespace coffre::auth
