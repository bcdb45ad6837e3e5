// The local front end of the operation table (app/admin.h): a request maps
// to (operation, input, local caller) and runs through the runner; the
// local operations refuse every other caller; reads by `local` count in the
// quotas of the policy's role `local` (ADR 0024). People come
// from the generator.
#include "app/admin.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "app/backup.h"
#include "app/operations.h"
#include "common/bytes.h"
#include "crypto/crypto.h"
#include "crypto/sha256.h"
#include "gen/people_gen.h"
#include "storage/memory_store.h"

namespace coffre::app {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

// Role `local` may read 2 distinct people an hour, and is warned past 1.
constexpr const char* kLocalLimits = R"(
[roles.local]
[roles.local.limits]
subjects = [ { window = "1h", soft = 1, hard = 2 } ]
)";

class AdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto::Init());
    tmp_ = fs::temp_directory_path() /
           ("coffre-admin-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(tmp_);
    fs::create_directories(tmp_);
  }
  void TearDown() override {
    admin_.reset();
    rt_.reset();
    fs::remove_all(tmp_);
  }

  void Open(const std::string& extra_policy = "") {
    const std::string src = COFFRE_SOURCE_DIR;
    std::ifstream in(src + "/examples/people-policy.toml");
    std::ostringstream policy;
    policy << in.rdbuf() << extra_policy;
    vault::InitOptions o{(tmp_ / "v").string(),
                         src + "/examples/people.toml",
                         tmp_ / "v.key",
                         "",
                         {},
                         {},
                         nullptr,
                         ""};
    o.config.emplace_back(kPolicyConfig, policy.str());
    ASSERT_TRUE(vault::Vault::Init(o));
    auto rt = Runtime::Open({.dir = (tmp_ / "v").string(),
                             .key_file = tmp_ / "v.key",
                             .audit_anchor = tmp_ / "v.audit-anchor"});
    ASSERT_TRUE(rt) << rt.error().message;
    rt_ = std::move(*rt);
    admin_ = std::make_unique<Admin>(*rt_);
  }

  // Puts the next generated person; its {id, subject}.
  json::object Put() {
    std::string line;
    people_.NextNdjson(line);
    auto r = admin_->Execute(
        {{"op", "record.create"},
         {"input", {{"collection", "people"}, {"body", "{\"fields\":" + line + "}"}}}},
        ::getuid());
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : json::object{};
  }

  Result<json::object> Get(const json::object& ref) {
    return admin_->Execute(
        {{"op", "record.get"},
         {"input", {{"collection", "people"}, {"id", ref.at("id").as_string()}}}},
        ::getuid());
  }

  audit::Entry LastEntry() {
    audit::Entry last;
    EXPECT_TRUE(rt_->audit().Query({}, [&](const audit::Entry& e) {
      last = e;
      return true;
    }));
    return last;
  }

  fs::path tmp_;
  gen::PeopleGenerator people_{23};
  std::unique_ptr<Runtime> rt_;
  std::unique_ptr<Admin> admin_;
};

TEST_F(AdminTest, ARequestRunsItsOperationAsLocalWithTheCallersUid) {
  Open();
  json::object ref = Put();
  auto rec = Get(ref);
  ASSERT_TRUE(rec) << rec.error().message;
  EXPECT_EQ(rec->at("id"), ref.at("id"));
  EXPECT_TRUE(rec->at("fields").as_object().contains("email"));
  audit::Entry e = LastEntry();
  EXPECT_EQ(e.principal, "local");
  EXPECT_EQ(e.action, "read");
  EXPECT_EQ(e.outcome, "allowed");
  EXPECT_EQ(e.source, "cli:uid=" + std::to_string(::getuid()));
  EXPECT_FALSE(e.fields.empty()) << "every field shown in clear is named";

  // A local operation takes its input as the request's members.
  auto listed = admin_->Execute({{"op", "principal.list"}}, ::getuid());
  ASSERT_TRUE(listed) << listed.error().message;
  EXPECT_TRUE(listed->at("principals").as_array().empty());
  EXPECT_EQ(LastEntry().action, "principal.list");

  auto none = admin_->Execute({{"op", "no.such.op"}}, ::getuid());
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ErrorCode::kNotFound);
  auto bad = admin_->Execute({{"op", "record.get"}, {"input", "people"}}, ::getuid());
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(AdminTest, LocalOperationsAreInTheTableAndRefuseOtherCallers) {
  Open();
  for (const char* name :
       {"principal.add", "policy.load", "audit.verify", "audit.scan", "canary.add", "alerts.scan",
        "retention.run", "retention.hold", "cards.sweep", "breach.report.file", "breach.notify",
        "bulk.export", "keys.rotate", "tls.set"}) {
    EXPECT_NE(FindOperation(name), nullptr) << name;
  }
  Runner runner(Services{.vault = rt_->vault(),
                         .directory = rt_->directory(),
                         .audit = rt_->audit(),
                         .policy = [this] { return rt_->policy(); },
                         .clock = rt_->clock()});
  Caller admin;  // an HTTP caller of role admin: not local
  admin.principal.name = "ops";
  admin.principal.role = "admin";
  admin.source = "https:127.0.0.1";
  Outcome out = runner.Call(admin, "principal.list", {});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.audited, "denied");
  EXPECT_EQ(LastEntry().principal, "ops");
  EXPECT_EQ(LastEntry().outcome, "denied");
}

TEST_F(AdminTest, ReadsByLocalCountInTheQuotasOfRoleLocal) {
  Open(kLocalLimits);
  json::object a = Put(), b = Put(), c = Put();
  ASSERT_TRUE(Get(a));
  ASSERT_TRUE(Get(b));  // past the soft limit: allowed, warned
  auto refused = Get(c);
  ASSERT_FALSE(refused) << "a third person is over the hard limit of role local";
  EXPECT_EQ(refused.error().code, ErrorCode::kPermissionDenied);
  audit::Entry e = LastEntry();
  EXPECT_EQ(e.principal, "local") << "the refusal is audited last";
  EXPECT_EQ(e.action, "read");
  EXPECT_EQ(e.outcome, "denied");
  EXPECT_TRUE(e.fields.empty()) << "a refused read shows nothing";
  // The people already counted may be read again.
  EXPECT_TRUE(Get(a));
}

TEST_F(AdminTest, WithoutRoleLocalLocalReadsAreNotLimited) {
  Open();
  std::vector<json::object> refs;
  for (int i = 0; i < 5; ++i) refs.push_back(Put());
  for (const json::object& r : refs) EXPECT_TRUE(Get(r));
}

// backup.create (app/backup.h): the server writes only into the one
// directory descriptor it is given; the manifest it signs checks out, and
// any change of it does not.
TEST_F(AdminTest, BackupCreateWritesASignedManifestIntoTheGivenDirectoryOnly) {
  Open();
  for (int i = 0; i < 20; ++i) Put();
  auto without = admin_->Execute({{"op", "backup.create"}}, ::getuid());
  ASSERT_FALSE(without);
  EXPECT_EQ(without.error().code, ErrorCode::kInvalidArgument);

  const fs::path out = tmp_ / "out";
  fs::create_directories(out);
  const int fd = ::open(out.c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(fd, 0);
  const int fds[] = {fd};
  auto made = admin_->Execute({{"op", "backup.create"}}, ::getuid(), fds);
  ::close(fd);
  ASSERT_TRUE(made) << made.error().message;
  audit::Entry e = LastEntry();
  EXPECT_EQ(e.action, "backup");
  EXPECT_EQ(e.outcome, "allowed");
  EXPECT_NE(e.reason.find(std::string(made->at("backup_id").as_string())), std::string::npos);

  auto read = [](const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  };
  const std::string manifest = read(out / "manifest.json");
  const std::string signature = read(out / "manifest.sig");
  auto m = ParseSignedManifest(manifest, signature);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->vault_id, rt_->vault().vault_id());
  EXPECT_EQ(m->public_key, rt_->audit().public_key());
  EXPECT_GT(m->audit_last_seq, 20u);
  size_t listed_bytes = 0;
  for (const BackupFile& f : m->files) {
    ASSERT_EQ(fs::file_size(out / f.path), f.size) << f.path;
    EXPECT_EQ(crypto::Sha256Of(read(out / f.path)), f.sha256) << f.path;
    listed_bytes += f.size;
  }
  EXPECT_GT(listed_bytes, 0u);
  // Nothing written outside the directory given.
  for (const auto& entry : fs::directory_iterator(tmp_)) {
    const std::string name = entry.path().filename();
    EXPECT_TRUE(name == "v" || name == "v.key" || name == "v.audit-anchor" || name == "out")
        << name;
  }

  // Any change of a signed byte, or a signature of another vault, fails.
  std::string changed = manifest;
  changed[changed.find("\"created_ms\":") + 14] ^= 1;
  auto altered = ParseSignedManifest(changed, signature);
  ASSERT_FALSE(altered);
  EXPECT_EQ(altered.error().code, ErrorCode::kDataLoss);
  std::string other_key = signature;
  other_key[std::string("coffre-backup-signature v1 ").size()] ^= 1;
  EXPECT_FALSE(ParseSignedManifest(manifest, other_key));
  EXPECT_FALSE(ParseSignedManifest(manifest, ""));
}

// A vault on a store without files (the in-memory one) is refused cleanly:
// an error, no manifest, nothing half-written that looks like a backup.
TEST_F(AdminTest, BackupOfAStoreWithoutFilesIsRefused) {
  const std::string src = COFFRE_SOURCE_DIR;
  auto opener = storage::MemoryStoreOpener(storage::NewMemoryData());
  vault::InitOptions o{(tmp_ / "m").string(),
                       src + "/examples/people.toml",
                       tmp_ / "m.key",
                       "",
                       {},
                       {},
                       nullptr,
                       ""};
  o.store = opener;
  ASSERT_TRUE(vault::Vault::Init(o));
  auto rt = Runtime::Open({.dir = (tmp_ / "m").string(),
                           .key_file = tmp_ / "m.key",
                           .audit_anchor = tmp_ / "m.audit-anchor",
                           .store = opener});
  ASSERT_TRUE(rt) << rt.error().message;
  Admin admin(**rt);
  const fs::path out = tmp_ / "out";
  fs::create_directories(out);
  const int fd = ::open(out.c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(fd, 0);
  const int fds[] = {fd};
  auto made = admin.Execute({{"op", "backup.create"}}, ::getuid(), fds);
  ::close(fd);
  ASSERT_FALSE(made);
  EXPECT_EQ(made.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_FALSE(fs::exists(out / "manifest.json"));
  EXPECT_FALSE(fs::exists(out / "manifest.sig"));
}

// Two nodes of a cluster vault (two Runtimes on one shared data set, each
// with its node id and its own anchor): each writes its own audit chain;
// either node's listing merges both chains in time order, either node's
// verify covers both, and a chain deleted with its anchor is named by the
// other node (docs/audit-cluster.md).
TEST_F(AdminTest, TwoNodesAuditTheirOwnChainsAndEachListsAndVerifiesBoth) {
  const std::string src = COFFRE_SOURCE_DIR;
  auto data = storage::NewMemoryData();
  std::ifstream in(src + "/examples/people-policy.toml");
  std::ostringstream policy;
  policy << in.rdbuf();
  vault::InitOptions o{(tmp_ / "c").string(),
                       src + "/examples/people.toml",
                       tmp_ / "c.key",
                       "",
                       {},
                       {},
                       nullptr,
                       ""};
  o.config.emplace_back(kPolicyConfig, policy.str());
  o.store = storage::MemoryStoreOpener(data, /*shared=*/true);
  ASSERT_TRUE(vault::Vault::Init(o));
  const std::string id_a(32, 'a'), id_b(32, 'b');
  auto node = [&](const std::string& id) {
    // Each node has its own directory (its lock, DIR/node.lock, is held
    // while its Runtime lives).
    const fs::path dir = tmp_ / ("c-" + id.substr(0, 1));
    fs::create_directories(dir);
    return Runtime::Open({.dir = dir.string(),
                          .key_file = tmp_ / "c.key",
                          .audit_anchor = tmp_ / ("node-" + id.substr(0, 1) + ".audit-anchor"),
                          .store = storage::MemoryStoreOpener(data, /*shared=*/true),
                          .node_id = id});
  };
  auto a = node(id_a);
  ASSERT_TRUE(a) << a.error().message;
  auto b = node(id_b);
  ASSERT_TRUE(b) << b.error().message;
  auto admin_a = std::make_unique<Admin>(**a);
  Admin admin_b(**b);

  std::string line;
  people_.NextNdjson(line);
  auto made = admin_a->Execute(
      {{"op", "record.create"},
       {"input", {{"collection", "people"}, {"body", "{\"fields\":" + line + "}"}}}},
      ::getuid());
  ASSERT_TRUE(made) << made.error().message;
  auto got =
      admin_b.Execute({{"op", "record.get"},
                       {"input", {{"collection", "people"}, {"id", made->at("id").as_string()}}}},
                      ::getuid());
  ASSERT_TRUE(got) << got.error().message;

  // Node b lists node a's create and its own read, in time order.
  auto listed = admin_b.Execute({{"op", "audit.scan"}}, ::getuid());
  ASSERT_TRUE(listed) << listed.error().message;
  std::vector<std::string> actions;
  std::string last;  // RFC 3339 with milliseconds, UTC: ordered as text
  for (const auto& text : listed->at("entries").as_array()) {
    json::value e = json::parse(text.as_string());
    actions.emplace_back(e.at("action").as_string());
    const std::string t(e.at("time").as_string());
    EXPECT_GE(t, last);
    last = t;
  }
  ASSERT_EQ(actions.size(), 2u);
  EXPECT_EQ(actions[0], "create");
  EXPECT_EQ(actions[1], "read");

  // Each node verifies both chains.
  for (Admin* admin : {admin_a.get(), &admin_b}) {
    auto v = admin->Execute({{"op", "audit.verify"}}, ::getuid());
    ASSERT_TRUE(v) << v.error().message;
    EXPECT_TRUE(v->at("ok").as_bool()) << json::serialize(*v);
    EXPECT_EQ(v->at("chains").to_number<int64_t>(), 2);
  }
  // Both nodes anchor the registry on their next flush.
  ASSERT_TRUE((*a)->audit().Flush());
  ASSERT_TRUE((*b)->audit().Flush());

  // Node a's chain is deleted, with its anchor: node b names it.
  const std::string anchor_a = (*a)->options().audit_anchor;
  admin_a.reset();
  a->reset();
  auto raw = storage::OpenMemoryStore({.data = data, .shared = true});
  ASSERT_TRUE(raw);
  auto batch = (*raw)->NewBatch();
  const std::string prefix = "n" + *FromHex(id_a);
  for (storage::Space sp : {storage::Space::kAudit, storage::Space::kAuditByPrincipal,
                            storage::Space::kAuditBySubject}) {
    ASSERT_TRUE((*raw)->Scan(sp, prefix, [&](std::string_view k, std::string_view) {
      batch->Delete(sp, k);
      return true;
    }));
  }
  ASSERT_TRUE((*raw)->Write(*batch));
  fs::remove(anchor_a);
  fs::remove(anchor_a + ".chains");
  auto v = admin_b.Execute({{"op", "audit.verify"}}, ::getuid());
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_FALSE(v->at("ok").as_bool());
  EXPECT_EQ(v->at("chain").as_string(), id_a);
}

}  // namespace
}  // namespace coffre::app
