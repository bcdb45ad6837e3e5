// `coffre init DIR --store URL` and `coffre join`, run in-process through
// the CLI's own command tree on a shared in-memory store standing for the
// cluster's database (cli_common's test hook): two node directories, one
// vault. tests/blackbox/test_cluster_nodes.py runs the same against a real
// PostgreSQL with two `coffre serve` processes.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "app/runtime.h"
#include "cli/cli_common.h"
#include "cli/commands.h"
#include "cluster/node.h"
#include "common/bytes.h"
#include "crypto/key_file.h"
#include "gen/people_gen.h"
#include "storage/memory_store.h"
#include "test_util.h"
#include "vault/record_json.h"

namespace coffre {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

constexpr const char* kUrl = "postgresql://coffre@127.0.0.1:5432/coffre";

struct Outcome {
  int exit_code = 0;
  std::string out;
  std::string err;
};

Outcome RunCli(std::vector<std::string> args) {
  CLI::App app("coffre");
  app.require_subcommand(1);
  cli::Context ctx;
  cli::RegisterCommands(app, ctx);
  args.insert(args.begin(), "coffre");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  ::testing::internal::CaptureStdout();
  ::testing::internal::CaptureStderr();
  Outcome o;
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
    o.exit_code = ctx.exit_code;
  } catch (const CLI::ParseError& e) {
    o.exit_code = app.exit(e);
  }
  o.out = ::testing::internal::GetCapturedStdout();
  o.err = ::testing::internal::GetCapturedStderr();
  return o;
}

class ClusterNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = storage::NewMemoryData();
    cli::SetClusterStoreOpenerForTesting([this](const std::string& url) {
      urls_.push_back(url);
      return storage::MemoryStoreOpener(data_, /*shared=*/true);
    });
  }
  void TearDown() override { cli::SetClusterStoreOpenerForTesting(nullptr); }

  Outcome InitNode(const std::string& name, const std::string& url = kUrl) {
    return RunCli({"init", tmp_ / name, "--store", url, "--schema", testing::PeopleSchema(),
                   "--policy", testing::SourceDir() + "/examples/people-policy.toml", "--key-file",
                   key_});
  }
  Outcome JoinNode(const std::string& name, const std::string& key, const std::string& url = kUrl) {
    return RunCli({"join", tmp_ / name, "--store", url, "--key-file", key});
  }
  std::unique_ptr<app::Runtime> Open(const std::string& name) {
    auto rt = app::Runtime::Open(cli::RuntimeFor({.dir = tmp_ / name, .key_file = key_}));
    EXPECT_TRUE(rt) << rt.error().message;
    return rt ? std::move(*rt) : nullptr;
  }

  TempDir tmp_;
  std::string key_ = tmp_ / "master.key";
  std::shared_ptr<storage::MemoryData> data_;
  std::vector<std::string> urls_;
};

TEST_F(ClusterNodeTest, InitWithAStoreLeavesOnlyLocalStateInDir) {
  Outcome init = InitNode("node1");
  ASSERT_EQ(init.exit_code, 0) << init.err;
  auto out = boost::json::parse(init.out).as_object();
  EXPECT_EQ(out.at("store").as_string(), kUrl);
  EXPECT_EQ(out.at("node_id").as_string().size(), 32u);
  EXPECT_EQ(out.at("audit_anchor").as_string(), tmp_ / "node1/audit-anchor");
  ASSERT_FALSE(urls_.empty());
  EXPECT_EQ(urls_.front(), kUrl);
  // Local state only: no RocksDB (CURRENT, MANIFEST, .sst, .log) in DIR.
  std::vector<std::string> names;
  for (const auto& entry : fs::recursive_directory_iterator(tmp_ / "node1"))
    names.push_back(fs::relative(entry.path(), tmp_ / "node1").string());
  std::sort(names.begin(), names.end());
  // audit-anchor.chains: the other chains as this node anchored them (ADR 0041).
  EXPECT_EQ(names, (std::vector<std::string>{"audit-anchor", "audit-anchor.chains", "cluster.toml",
                                             "node.lock", "tls", "tls/cert.pem"}));
  EXPECT_TRUE(fs::exists(key_));
  EXPECT_TRUE(fs::exists(tmp_ / "node1.erasures"));
  auto config = cluster::ReadNodeConfig(tmp_ / "node1");
  ASSERT_TRUE(config && *config);
  EXPECT_EQ((*config)->store_url, kUrl);
  EXPECT_EQ((*config)->node_id, out.at("node_id").as_string());
  // The vault is in the store: a runtime opens it as that node.
  auto rt = Open("node1");
  ASSERT_TRUE(rt);
  EXPECT_EQ(ToHex(rt->vault().vault_id()), out.at("vault_id").as_string());
  EXPECT_EQ(rt->options().node_id, (*config)->node_id);
}

TEST_F(ClusterNodeTest, InitRefusesAStoreThatHoldsAVault) {
  ASSERT_EQ(InitNode("node1").exit_code, 0);
  const std::string other_key = tmp_ / "other.key";
  Outcome again = RunCli({"init", tmp_ / "node2", "--store", kUrl, "--schema",
                          testing::PeopleSchema(), "--key-file", other_key});
  EXPECT_EQ(again.exit_code, 4) << again.err;
  EXPECT_NE(again.err.find("coffre join"), std::string::npos) << again.err;
  // Nothing left behind, and the first vault untouched.
  EXPECT_FALSE(fs::exists(tmp_ / "node2"));
  EXPECT_FALSE(fs::exists(other_key));
  EXPECT_FALSE(fs::exists(tmp_ / "node2.erasures"));
  EXPECT_TRUE(Open("node1"));
}

TEST_F(ClusterNodeTest, JoinServesTheSameVaultFromAnotherNode) {
  ASSERT_EQ(InitNode("node1").exit_code, 0);
  Outcome join = JoinNode("node2", key_);
  ASSERT_EQ(join.exit_code, 0) << join.err;
  auto out = boost::json::parse(join.out).as_object();
  auto one = cluster::ReadNodeConfig(tmp_ / "node1");
  auto two = cluster::ReadNodeConfig(tmp_ / "node2");
  ASSERT_TRUE(one && *one && two && *two);
  EXPECT_NE((*one)->node_id, (*two)->node_id);
  EXPECT_EQ(out.at("node_id").as_string(), (*two)->node_id);
  EXPECT_TRUE(fs::exists(tmp_ / "node2/tls/cert.pem"));
  EXPECT_EQ(testing::ReadFileOrDie(tmp_ / "node2/tls/cert.pem"),
            testing::ReadFileOrDie(tmp_ / "node1/tls/cert.pem"));
  EXPECT_TRUE(fs::exists(tmp_ / "node2/audit-anchor"));
  EXPECT_TRUE(fs::exists(tmp_ / "node2.erasures"));

  // Both nodes open at once (two processes of a cluster), one vault.
  auto a = Open("node1");
  auto b = Open("node2");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->vault().vault_id(), b->vault().vault_id());
  gen::PeopleGenerator people(16);
  std::string line;
  people.NextNdjson(line);
  boost::json::value storage;
  auto inputs = vault::FieldsFromJson(line, storage);
  ASSERT_TRUE(inputs);
  auto ref = a->vault().Put("people", *inputs);
  ASSERT_TRUE(ref) << ref.error().message;
  auto read = b->vault().Get("people", ref->id);
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ(read->subject, ref->subject);
}

TEST_F(ClusterNodeTest, ErasureOnOneNodeDoesNotStopTheOtherFromOpening) {
  ASSERT_EQ(InitNode("node1").exit_code, 0);
  ASSERT_EQ(JoinNode("node2", key_).exit_code, 0);
  std::string subject;
  {
    auto a = Open("node1");
    ASSERT_TRUE(a);
    gen::PeopleGenerator people(17);
    std::string line;
    people.NextNdjson(line);
    boost::json::value storage;
    auto inputs = vault::FieldsFromJson(line, storage);
    ASSERT_TRUE(inputs);
    auto ref = a->vault().Put("people", *inputs);
    ASSERT_TRUE(ref);
    subject = ref->subject;
    ASSERT_TRUE(a->vault().EraseSubject(subject));
  }
  // Node 2's journal has no entry of node 1's: each node keeps its own
  // count of entries applied, so node 2 still opens, and so does node 1.
  auto b = Open("node2");
  ASSERT_TRUE(b);
  auto gone = b->vault().HasSubject(subject);
  ASSERT_TRUE(gone);
  EXPECT_FALSE(*gone);
  b.reset();
  EXPECT_TRUE(Open("node1"));
}

TEST_F(ClusterNodeTest, JoinWithAWrongKeyExitsFiveAndLeavesNothing) {
  ASSERT_EQ(InitNode("node1").exit_code, 0);
  const std::string wrong = tmp_ / "wrong.key";
  ASSERT_TRUE(crypto::CreateKeyFile(wrong));
  Outcome join = JoinNode("node2", wrong);
  EXPECT_EQ(join.exit_code, 5) << join.err;
  EXPECT_NE(join.err.find("wrong key"), std::string::npos) << join.err;
  EXPECT_FALSE(fs::exists(tmp_ / "node2"));
  EXPECT_FALSE(fs::exists(tmp_ / "node2.erasures"));
}

TEST_F(ClusterNodeTest, JoinRefusesAStoreWithoutAVault) {
  Outcome join = JoinNode("node2", key_);
  EXPECT_EQ(join.exit_code, 3) << join.err;
  EXPECT_NE(join.err.find("coffre init"), std::string::npos) << join.err;
  EXPECT_FALSE(fs::exists(tmp_ / "node2"));
}

TEST_F(ClusterNodeTest, JoinRefusesANonEmptyDirectory) {
  ASSERT_EQ(InitNode("node1").exit_code, 0);
  Outcome join = JoinNode("node1", key_);
  EXPECT_EQ(join.exit_code, 4) << join.err;
  EXPECT_TRUE(Open("node1")) << "the node it refused to overwrite still opens";
}

TEST_F(ClusterNodeTest, PasswordsInTheUrlAreRefusedAndNotEchoed) {
  const std::string secret = "n0tInArgv";
  const std::string url = "postgresql://coffre:" + secret + "@127.0.0.1:5432/coffre";
  Outcome init = InitNode("node1", url);
  EXPECT_EQ(init.exit_code, 2);
  EXPECT_NE(init.err.find("password"), std::string::npos) << init.err;
  EXPECT_EQ(init.err.find(secret), std::string::npos) << init.err;
  EXPECT_FALSE(fs::exists(tmp_ / "node1"));
  EXPECT_FALSE(fs::exists(key_));
  EXPECT_TRUE(urls_.empty()) << "the store was not even opened";

  Outcome join = JoinNode("node2", key_, "postgresql://coffre@h/coffre?password=" + secret);
  EXPECT_EQ(join.exit_code, 2);
  EXPECT_NE(join.err.find("password"), std::string::npos) << join.err;
  EXPECT_EQ(join.err.find(secret), std::string::npos) << join.err;
  EXPECT_FALSE(fs::exists(tmp_ / "node2"));
}

TEST_F(ClusterNodeTest, OneProcessWritesAsANodeAtATime) {
  ASSERT_EQ(InitNode("node1").exit_code, 0);
  auto first = Open("node1");
  ASSERT_TRUE(first);
  auto second = app::Runtime::Open(cli::RuntimeFor({.dir = tmp_ / "node1", .key_file = key_}));
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(second.error().message.find("in use"), std::string::npos);
}

TEST_F(ClusterNodeTest, FileCommandsRefuseOnAClusterNodeNamingTheAlternative) {
  ASSERT_EQ(InitNode("node1").exit_code, 0);
  Outcome backup = RunCli({"backup", tmp_ / "node1", tmp_ / "bk", "--key-file", key_});
  EXPECT_NE(backup.exit_code, 0);
  EXPECT_NE(backup.err.find("pg_basebackup"), std::string::npos) << backup.err;
  EXPECT_FALSE(fs::exists(tmp_ / "bk"));
  Outcome split = RunCli({"keys", "split", tmp_ / "node1", "--key-file", key_, "--threshold", "2",
                          "--recipient", "x", "--recipient", "y", "--out-dir", tmp_ / "shares"});
  EXPECT_NE(split.exit_code, 0);
  EXPECT_NE(split.err.find("PKCS#11"), std::string::npos) << split.err;
  EXPECT_TRUE(fs::exists(key_));
}

TEST_F(ClusterNodeTest, InitWithoutAStoreIsTheEmbeddedVaultAsBefore) {
  Outcome init =
      RunCli({"init", tmp_ / "vault", "--schema", testing::PeopleSchema(), "--key-file", key_});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  EXPECT_TRUE(urls_.empty());
  EXPECT_FALSE(fs::exists(tmp_ / "vault/cluster.toml"));
  EXPECT_TRUE(fs::exists(tmp_ / "vault/CURRENT")) << "RocksDB in DIR";
  EXPECT_TRUE(fs::exists(tmp_ / "vault.audit-anchor"));
  auto out = boost::json::parse(init.out).as_object();
  EXPECT_FALSE(out.contains("store"));
  EXPECT_FALSE(out.contains("node_id"));
}

}  // namespace
}  // namespace coffre
