#include "credentials/credentials.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <condition_variable>
#include <filesystem>
#include <thread>
#include <vector>

#include "auth/test_passwords.h"
#include "common/bytes.h"
#include "storage/memory_store.h"

namespace coffre::credentials {
namespace {

using storage::Space;

// A fresh password every call: all four classes, nothing a dictionary knows.
std::string StrongPassword() { return auth::testing::FreshPassword(); }

class CredentialsTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto::Init());
    char tmpl[] = "/tmp/coffre-credentials-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    // No file needed: the in-memory store (storage/memory_store.h).
    auto store = storage::OpenMemoryStore({.data = storage::NewMemoryData()});
    ASSERT_TRUE(store) << store.error().ToString();
    store_ = std::move(*store);
    Reopen({});
  }
  void TearDown() override {
    creds_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  // The module's spaces, as the composition root grants them.
  storage::SpaceHandle Handle() {
    return storage::SpaceHandle(*store_, "credentials", kCredentialSpaces);
  }
  void Reopen(Options o) {
    if (o.params.mem_limit == kEndUserParams.mem_limit &&
        o.params.ops_limit == kEndUserParams.ops_limit) {
      o.params = crypto::kTestPasswordHashParams;
    }
    creds_ = std::make_unique<Credentials>(Handle(), pepper_, token_key_, clock_, std::move(o));
  }
  std::optional<std::string> RawRecord(std::string_view user) {
    auto v = store_->Get(Space::kCredentials, "u/" + std::string(user));
    EXPECT_TRUE(v);
    return v ? *v : std::nullopt;
  }
  // Fails `n` verifications, moving the clock past each delay.
  void FailTimes(std::string_view user, int n) {
    for (int i = 0; i < n; ++i) {
      Wait w;
      auto r = creds_->Verify(user, "Wrong-password-1234", &w);
      if (!r && w.reason == Wait::kDelayed) {
        clock_.Advance(w.retry_after_seconds);
        r = creds_->Verify(user, "Wrong-password-1234", &w);
      }
      ASSERT_TRUE(r) << r.error().ToString();
      EXPECT_FALSE(*r);
    }
  }

  std::string dir_;
  std::unique_ptr<storage::Store> store_;
  crypto::SecretKey pepper_ = crypto::SecretKey::Random();
  crypto::SecretKey token_key_ = crypto::SecretKey::Random();
  FakeClock clock_{1'800'000'000};
  std::unique_ptr<Credentials> creds_;
};

TEST(UserIdTest, OpaqueIdsOnly) {
  for (std::string_view ok :
       {"u-7f3a9c", "550e8400-e29b-41d4-a716-446655440000", "A_b-1", "123456", "x"}) {
    EXPECT_TRUE(ValidateUserId(ok)) << ok;
  }
  for (std::string_view bad :
       {"", "jean.dupont@example.org", "jean dupont", "a/b", "a.b", "0612345678", "06-12-34-56-78",
        "1850578006084", "1990-01-01", "é"}) {
    auto s = ValidateUserId(bad);
    ASSERT_FALSE(s) << bad;
    EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
    if (!bad.empty()) EXPECT_EQ(s.error().message.find(bad), std::string::npos);
  }
  EXPECT_FALSE(ValidateUserId(std::string(65, 'a')));
}

TEST_F(CredentialsTest, SetVerifyChange) {
  const std::string p1 = StrongPassword(), p2 = StrongPassword();
  auto m = creds_->Set("u1", p1);
  ASSERT_TRUE(m) << m.error().ToString();
  EXPECT_TRUE(m->created_now);
  EXPECT_EQ(m->created, clock_.NowUnixSeconds());
  EXPECT_EQ(*creds_->Verify("u1", p1), true);
  EXPECT_EQ(*creds_->Verify("u1", p2), false);
  clock_.Advance(100);
  auto m2 = creds_->Set("u1", p2);
  ASSERT_TRUE(m2) << m2.error().ToString();
  EXPECT_FALSE(m2->created_now);
  EXPECT_EQ(m2->created, m->created);
  EXPECT_EQ(m2->changed, m->created + 100);
  EXPECT_EQ(*creds_->Verify("u1", p2), true);
  EXPECT_EQ(*creds_->Verify("u1", p1), false);
  auto g = creds_->Get("u1");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->changed, m2->changed);
  EXPECT_EQ(g->locked_until, 0);
  EXPECT_EQ(creds_->Get("nobody").error().code, ErrorCode::kNotFound);
  // Unknown users verify as false.
  EXPECT_EQ(*creds_->Verify("nobody", p1), false);
}

TEST_F(CredentialsTest, WeakPasswordsNameTheRule) {
  struct Case {
    std::string password;
    std::string rule;
  };
  for (const Case& c : std::vector<Case>{{"Short1!a", "cnil-2022-100"},
                                         {"alllowercaseletters", "cnil-2022-100"},
                                         {"Password123456", "dictionary"},
                                         {"Zebulon-7-Quartz!x", "dictionary"},
                                         // What a cracker tries first (issue 13).
                                         {"Password2024!!", "guessable"},
                                         {"Marseille2025!", "guessable"},
                                         {"Nicolas#Nicolas#", "guessable"}}) {
    auto m = creds_->Set("zebulon", c.password);
    ASSERT_FALSE(m) << c.rule;
    EXPECT_EQ(m.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(m.error().message.find("rule " + c.rule), std::string::npos) << m.error().message;
    EXPECT_EQ(m.error().message.find(c.password), std::string::npos);
  }
  EXPECT_FALSE(RawRecord("zebulon"));
  // The user id is the context: the same password is fine for another user.
  EXPECT_TRUE(creds_->Set("u-other", "Zebulon-7-Quartz!x"));
}

TEST_F(CredentialsTest, HistoryOfFourIncludesTheCurrentOne) {
  std::vector<std::string> ps;
  for (int i = 0; i < 5; ++i) ps.push_back(StrongPassword());
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(creds_->Set("u1", ps[i]));
  // The current one and the three before it are refused.
  for (int i = 0; i < 4; ++i) {
    auto m = creds_->Set("u1", ps[i]);
    ASSERT_FALSE(m) << i;
    EXPECT_NE(m.error().message.find("rule history"), std::string::npos);
  }
  ASSERT_TRUE(creds_->Set("u1", ps[4]));
  // ps[0] is now the fifth most recent: allowed again.
  ASSERT_TRUE(creds_->Set("u1", ps[0]));
  EXPECT_FALSE(creds_->Set("u1", ps[4]));
  EXPECT_TRUE(*creds_->Verify("u1", ps[0]));
}

TEST_F(CredentialsTest, ResetTokenWorksOnceAndExpires) {
  const std::string p1 = StrongPassword(), p2 = StrongPassword(), p3 = StrongPassword();
  EXPECT_EQ(creds_->IssueReset("u1").error().code, ErrorCode::kNotFound);
  ASSERT_TRUE(creds_->Set("u1", p1));
  auto t = creds_->IssueReset("u1");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->token.rfind(kResetTokenPrefix, 0), 0u);
  EXPECT_EQ(t->token.size(), kResetTokenPrefix.size() + 43);
  EXPECT_EQ(t->expires_at, clock_.NowUnixSeconds() + 1800);
  // Only its keyed hash is stored.
  auto raw = RawRecord("u1");
  ASSERT_TRUE(raw);
  EXPECT_EQ(raw->find(t->token.substr(kResetTokenPrefix.size())), std::string::npos);

  // A wrong token, or this token for another user, changes nothing.
  ASSERT_TRUE(creds_->Set("u2", p1));
  auto other = creds_->Redeem("u2", p2, t->token);
  EXPECT_EQ(other.error().code, ErrorCode::kPermissionDenied);
  std::string wrong = t->token;
  wrong.back() = wrong.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(creds_->Redeem("u1", p2, wrong).error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(creds_->Redeem("u1", p2, "garbage").error().code, ErrorCode::kPermissionDenied);
  EXPECT_TRUE(*creds_->Verify("u1", p1));

  ASSERT_TRUE(creds_->Redeem("u1", p2, t->token));
  EXPECT_TRUE(*creds_->Verify("u1", p2));
  // Used: refused the second time.
  EXPECT_EQ(creds_->Redeem("u1", p3, t->token).error().code, ErrorCode::kPermissionDenied);

  // Expiry: valid until expires_at, not at it.
  auto t2 = creds_->IssueReset("u1");
  ASSERT_TRUE(t2);
  clock_.Advance(1800);
  EXPECT_EQ(creds_->Redeem("u1", p3, t2->token).error().code, ErrorCode::kPermissionDenied);
  // A newer token replaces the older one; a direct set ends both.
  auto t3 = creds_->IssueReset("u1");
  auto t4 = creds_->IssueReset("u1");
  EXPECT_EQ(creds_->Redeem("u1", p3, t3->token).error().code, ErrorCode::kPermissionDenied);
  ASSERT_TRUE(creds_->Set("u1", p3));
  EXPECT_EQ(creds_->Redeem("u1", StrongPassword(), t4->token).error().code,
            ErrorCode::kPermissionDenied);
}

TEST_F(CredentialsTest, ExponentialDelayThenLockoutAfterTen) {
  const std::string p = StrongPassword();
  ASSERT_TRUE(creds_->Set("u1", p));
  Wait w;
  // Two free failures.
  for (int i = 0; i < 2; ++i) EXPECT_FALSE(*creds_->Verify("u1", "Wrong-password-1234", &w));
  std::vector<int64_t> delays;
  for (int k = 3; k <= 9; ++k) {
    EXPECT_FALSE(*creds_->Verify("u1", "Wrong-password-1234", &w));
    // The next attempt, even with the right password, waits and is not counted.
    auto r = creds_->Verify("u1", p, &w);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kResourceExhausted);
    EXPECT_EQ(w.reason, Wait::kDelayed);
    delays.push_back(w.retry_after_seconds);
    clock_.Advance(w.retry_after_seconds);
  }
  EXPECT_EQ(delays, (std::vector<int64_t>{1, 2, 4, 8, 16, 32, 64}));
  // The 10th failure locks for 30 minutes: the right password is refused.
  EXPECT_FALSE(*creds_->Verify("u1", "Wrong-password-1234", &w));
  auto locked = creds_->Verify("u1", p, &w);
  ASSERT_FALSE(locked);
  EXPECT_EQ(w.reason, Wait::kLocked);
  EXPECT_EQ(w.retry_after_seconds, 1800);
  EXPECT_EQ(creds_->Get("u1")->locked_until, clock_.NowUnixSeconds() + 1800);
  clock_.Advance(1799);
  EXPECT_FALSE(creds_->Verify("u1", p, &w));
  EXPECT_EQ(w.retry_after_seconds, 1);
  clock_.Advance(1);
  EXPECT_TRUE(*creds_->Verify("u1", p, &w));
  EXPECT_EQ(creds_->Get("u1")->locked_until, 0);
  // A success clears the count: two more failures are free again.
  for (int i = 0; i < 2; ++i) EXPECT_FALSE(*creds_->Verify("u1", "Wrong-password-1234", &w));
  EXPECT_TRUE(*creds_->Verify("u1", p, &w));
}

// The delay counts from when the failure is known: a hash slower than the
// delay (here the clock moves 5 s during each hash) does not use it up.
TEST_F(CredentialsTest, TheDelayCountsFromTheEndOfTheFailedHash) {
  const std::string p = StrongPassword();
  ASSERT_TRUE(creds_->Set("u-slow", p));
  Options o;
  o.while_hashing_for_test = [&] { clock_.Advance(5); };
  Reopen(std::move(o));
  for (int i = 0; i < 3; ++i) ASSERT_FALSE(*creds_->Verify("u-slow", "Not-the-password-42"));
  Wait w;
  auto r = creds_->Verify("u-slow", "Not-the-password-42", &w);
  ASSERT_FALSE(r);
  EXPECT_EQ(w.reason, Wait::kDelayed);
  EXPECT_EQ(w.retry_after_seconds, 1);
}

TEST_F(CredentialsTest, LockoutSurvivesRestartAndResetUnlocks) {
  const std::string p = StrongPassword(), p2 = StrongPassword();
  ASSERT_TRUE(creds_->Set("u1", p));
  FailTimes("u1", 10);
  Reopen({});
  Wait w;
  EXPECT_FALSE(creds_->Verify("u1", p, &w));
  EXPECT_EQ(w.reason, Wait::kLocked);
  auto t = creds_->IssueReset("u1");
  ASSERT_TRUE(t);
  ASSERT_TRUE(creds_->Redeem("u1", p2, t->token));
  EXPECT_TRUE(*creds_->Verify("u1", p2, &w));
}

TEST_F(CredentialsTest, RehashOnVerifyWhenParametersChange) {
  const std::string p = StrongPassword();
  ASSERT_TRUE(creds_->Set("u1", p));
  const std::string before = *RawRecord("u1");
  Options stronger;
  stronger.params = {2, 16u << 10};
  Reopen(stronger);
  // A failed verify does not upgrade (nor reveal anything).
  EXPECT_FALSE(*creds_->Verify("u1", "Wrong-password-1234"));
  auto opened = [&] {
    auto sealed = RawRecord("u1");
    return crypto::Open(pepper_, *sealed, std::string("coffre.credential.v1") + '\0' + "u1");
  };
  auto plain = opened();
  ASSERT_TRUE(plain);
  EXPECT_NE(plain->find("m=8,t=1"), std::string::npos);
  EXPECT_TRUE(*creds_->Verify("u1", p));
  plain = opened();
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->find("m=8,t=1"), std::string::npos);
  EXPECT_NE(plain->find("m=16,t=2"), std::string::npos);
  EXPECT_NE(*RawRecord("u1"), before);
  EXPECT_TRUE(*creds_->Verify("u1", p));
}

TEST_F(CredentialsTest, SealedRecordsCannotMoveBetweenUsersNorLeakHashes) {
  const std::string pa = StrongPassword(), pb = StrongPassword();
  ASSERT_TRUE(creds_->Set("alice-id", pa));
  ASSERT_TRUE(creds_->Set("bob-id", pb));
  auto a = RawRecord("alice-id");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->find("$argon2id$"), std::string::npos);
  EXPECT_EQ(a->find(pa), std::string::npos);
  // Copy alice's record over bob's: bob's record no longer opens, and
  // alice's password does not log in as bob.
  auto batch = store_->NewBatch();
  batch->Put(Space::kCredentials, "u/bob-id", *a);
  ASSERT_TRUE(store_->Write(*batch));
  auto r = creds_->Verify("bob-id", pa);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kDataLoss);
  // A flipped byte is caught too.
  std::string flipped = *a;
  flipped[flipped.size() / 2] ^= 1;
  batch = store_->NewBatch();
  batch->Put(Space::kCredentials, "u/alice-id", flipped);
  ASSERT_TRUE(store_->Write(*batch));
  EXPECT_EQ(creds_->Verify("alice-id", pa).error().code, ErrorCode::kDataLoss);
  // Another pepper opens nothing.
  batch = store_->NewBatch();
  batch->Put(Space::kCredentials, "u/alice-id", *a);
  ASSERT_TRUE(store_->Write(*batch));
  Credentials other(Handle(), crypto::SecretKey::Random(), token_key_, clock_,
                    Options{.params = crypto::kTestPasswordHashParams});
  EXPECT_EQ(other.Verify("alice-id", pa).error().code, ErrorCode::kDataLoss);
  EXPECT_TRUE(*creds_->Verify("alice-id", pa));
}

TEST_F(CredentialsTest, ConcurrencyCapRefusesBeyondNAtOnce) {
  constexpr size_t kCap = 3;
  std::mutex mu;
  std::condition_variable cv;
  size_t holding = 0;
  bool release = false;
  Options o;
  o.max_concurrent_hashes = kCap;
  o.while_hashing_for_test = [&] {
    std::unique_lock lock(mu);
    ++holding;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
  };
  const std::string p = StrongPassword();
  ASSERT_TRUE(creds_->Set("u0", p));  // before the hook
  Reopen(std::move(o));
  std::vector<std::thread> threads;
  std::atomic<int> valid{0};
  for (size_t i = 0; i < kCap; ++i) {
    threads.emplace_back([&, i] {
      auto r = creds_->Verify(i == 0 ? "u0" : "user-" + std::to_string(i), p);
      if (r && *r) ++valid;
    });
  }
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return holding == kCap; }));
  }
  // Every slot is held: further calls are refused at once, not queued.
  const auto started = std::chrono::steady_clock::now();
  for (const char* user : {"u-other", "u-another"}) {
    Wait w;
    auto r = creds_->Verify(user, p, &w);
    ASSERT_FALSE(r);
    EXPECT_EQ(w.reason, Wait::kBusy);
    EXPECT_EQ(w.retry_after_seconds, 1);
  }
  Wait w;
  EXPECT_FALSE(creds_->Set("u-new", StrongPassword(), &w));
  EXPECT_EQ(w.reason, Wait::kBusy);
  // The dictionary check runs under a slot too (one check at a time in
  // libpwquality): a weak password is refused as busy, not checked.
  w = {};
  auto weak = creds_->Set("u-new", "short", &w);
  ASSERT_FALSE(weak);
  EXPECT_EQ(weak.error().code, ErrorCode::kResourceExhausted);
  EXPECT_EQ(w.reason, Wait::kBusy);
  // The same user while one of its calls runs: busy too.
  EXPECT_FALSE(creds_->Verify("u0", p, &w));
  EXPECT_EQ(w.reason, Wait::kBusy);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  for (auto& t : threads) t.join();
  EXPECT_EQ(valid.load(), 1);
  // Slots are back.
  EXPECT_TRUE(*creds_->Verify("u0", p));
}

TEST(HashSlotsTest, CountsToTheCap) {
  HashSlots s(2);
  EXPECT_TRUE(s.TryAcquire());
  EXPECT_TRUE(s.TryAcquire());
  EXPECT_FALSE(s.TryAcquire());
  s.Release();
  EXPECT_TRUE(s.TryAcquire());
  EXPECT_EQ(s.in_use(), 2u);
}

TEST_F(CredentialsTest, ProductionParametersAreTheDefault) {
  Options o;
  EXPECT_EQ(o.params.ops_limit, kEndUserParams.ops_limit);
  EXPECT_EQ(o.params.mem_limit, kEndUserParams.mem_limit);
  EXPECT_GE(kEndUserParams.mem_limit, 19u << 20);
  // The stated bound: cap x mem_limit.
  EXPECT_EQ(o.max_concurrent_hashes, 4u);
  Credentials prod(Handle(), pepper_, token_key_, clock_);
  const std::string p = StrongPassword();
  ASSERT_TRUE(prod.Set("u-prod", p));
  auto sealed = RawRecord("u-prod");
  auto plain =
      crypto::Open(pepper_, *sealed, std::string("coffre.credential.v1") + '\0' + "u-prod");
  ASSERT_TRUE(plain);
  EXPECT_NE(plain->find("$argon2id$v=19$m=19456,t=2,p=1$"), std::string::npos);
  EXPECT_TRUE(*prod.Verify("u-prod", p));
}

}  // namespace
}  // namespace coffre::credentials
