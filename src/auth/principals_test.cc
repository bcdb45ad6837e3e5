#include "auth/principals.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>
#include <vector>

#include "auth/totp.h"

namespace coffre::auth {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kPassword = "Violet-Harbor-42!x";  // fake, passes the policy
constexpr int64_t kStart = 1'800'000'010;                     // 10 s into a TOTP step

class DirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto::Init());
    std::string tmpl = (fs::temp_directory_path() / "coffre-auth-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_path_ = tmpl;
    OpenStore();
    Reopen();
  }
  void TearDown() override {
    directory_.reset();
    store_.reset();
    fs::remove_all(dir_path_);
  }

  void OpenStore() {
    auto store = storage::OpenRocksStore(
        {.path = dir_path_, .create_if_missing = true, .disable_compression_everywhere = true});
    ASSERT_TRUE(store) << store.error().ToString();
    store_ = std::move(*store);
  }
  // The directory's spaces, as the composition root grants them.
  storage::SpaceHandle Principals() {
    return storage::SpaceHandle(*store_, "auth", kDirectorySpaces);
  }
  void Reopen(DirectoryOptions options = {}) {
    directory_.reset();
    directory_ = std::make_unique<Directory>(Principals(), hash_key_, pepper_, clock_,
                                             crypto::kTestPasswordHashParams, options);
  }

  AddResult AddService(const std::string& name) {
    auto r = directory_->Add({.name = name, .kind = Kind::kService, .role = "billing"});
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : AddResult{};
  }
  // Returns the raw TOTP secret.
  std::string AddHuman(const std::string& name) {
    auto r = directory_->Add({.name = name,
                              .kind = Kind::kHuman,
                              .role = "support",
                              .attrs = {{"agency", "Lyon"}},
                              .password = std::string(kPassword)});
    EXPECT_TRUE(r) << r.error().ToString();
    if (!r) return {};
    auto secret = totp::Base32Decode(r->totp_secret_base32);
    EXPECT_TRUE(secret);
    return secret ? *secret : std::string();
  }
  std::string Code(const std::string& secret) {
    auto code = totp::Generate(secret, clock_.NowUnixSeconds());
    EXPECT_TRUE(code);
    return code ? *code : std::string();
  }
  std::string WrongCode(const std::string& secret) {
    std::string code = Code(secret);
    code[0] = code[0] == '9' ? '0' : static_cast<char>(code[0] + 1);
    return code;
  }
  Result<LoginResult> Login(std::string_view name, std::string_view password, std::string_view code,
                            std::string_view source = "192.0.2.1", int64_t* retry_after = nullptr) {
    return directory_->Login({name, password, code, source}, retry_after);
  }

  std::string dir_path_;
  FakeClock clock_{kStart};
  crypto::SecretKey hash_key_ = crypto::SecretKey::Random();
  crypto::SecretKey pepper_ = crypto::SecretKey::Random();
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<Directory> directory_;
};

TEST_F(DirectoryTest, ServiceKeyAuthenticates) {
  AddResult added = AddService("billing-app");
  EXPECT_EQ(added.api_key.substr(0, 10), "coffre_sk_");
  EXPECT_EQ(added.api_key.size(), 10u + 43u);
  EXPECT_TRUE(added.totp_secret_base32.empty());
  auto who = directory_->AuthenticateApiKey(added.api_key);
  ASSERT_TRUE(who) << who.error().ToString();
  EXPECT_EQ(who->name, "billing-app");
  EXPECT_EQ(who->kind, Kind::kService);
  EXPECT_EQ(who->role, "billing");
  EXPECT_EQ(who->created_ms, kStart * 1000);

  std::string wrong = added.api_key;
  wrong.back() = wrong.back() == 'A' ? 'B' : 'A';
  for (std::string_view bad : {std::string_view(wrong), std::string_view("coffre_sk_short"),
                               std::string_view(""), std::string_view(added.api_key).substr(1)}) {
    auto r = directory_->AuthenticateApiKey(bad);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated);
    EXPECT_EQ(r.error().message, "invalid API key");
  }
}

TEST_F(DirectoryTest, TwoServicesGetDistinctKeys) {
  AddResult a = AddService("svc-a");
  AddResult b = AddService("svc-b");
  EXPECT_NE(a.api_key, b.api_key);
  EXPECT_EQ(directory_->AuthenticateApiKey(b.api_key)->name, "svc-b");
}

TEST_F(DirectoryTest, AddValidatesItsInput) {
  AddService("taken");
  auto dup = directory_->Add({.name = "taken", .kind = Kind::kUser, .role = "r"});
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, ErrorCode::kAlreadyExists);

  for (const std::string& bad :
       std::vector<std::string>{"", "Upper", "-lead", "with space", "a/b", std::string(65, 'x')}) {
    auto r = directory_->Add({.name = bad, .kind = Kind::kUser, .role = "r"});
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  }
  EXPECT_FALSE(directory_->Add({.name = "u1", .kind = Kind::kUser, .role = ""}));
  EXPECT_FALSE(directory_->Add({.name = "u1", .kind = Kind::kUser, .role = "a b"}));
  EXPECT_FALSE(directory_->Add(
      {.name = "u1", .kind = Kind::kUser, .role = "r", .attrs = {{"Agency", "x"}}}));
  EXPECT_FALSE(
      directory_->Add({.name = "u1", .kind = Kind::kUser, .role = "r", .attrs = {{"agency", ""}}}));
  // Passwords: only humans, and only strong ones.
  EXPECT_FALSE(directory_->Add(
      {.name = "u1", .kind = Kind::kService, .role = "r", .password = std::string(kPassword)}));
  EXPECT_FALSE(directory_->Add({.name = "h1", .kind = Kind::kHuman, .role = "r"}));
  auto weak =
      directory_->Add({.name = "h1", .kind = Kind::kHuman, .role = "r", .password = "short-Pw1"});
  ASSERT_FALSE(weak);
  EXPECT_NE(weak.error().message.find("rule cnil-2022-100"), std::string::npos);
  EXPECT_EQ(weak.error().message.find("short-Pw1"), std::string::npos);
  // Staff passwords meet the rule "guessable" too (issue 13).
  auto guessable = directory_->Add(
      {.name = "h1", .kind = Kind::kHuman, .role = "r", .password = "Password2024!!"});
  ASSERT_FALSE(guessable);
  EXPECT_EQ(guessable.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(guessable.error().message.find("rule guessable"), std::string::npos);
  EXPECT_FALSE(*directory_->Exists("h1"));
}

TEST_F(DirectoryTest, HumanEnrolmentShowsUriAndQr) {
  auto r = directory_->Add({.name = "alice",
                            .kind = Kind::kHuman,
                            .role = "support",
                            .password = std::string(kPassword)});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_TRUE(r->api_key.empty());
  EXPECT_EQ(r->totp_secret_base32.size(), 32u);  // 20 bytes
  EXPECT_EQ(r->otpauth_uri, "otpauth://totp/coffre:alice?secret=" + r->totp_secret_base32 +
                                "&issuer=coffre&algorithm=SHA1&digits=6&period=30");
}

TEST_F(DirectoryTest, HumanEnrolmentTakesAnIssuer) {
  auto r = directory_->Add({.name = "alice",
                            .kind = Kind::kHuman,
                            .role = "support",
                            .password = std::string(kPassword),
                            .totp_issuer = "ACME Vault"});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->otpauth_uri, "otpauth://totp/ACME%20Vault:alice?secret=" + r->totp_secret_base32 +
                                "&issuer=ACME%20Vault&algorithm=SHA1&digits=6&period=30");
  auto bad = directory_->Add({.name = "bob",
                              .kind = Kind::kHuman,
                              .role = "support",
                              .password = std::string(kPassword),
                              .totp_issuer = "a:b"});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  auto svc = directory_->Add(
      {.name = "svc", .kind = Kind::kService, .role = "billing", .totp_issuer = "ACME"});
  ASSERT_FALSE(svc);
  EXPECT_EQ(svc.error().code, ErrorCode::kInvalidArgument);
}

// A login takes one of the Argon2id slots before anything is hashed; with
// none free it is refused at once, costs the source nothing, and the
// account is untouched (no failure counted).
TEST_F(DirectoryTest, LoginsBeyondTheHashCapAreRefusedBeforeAnyHash) {
  const std::string secret = AddHuman("alice");
  Reopen({.max_concurrent_hashes = 0});
  for (int i = 0; i < 12; ++i) {  // more than the source's burst and the lockout
    int64_t retry_after = 0;
    auto r = Login("alice", kPassword, Code(secret), "198.51.100.40", &retry_after);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kResourceExhausted);
    EXPECT_EQ(retry_after, 1);
  }
  Reopen();
  auto login = Login("alice", kPassword, Code(secret), "198.51.100.40");
  EXPECT_TRUE(login) << login.error().ToString();
}

TEST_F(DirectoryTest, HumanLogsInWithPasswordAndTotp) {
  const std::string secret = AddHuman("alice");
  auto login = Login("alice", kPassword, Code(secret));
  ASSERT_TRUE(login) << login.error().ToString();
  EXPECT_EQ(login->session_token.substr(0, 10), "coffre_st_");
  EXPECT_EQ(login->expires_at, kStart + 15 * 60);
  EXPECT_EQ(login->principal.name, "alice");
  auto me = directory_->AuthenticateSession(login->session_token);
  ASSERT_TRUE(me) << me.error().ToString();
  EXPECT_EQ(me->name, "alice");
  EXPECT_EQ(me->attrs.at("agency"), "Lyon");

  ASSERT_TRUE(directory_->Logout(login->session_token));
  EXPECT_FALSE(directory_->AuthenticateSession(login->session_token));
}

TEST_F(DirectoryTest, WrongFactorsUnknownNamesAndNonHumansLookAlike) {
  const std::string secret = AddHuman("alice");
  AddService("svc");
  ASSERT_TRUE(directory_->Add({.name = "enduser", .kind = Kind::kUser, .role = "customer"}));
  const std::string code = Code(secret);
  const std::pair<std::string_view, std::string_view> attempts[] = {{"alice", "Wrong-Password-99!"},
                                                                    {"nobody", kPassword},
                                                                    {"svc", kPassword},
                                                                    {"enduser", kPassword},
                                                                    {"Not A Name", kPassword}};
  for (const auto& [name, password] : attempts) {
    auto r = Login(name, password, code, std::string("198.51.100.").append(name));
    ASSERT_FALSE(r) << name;
    EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated) << name;
    EXPECT_EQ(r.error().message, "invalid credentials") << name;
  }
  auto wrong_code = Login("alice", kPassword, WrongCode(secret), "198.51.100.9");
  ASSERT_FALSE(wrong_code);
  EXPECT_EQ(wrong_code.error().message, "invalid credentials");
}

TEST_F(DirectoryTest, ReplayedTotpCodeIsRefused) {
  const std::string secret = AddHuman("alice");
  const std::string code = Code(secret);
  ASSERT_TRUE(Login("alice", kPassword, code));
  clock_.Advance(5);  // same step
  auto replay = Login("alice", kPassword, code);
  ASSERT_FALSE(replay);
  EXPECT_EQ(replay.error().code, ErrorCode::kUnauthenticated);
  // Also after a restart: the last accepted step is persisted.
  Reopen();
  EXPECT_FALSE(Login("alice", kPassword, code));
  clock_.Advance(30);
  EXPECT_TRUE(Login("alice", kPassword, Code(secret)));
}

TEST_F(DirectoryTest, TenFailuresLockForThirtyMinutes) {
  const std::string secret = AddHuman("alice");
  for (int i = 0; i < 10; ++i) {
    // A distinct source each time: lockout, not throttling, is under test.
    auto r = Login("alice", "Wrong-Password-99!", Code(secret), "10.0.0." + std::to_string(i));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kUnauthenticated) << i;
  }
  int64_t retry_after = 0;
  auto locked = Login("alice", kPassword, Code(secret), "10.0.1.1", &retry_after);
  ASSERT_FALSE(locked);
  EXPECT_EQ(locked.error().code, ErrorCode::kResourceExhausted);
  EXPECT_EQ(retry_after, 30 * 60);

  clock_.Advance(30 * 60 - 1);
  locked = Login("alice", kPassword, Code(secret), "10.0.1.2", &retry_after);
  ASSERT_FALSE(locked);
  EXPECT_EQ(retry_after, 1);

  clock_.Advance(1);
  auto ok = Login("alice", kPassword, Code(secret), "10.0.1.3", &retry_after);
  ASSERT_TRUE(ok) << ok.error().ToString();
  EXPECT_EQ(retry_after, 0);
}

TEST_F(DirectoryTest, SuccessResetsTheFailureCount) {
  const std::string secret = AddHuman("alice");
  for (int i = 0; i < 9; ++i) {
    ASSERT_FALSE(Login("alice", kPassword, WrongCode(secret), "10.0.0." + std::to_string(i)));
  }
  ASSERT_TRUE(Login("alice", kPassword, Code(secret), "10.0.2.1"));
  for (int i = 0; i < 9; ++i) {
    ASSERT_FALSE(Login("alice", "Wrong-Password-99!", Code(secret), "10.0.3." + std::to_string(i)));
  }
  clock_.Advance(30);
  EXPECT_TRUE(Login("alice", kPassword, Code(secret), "10.0.2.2"));
}

TEST_F(DirectoryTest, LockoutSurvivesARestart) {
  const std::string secret = AddHuman("alice");
  for (int i = 0; i < 10; ++i) {
    ASSERT_FALSE(Login("alice", "Wrong-Password-99!", Code(secret), "10.0.0." + std::to_string(i)));
  }
  directory_.reset();
  store_.reset();
  OpenStore();
  Reopen();
  int64_t retry_after = 0;
  auto r = Login("alice", kPassword, Code(secret), "10.0.1.1", &retry_after);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kResourceExhausted);
  EXPECT_EQ(retry_after, 30 * 60);
}

TEST_F(DirectoryTest, ThrottlePerNameAndSourceComesBeforeTheAccount) {
  const std::string secret = AddHuman("alice");
  const std::string bob = AddHuman("bob");
  const std::string_view attacker = "203.0.113.66";
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(Login("alice", "Wrong-Password-99!", Code(secret), attacker).error().code,
              ErrorCode::kUnauthenticated);
  }
  // The sixth attempt is refused before the account is looked at, even
  // with the right credentials.
  for (int i = 0; i < 20; ++i) {
    int64_t retry_after = 0;
    LoginNote note;
    auto r = directory_->Login({"alice", kPassword, Code(secret), attacker}, &retry_after, &note);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kResourceExhausted);
    EXPECT_EQ(retry_after, 60);
    EXPECT_EQ(note.refusal, "throttled (name, source)");
  }
  // Another name from the same address (a colleague behind the same NAT or
  // proxy) is not throttled: before, this login got kResourceExhausted.
  int64_t retry_after = 0;
  auto colleague = Login("bob", kPassword, Code(bob), attacker, &retry_after);
  ASSERT_TRUE(colleague) << colleague.error().ToString();
  // The account took 5 failures, not 26: its owner logs in from elsewhere.
  auto owner = Login("alice", kPassword, Code(secret), "192.0.2.10", &retry_after);
  ASSERT_TRUE(owner) << owner.error().ToString();

  // After a minute the attacker gets exactly one more attempt.
  clock_.Advance(59);
  EXPECT_EQ(Login("alice", "x", "000000", attacker, &retry_after).error().code,
            ErrorCode::kResourceExhausted);
  EXPECT_EQ(retry_after, 1);
  clock_.Advance(1);
  EXPECT_EQ(Login("alice", "x", "000000", attacker).error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(Login("alice", "x", "000000", attacker, &retry_after).error().code,
            ErrorCode::kResourceExhausted);
  EXPECT_EQ(retry_after, 60);
}

TEST_F(DirectoryTest, ASourceIsThrottledAfterFiftyFailuresUnderAnyNames) {
  Reopen({.lockout_failures = 1000});
  const std::string secret = AddHuman("alice");
  const std::string_view proxy = "198.51.100.7";
  // 50 failures under 50 names: each name is far from its own bound.
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(Login("user" + std::to_string(i), "x", "000000", proxy).error().code,
              ErrorCode::kUnauthenticated)
        << i;
  }
  int64_t retry_after = 0;
  LoginNote note;
  auto r = directory_->Login({"alice", kPassword, Code(secret), proxy}, &retry_after, &note);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kResourceExhausted);
  EXPECT_EQ(retry_after, 6);
  EXPECT_EQ(note.refusal, "throttled (source)");
  // Then one attempt per 6 s.
  clock_.Advance(6);
  EXPECT_TRUE(Login("alice", kPassword, Code(secret), proxy));
  EXPECT_EQ(Login("nobody", "x", "000000", proxy).error().code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(Login("nobody", "x", "000000", proxy).error().code, ErrorCode::kResourceExhausted);
}

// An unknown name, a service's and a user's are counted and locked exactly
// like a human's (in memory), so the answers do not tell which exist.
// Before, only a human's name ever locked.
TEST_F(DirectoryTest, UnknownNamesLockLikeHumans) {
  const std::string secret = AddHuman("alice");
  AddService("svc");
  ASSERT_TRUE(directory_->Add({.name = "client-1", .kind = Kind::kUser, .role = "customer"}));
  auto run = [&](const std::string& name, int n) {
    std::vector<std::pair<ErrorCode, int64_t>> seen;
    for (int i = 0; i < n; ++i) {
      int64_t retry_after = 0;
      auto r = Login(name, "Wrong-Password-99!", Code(secret),
                     "10.7." + std::to_string(n) + "." + std::to_string(i) + name, &retry_after);
      seen.emplace_back(r ? ErrorCode::kInternal : r.error().code, retry_after);
    }
    return seen;
  };
  const auto human = run("alice", 12);
  EXPECT_EQ(human[9].first, ErrorCode::kUnauthenticated);
  EXPECT_EQ(human[10].first, ErrorCode::kResourceExhausted);
  EXPECT_EQ(human[10].second, 30 * 60);
  for (const std::string name : {"ghost", "svc", "client-1"}) {
    EXPECT_EQ(run(name, 12), human) << name;
  }
  // Locked names open again after 30 minutes, known or not.
  clock_.Advance(30 * 60);
  EXPECT_EQ(Login("ghost", "x", "000000", "10.8.0.1").error().code, ErrorCode::kUnauthenticated);
  EXPECT_TRUE(Login("alice", kPassword, Code(secret), "10.8.0.2"));
}

// The lock follows the name across Add and Remove: an account appearing or
// disappearing does not lift it (which would tell that it did).
TEST_F(DirectoryTest, ALockSurvivesTheNameBeingAddedOrRemoved) {
  for (int i = 0; i < 10; ++i)
    ASSERT_FALSE(Login("newhire", "x", "000000", "10.3.0." + std::to_string(i)));
  const std::string secret = AddHuman("newhire");
  int64_t retry_after = 0;
  auto r = Login("newhire", kPassword, Code(secret), "10.3.1.1", &retry_after);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kResourceExhausted);
  EXPECT_EQ(retry_after, 30 * 60);
  ASSERT_TRUE(directory_->Remove("newhire"));
  r = Login("newhire", kPassword, Code(secret), "10.3.1.2", &retry_after);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kResourceExhausted);
  EXPECT_EQ(retry_after, 30 * 60);
  // A name without failures leaves nothing behind.
  const std::string other = AddHuman("other");
  ASSERT_TRUE(directory_->Remove("other"));
  EXPECT_EQ(Login("other", kPassword, "000000", "10.3.1.3").error().code,
            ErrorCode::kUnauthenticated);
}

TEST_F(DirectoryTest, UnregisteredLockStateStaysBounded) {
  Reopen({.lockout_failures = 3, .max_unregistered_locks = 8});
  for (int i = 0; i < 100; ++i) {
    ASSERT_FALSE(Login("ghost" + std::to_string(i), "x", "000000", "10.9." + std::to_string(i)));
  }
  // Locks are kept over mere counts when room is needed.
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(Login("target", "x", "000000", "10.10.0." + std::to_string(i)).error().code,
              ErrorCode::kUnauthenticated);
  }
  for (int i = 0; i < 50; ++i) {
    ASSERT_FALSE(Login("more" + std::to_string(i), "x", "000000", "10.11." + std::to_string(i)));
  }
  EXPECT_EQ(Login("target", "x", "000000", "10.10.1.1").error().code,
            ErrorCode::kResourceExhausted);
}

TEST_F(DirectoryTest, UnlockLiftsAHumansLockAndItsThrottles) {
  const std::string secret = AddHuman("alice");
  for (int i = 0; i < 10; ++i) {
    ASSERT_FALSE(Login("alice", "Wrong-Password-99!", Code(secret), "10.0.0." + std::to_string(i)));
  }
  for (int i = 0; i < 5; ++i) {
    ASSERT_FALSE(Login("alice", "Wrong-Password-99!", Code(secret), "192.0.2.50"));
  }
  ASSERT_EQ(Login("alice", kPassword, Code(secret), "192.0.2.50").error().code,
            ErrorCode::kResourceExhausted);
  auto unlocked = directory_->Unlock("alice");
  ASSERT_TRUE(unlocked) << unlocked.error().ToString();
  EXPECT_TRUE(*unlocked);
  // The lock and the (name, source) throttle are gone.
  auto login = Login("alice", kPassword, Code(secret), "192.0.2.50");
  ASSERT_TRUE(login) << login.error().ToString();
  // The last accepted step stays: the code just used is not accepted again.
  ASSERT_TRUE(directory_->Unlock("alice"));
  EXPECT_EQ(Login("alice", kPassword, Code(secret), "192.0.2.51").error().code,
            ErrorCode::kUnauthenticated);
  EXPECT_FALSE(*directory_->Unlock("alice"));
  AddService("svc");
  EXPECT_EQ(directory_->Unlock("svc").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(directory_->Unlock("ghost").error().code, ErrorCode::kNotFound);
}

TEST_F(DirectoryTest, UpdateChangesRoleAndAttributesAtOnce) {
  const std::string secret = AddHuman("alice");
  auto login = Login("alice", kPassword, Code(secret));
  ASSERT_TRUE(login);
  auto updated = directory_->Update(
      "alice", {.role = "dpo", .set_attrs = {{"team", "b"}}, .remove_attrs = {"agency"}});
  ASSERT_TRUE(updated) << updated.error().ToString();
  EXPECT_EQ(updated->role, "dpo");
  EXPECT_EQ(updated->attrs, (Attributes{{"team", "b"}}));
  auto me = directory_->AuthenticateSession(login->session_token);
  ASSERT_TRUE(me);
  EXPECT_EQ(me->role, "dpo");
  EXPECT_EQ(me->attrs, (Attributes{{"team", "b"}}));
  EXPECT_EQ(directory_->Get("alice")->role, "dpo");

  EXPECT_EQ(directory_->Update("alice", {}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(directory_->Update("alice", {.role = "bad role"}).error().code,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(directory_->Update("alice", {.remove_attrs = {"agency"}}).error().code,
            ErrorCode::kNotFound);
  EXPECT_EQ(directory_->Update("ghost", {.role = "dpo"}).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(directory_->Get("alice")->attrs, (Attributes{{"team", "b"}}));  // unchanged
}

TEST_F(DirectoryTest, RotatedKeyKeepsTheOldOneForItsGrace) {
  AddResult svc = AddService("svc");
  auto rotated = directory_->RotateApiKey("svc", 3600);
  ASSERT_TRUE(rotated) << rotated.error().ToString();
  EXPECT_NE(rotated->api_key, svc.api_key);
  EXPECT_EQ(rotated->previous_valid_until, kStart + 3600);
  EXPECT_TRUE(directory_->AuthenticateApiKey(svc.api_key));
  EXPECT_TRUE(directory_->AuthenticateApiKey(rotated->api_key));
  // Also when read from the store rather than the cache.
  Reopen();
  clock_.Advance(3599);
  EXPECT_TRUE(directory_->AuthenticateApiKey(svc.api_key));
  clock_.Advance(1);
  EXPECT_EQ(directory_->AuthenticateApiKey(svc.api_key).error().code, ErrorCode::kUnauthenticated);
  EXPECT_TRUE(directory_->AuthenticateApiKey(rotated->api_key));

  // A second rotation ends the key kept by the first at once; grace 0
  // ends the current one at once.
  auto second = directory_->RotateApiKey("svc", 600);
  ASSERT_TRUE(second);
  auto third = directory_->RotateApiKey("svc", 0);
  ASSERT_TRUE(third);
  EXPECT_EQ(third->previous_valid_until, 0);
  EXPECT_FALSE(directory_->AuthenticateApiKey(rotated->api_key));
  EXPECT_FALSE(directory_->AuthenticateApiKey(second->api_key));
  EXPECT_TRUE(directory_->AuthenticateApiKey(third->api_key));

  // Removing the service removes its old key too: a new service of the
  // same name does not inherit it.
  auto fourth = directory_->RotateApiKey("svc", 3600);
  ASSERT_TRUE(fourth);
  ASSERT_TRUE(directory_->Remove("svc"));
  AddService("svc");
  EXPECT_FALSE(directory_->AuthenticateApiKey(third->api_key));
  EXPECT_FALSE(directory_->AuthenticateApiKey(fourth->api_key));

  EXPECT_EQ(directory_->RotateApiKey("svc", -1).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(directory_->RotateApiKey("svc", 8 * 24 * 3600).error().code,
            ErrorCode::kInvalidArgument);
  AddHuman("alice");
  EXPECT_EQ(directory_->RotateApiKey("alice", 0).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(directory_->RotateApiKey("ghost", 0).error().code, ErrorCode::kNotFound);
}

TEST_F(DirectoryTest, ResetTotpReplacesTheSecretAndEndsSessions) {
  const std::string old_secret = AddHuman("alice");
  auto login = Login("alice", kPassword, Code(old_secret));
  ASSERT_TRUE(login);
  auto reset = directory_->ResetTotp("alice", "ACME");
  ASSERT_TRUE(reset) << reset.error().ToString();
  EXPECT_EQ(reset->otpauth_uri.substr(0, 26), "otpauth://totp/ACME:alice?");
  auto secret = totp::Base32Decode(reset->totp_secret_base32);
  ASSERT_TRUE(secret);
  EXPECT_NE(*secret, old_secret);
  EXPECT_FALSE(directory_->AuthenticateSession(login->session_token));
  clock_.Advance(30);
  EXPECT_EQ(Login("alice", kPassword, Code(old_secret)).error().code, ErrorCode::kUnauthenticated);
  clock_.Advance(30);
  EXPECT_TRUE(Login("alice", kPassword, Code(*secret)));
  AddService("svc");
  EXPECT_EQ(directory_->ResetTotp("svc").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(directory_->ResetTotp("ghost").error().code, ErrorCode::kNotFound);
}

TEST_F(DirectoryTest, ParallelGuessesLockAfterExactlyTen) {
  const std::string secret = AddHuman("alice");
  std::atomic<int> unauthenticated{0}, exhausted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 4; ++i) {
        auto r = Login("alice", "Wrong-Password-99!", "000000",
                       "10.1." + std::to_string(t) + "." + std::to_string(i));
        if (!r && r.error().code == ErrorCode::kUnauthenticated) ++unauthenticated;
        if (!r && r.error().code == ErrorCode::kResourceExhausted) ++exhausted;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(unauthenticated.load(), 10);
  EXPECT_EQ(exhausted.load(), 22);
}

TEST_F(DirectoryTest, ParallelGuessesAtAnUnknownNameLockAfterExactlyTen) {
  std::atomic<int> unauthenticated{0}, exhausted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 4; ++i) {
        auto r = Login("ghost", "Wrong-Password-99!", "000000",
                       "10.2." + std::to_string(t) + "." + std::to_string(i));
        if (!r && r.error().code == ErrorCode::kUnauthenticated) ++unauthenticated;
        if (!r && r.error().code == ErrorCode::kResourceExhausted) ++exhausted;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(unauthenticated.load(), 10);
  EXPECT_EQ(exhausted.load(), 22);
}

TEST_F(DirectoryTest, SessionsExpireAfterFifteenIdleMinutesSliding) {
  const std::string secret = AddHuman("alice");
  auto login = Login("alice", kPassword, Code(secret));
  ASSERT_TRUE(login);
  const std::string& token = login->session_token;
  // Each use slides the idle expiry: 3 x 14 minutes outlives 15.
  for (int i = 0; i < 3; ++i) {
    clock_.Advance(14 * 60);
    ASSERT_TRUE(directory_->AuthenticateSession(token)) << i;
  }
  clock_.Advance(15 * 60);
  auto expired = directory_->AuthenticateSession(token);
  ASSERT_FALSE(expired);
  EXPECT_EQ(expired.error().code, ErrorCode::kUnauthenticated);
  // Gone for good, even if the clock went back.
  EXPECT_FALSE(directory_->AuthenticateSession(token));
}

TEST_F(DirectoryTest, SessionsEndAfterEightHoursWhateverTheUse) {
  const std::string secret = AddHuman("alice");
  auto login = Login("alice", kPassword, Code(secret));
  ASSERT_TRUE(login);
  for (int i = 0; i < 47; ++i) {  // 47 x 10 min = 7 h 50
    clock_.Advance(10 * 60);
    ASSERT_TRUE(directory_->AuthenticateSession(login->session_token)) << i;
  }
  clock_.Advance(10 * 60);
  EXPECT_FALSE(directory_->AuthenticateSession(login->session_token));
}

TEST_F(DirectoryTest, ForgedOrForeignTokensAreRefused) {
  EXPECT_FALSE(directory_->AuthenticateSession(""));
  EXPECT_FALSE(directory_->AuthenticateSession("coffre_st_" + std::string(43, 'A')));
  AddResult svc = AddService("svc");
  // An API key is not a session token.
  EXPECT_FALSE(directory_->AuthenticateSession(svc.api_key));
}

TEST_F(DirectoryTest, SuspensionStopsKeysAndSessionsAtOnce) {
  AddResult svc = AddService("svc");
  const std::string secret = AddHuman("alice");
  auto login = Login("alice", kPassword, Code(secret));
  ASSERT_TRUE(login);

  ASSERT_TRUE(directory_->Suspend("svc"));
  ASSERT_TRUE(directory_->Suspend("alice"));
  EXPECT_TRUE(directory_->Get("alice")->suspended);
  auto key = directory_->AuthenticateApiKey(svc.api_key);
  ASSERT_FALSE(key);
  EXPECT_EQ(key.error().code, ErrorCode::kPermissionDenied);
  EXPECT_FALSE(directory_->AuthenticateSession(login->session_token));
  clock_.Advance(30);
  auto again = Login("alice", kPassword, Code(secret));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kPermissionDenied);
  // Wrong credentials do not reveal the suspension.
  EXPECT_EQ(Login("alice", "Wrong-Password-99!", Code(secret), "10.9.9.9").error().code,
            ErrorCode::kUnauthenticated);

  ASSERT_TRUE(directory_->Resume("svc"));
  ASSERT_TRUE(directory_->Resume("alice"));
  EXPECT_TRUE(directory_->AuthenticateApiKey(svc.api_key));
  EXPECT_FALSE(directory_->AuthenticateSession(login->session_token));  // stays ended
  clock_.Advance(30);
  EXPECT_TRUE(Login("alice", kPassword, Code(secret)));
  EXPECT_EQ(directory_->Suspend("ghost").error().code, ErrorCode::kNotFound);
}

// Principals and API keys are cached in memory after the first read; every
// write clears the cache, so a suspension or removal applies to the very
// next request, including while other threads keep authenticating.
TEST_F(DirectoryTest, CachedPrincipalsFollowSuspensionAndRemovalAtOnce) {
  AddResult svc = AddService("svc");
  ASSERT_TRUE(directory_->Add({.name = "client-42", .kind = Kind::kUser, .role = "customer"}));
  for (int i = 0; i < 3; ++i) {  // warm the cache
    ASSERT_TRUE(directory_->AuthenticateApiKey(svc.api_key));
    ASSERT_TRUE(directory_->GetUser("client-42"));
  }
  ASSERT_TRUE(directory_->Suspend("svc"));
  ASSERT_TRUE(directory_->Suspend("client-42"));
  EXPECT_EQ(directory_->AuthenticateApiKey(svc.api_key).error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(directory_->GetUser("client-42").error().code, ErrorCode::kPermissionDenied);
  ASSERT_TRUE(directory_->Resume("svc"));
  ASSERT_TRUE(directory_->AuthenticateApiKey(svc.api_key));

  // Readers racing a suspension: once Suspend has returned, no reader
  // that starts afterwards is let in.
  std::atomic<bool> suspended{false}, stop{false};
  std::atomic<int> late_admissions{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      while (!stop) {
        const bool after = suspended.load();
        auto who = directory_->AuthenticateApiKey(svc.api_key);
        if (after && who) ++late_admissions;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(directory_->Suspend("svc"));
  suspended = true;
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  stop = true;
  for (auto& r : readers) r.join();
  EXPECT_EQ(late_admissions.load(), 0);

  ASSERT_TRUE(directory_->Remove("svc"));
  EXPECT_EQ(directory_->AuthenticateApiKey(svc.api_key).error().code, ErrorCode::kUnauthenticated);
  // A new principal of the same name gets a new key; the old one stays dead.
  AddResult again = AddService("svc");
  EXPECT_FALSE(directory_->AuthenticateApiKey(svc.api_key));
  EXPECT_TRUE(directory_->AuthenticateApiKey(again.api_key));
}

TEST_F(DirectoryTest, RemoveDeletesEverythingInOneGo) {
  AddResult svc = AddService("svc");
  const std::string secret = AddHuman("alice");
  auto login = Login("alice", kPassword, Code(secret));
  ASSERT_TRUE(login);
  ASSERT_FALSE(Login("alice", "Wrong-Password-99!", Code(secret), "10.9.9.9"));  // lock state

  ASSERT_TRUE(directory_->Remove("svc"));
  ASSERT_TRUE(directory_->Remove("alice"));
  EXPECT_EQ(directory_->AuthenticateApiKey(svc.api_key).error().code, ErrorCode::kUnauthenticated);
  EXPECT_FALSE(directory_->AuthenticateSession(login->session_token));
  size_t entries = 0;
  ASSERT_TRUE(store_->Scan(storage::Space::kPrincipals, "", [&](auto, auto) {
    ++entries;
    return true;
  }));
  EXPECT_EQ(entries, 0u);
  EXPECT_EQ(directory_->Remove("svc").error().code, ErrorCode::kNotFound);

  // The name can be taken again; the old key stays dead.
  AddResult again = AddService("svc");
  EXPECT_FALSE(directory_->AuthenticateApiKey(svc.api_key));
  EXPECT_TRUE(directory_->AuthenticateApiKey(again.api_key));
}

TEST_F(DirectoryTest, UsersForOnBehalfOf) {
  ASSERT_TRUE(directory_->Add({.name = "client-42",
                               .kind = Kind::kUser,
                               .role = "customer",
                               .attrs = {{"agency", "Nantes"}}}));
  AddService("svc");
  auto user = directory_->GetUser("client-42");
  ASSERT_TRUE(user);
  EXPECT_EQ(user->attrs.at("agency"), "Nantes");
  EXPECT_EQ(directory_->GetUser("svc").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(directory_->GetUser("nobody").error().code, ErrorCode::kNotFound);
  EXPECT_EQ(directory_->GetUser("Bad Name").error().code, ErrorCode::kInvalidArgument);
  ASSERT_TRUE(directory_->Suspend("client-42"));
  EXPECT_EQ(directory_->GetUser("client-42").error().code, ErrorCode::kPermissionDenied);
  EXPECT_TRUE(*directory_->Exists("client-42"));
  EXPECT_FALSE(*directory_->Exists("nobody"));
}

TEST_F(DirectoryTest, ListIsSortedByName) {
  ASSERT_TRUE(directory_->Add({.name = "zed", .kind = Kind::kUser, .role = "r"}));
  AddService("alpha");
  AddHuman("mid");
  auto all = directory_->List();
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].name, "alpha");
  EXPECT_EQ((*all)[1].name, "mid");
  EXPECT_EQ((*all)[1].kind, Kind::kHuman);
  EXPECT_EQ((*all)[2].name, "zed");
}

TEST_F(DirectoryTest, RecordsCannotBeMovedOrReadWithoutThePepper) {
  AddService("admin-svc");
  ASSERT_TRUE(directory_->Add({.name = "low", .kind = Kind::kUser, .role = "reader"}));
  // Copy low's record over admin-svc's: the seal binds the name.
  auto low = store_->Get(storage::Space::kPrincipals, "p/low");
  ASSERT_TRUE(low && *low);
  auto batch = store_->NewBatch();
  batch->Put(storage::Space::kPrincipals, "p/admin-svc", **low);
  ASSERT_TRUE(store_->Write(*batch));
  EXPECT_EQ(directory_->Get("admin-svc").error().code, ErrorCode::kDataLoss);
  // Another pepper opens nothing.
  Directory other(Principals(), hash_key_, crypto::SecretKey::Random(), clock_,
                  crypto::kTestPasswordHashParams);
  EXPECT_EQ(other.Get("low").error().code, ErrorCode::kDataLoss);
}

bool Contains(std::string_view haystack, std::string_view needle) {
  return !needle.empty() && haystack.find(needle) != std::string_view::npos;
}

TEST_F(DirectoryTest, NoSecretIsStoredInTheClear) {
  AddResult svc = AddService("svc");
  auto human = directory_->Add({.name = "alice",
                                .kind = Kind::kHuman,
                                .role = "support",
                                .password = std::string(kPassword)});
  ASSERT_TRUE(human);
  auto secret = totp::Base32Decode(human->totp_secret_base32);
  ASSERT_TRUE(secret);
  auto login = Login("alice", kPassword, Code(*secret));
  ASSERT_TRUE(login);
  const std::string api_key_body = svc.api_key.substr(10);
  const std::vector<std::string> secrets = {
      svc.api_key,         api_key_body, std::string(kPassword), *secret, human->totp_secret_base32,
      login->session_token};

  // Through the Store interface, every space.
  for (int s = 0; s < storage::kSpaceCount; ++s) {
    if (storage::SpaceName(static_cast<storage::Space>(s)) == "unknown") continue;
    ASSERT_TRUE(store_->Scan(static_cast<storage::Space>(s), "", [&](auto key, auto value) {
      for (const auto& secret_value : secrets) {
        EXPECT_FALSE(Contains(key, secret_value));
        EXPECT_FALSE(Contains(value, secret_value));
      }
      return true;
    }));
  }
  // And in the files themselves (write-ahead log included).
  ASSERT_TRUE(store_->Flush());
  size_t files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir_path_)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), {});
    ++files;
    for (const auto& secret_value : secrets) {
      EXPECT_FALSE(Contains(bytes, secret_value)) << entry.path().filename();
    }
  }
  EXPECT_GT(files, 0u);
  // Sanity check of the search: the principal's name is there.
  bool name_found = false;
  for (const auto& entry : fs::recursive_directory_iterator(dir_path_)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), {});
    name_found = name_found || Contains(bytes, "p/alice");
  }
  EXPECT_TRUE(name_found);
}

TEST(Names, Rules) {
  EXPECT_TRUE(ValidateName("a"));
  EXPECT_TRUE(ValidateName("0svc.prod_eu-1"));
  EXPECT_TRUE(ValidateName(std::string(64, 'a')));
  EXPECT_FALSE(ValidateName(std::string(65, 'a')));
  EXPECT_FALSE(ValidateName(".hidden"));
  EXPECT_FALSE(ValidateName("café"));
  EXPECT_EQ(ParseKind("human"), Kind::kHuman);
  EXPECT_FALSE(ParseKind("admin"));
  EXPECT_EQ(KindName(Kind::kService), "service");
}

TEST(Attributes, ParseAndValidate) {
  auto kv = ParseAttribute("agency=Lyon=Part-Dieu");
  ASSERT_TRUE(kv);
  EXPECT_EQ(kv->first, "agency");
  EXPECT_EQ(kv->second, "Lyon=Part-Dieu");
  EXPECT_TRUE(ParseAttribute("_x9=Évry"));
  EXPECT_TRUE(ParseAttribute("k=" + std::string(128, 'v')));
  EXPECT_FALSE(ParseAttribute("k=" + std::string(129, 'v')));
  EXPECT_FALSE(ParseAttribute("novalue"));
  EXPECT_FALSE(ParseAttribute("k="));
  EXPECT_FALSE(ParseAttribute("=v"));
  EXPECT_FALSE(ParseAttribute("9k=v"));
  EXPECT_FALSE(ParseAttribute("k=a\tb"));
  EXPECT_FALSE(ParseAttribute("k=\xff"));
  EXPECT_FALSE(ParseAttribute(std::string(33, 'k') + "=v"));
  // The error names the key, never the value.
  auto bad = ParseAttribute("agency=secret\x01value");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("agency"), std::string::npos);
  EXPECT_EQ(bad.error().message.find("secret"), std::string::npos);
}

}  // namespace
}  // namespace coffre::auth
