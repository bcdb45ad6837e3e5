#include "cluster/node.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "crypto/crypto.h"

namespace coffre::cluster {
namespace {

namespace fs = std::filesystem;

class NodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto::Init());
    std::string tmpl = (fs::temp_directory_path() / "coffre-node-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/node";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  void WriteConfig(const std::string& text) { std::ofstream(ConfigPath(dir_)) << text; }
  std::string root_;
  std::string dir_;
};

TEST_F(NodeTest, ConfigRoundTripsAndIsPrivate) {
  ASSERT_TRUE(PrepareNodeDir(dir_));
  EXPECT_FALSE(IsNodeDir(dir_));
  auto none = ReadNodeConfig(dir_);
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_FALSE(*none);
  NodeConfig c{
      .store_url = "postgresql://coffre@db1:5432,db2:5432/coffre?target_session_attrs=read-write",
      .node_id = NewNodeId()};
  ASSERT_TRUE(WriteNodeConfig(dir_, c));
  EXPECT_TRUE(IsNodeDir(dir_));
  EXPECT_EQ(fs::status(ConfigPath(dir_)).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  auto read = ReadNodeConfig(dir_);
  ASSERT_TRUE(read) << read.error().message;
  ASSERT_TRUE(*read);
  EXPECT_EQ((*read)->store_url, c.store_url);
  EXPECT_EQ((*read)->node_id, c.node_id);
  // Never replaced.
  auto again = WriteNodeConfig(dir_, c);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kAlreadyExists);
}

TEST_F(NodeTest, NodeIdsAreRandomHex) {
  const std::string a = NewNodeId();
  const std::string b = NewNodeId();
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST_F(NodeTest, PasswordsInUrlsAreRefusedWithoutEchoingThem) {
  const std::string secret = "Sup3rS3cret";
  for (const std::string& url :
       {"postgresql://coffre:" + secret + "@127.0.0.1:5432/coffre",
        "postgres://coffre:" + secret + "@h1:1,h2:2/coffre",
        "postgresql://coffre@127.0.0.1/coffre?password=" + secret,
        "postgresql://coffre@127.0.0.1/coffre?sslmode=require&password=" + secret,
        "postgresql://coffre@127.0.0.1/coffre?pass%77ord=" + secret,
        "postgresql://:" + secret + "@127.0.0.1/coffre"}) {
    auto problem = StoreUrlProblem(url);
    ASSERT_TRUE(problem) << "accepted a password";
    EXPECT_NE(problem->find("password"), std::string::npos) << *problem;
    EXPECT_EQ(problem->find(secret), std::string::npos) << "echoed the password";
  }
  for (const std::string url :
       {"postgresql://coffre@127.0.0.1:5432/coffre",
        "postgresql://coffre@h1:1,h2:2/coffre?target_session_attrs=read-write",
        "postgresql:///coffre?host=/run/postgresql&passfile=/etc/coffre/pgpass",
        "postgres://coffre@[::1]:5432/coffre"}) {
    EXPECT_FALSE(StoreUrlProblem(url)) << url;
  }
  EXPECT_TRUE(StoreUrlProblem(""));
  EXPECT_TRUE(StoreUrlProblem("host=127.0.0.1 password=x"));
  EXPECT_TRUE(StoreUrlProblem("mysql://coffre@127.0.0.1/coffre"));
}

TEST_F(NodeTest, WriteRefusesAPasswordAndReadRefusesAnEditedOne) {
  ASSERT_TRUE(PrepareNodeDir(dir_));
  auto w = WriteNodeConfig(
      dir_, {.store_url = "postgresql://coffre:pw0rdX@h/coffre", .node_id = NewNodeId()});
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(ConfigPath(dir_)));
  WriteConfig("[store]\nurl = \"postgresql://coffre:pw0rdX@h/coffre\"\n[node]\nid = \"" +
              NewNodeId() + "\"\n");
  auto r = ReadNodeConfig(dir_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().message.find("pw0rdX"), std::string::npos) << r.error().message;
}

TEST_F(NodeTest, MalformedConfigsNameTheProblem) {
  ASSERT_TRUE(PrepareNodeDir(dir_));
  const std::string id = NewNodeId();
  struct Case {
    std::string text;
    std::string expected;
  };
  for (const Case& c : std::vector<Case>{
           {"[store]\nurl = \"postgresql://coffre@h/coffre\"\n", "[node] id"},
           {"[node]\nid = \"" + id + "\"\n", "[store] url"},
           {"[store]\nurl = \"postgresql://coffre@h/coffre\"\nuser = \"x\"\n[node]\nid = \"" + id +
                "\"\n",
            "store.user"},
           {"[store]\nurl = \"postgresql://coffre@h/coffre\"\n[node]\nid = \"xyz\"\n", "32"},
           {"[stor]\n", "[stor]"},
           {"[store\n", "cluster.toml:1"},
       }) {
    WriteConfig(c.text);
    auto r = ReadNodeConfig(dir_);
    ASSERT_FALSE(r) << c.text;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find(c.expected), std::string::npos) << r.error().message;
  }
}

TEST_F(NodeTest, PrepareRefusesANonEmptyDirectory) {
  fs::create_directories(dir_);
  std::ofstream(dir_ + "/CURRENT") << "x";
  auto s = PrepareNodeDir(dir_);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kAlreadyExists);
}

TEST_F(NodeTest, OneProcessAtATimeHoldsTheNodeLock) {
  ASSERT_TRUE(PrepareNodeDir(dir_));
  {
    auto first = NodeLock::Acquire(dir_);
    ASSERT_TRUE(first) << first.error().message;
    auto second = NodeLock::Acquire(dir_);
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().code, ErrorCode::kFailedPrecondition);
    EXPECT_NE(second.error().message.find("in use"), std::string::npos);
    // Another process is refused too.
    pid_t child = ::fork();
    if (child == 0) _exit(NodeLock::Acquire(dir_) ? 0 : 7);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    EXPECT_EQ(WEXITSTATUS(status), 7);
  }
  auto after = NodeLock::Acquire(dir_);
  EXPECT_TRUE(after) << "released when its holder goes";
}

}  // namespace
}  // namespace coffre::cluster
