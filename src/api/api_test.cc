// The API in-process: real vault, directory, audit log and the example
// policy, requests as values. The black-box suite (tests/blackbox) does the
// same over TLS against the real server.
#include "api/api.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string_view>

#include "api/routes.h"
#include "approval/approvals.h"
#include "auth/test_passwords.h"
#include "auth/totp.h"
#include "common/bytes.h"
#include "credentials/credentials.h"
#include "gen/people_gen.h"
#include "guard/guard.h"
#include "vault/record_json.h"

namespace coffre::api {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto::Init());
    tmp_ = fs::temp_directory_path() /
           ("coffre-api-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(tmp_);
    fs::create_directories(tmp_);
    const std::string src = COFFRE_SOURCE_DIR;
    auto schema = schema::Schema::LoadFile(src + "/examples/people.toml");
    ASSERT_TRUE(schema) << schema.error().message;
    auto pol = policy::Policy::LoadFile(src + "/examples/people-policy.toml", *schema);
    ASSERT_TRUE(pol) << pol.error().message;
    policy_ = std::make_shared<const policy::Policy>(std::move(*pol));
    ASSERT_TRUE(vault::Vault::Init({.dir = dir(),
                                    .schema_path = src + "/examples/people.toml",
                                    .key_file = tmp_ / "v.key",
                                    .erasure_journal = ""}));
    auto v = vault::Vault::Open({.dir = dir(), .key_file = tmp_ / "v.key"});
    ASSERT_TRUE(v) << v.error().message;
    vault_ = std::move(*v);
    directory_ = std::make_unique<auth::Directory>(
        *vault_->Grant("auth", auth::kDirectorySpaces), vault_->keyring().api_key_hash_key(),
        vault_->keyring().pepper(), clock_, crypto::kTestPasswordHashParams);
    audit::Options ao;
    ao.anchor_path = tmp_ / "v.audit-anchor";
    ao.clock = &clock_;
    auto log = audit::AuditLog::Open(
        *vault_->Grant("audit", audit::kAuditSpaces),
        crypto::SigningKey::FromSeed(vault_->keyring().audit_signing_seed()), ao);
    ASSERT_TRUE(log) << log.error().message;
    audit_ = std::move(*log);
    auto g = guard::Guard::Open({.vault = *vault_,
                                 .directory = *directory_,
                                 .audit = *audit_,
                                 .clock = clock_,
                                 .alerts = *vault_->Grant("guard", guard::kAlertSpaces),
                                 .log = [](std::string_view) {}});
    ASSERT_TRUE(g) << g.error().message;
    guard_ = std::move(*g);
    credentials::Options co;
    co.params = crypto::kTestPasswordHashParams;
    credentials_ = std::make_unique<credentials::Credentials>(
        *vault_->Grant("credentials", credentials::kCredentialSpaces), vault_->keyring().pepper(),
        vault_->keyring().credential_token_key(), clock_, co);
    approvals_ =
        std::make_unique<approval::Approvals>(*vault_->Grant("approval", approval::kApprovalSpaces),
                                              vault_->keyring().secrets_key(), clock_);
    api_ = std::make_unique<Api>(
        Services{.vault = *vault_,
                 .directory = *directory_,
                 .audit = *audit_,
                 .policy = [this] { return policy_; },
                 .clock = clock_,
                 .openapi_json = R"({"openapi":"3.1.0"})",
                 .guard = guard_.get(),
                 .credentials = credentials_.get(),
                 .approvals = approvals_.get(),
                 .log = [this](std::string_view line) { log_lines_.emplace_back(line); }});
    gen::PeopleGenerator people(7);
    for (int i = 0; i < 6; ++i) {
      std::string line;
      people.NextNdjson(line);
      json::value storage;
      auto inputs = vault::FieldsFromJson(line, storage);
      ASSERT_TRUE(inputs);
      auto ref = vault_->Put("people", *inputs);
      ASSERT_TRUE(ref) << ref.error().message;
      auto rec = vault_->Get("people", ref->id);
      ASSERT_TRUE(rec);
      std::map<std::string, std::string> fields;
      for (const auto& f : rec->fields) fields[f.name] = f.value;
      people_.push_back({ToHex(ref->id), ToHex(ref->subject), fields});
    }
  }

  void TearDown() override {
    api_.reset();
    credentials_.reset();
    guard_.reset();
    audit_.reset();
    directory_.reset();
    vault_.reset();
    fs::remove_all(tmp_);
  }

  std::string dir() const { return (tmp_ / "v").string(); }

  std::string AddService(const std::string& name, const std::string& role,
                         auth::Attributes attrs = {}) {
    auto added = directory_->Add(
        {.name = name, .kind = auth::Kind::kService, .role = role, .attrs = std::move(attrs)});
    EXPECT_TRUE(added) << added.error().message;
    return added ? added->api_key : std::string();
  }

  // A human principal logged in: returns its session token.
  std::string AddHuman(const std::string& name, const std::string& role) {
    const std::string password = auth::testing::FreshPassword();
    auto added = directory_->Add(
        {.name = name, .kind = auth::Kind::kHuman, .role = role, .password = password});
    EXPECT_TRUE(added) << added.error().message;
    if (!added) return {};
    auto secret = auth::totp::Base32Decode(added->totp_secret_base32);
    auto code = auth::totp::Generate(*secret, clock_.NowUnixSeconds());
    auto login = directory_->Login({name, password, *code, "192.0.2.9"});
    EXPECT_TRUE(login) << login.error().message;
    return login ? login->session_token : std::string();
  }

  // A new person's fields for POST /v1/collections/people/records, with
  // `overrides` (e.g. another person's email).
  std::string NewPersonBody(uint64_t seed,
                            const std::map<std::string, std::string>& overrides = {}) {
    gen::PeopleGenerator gen(seed);
    std::string line;
    gen.NextNdjson(line);
    json::object fields = json::parse(line).as_object();
    for (const auto& [k, v] : overrides) fields[k] = v;
    return json::serialize(json::object{{"fields", std::move(fields)}});
  }

  Response Call(const std::string& method, const std::string& target, const std::string& key,
                const std::string& purpose, const std::string& body = {},
                std::vector<std::pair<std::string, std::string>> extra = {}) {
    Request r;
    r.method = method;
    r.target = target;
    if (!key.empty()) r.headers.emplace_back("authorization", "Bearer " + key);
    if (!purpose.empty()) r.headers.emplace_back("x-coffre-purpose", purpose);
    for (auto& h : extra) r.headers.push_back(std::move(h));
    r.body = body;
    r.source = "192.0.2.1";
    return api_->Handle(r);
  }

  static json::object Body(const Response& r) {
    boost::system::error_code ec;
    json::value v = json::parse(r.body, ec);
    EXPECT_FALSE(ec) << "not JSON: status " << r.status;
    return v.is_object() ? v.as_object() : json::object{};
  }
  static std::string ErrorCodeOf(const Response& r) {
    json::object b = Body(r);
    if (!b.contains("error")) return "";
    return std::string(b.at("error").at("code").as_string());
  }

  std::vector<audit::Entry> AuditEntries() {
    std::vector<audit::Entry> out;
    EXPECT_TRUE(audit_->Query({}, [&](const audit::Entry& e) {
      out.push_back(e);
      return true;
    }));
    return out;
  }
  // The last audit entry of `action` by `principal`; nullopt when none.
  std::optional<audit::Entry> LastEntry(std::string_view action, std::string_view principal) {
    std::optional<audit::Entry> found;
    for (auto& e : AuditEntries()) {
      if (e.action == action && e.principal == principal) found = std::move(e);
    }
    return found;
  }

  struct Person {
    std::string id, subject;
    std::map<std::string, std::string> fields;
  };

  fs::path tmp_;
  FakeClock clock_{1795000000};
  std::shared_ptr<const policy::Policy> policy_;
  std::unique_ptr<vault::Vault> vault_;
  std::unique_ptr<auth::Directory> directory_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::unique_ptr<guard::Guard> guard_;
  std::unique_ptr<credentials::Credentials> credentials_;
  std::unique_ptr<approval::Approvals> approvals_;
  std::unique_ptr<Api> api_;
  std::vector<Person> people_;
  std::vector<std::string> log_lines_;  // the server log (Services::log)
};

// Every failed login leaves one line in the server log, with the source
// and why; the name only when it is a principal's (people type passwords
// into name fields). Before, there was no line at all.
// One client holds a whole IPv6 /64: a new address per guess must not
// escape the (name, source) throttle, which keys on the limit key.
TEST_F(ApiTest, LoginThrottlesCountAnIpv6Slash64AsOneSource) {
  json::object body{{"name", "bob"}, {"password", "x"}, {"totp", "000000"}};
  auto login = [&](int n) {
    Request r;
    r.method = "POST";
    r.target = "/v1/sessions";
    r.body = json::serialize(body);
    r.source = "2001:db8:1:2::" + std::to_string(n + 1);
    r.limit_key = "2001:db8:1:2::/64";
    return api_->Handle(r).status;
  };
  for (int i = 0; i < 5; ++i) EXPECT_EQ(login(i), 401) << "attempt " << i;
  EXPECT_EQ(login(5), 429);
}

TEST_F(ApiTest, FailedLoginsAreLoggedNamingOnlyRegisteredPrincipals) {
  const std::string password = "Violet-Harbor-42!x";  // fake, passes the policy
  ASSERT_TRUE(directory_->Add({.name = "alice",
                               .kind = auth::Kind::kHuman,
                               .role = "support_agent",
                               .password = password}));
  auto login = [&](const std::string& name, const std::string& pw) {
    json::object body{{"name", name}, {"password", pw}, {"totp", "000000"}};
    return Call("POST", "/v1/sessions", "", "", json::serialize(body)).status;
  };
  EXPECT_EQ(login("alice", "Wrong-Password-99!"), 401);
  ASSERT_EQ(log_lines_.size(), 1u);
  EXPECT_EQ(log_lines_[0],
            "coffre: failed login: principal alice from 192.0.2.1: invalid credentials");
  // A password typed into the name field (not a valid name), and a valid
  // but unknown name: neither is written.
  EXPECT_EQ(login("Sunny-Meadow-77?", "x"), 401);
  EXPECT_EQ(login("bob", "x"), 401);
  ASSERT_EQ(log_lines_.size(), 3u);
  for (size_t i = 1; i < 3; ++i) {
    EXPECT_EQ(log_lines_[i],
              "coffre: failed login: unregistered name from 192.0.2.1: invalid credentials");
  }
  for (int i = 0; i < 4; ++i) (void)login("bob", "x");  // 5 failures in all
  EXPECT_EQ(login("bob", "x"), 429);
  EXPECT_EQ(log_lines_.back(),
            "coffre: failed login: unregistered name from 192.0.2.1: throttled (name, source)");
  for (const std::string& line : log_lines_) {
    EXPECT_EQ(line.find("Wrong-Password"), std::string::npos);
    EXPECT_EQ(line.find("Sunny"), std::string::npos);
    EXPECT_EQ(line.find("bob"), std::string::npos);
  }
}

TEST_F(ApiTest, OnlyHealthAndLoginAnswerWithoutACredential) {
  EXPECT_EQ(Call("GET", "/healthz", "", "").status, 200);
  EXPECT_EQ(Call("GET", "/readyz", "", "").status, 200);
  const std::string record = "/v1/collections/people/records/" + people_[0].id;
  for (const auto& [method, target] : std::vector<std::pair<std::string, std::string>>{
           {"GET", record},
           {"PATCH", record},
           {"DELETE", record},
           {"POST", "/v1/collections/people/records"},
           {"POST", "/v1/collections/people/search"},
           {"GET", "/v1/subjects/" + people_[0].subject},
           {"DELETE", "/v1/subjects/" + people_[0].subject},
           {"GET", "/v1/audit"},
           {"GET", "/v1/openapi.json"},
           {"GET", "/v1/nothing"},
           {"GET", "/"}}) {
    for (const std::string key :
         {"", "garbage", "coffre_sk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
          "coffre_st_AAAA"}) {
      Response r = Call(method, target, key, "support", R"({"field":"email","value":"x@y.fr"})");
      EXPECT_EQ(r.status, 401) << method << " " << target;
      EXPECT_EQ(ErrorCodeOf(r), "unauthenticated");
      EXPECT_EQ(r.body.find(people_[0].fields["email"]), std::string::npos);
    }
  }
  // Unauthenticated failures are summarised, not written one by one.
  EXPECT_TRUE(AuditEntries().empty());
}

// The template of the route that answered, as the access line names it.
std::string_view RouteName(const Response& r) {
  return r.route < MetricRoutes().size() ? MetricRoutes()[r.route].route : std::string_view();
}

// What the server's access line shows of an answer: the route's template
// (never the path, which holds ids), the principal as the log may name it;
// and the request's id goes into its audit entry.
TEST_F(ApiTest, AnswersNameTheirRouteTemplateAndPrincipalAndEntriesTheRequestId) {
  std::string key = AddService("support-app", "support_agent");
  Request r;
  r.method = "GET";
  r.target = "/v1/collections/people/records/" + people_[0].id;
  r.headers = {{"authorization", "Bearer " + key}, {"x-coffre-purpose", "support"}};
  r.source = "192.0.2.1";
  r.request_id = "00112233aabbccdd";
  Response ok = api_->Handle(r);
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(RouteName(ok), "/v1/collections/{collection}/records/{id}");
  EXPECT_EQ(ok.principal, "support-app");
  auto entries = AuditEntries();
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].request_id, "00112233aabbccdd");

  Response anon = Call("GET", "/v1/audit", "", "");
  EXPECT_EQ(anon.status, 401);
  EXPECT_EQ(RouteName(anon), "/v1/audit");
  EXPECT_EQ(anon.principal, "");
  Response nowhere = Call("GET", "/v1/nowhere/" + people_[0].id, key, "support");
  EXPECT_EQ(nowhere.status, 404);
  EXPECT_EQ(nowhere.route, Response::kNoRoute);
  EXPECT_EQ(nowhere.principal, "support-app");
  EXPECT_EQ(RouteName(Call("GET", "/healthz", "", "")), "/healthz");
  // Without an id (tests, a caller that sets none), the entry has none.
  ASSERT_EQ(Call("GET", r.target, key, "support").status, 200);
  EXPECT_EQ(AuditEntries().back().request_id, "");
}

TEST_F(ApiTest, SupportAgentSeesMaskedFieldsAndTheReadIsAudited) {
  std::string key = AddService("support-app", "support_agent");
  const Person& p = people_[0];
  Response r = Call("GET", "/v1/collections/people/records/" + p.id, key, "support");
  ASSERT_EQ(r.status, 200) << r.body;
  json::object b = Body(r);
  EXPECT_EQ(b.at("id").as_string(), p.id);
  EXPECT_EQ(b.at("subject").as_string(), p.subject);
  const json::object& f = b.at("fields").as_object();
  EXPECT_EQ(f.at("last_name").as_string(), p.fields.at("last_name"));
  EXPECT_NE(f.at("email").as_string(), p.fields.at("email"));
  EXPECT_NE(std::string(f.at("email").as_string()).find("***@"), std::string::npos);
  EXPECT_NE(f.at("phone").as_string(), p.fields.at("phone"));
  EXPECT_NE(f.at("nir").as_string(), p.fields.at("nir"));
  EXPECT_FALSE(f.contains("iban")) << "view none must leave the field out";
  EXPECT_EQ(r.body.find(p.fields.at("nir")), std::string::npos);

  auto entries = AuditEntries();
  ASSERT_EQ(entries.size(), 1u);
  const audit::Entry& e = entries[0];
  EXPECT_EQ(e.principal, "support-app");
  EXPECT_EQ(e.action, "read");
  EXPECT_EQ(e.outcome, "allowed");
  EXPECT_EQ(e.purpose, "support");
  ASSERT_EQ(e.subjects.size(), 1u);
  EXPECT_EQ(ToHex(e.subjects[0]), p.subject);
  bool email_masked = false, iban_listed = false;
  for (const auto& fv : e.fields) {
    if (fv.field == "email") email_masked = fv.view == audit::kViewMasked;
    if (fv.field == "iban") iban_listed = true;
  }
  EXPECT_TRUE(email_masked);
  EXPECT_FALSE(iban_listed);
}

// HandleDeferred (the server's I/O threads): the same answer as Handle,
// but the entries come back to the caller instead of being appended; only
// reads and the health check count as non-blocking.
TEST_F(ApiTest, DeferredHandlingReturnsTheEntriesInsteadOfAppendingThem) {
  std::string key = AddService("support-app", "support_agent");
  const Person& p = people_[0];
  const std::string target = "/v1/collections/people/records/" + p.id;
  Request r;
  r.method = "GET";
  r.target = target;
  r.headers = {{"authorization", "Bearer " + key}, {"x-coffre-purpose", "support"}};
  r.source = "192.0.2.1";
  EXPECT_TRUE(Api::IsNonBlocking(r));

  std::vector<audit::Entry> deferred;
  Response got = api_->HandleDeferred(r, deferred);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_TRUE(AuditEntries().empty()) << "a deferred entry was appended";
  ASSERT_EQ(deferred.size(), 1u);
  EXPECT_EQ(deferred[0].principal, "support-app");
  EXPECT_EQ(deferred[0].action, "read");
  EXPECT_EQ(deferred[0].outcome, "allowed");
  ASSERT_EQ(deferred[0].subjects.size(), 1u);
  EXPECT_EQ(ToHex(deferred[0].subjects[0]), p.subject);
  // The same request through Handle: same body, and the entry is appended.
  Response direct = Call("GET", target, key, "support");
  EXPECT_EQ(direct.body, got.body);
  EXPECT_EQ(AuditEntries().size(), 1u);

  // A denial is deferred too (and nothing else leaks into the log).
  Request denied = r;
  denied.headers[1].second = "follow_up";
  deferred.clear();
  EXPECT_EQ(api_->HandleDeferred(denied, deferred).status, 403);
  ASSERT_EQ(deferred.size(), 1u);
  EXPECT_EQ(deferred[0].outcome, "denied");
  EXPECT_EQ(AuditEntries().size(), 1u);
  // Outside HandleDeferred, appends are immediate again (the deferral is
  // per call, not per thread for good).
  EXPECT_EQ(Call("GET", target, key, "support").status, 200);
  EXPECT_EQ(AuditEntries().size(), 2u);

  Request other = r;
  for (auto [method, path] :
       std::vector<std::pair<std::string, std::string>>{{"PATCH", target},
                                                        {"DELETE", target},
                                                        {"POST", "/v1/collections/people/records"},
                                                        {"POST", "/v1/collections/people/search"},
                                                        {"GET", "/v1/subjects/" + p.subject},
                                                        {"GET", "/v1/audit"},
                                                        {"POST", "/v1/sessions"},
                                                        {"GET", "/v1/cards"}}) {
    other.method = method;
    other.target = path;
    EXPECT_FALSE(Api::IsNonBlocking(other)) << method << " " << path;
  }
  other.method = "GET";
  for (const std::string& path :
       std::vector<std::string>{"/healthz", "/v1/openapi.json", target + "?x=1"}) {
    other.target = path;
    EXPECT_TRUE(Api::IsNonBlocking(other)) << path;
  }
}

TEST_F(ApiTest, PurposesAreRequiredKnownAndGrantedAndDenialsAreAudited) {
  std::string key = AddService("support-app", "support_agent");
  const std::string target = "/v1/collections/people/records/" + people_[0].id;
  for (const std::string purpose : {"", "marketing", "admin"}) {
    Response r = Call("GET", target, key, purpose);
    EXPECT_EQ(r.status, 403) << "purpose '" << purpose << "'";
    EXPECT_EQ(ErrorCodeOf(r), "forbidden");
    EXPECT_EQ(r.body.find(people_[0].fields["last_name"]), std::string::npos);
  }
  // An action the role lacks, on an existing and on a missing record: the
  // same 403, never a 404.
  Response del = Call("DELETE", target, key, "support");
  EXPECT_EQ(del.status, 403);
  Response missing =
      Call("DELETE", "/v1/collections/people/records/" + std::string(32, 'a'), key, "support");
  EXPECT_EQ(missing.status, 403);
  EXPECT_EQ(Body(del).at("error").at("message"), Body(missing).at("error").at("message"));
  auto entries = AuditEntries();
  ASSERT_EQ(entries.size(), 5u);
  for (const auto& e : entries) EXPECT_EQ(e.outcome, "denied");
}

TEST_F(ApiTest, AdviserReadsOnlyItsAgencyAndOutOfScopeIs403) {
  const Person& p = people_[0];
  ASSERT_TRUE(p.fields.count("agency")) << "people.toml lacks agency";
  std::string own = AddService("adviser-own", "adviser", {{"agency", p.fields.at("agency")}});
  std::string other = AddService("adviser-other", "adviser", {{"agency", "ZZZ-none"}});
  std::string none = AddService("adviser-none", "adviser");
  const std::string target = "/v1/collections/people/records/" + p.id;
  Response ok = Call("GET", target, own, "follow_up");
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(Body(ok).at("fields").at("nir").as_string(), p.fields.at("nir"));  // clear
  for (const std::string& key : {other, none}) {
    Response r = Call("GET", target, key, "follow_up");
    EXPECT_EQ(r.status, 403);
    EXPECT_EQ(r.body.find(p.fields.at("last_name")), std::string::npos);
  }
}

TEST_F(ApiTest, DelegationGivesTheIntersectionAndTheUsersScope) {
  const Person& p = people_[0];
  std::string crm = AddService("crm", "crm_backend");
  std::string support = AddService("support-app", "support_agent");
  ASSERT_TRUE(directory_->Add({.name = "alice",
                               .kind = auth::Kind::kUser,
                               .role = "adviser",
                               .attrs = {{"agency", p.fields.at("agency")}}}));
  ASSERT_TRUE(directory_->Add({.name = "bob",
                               .kind = auth::Kind::kUser,
                               .role = "adviser",
                               .attrs = {{"agency", "ZZZ-none"}}}));
  const std::string target = "/v1/collections/people/records/" + p.id;
  Response r = Call("GET", target, crm, "follow_up", {}, {{"x-coffre-on-behalf-of", "alice"}});
  ASSERT_EQ(r.status, 200) << r.body;
  // crm_backend masks the NIR; the adviser sees it clear: the weaker wins.
  EXPECT_NE(Body(r).at("fields").at("nir").as_string(), p.fields.at("nir"));
  EXPECT_EQ(Call("GET", target, crm, "follow_up", {}, {{"x-coffre-on-behalf-of", "bob"}}).status,
            403);
  EXPECT_EQ(
      Call("GET", target, crm, "follow_up", {}, {{"x-coffre-on-behalf-of", "mallory"}}).status,
      403);
  EXPECT_EQ(
      Call("GET", target, support, "support", {}, {{"x-coffre-on-behalf-of", "alice"}}).status,
      403);
  auto entries = AuditEntries();
  ASSERT_FALSE(entries.empty());
  EXPECT_EQ(entries[0].on_behalf_of, "alice");
}

TEST_F(ApiTest, BadInputIs4xxAndStoresNothing) {
  std::string admin = AddService("admin-app", "admin");
  const std::string create = "/v1/collections/people/records";
  auto count = [&] {
    size_t n = 0;
    EXPECT_TRUE(vault_->store().Scan(storage::Space::kRecords, "", [&](auto, auto) {
      ++n;
      return true;
    }));
    return n;
  };
  const size_t before = count();
  EXPECT_EQ(Call("POST", create, admin, "admin", "{not json").status, 400);
  EXPECT_EQ(Call("POST", create, admin, "admin", "[1,2]").status, 400);
  EXPECT_EQ(Call("POST", create, admin, "admin", R"({"fields":{},"extra":1})").status, 400);
  EXPECT_EQ(Call("POST", create, admin, "admin", R"({"fields":"x"})").status, 400);
  EXPECT_EQ(Call("POST", create, admin, "admin", R"({"fields":{"email":[1]}})").status, 400);
  Response invalid = Call("POST", create, admin, "admin", R"({"fields":{"email":"nope"}})");
  EXPECT_EQ(invalid.status, 422);
  EXPECT_EQ(ErrorCodeOf(invalid), "invalid_value");
  Response big = Call("POST", create, admin, "admin", std::string(kMaxBodyBytes + 1, ' '));
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(Call("GET", "/v1/collections/people/records/xyz", admin, "admin").status, 400);
  EXPECT_EQ(count(), before);
}

TEST_F(ApiTest, AdminCreatesUpdatesAndDeletes) {
  std::string admin = AddService("admin-app", "admin");
  json::object fields;
  for (const auto& [k, v] : people_[1].fields) fields[k] = v;
  fields["email"] = "someone.else@example.fr";
  // Deleting frees the person's unique values for the new record.
  Response created =
      Call("DELETE", "/v1/collections/people/records/" + people_[1].id, admin, "admin");
  ASSERT_EQ(created.status, 204) << created.body;
  Response put = Call("POST", "/v1/collections/people/records", admin, "admin",
                      json::serialize(json::object{{"fields", fields}}));
  ASSERT_EQ(put.status, 201) << put.body;
  std::string id(Body(put).at("id").as_string());
  Response patch = Call("PATCH", "/v1/collections/people/records/" + id, admin, "admin",
                        R"({"fields":{"email":"Changed.Address@Example.FR"}})");
  ASSERT_EQ(patch.status, 200) << patch.body;
  EXPECT_EQ(Body(patch).at("fields").at("email").as_string(), "changed.address@example.fr");
  EXPECT_EQ(Call("GET", "/v1/collections/people/records/" + people_[1].id, admin, "admin").status,
            404);
}

TEST_F(ApiTest, SearchNormalisesCapsAndCountsEveryHitsSubject) {
  std::string key = AddService("support-app", "support_agent");
  const Person& p = people_[2];
  std::string upper = p.fields.at("email");
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  Response r = Call("POST", "/v1/collections/people/search", key, "support",
                    json::serialize(json::object{{"field", "email"}, {"value", upper}}));
  ASSERT_EQ(r.status, 200) << r.body;
  const json::array results = Body(r).at("results").as_array();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].at("id").as_string(), p.id);
  EXPECT_FALSE(Body(r).at("truncated").as_bool());
  auto entries = AuditEntries();
  ASSERT_EQ(entries.size(), 1u);
  ASSERT_EQ(entries[0].subjects.size(), 1u);
  EXPECT_EQ(ToHex(entries[0].subjects[0]), p.subject);
  // A field whose view is none cannot be searched by.
  Response by_iban = Call("POST", "/v1/collections/people/search", key, "support",
                          json::serialize(json::object{{"field", "iban"}, {"value", "FR76"}}));
  EXPECT_EQ(by_iban.status, 403);
  EXPECT_EQ(Call("POST", "/v1/collections/people/search", key, "support",
                 R"({"field":"email","value":"a@b.fr","limit":1000})")
                .status,
            400);
}

TEST_F(ApiTest, ScopedSearchLimitsTheHitsInScopeNotTheCandidates) {
  // Five people share a phone number: three of another agency, stored
  // first (ids are time-ordered, so their index entries come first), then
  // two of the adviser's own.
  gen::PeopleGenerator more(11);
  const std::string shared_phone = people_[0].fields.at("phone");
  std::vector<std::string> own;
  for (int i = 0; i < 5; ++i) {
    std::string line;
    more.NextNdjson(line);
    json::object o = json::parse(line).as_object();
    o["phone"] = shared_phone;
    o["agency"] = i < 3 ? "ZZZ-other" : "ZZZ-own";
    std::string text = json::serialize(o);
    json::value storage;
    auto inputs = vault::FieldsFromJson(text, storage);
    ASSERT_TRUE(inputs);
    auto ref = vault_->Put("people", *inputs);
    ASSERT_TRUE(ref) << ref.error().message;
    if (i >= 3) own.push_back(ToHex(ref->id));
  }
  // A role that searches its own agency's people.
  auto pol = policy::Policy::Parse(R"(
[purposes]
follow_up = "Following the people of one's agency"
[roles.agency_desk.collections.people]
actions  = ["search"]
purposes = ["follow_up"]
fields   = { "*" = "clear" }
where    = "agency = principal.agency"
)",
                                   vault_->schema());
  ASSERT_TRUE(pol) << pol.error().message;
  policy_ = std::make_shared<const policy::Policy>(std::move(*pol));
  std::string desk = AddService("desk", "agency_desk", {{"agency", "ZZZ-own"}});
  auto search = [&](int limit) {
    return Call("POST", "/v1/collections/people/search", desk, "follow_up",
                json::serialize(
                    json::object{{"field", "phone"}, {"value", shared_phone}, {"limit", limit}}));
  };
  Response both = search(2);
  ASSERT_EQ(both.status, 200) << both.body;
  json::array hits = Body(both).at("results").as_array();
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].at("id").as_string(), own[0]);
  EXPECT_EQ(hits[1].at("id").as_string(), own[1]);
  EXPECT_FALSE(Body(both).at("truncated").as_bool());
  Response one = search(1);
  ASSERT_EQ(one.status, 200) << one.body;
  ASSERT_EQ(Body(one).at("results").as_array().size(), 1u);
  EXPECT_TRUE(Body(one).at("truncated").as_bool());
  // Only the subjects returned count as exposed.
  auto entries = AuditEntries();
  ASSERT_FALSE(entries.empty());
  EXPECT_EQ(entries.back().subjects.size(), 1u);
}

TEST_F(ApiTest, SuspendedPrincipalsAreRefusedAtOnce) {
  std::string key = AddService("support-app", "support_agent");
  ASSERT_TRUE(directory_->Suspend("support-app"));
  Response r = Call("GET", "/v1/collections/people/records/" + people_[0].id, key, "support");
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(ErrorCodeOf(r), "suspended");
}

TEST_F(ApiTest, AuditorReadsTheLogOthersCannot) {
  std::string support = AddService("support-app", "support_agent");
  std::string auditor = AddService("dpo", "auditor");
  ASSERT_EQ(
      Call("GET", "/v1/collections/people/records/" + people_[0].id, support, "support").status,
      200);
  EXPECT_EQ(Call("GET", "/v1/audit", support, "support").status, 403);
  Response r = Call("GET", "/v1/audit?principal=support-app&limit=10", auditor, "investigation");
  ASSERT_EQ(r.status, 200) << r.body;
  const json::array entries = Body(r).at("entries").as_array();
  ASSERT_GE(entries.size(), 2u);  // the read and the denied audit read
  EXPECT_EQ(r.body.find(people_[0].fields["last_name"]), std::string::npos);
  EXPECT_EQ(Call("GET", "/v1/audit?from=yesterday", auditor, "investigation").status, 400);
  EXPECT_EQ(Call("GET", "/v1/audit?bogus=1", auditor, "investigation").status, 400);
}

// ---------------------------------------------------------------- guard

namespace guard_tests {

// A policy like the example's, with small limits so a test reaches them.
constexpr std::string_view kSmallLimits = R"(
[purposes]
support = "Support"
investigation = "Investigation"
[roles.agent.collections.people]
actions  = ["read", "search", "export", "update"]
purposes = ["support"]
fields   = { "*" = "masked" }
[roles.agent.limits]
subjects = [ { window = "1h", soft = 2, hard = 3 } ]
searches = { window = "10m", max = 3 }
denials  = { window = "10m", alert = 2 }
[roles.auditor.resources.alerts]
actions  = ["read"]
purposes = ["investigation"]
)";

}  // namespace guard_tests

class ApiGuardTest : public ApiTest {
 protected:
  void UseSmallLimits() {
    auto p = policy::Policy::Parse(guard_tests::kSmallLimits, vault_->schema(), "small");
    ASSERT_TRUE(p) << p.error().message;
    policy_ = std::make_shared<const policy::Policy>(std::move(*p));
  }
  std::vector<guard::Alert> Alerts() {
    std::vector<guard::Alert> out;
    EXPECT_TRUE(guard_->alerts().List({}, [&](const guard::Alert& a) {
      out.push_back(a);
      return true;
    }));
    return out;
  }
  std::string Record(size_t i) { return "/v1/collections/people/records/" + people_[i].id; }
};

TEST_F(ApiGuardTest, TheHardLimitRefusesBeforeAnythingIsReturnedAndSuspends) {
  UseSmallLimits();
  std::string key = AddService("agent-app", "agent");
  for (size_t i = 0; i < 3; ++i) ASSERT_EQ(Call("GET", Record(i), key, "support").status, 200) << i;
  Response refused = Call("GET", Record(3), key, "support");
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(ErrorCodeOf(refused), "suspended");
  for (const auto& [name, value] : people_[3].fields) {
    if (value.size() >= 4) {
      EXPECT_EQ(refused.body.find(value), std::string::npos) << name;
    }
  }
  EXPECT_EQ(refused.body.find(people_[3].subject), std::string::npos);
  // Audited as a denial with no subject; the suspension by "coffre".
  auto entries = AuditEntries();
  const audit::Entry* denied = nullptr;
  bool suspension = false;
  for (const auto& e : entries) {
    if (e.action == "read" && e.outcome == "denied") denied = &e;
    suspension |= e.principal == "coffre" && e.action == "principal.suspend";
  }
  ASSERT_NE(denied, nullptr);
  EXPECT_TRUE(denied->subjects.empty());
  EXPECT_TRUE(denied->fields.empty());
  EXPECT_EQ(denied->reason.rfind("suspended: ", 0), 0u) << denied->reason;
  EXPECT_TRUE(suspension);
  // Stored: the key is refused from now on, even for a re-read.
  auto p = directory_->Get("agent-app");
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->suspended);
  Response again = Call("GET", Record(0), key, "support");
  EXPECT_EQ(again.status, 403);
  EXPECT_EQ(ErrorCodeOf(again), "suspended");
  auto alerts = Alerts();
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_EQ(alerts[0].kind, guard::AlertKind::kQuotaSoft);
  EXPECT_EQ(alerts[0].count, 3u);
  EXPECT_EQ(alerts[1].kind, guard::AlertKind::kQuotaHard);
  EXPECT_TRUE(alerts[1].suspended);
}

TEST_F(ApiGuardTest, GetSearchExportAndPatchShareOneCount) {
  UseSmallLimits();
  std::string key = AddService("agent-app", "agent");
  ASSERT_EQ(Call("GET", Record(0), key, "support").status, 200);
  Response hit = Call("POST", "/v1/collections/people/search", key, "support",
                      R"({"field":"email","value":")" + people_[1].fields["email"] + R"("})");
  ASSERT_EQ(hit.status, 200) << hit.body;
  ASSERT_EQ(Body(hit).at("results").as_array().size(), 1u);
  ASSERT_EQ(Call("GET", "/v1/subjects/" + people_[2].subject, key, "support").status, 200);
  // Re-reads of the three through other routes are free.
  ASSERT_EQ(Call("GET", "/v1/subjects/" + people_[0].subject, key, "support").status, 200);
  ASSERT_EQ(Call("GET", Record(1), key, "support").status, 200);
  // A PATCH returns the record: a fourth subject is refused, and nothing is written.
  const std::string before = people_[3].fields["postal_address"];
  Response patch = Call("PATCH", Record(3), key, "support",
                        R"({"fields":{"postal_address":"1 rue du Test, 75001 Paris"}})");
  EXPECT_EQ(patch.status, 403);
  EXPECT_EQ(ErrorCodeOf(patch), "suspended");
  auto rec = vault_->Get("people", *FromHex(people_[3].id));
  ASSERT_TRUE(rec);
  for (const auto& f : rec->fields) {
    if (f.name == "postal_address") {
      EXPECT_EQ(f.value, before);
    }
  }
}

TEST_F(ApiGuardTest, TheSearchCapAnswers429WithRetryAfterMatchingOrNot) {
  UseSmallLimits();
  std::string key = AddService("agent-app", "agent");
  const std::string miss = R"({"field":"email","value":"nobody@example.invalid"})";
  for (int i = 0; i < 3; ++i) {
    Response r = Call("POST", "/v1/collections/people/search", key, "support", miss);
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_TRUE(Body(r).at("results").as_array().empty());
  }
  Response capped = Call("POST", "/v1/collections/people/search", key, "support", miss);
  EXPECT_EQ(capped.status, 429);
  EXPECT_EQ(ErrorCodeOf(capped), "quota_exceeded");
  std::string retry;
  for (const auto& [name, value] : capped.headers) {
    if (name == "Retry-After") retry = value;
  }
  // Minute buckets: the first search leaves the window at the end of its
  // minute plus 10.
  EXPECT_EQ(retry, std::to_string(600 - clock_.NowUnixSeconds() % 60));
  auto entries = AuditEntries();
  ASSERT_FALSE(entries.empty());
  EXPECT_EQ(entries.back().action, "search");
  EXPECT_EQ(entries.back().outcome, "denied");
  EXPECT_EQ(entries.back().reason.rfind("quota_exceeded: ", 0), 0u);
  // Not a suspension: after the window, searches work again.
  clock_.Advance(600);
  EXPECT_EQ(Call("POST", "/v1/collections/people/search", key, "support", miss).status, 200);
  auto alerts = Alerts();
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].kind, guard::AlertKind::kSearchCap);
}

TEST_F(ApiGuardTest, EveryDenialCountsTowardsTheThreshold) {
  UseSmallLimits();
  std::string key = AddService("agent-app", "agent");
  EXPECT_EQ(Call("DELETE", Record(0), key, "support").status, 403);  // not granted
  EXPECT_TRUE(Alerts().empty());
  EXPECT_EQ(Call("GET", Record(0), key, "").status, 403);  // no purpose
  auto alerts = Alerts();
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].kind, guard::AlertKind::kDenials);
  EXPECT_EQ(alerts[0].principal, "agent-app");
  EXPECT_EQ(alerts[0].count, 2u);
}

TEST_F(ApiGuardTest, ACanaryReadIsAnsweredUnchangedThenTheReaderIsSuspended) {
  std::string key = AddService("support-app", "support_agent");
  ASSERT_TRUE(guard_->AddCanaries("people", 1, ""));
  auto ids = vault_->GetSecret(guard::kCanariesSecret);
  ASSERT_TRUE(ids && *ids);
  auto records = vault_->ExportSubject((*ids)->substr(0, 16));
  ASSERT_TRUE(records);
  ASSERT_EQ(records->size(), 1u);
  Response r =
      Call("GET", "/v1/collections/people/records/" + ToHex((*records)[0].id), key, "support");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r).at("subject").as_string(), ToHex((*ids)->substr(0, 16)));
  auto alerts = Alerts();
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].kind, guard::AlertKind::kCanary);
  EXPECT_EQ(alerts[0].severity, guard::Severity::kCritical);
  EXPECT_TRUE(alerts[0].suspended);
  Response next = Call("GET", Record(0), key, "support");
  EXPECT_EQ(next.status, 403);
  EXPECT_EQ(ErrorCodeOf(next), "suspended");
}

TEST_F(ApiGuardTest, AlertsAreServedToTheAuditorForInvestigation) {
  std::string auditor = AddService("dpo", "auditor");
  std::string agent = AddService("support-app", "support_agent");
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(guard_->alerts().Raise({.severity = guard::Severity::kWarning,
                                        .kind = guard::AlertKind::kDenials,
                                        .principal = "support-app",
                                        .window = "10m",
                                        .count = 20,
                                        .limit = 20,
                                        .detail = "test"}));
    clock_.Advance(60);
  }
  Response all = Call("GET", "/v1/alerts", auditor, "investigation");
  ASSERT_EQ(all.status, 200) << all.body;
  const json::object all_body = Body(all);
  const json::array& list = all_body.at("alerts").as_array();
  ASSERT_EQ(list.size(), 5u);
  EXPECT_EQ(list[0].at("id").as_int64(), 1);
  EXPECT_EQ(list[0].at("kind").as_string(), "denials");
  EXPECT_TRUE(list[0].at("user").is_null());
  const std::string t1 = FormatRfc3339(clock_.NowUnixSeconds() - 240);
  const std::string t2 = FormatRfc3339(clock_.NowUnixSeconds() - 120);
  Response window =
      Call("GET", "/v1/alerts?from=" + t1 + "&to=" + t2 + "&limit=2", auditor, "investigation");
  ASSERT_EQ(window.status, 200) << window.body;
  const json::object window_body = Body(window);
  const json::array& some = window_body.at("alerts").as_array();
  ASSERT_EQ(some.size(), 2u);
  EXPECT_EQ(some[0].at("id").as_int64(), 2);
  EXPECT_EQ(some[1].at("id").as_int64(), 3);
  for (const std::string bad :
       {"?limit=0", "?limit=1001", "?from=yesterday", "?subject=x", "?limit=1&limit=2"}) {
    Response r = Call("GET", "/v1/alerts" + bad, auditor, "investigation");
    EXPECT_EQ(r.status, 400) << bad;
  }
  EXPECT_EQ(Call("GET", "/v1/alerts", auditor, "support").status, 403);
  EXPECT_EQ(Call("GET", "/v1/alerts", agent, "support").status, 403);
  EXPECT_EQ(Call("POST", "/v1/alerts", auditor, "investigation").status, 405);
  auto entries = AuditEntries();
  size_t reads = 0;
  for (const auto& e : entries) reads += e.action == "alerts.read";
  EXPECT_EQ(reads, 9u);  // 2 served, 5 bad queries, 2 denials
}

TEST_F(ApiTest, BreachReportListsWhatAPrincipalReceivedIdsOnly) {
  std::string support = AddService("support-app", "support_agent");
  std::string auditor = AddService("dpo", "auditor");
  const std::string from = FormatRfc3339(clock_.NowUnixSeconds());
  ASSERT_EQ(
      Call("GET", "/v1/collections/people/records/" + people_[0].id, support, "support").status,
      200);
  ASSERT_EQ(
      Call("GET", "/v1/collections/people/records/" + people_[2].id, support, "support").status,
      200);
  ASSERT_EQ(
      Call("POST", "/v1/collections/people/search", support, "support",
           json::serialize(json::object{{"field", "email"}, {"value", people_[4].fields["email"]}}))
          .status,
      200);
  clock_.Advance(5);
  const std::string to = FormatRfc3339(clock_.NowUnixSeconds());
  const std::string body =
      json::serialize(json::object{{"principal", "support-app"}, {"from", from}, {"to", to}});

  // Only the auditor, for an investigation.
  EXPECT_EQ(Call("POST", "/v1/breach-reports", support, "support", body).status, 403);
  EXPECT_EQ(Call("POST", "/v1/breach-reports", auditor, "support", body).status, 403);
  EXPECT_EQ(Call("GET", "/v1/breach-reports", auditor, "investigation").status, 405);

  Response r = Call("POST", "/v1/breach-reports", auditor, "investigation", body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/json");
  json::object report = Body(r);
  std::vector<std::string> subjects;
  for (const auto& v : report.at("subjects").as_array()) subjects.emplace_back(v.as_string());
  std::vector<std::string> want = {people_[0].subject, people_[2].subject, people_[4].subject};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(subjects, want);
  EXPECT_TRUE(report.at("verification").at("ok").as_bool());
  // Ids only: no value of anyone, even the people exposed.
  for (const auto& p : people_) {
    for (const auto& [name, value] : p.fields) {
      if (value.size() >= 6) EXPECT_EQ(r.body.find(value), std::string::npos) << name;
    }
  }
  Response md = Call("POST", "/v1/breach-reports", auditor, "investigation",
                     json::serialize(json::object{{"principal", "support-app"},
                                                  {"from", from},
                                                  {"to", to},
                                                  {"format", "md"},
                                                  {"contact", "DPO, dpo@example.org"}}));
  ASSERT_EQ(md.status, 200);
  EXPECT_EQ(md.content_type, "text/markdown; charset=utf-8");
  EXPECT_NE(md.body.find("DPO, dpo@example.org"), std::string::npos);
  Response csv =
      Call("POST", "/v1/breach-reports", auditor, "investigation",
           json::serialize(json::object{
               {"principal", "support-app"}, {"from", from}, {"to", to}, {"format", "csv"}}));
  ASSERT_EQ(csv.status, 200);
  EXPECT_EQ(std::count(csv.body.begin(), csv.body.end(), '\n'), 4);

  for (
      const std::string bad :
      {R"({"principal":"support-app","from":"yesterday","to":"2030-01-01T00:00:00Z"})",
       R"({"principal":"Not A Name","from":"2020-01-01T00:00:00Z","to":"2030-01-01T00:00:00Z"})",
       R"({"principal":"support-app","from":"2030-01-01T00:00:00Z","to":"2020-01-01T00:00:00Z"})",
       R"({"principal":"support-app","from":"2020-01-01T00:00:00Z","to":"2030-01-01T00:00:00Z","format":"pdf"})",
       R"({"principal":"support-app","from":"2020-01-01T00:00:00Z"})",
       R"({"principal":"support-app","from":"2020-01-01T00:00:00Z","to":"2030-01-01T00:00:00Z","x":1})"}) {
    Response e = Call("POST", "/v1/breach-reports", auditor, "investigation", bad);
    EXPECT_EQ(e.status, 400) << bad;
    EXPECT_EQ(ErrorCodeOf(e), "invalid_request") << bad;
  }
  // Every report is audited.
  size_t reports = 0;
  for (const auto& e : AuditEntries())
    reports += e.action == "breach_report" && e.principal == "dpo";
  EXPECT_GE(reports, 9u);
}

TEST_F(ApiTest, ApprovalsNeedTwoDistinctAdmins) {
  std::string alice = AddService("alice", "admin");
  std::string bob = AddHuman("bob", "admin");
  std::string support = AddService("support-app", "support_agent");
  const std::string ask = R"({"action":"bulk_export","params":{"collection":"people"}})";
  EXPECT_EQ(Call("POST", "/v1/approvals", support, "support", ask).status, 403);
  Response r = Call("POST", "/v1/approvals", alice, "admin", ask);
  ASSERT_EQ(r.status, 201) << r.body;
  json::object a = Body(r);
  const std::string id(a.at("id").as_string());
  EXPECT_EQ(a.at("state").as_string(), "pending");
  EXPECT_EQ(a.at("requester").as_string(), "alice");
  EXPECT_TRUE(a.at("approver").is_null());

  Response self = Call("POST", "/v1/approvals/" + id + "/approve", alice, "admin");
  EXPECT_EQ(self.status, 403) << self.body;
  // Issue 13: a second service key of the same administrator is no second
  // person: only a human principal approves.
  std::string carol = AddService("carol", "admin");
  Response service = Call("POST", "/v1/approvals/" + id + "/approve", carol, "admin");
  EXPECT_EQ(service.status, 403) << service.body;
  EXPECT_NE(service.body.find("human"), std::string::npos) << service.body;
  EXPECT_EQ(Call("POST", "/v1/approvals/" + id + "/approve", support, "support").status, 403);
  Response ok = Call("POST", "/v1/approvals/" + id + "/approve", bob, "admin");
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(Body(ok).at("state").as_string(), "approved");
  EXPECT_EQ(Body(ok).at("approver").as_string(), "bob");
  EXPECT_EQ(Call("POST", "/v1/approvals/" + id + "/approve", bob, "admin").status, 409);
  Response got = Call("GET", "/v1/approvals/" + id, alice, "admin");
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(Body(got).at("state").as_string(), "approved");
  clock_.Advance(24 * 3600);
  EXPECT_EQ(Body(Call("GET", "/v1/approvals/" + id, alice, "admin")).at("state").as_string(),
            "expired");

  EXPECT_EQ(Call("GET", "/v1/approvals/" + std::string(32, '0'), alice, "admin").status, 404);
  EXPECT_EQ(Call("GET", "/v1/approvals/xyz", alice, "admin").status, 400);
  EXPECT_EQ(Call("POST", "/v1/approvals", alice, "admin",
                 R"({"action":"bulk_export","params":{"collection":"nope"}})")
                .status,
            422);
  EXPECT_EQ(Call("POST", "/v1/approvals", alice, "admin", R"({"action":"format_disk","params":{}})")
                .status,
            400);
  EXPECT_EQ(Call("POST", "/v1/approvals", alice, "admin",
                 R"({"action":"bulk_export","params":{"collection":1}})")
                .status,
            400);
  EXPECT_EQ(Call("DELETE", "/v1/approvals/" + id, alice, "admin").status, 405);
  std::set<std::string> steps;
  for (const auto& e : AuditEntries()) {
    if (e.action.rfind("approval.", 0) == 0 && e.outcome == "allowed")
      steps.insert(e.action + ":" + e.principal);
  }
  EXPECT_EQ(steps, (std::set<std::string>{"approval.request:alice", "approval.approve:bob",
                                          "approval.read:alice"}));
}

// ---------------------------------------------------------------- credentials

std::string JsonPassword(const std::string& password, const std::string& token = {}) {
  json::object o{{"password", password}};
  if (!token.empty()) o["reset_token"] = token;
  return json::serialize(o);
}

using auth::testing::FreshPassword;

TEST_F(ApiTest, CredentialsSetVerifyResetAndMetadataOnly) {
  const std::string login = AddService("login", "login_service");
  const std::string support = AddService("helpdesk", "support_agent");
  const std::string p1 = FreshPassword(), p2 = FreshPassword();
  const std::string base = "/v1/credentials/u-42";

  // Policy: the resource, the action and the purpose.
  EXPECT_EQ(Call("PUT", base, support, "support", JsonPassword(p1)).status, 403);
  EXPECT_EQ(Call("PUT", base, login, "support", JsonPassword(p1)).status, 403);
  EXPECT_EQ(Call("PUT", base, "", "", JsonPassword(p1)).status, 401);

  Response set = Call("PUT", base, login, "authentication", JsonPassword(p1));
  ASSERT_EQ(set.status, 201) << set.body;
  EXPECT_EQ(Body(set).at("user").as_string(), "u-42");
  EXPECT_TRUE(Body(set).at("locked_until").is_null());
  Response again = Call("PUT", base, login, "authentication", JsonPassword(p2));
  ASSERT_EQ(again.status, 200) << again.body;

  Response ok = Call("POST", base + "/verify", login, "authentication", JsonPassword(p2));
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.body, R"({"valid":true})");
  Response no = Call("POST", base + "/verify", login, "authentication", JsonPassword(p1));
  ASSERT_EQ(no.status, 200);
  EXPECT_EQ(no.body, R"({"valid":false})");
  EXPECT_EQ(
      Call("POST", "/v1/credentials/u-unknown/verify", login, "authentication", JsonPassword(p1))
          .body,
      R"({"valid":false})");

  // Rules: 422 naming the rule, never the value.
  for (const auto& [password, rule] :
       std::vector<std::pair<std::string, std::string>>{{"Sh0rt!pw", "cnil-2022-100"},
                                                        {"Password123456", "dictionary"},
                                                        {"Password2024!!", "guessable"},
                                                        {p1, "history"}}) {
    Response r = Call("PUT", base, login, "authentication", JsonPassword(password));
    EXPECT_EQ(r.status, 422) << rule;
    EXPECT_EQ(ErrorCodeOf(r), "invalid_value");
    EXPECT_NE(r.body.find("rule " + rule), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find(password), std::string::npos);
  }

  // User ids: opaque only.
  for (const std::string bad : {"jean.dupont%40example.org", "0612345678", "a.b"}) {
    Response r = Call("PUT", "/v1/credentials/" + bad, login, "authentication", JsonPassword(p1));
    EXPECT_TRUE(r.status == 400 || r.status == 404) << bad << " " << r.status;
    EXPECT_EQ(r.body.find(bad), std::string::npos);
  }
  EXPECT_EQ(
      Call("PUT", "/v1/credentials/jean@example.org", login, "authentication", JsonPassword(p1))
          .status,
      400);

  // Reset: a token, once.
  Response reset = Call("POST", base + "/reset", login, "authentication");
  ASSERT_EQ(reset.status, 201) << reset.body;
  const std::string token(Body(reset).at("reset_token").as_string());
  const std::string p3 = FreshPassword();
  EXPECT_EQ(Call("PUT", base, login, "authentication", JsonPassword(p3, token + "x")).status, 403);
  ASSERT_EQ(Call("PUT", base, login, "authentication", JsonPassword(p3, token)).status, 200);
  EXPECT_EQ(Call("PUT", base, login, "authentication", JsonPassword(FreshPassword(), token)).status,
            403);
  EXPECT_EQ(Call("POST", base + "/verify", login, "authentication", JsonPassword(p3)).body,
            R"({"valid":true})");
  EXPECT_EQ(Call("POST", "/v1/credentials/u-none/reset", login, "authentication").status, 404);

  // Metadata only.
  Response meta = Call("GET", base, login, "authentication");
  ASSERT_EQ(meta.status, 200) << meta.body;
  json::object m = Body(meta);
  EXPECT_EQ(m.size(), 4u);
  EXPECT_EQ(m.at("created_at").as_string(), FormatRfc3339(clock_.NowUnixSeconds()));
  EXPECT_EQ(meta.body.find("argon2"), std::string::npos);

  // Bad bodies and methods.
  EXPECT_EQ(Call("POST", base + "/verify", login, "authentication", R"({"password":1})").status,
            400);
  EXPECT_EQ(Call("POST", base + "/verify", login, "authentication", R"({"password":"x","extra":1})")
                .status,
            400);
  EXPECT_EQ(Call("POST", base + "/verify", login, "authentication", "{").status, 400);
  EXPECT_EQ(Call("DELETE", base, login, "authentication").status, 405);
  EXPECT_EQ(Call("GET", base + "/verify", login, "authentication").status, 405);

  // Audited, with the user id and never a value.
  size_t entries = 0;
  for (const auto& e : AuditEntries()) {
    if (e.action.rfind("credential.", 0) != 0) continue;
    ++entries;
    const std::string all = e.principal + e.action + e.reason + e.purpose + e.on_behalf_of;
    for (const std::string& secret : {p1, p2, p3, token, std::string("$argon2")}) {
      EXPECT_EQ(all.find(secret), std::string::npos) << e.action;
    }
  }
  EXPECT_GE(entries, 20u);
  std::set<std::string> allowed;
  for (const auto& e : AuditEntries()) {
    if (e.outcome == "allowed" && e.action.rfind("credential.", 0) == 0)
      allowed.insert(e.action + " " + e.reason);
  }
  EXPECT_TRUE(allowed.count("credential.verify user u-42: valid")) << *allowed.begin();
  EXPECT_TRUE(allowed.count("credential.verify user u-42: not valid"));
  EXPECT_TRUE(allowed.count("credential.set user u-42: created"));
  EXPECT_TRUE(allowed.count("credential.redeem user u-42: changed"));
  EXPECT_TRUE(allowed.count("credential.reset user u-42: reset token issued"));
  EXPECT_TRUE(allowed.count("credential.read user u-42"));
}

// A role that may only issue reset tokens (a help desk sending reset links)
// cannot spend them: redeeming sets a password, which takes `set`.
TEST_F(ApiTest, CredentialsRedeemingATokenTakesSetNotReset) {
  auto p = policy::Policy::Parse(R"(
[purposes]
authentication = "log end users in"
[roles.login_service.resources.credentials]
actions  = ["set", "verify", "reset", "read"]
purposes = ["authentication"]
[roles.helpdesk.resources.credentials]
actions  = ["reset"]
purposes = ["authentication"]
)",
                                 vault_->schema(), "helpdesk");
  ASSERT_TRUE(p) << p.error().message;
  policy_ = std::make_shared<const policy::Policy>(std::move(*p));
  const std::string login = AddService("login", "login_service");
  const std::string helpdesk = AddService("helpdesk", "helpdesk");
  const std::string base = "/v1/credentials/u-9";
  const std::string p1 = FreshPassword(), p2 = FreshPassword();
  ASSERT_EQ(Call("PUT", base, login, "authentication", JsonPassword(p1)).status, 201);
  Response issued = Call("POST", base + "/reset", helpdesk, "authentication");
  ASSERT_EQ(issued.status, 201);
  const std::string token(Body(issued).at("reset_token").as_string());
  EXPECT_EQ(Call("PUT", base, helpdesk, "authentication", JsonPassword(p2, token)).status, 403);
  EXPECT_EQ(Call("POST", base + "/verify", login, "authentication", JsonPassword(p1)).body,
            R"({"valid":true})");
  // The token is still good for the login service, which may set passwords.
  EXPECT_EQ(Call("PUT", base, login, "authentication", JsonPassword(p2, token)).status, 200);
  EXPECT_EQ(Call("POST", base + "/verify", login, "authentication", JsonPassword(p2)).body,
            R"({"valid":true})");
}

TEST_F(ApiTest, CredentialsDelayAndLockoutAnswer429WithRetryAfter) {
  const std::string login = AddService("login", "login_service");
  const std::string p = FreshPassword();
  const std::string base = "/v1/credentials/u-7";
  ASSERT_EQ(Call("PUT", base, login, "authentication", JsonPassword(p)).status, 201);
  auto retry_after = [](const Response& r) {
    for (const auto& [k, v] : r.headers) {
      if (k == "Retry-After") return std::stoll(v);
    }
    return -1LL;
  };
  int failures = 0;
  while (failures < 10) {
    Response r = Call("POST", base + "/verify", login, "authentication",
                      JsonPassword("Not-the-password-42"));
    if (r.status == 429) {
      EXPECT_EQ(ErrorCodeOf(r), "throttled");
      ASSERT_GE(retry_after(r), 1);
      clock_.Advance(retry_after(r));
      continue;
    }
    ASSERT_EQ(r.status, 200);
    ++failures;
  }
  Response locked = Call("POST", base + "/verify", login, "authentication", JsonPassword(p));
  EXPECT_EQ(locked.status, 429);
  EXPECT_EQ(retry_after(locked), 1800);
  json::object m = Body(Call("GET", base, login, "authentication"));
  EXPECT_EQ(m.at("locked_until").as_string(), FormatRfc3339(clock_.NowUnixSeconds() + 1800));
  clock_.Advance(1800);
  EXPECT_EQ(Call("POST", base + "/verify", login, "authentication", JsonPassword(p)).body,
            R"({"valid":true})");
}

// ---------------------------------------------------------------- issue 13

// GET /v1/approvals?state=pending lists what waits; a human approves, never
// the requester, even a human one.
TEST_F(ApiTest, PendingApprovalsAreListedAndOnlyAnotherHumanApproves) {
  std::string alice = AddService("alice", "admin");
  std::string dana = AddHuman("dana", "admin");
  std::string erin = AddHuman("erin", "admin");
  const std::string ask = R"({"action":"bulk_export","params":{"collection":"people"}})";
  Response first = Call("POST", "/v1/approvals", alice, "admin", ask);
  ASSERT_EQ(first.status, 201) << first.body;
  clock_.Advance(60);
  Response second = Call("POST", "/v1/approvals", dana, "admin", ask);
  ASSERT_EQ(second.status, 201) << second.body;
  const std::string id1(Body(first).at("id").as_string());
  const std::string id2(Body(second).at("id").as_string());

  Response pending = Call("GET", "/v1/approvals?state=pending", dana, "admin");
  ASSERT_EQ(pending.status, 200) << pending.body;
  const json::object page = Body(pending);
  const json::array& listed = page.at("approvals").as_array();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].at("id").as_string(), id1) << "oldest first";
  EXPECT_EQ(listed[1].at("id").as_string(), id2);
  EXPECT_EQ(listed[1].at("requester").as_string(), "dana");
  EXPECT_FALSE(page.at("truncated").as_bool());

  // The requester may not approve their own, human or not.
  EXPECT_EQ(Call("POST", "/v1/approvals/" + id2 + "/approve", dana, "admin").status, 403);
  ASSERT_EQ(Call("POST", "/v1/approvals/" + id2 + "/approve", erin, "admin").status, 200);
  Response still = Call("GET", "/v1/approvals?state=pending", alice, "admin");
  ASSERT_EQ(Body(still).at("approvals").as_array().size(), 1u);
  EXPECT_EQ(Body(still).at("approvals").as_array()[0].at("id").as_string(), id1);
  Response approved = Call("GET", "/v1/approvals?state=approved&limit=5", alice, "admin");
  ASSERT_EQ(Body(approved).at("approvals").as_array().size(), 1u);
  EXPECT_EQ(Body(approved).at("approvals").as_array()[0].at("approver").as_string(), "erin");
  Response all = Call("GET", "/v1/approvals?limit=1", alice, "admin");
  EXPECT_EQ(Body(all).at("approvals").as_array().size(), 1u);
  EXPECT_TRUE(Body(all).at("truncated").as_bool());
  clock_.Advance(24 * 3600);
  EXPECT_TRUE(Body(Call("GET", "/v1/approvals?state=pending", alice, "admin"))
                  .at("approvals")
                  .as_array()
                  .empty());
  EXPECT_EQ(Body(Call("GET", "/v1/approvals?state=expired", alice, "admin"))
                .at("approvals")
                .as_array()
                .size(),
            2u)
      << "an approval that was never consumed expires too";

  for (const std::string bad : {"state=waiting", "limit=0", "limit=1001", "limit=x", "who=alice"}) {
    Response r = Call("GET", "/v1/approvals?" + bad, alice, "admin");
    EXPECT_EQ(r.status, 400) << bad;
  }
  std::string support = AddService("support-app", "support_agent");
  EXPECT_EQ(Call("GET", "/v1/approvals?state=pending", support, "support").status, 403);
  bool audited = false;
  for (const auto& e : AuditEntries())
    audited |= e.action == "approval.list" && e.outcome == "allowed";
  EXPECT_TRUE(audited);
}

// Issue 13: /healthz stayed 200 while every request failed 503 because the
// audit log could not commit. /readyz says so.
TEST_F(ApiTest, ReadyzIs503WhileTheAuditLogCannotCommit) {
  std::string admin = AddService("admin-app", "admin");
  EXPECT_EQ(Call("GET", "/readyz", "", "").status, 200);
  EXPECT_EQ(Call("HEAD", "/readyz", "", "").status, 200);
  EXPECT_EQ(Call("POST", "/readyz", "", "").status, 405);
  const std::string record = "/v1/collections/people/records/" + people_[0].id;
  ASSERT_EQ(Call("GET", record, admin, "admin").status, 200);
  // The anchor file goes away: the next checkpoint cannot be anchored, and
  // the log fails closed from then on.
  fs::rename(tmp_ / "v.audit-anchor", tmp_ / "v.audit-anchor.moved");
  EXPECT_FALSE(audit_->Checkpoint());
  Response r = Call("GET", record, admin, "admin");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body.find(people_[0].fields["email"]), std::string::npos);
  EXPECT_EQ(Call("GET", "/healthz", "", "").status, 200) << "the process is alive";
  Response ready = Call("GET", "/readyz", "", "");
  EXPECT_EQ(ready.status, 503);
  EXPECT_EQ(ErrorCodeOf(ready), "unavailable");
  EXPECT_EQ(ready.body.find("anchor"), std::string::npos)
      << "no detail for an unauthenticated caller";
  EXPECT_TRUE(Api::IsNonBlocking({.method = "GET", .target = "/readyz"}));
}

// The hook of a sealed server (issue 15): /readyz answers 503 `sealed`
// while Services::sealed is true, /healthz stays 200.
TEST_F(ApiTest, ReadyzIs503SealedWhileTheServerIsSealed) {
  std::atomic<bool> sealed{true};
  Api api(Services{.vault = *vault_,
                   .directory = *directory_,
                   .audit = *audit_,
                   .policy = [this] { return policy_; },
                   .clock = clock_,
                   .openapi_json = "{}",
                   .sealed = &sealed});
  auto call = [&](const std::string& target) {
    Request r;
    r.method = "GET";
    r.target = target;
    r.source = "192.0.2.1";
    return api.Handle(r);
  };
  Response r = call("/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(ErrorCodeOf(r), "sealed");
  EXPECT_EQ(call("/healthz").status, 200);
  sealed = false;
  EXPECT_EQ(call("/readyz").status, 200);
}

// Each answer names the route that answered, by its template and method
// (the server's metrics count it), or none.
TEST_F(ApiTest, ResponsesNameTheirMetricRoute) {
  std::string admin = AddService("admin-app", "admin");
  const auto routes = MetricRoutes();
  auto label = [&](const Response& r) -> std::pair<std::string, std::string> {
    if (r.route == Response::kNoRoute) return {"none", "none"};
    EXPECT_LT(r.route, routes.size());
    return {std::string(routes[r.route].route), std::string(routes[r.route].method)};
  };
  const std::string record = "/v1/collections/people/records/" + people_[0].id;
  EXPECT_EQ(
      label(Call("GET", record, admin, "admin")),
      std::make_pair(std::string("/v1/collections/{collection}/records/{id}"), std::string("GET")));
  EXPECT_EQ(
      label(Call("GET", record, "", "admin")),
      std::make_pair(std::string("/v1/collections/{collection}/records/{id}"), std::string("GET")))
      << "a 401 on a route counts under it";
  EXPECT_EQ(label(Call("PUT", record, admin, "admin")),
            std::make_pair(std::string("/v1/collections/{collection}/records/{id}"),
                           std::string("other")));
  EXPECT_EQ(label(Call("GET", "/healthz", "", "")),
            std::make_pair(std::string("/healthz"), std::string("GET")));
  EXPECT_EQ(label(Call("GET", "/v1/nothing", admin, "admin")),
            std::make_pair(std::string("none"), std::string("none")));
}

// Issue 13: the security-code scan parsed any body of POST /v1/sessions
// before a credential; 64 parallel 1 MiB bodies took 1 GiB. A login body is
// small: more is refused unparsed.
TEST_F(ApiTest, ALoginBodyLargerThanALoginIsRefusedUnparsed) {
  std::string big = R"({"name":"nobody","password":")" + std::string(kMaxLoginBodyBytes, 'a') +
                    R"(","totp":"1"})";
  Response r = Call("POST", "/v1/sessions", "", "", big);
  EXPECT_EQ(r.status, 413) << r.body;
  EXPECT_EQ(ErrorCodeOf(r), "payload_too_large");
  // Not JSON at all, 1 MiB: refused the same way, before any parse.
  Response junk = Call("POST", "/v1/sessions", "", "", std::string(kMaxBodyBytes, '['));
  EXPECT_EQ(junk.status, 413);
  // A login-sized body is still a login.
  Response small = Call("POST", "/v1/sessions", "", "",
                        R"({"name":"nobody","password":"Wrong-pass-123!","totp":"123456"})");
  EXPECT_EQ(small.status, 401) << small.body;
}

// Large bodies are parsed by a bounded number of requests at once; past
// the bound, 503 busy with Retry-After, audited. Small bodies never wait.
TEST_F(ApiTest, LargeBodiesBeyondTheCapAreBusy) {
  Api capped(Services{.vault = *vault_,
                      .directory = *directory_,
                      .audit = *audit_,
                      .policy = [this] { return policy_; },
                      .clock = clock_,
                      .openapi_json = "{}",
                      .guard = guard_.get(),
                      .max_large_bodies = 0});
  std::string admin = AddService("admin-app", "admin");
  auto call = [&](const std::string& body) {
    Request r;
    r.method = "POST";
    r.target = "/v1/collections/people/records";
    r.headers = {{"authorization", "Bearer " + admin}, {"x-coffre-purpose", "admin"}};
    r.body = body;
    r.source = "192.0.2.1";
    return capped.Handle(r);
  };
  std::string padded = NewPersonBody(901);
  padded.insert(padded.size() - 1, ",\"pad\":\"" + std::string(kLargeBodyBytes, 'x') + "\"");
  Response busy = call(padded);
  EXPECT_EQ(busy.status, 503) << busy.body;
  EXPECT_EQ(ErrorCodeOf(busy), "busy");
  bool retry_after = false;
  for (const auto& [k, v] : busy.headers) retry_after |= k == "Retry-After" && v == "1";
  EXPECT_TRUE(retry_after);
  EXPECT_EQ(call(NewPersonBody(902)).status, 201);
}

// Issue 13: a role without `search` learnt from 409 versus 201 whether a
// person is in the vault, without cap or quota. A clash exposes the holder:
// counted in quotas, audited with the subject.
TEST_F(ApiGuardTest, AUniqueClashExposesTheHolderInQuotasAndTheAudit) {
  auto p = policy::Policy::Parse(R"(
[purposes]
intake = "Intake"
[roles.intake.collections.people]
actions  = ["create", "update"]
purposes = ["intake"]
fields   = { "*" = "masked" }
[roles.intake.limits]
subjects = [ { window = "1h", soft = 1, hard = 2 } ]
)",
                                 vault_->schema(), "clash");
  ASSERT_TRUE(p) << p.error().message;
  policy_ = std::make_shared<const policy::Policy>(std::move(*p));
  std::string key = AddService("intake-app", "intake");
  auto probe = [&](size_t i) {
    return Call("POST", "/v1/collections/people/records", key, "intake",
                NewPersonBody(700 + i, {{"email", people_[i].fields["email"]}}));
  };
  Response clash = probe(0);
  ASSERT_EQ(clash.status, 409) << clash.body;
  EXPECT_EQ(clash.body.find(people_[0].fields["email"]), std::string::npos);
  std::optional<audit::Entry> entry = LastEntry("create", "intake-app");
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->outcome, "error");
  EXPECT_EQ(entry->reason, "already_exists");
  EXPECT_EQ(entry->subjects, std::vector<std::string>{*FromHex(people_[0].subject)});
  ASSERT_EQ(probe(1).status, 409);
  ASSERT_EQ(probe(0).status, 409) << "the same holder again is not a new exposure";
  Response created =
      Call("POST", "/v1/collections/people/records", key, "intake", NewPersonBody(801));
  ASSERT_EQ(created.status, 201) << created.body;
  // A new person is no exposure.
  Response third = probe(2);
  EXPECT_EQ(third.status, 403) << "a third holder passes the hard limit: " << third.body;
  EXPECT_EQ(ErrorCodeOf(third), "suspended");
}

// The same question asked by a PATCH that takes someone's email.
TEST_F(ApiTest, APatchClashNamesTheHolderInTheAudit) {
  std::string admin = AddService("admin-app", "admin");
  Response r = Call("PATCH", "/v1/collections/people/records/" + people_[1].id, admin, "admin",
                    R"({"fields":{"email":")" + people_[0].fields["email"] + R"("}})");
  ASSERT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(ErrorCodeOf(r), "already_exists");
  EXPECT_EQ(r.body.find(people_[0].fields["email"]), std::string::npos);
  std::optional<audit::Entry> entry = LastEntry("update", "admin-app");
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->outcome, "error");
  EXPECT_EQ(entry->subjects, std::vector<std::string>{*FromHex(people_[0].subject)});
  EXPECT_TRUE(entry->fields.empty());
  // Nothing was written.
  auto rec = vault_->Get("people", *FromHex(people_[1].id));
  ASSERT_TRUE(rec);
  for (const auto& f : rec->fields) {
    if (f.name == "email") EXPECT_EQ(f.value, people_[1].fields["email"]);
  }
}

TEST_F(ApiGuardTest, UniqueValuesAreChargedToTheSearchCapMatchingOrNot) {
  auto p = policy::Policy::Parse(R"(
[purposes]
intake = "Intake"
[roles.intake.collections.people]
actions  = ["create"]
purposes = ["intake"]
fields   = { "*" = "masked" }
[roles.intake.limits]
subjects = [ { window = "1h", soft = 50, hard = 100 } ]
searches = { window = "10m", max = 2 }
)",
                                 vault_->schema(), "cap");
  ASSERT_TRUE(p) << p.error().message;
  policy_ = std::make_shared<const policy::Policy>(std::move(*p));
  std::string key = AddService("intake-app", "intake");
  const std::string records = "/v1/collections/people/records";
  ASSERT_EQ(Call("POST", records, key, "intake", NewPersonBody(811)).status, 201);
  ASSERT_EQ(Call("POST", records, key, "intake",
                 NewPersonBody(812, {{"email", people_[0].fields["email"]}}))
                .status,
            409);
  // The cap is reached: a clash and a new person get the same 429.
  Response a = Call("POST", records, key, "intake",
                    NewPersonBody(813, {{"email", people_[1].fields["email"]}}));
  Response b = Call("POST", records, key, "intake", NewPersonBody(814));
  EXPECT_EQ(a.status, 429) << a.body;
  EXPECT_EQ(b.status, 429) << b.body;
  EXPECT_EQ(a.body, b.body);
}

// Issue 13: no shipped role could answer a subject access request. The dpo
// exports the person with, for GDPR art. 15(1)(c), who read their data,
// when and for which purpose.
TEST_F(ApiTest, TheDpoExportsASubjectWithWhoReadItWhenAndWhy) {
  const Person& p = people_[0];
  std::string support = AddService("support-app", "support_agent");
  std::string dpo = AddService("dpo-app", "dpo");
  std::string admin = AddService("admin-app", "admin");
  ASSERT_EQ(Call("GET", "/v1/collections/people/records/" + p.id, support, "support").status, 200);
  clock_.Advance(10);
  ASSERT_EQ(Call("GET", "/v1/collections/people/records/" + p.id, admin, "admin").status, 200);
  // Reads of someone else are not listed.
  ASSERT_EQ(
      Call("GET", "/v1/collections/people/records/" + people_[1].id, support, "support").status,
      200);

  Response r = Call("GET", "/v1/subjects/" + p.subject, dpo, "subject_access");
  ASSERT_EQ(r.status, 200) << r.body;
  json::object body = Body(r);
  EXPECT_EQ(body.at("subject").as_string(), p.subject);
  ASSERT_EQ(body.at("records").as_array().size(), 1u);
  EXPECT_EQ(body.at("records").as_array()[0].at("fields").at("email").as_string(),
            p.fields.at("email"))
      << "the person gets their data in clear";
  const json::array& accesses = body.at("accesses").as_array();
  ASSERT_EQ(accesses.size(), 2u) << r.body;
  EXPECT_EQ(accesses[0].at("principal").as_string(), "support-app");
  EXPECT_EQ(accesses[0].at("purpose").as_string(), "support");
  EXPECT_EQ(accesses[0].at("action").as_string(), "read");
  EXPECT_EQ(accesses[0].at("time").as_string(), FormatRfc3339(clock_.NowUnixSeconds() - 10));
  EXPECT_TRUE(accesses[0].at("on_behalf_of").is_null());
  EXPECT_FALSE(accesses[0].at("fields").as_array().empty());
  EXPECT_EQ(accesses[1].at("principal").as_string(), "admin-app");
  EXPECT_EQ(accesses[1].at("purpose").as_string(), "admin");
  EXPECT_FALSE(body.at("accesses_truncated").as_bool());
  // The dpo's own export is listed in the next one.
  Response again = Call("GET", "/v1/subjects/" + p.subject, dpo, "subject_access");
  ASSERT_EQ(Body(again).at("accesses").as_array().size(), 3u);
  EXPECT_EQ(Body(again).at("accesses").as_array()[2].at("action").as_string(), "export");
  // For no other purpose, and the dpo reads no single record.
  EXPECT_EQ(Call("GET", "/v1/subjects/" + p.subject, dpo, "support").status, 403);
  EXPECT_EQ(Call("GET", "/v1/collections/people/records/" + p.id, dpo, "subject_access").status,
            403);
  EXPECT_EQ(Call("DELETE", "/v1/subjects/" + p.subject, dpo, "subject_access").status, 403);
}

}  // namespace
}  // namespace coffre::api
