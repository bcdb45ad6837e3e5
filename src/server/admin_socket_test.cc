// The admin socket answers only the user running the server (or root), even
// when its file mode has been loosened (review finding 14), and tells "no
// server" apart from a server's refusal.
#include "server/admin_socket.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "app/admin.h"
#include "app/admin_channel.h"
#include "app/runtime.h"
#include "crypto/crypto.h"
#include "server/server.h"
#include "vault/vault.h"

namespace coffre::server {
namespace {

namespace fs = std::filesystem;

class AdminSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto::Init());
    root_ = fs::temp_directory_path() / ("coffre-admin-socket-" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
    fs::permissions(root_, fs::perms::all);  // other users may reach the socket's directory
    const std::string dir = root_ / "v";
    ASSERT_TRUE(
        vault::Vault::Init({.dir = dir,
                            .schema_path = std::string(COFFRE_SOURCE_DIR) + "/examples/people.toml",
                            .key_file = root_ / "v.key",
                            .erasure_journal = ""}));
    auto rt = app::Runtime::Open({.dir = dir,
                                  .key_file = root_ / "v.key",
                                  .erasure_journal = "",
                                  .audit_anchor = root_ / "v.audit-anchor"});
    ASSERT_TRUE(rt) << rt.error().message;
    rt_ = std::move(*rt);
    admin_ = std::make_unique<app::Admin>(*rt_);
    path_ = app::AdminSocketPath(dir);
    auto sock = AdminSocket::Start(path_, *admin_);
    ASSERT_TRUE(sock) << sock.error().message;
    socket_ = std::move(*sock);
    fs::permissions(dir, fs::perms::all);
  }
  void TearDown() override {
    socket_.reset();
    admin_.reset();
    rt_.reset();
    fs::remove_all(root_);
  }

  fs::path root_;
  std::string path_;
  std::unique_ptr<app::Runtime> rt_;
  std::unique_ptr<app::Admin> admin_;
  std::unique_ptr<AdminSocket> socket_;
};

TEST_F(AdminSocketTest, TheSocketIsPrivateAndServesItsOwnUser) {
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto r = app::CallAdminSocket(path_, {{"op", "principal.list"}});
  ASSERT_TRUE(r) << r.error().message;
}

// The CLI opens the directory itself only when no server listens: a
// kNotFound the server answers must not look like the absence of one (the
// CLI would then try the directory the server holds).
TEST_F(AdminSocketTest, AServersNotFoundIsNotTheAbsenceOfAServer) {
  auto refused =
      app::TryAdminSocket(path_, {{"op", "retention.release"}, {"subject", std::string(32, '0')}});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(refused.error().message, "the subject is not under a legal hold");
  auto none = app::TryAdminSocket((root_ / "absent" / "admin.sock").string(), {{"op", "ping"}});
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_FALSE(none->has_value());
  auto answered = app::TryAdminSocket(path_, {{"op", "principal.list"}});
  ASSERT_TRUE(answered) << answered.error().message;
  ASSERT_TRUE(answered->has_value());
  EXPECT_TRUE((*answered)->contains("principals"));
}

TEST_F(AdminSocketTest, AnotherUserIsRefusedEvenThroughALoosenedMode) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to act as another user";
  ASSERT_EQ(::chmod(path_.c_str(), 0666), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(10);
    auto r = app::CallAdminSocket(path_, {{"op", "principal.list"}});
    if (r) ::_exit(11);  // served: the uid check is missing
    ::_exit(r.error().code == ErrorCode::kPermissionDenied ? 0 : 12);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10: could not drop privileges, 11: served another user, "
                                       "12: refused with another error";
}

// A second server must not take over a live socket; a socket file that
// nobody listens on (a server killed with -9) is replaced.
TEST_F(AdminSocketTest, ALiveSocketIsKeptAStaleOneIsReplaced) {
  auto second = AdminSocket::Start(path_, *admin_);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(second.error().message.find("another server answers"), std::string::npos);
  ASSERT_TRUE(app::CallAdminSocket(path_, {{"op", "ping"}}));  // the first still serves

  socket_.reset();  // stops and removes the socket file
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(path_.size(), sizeof addr.sun_path);
  std::memcpy(addr.sun_path, path_.data(), path_.size());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ::close(fd);  // the file stays, nobody listens: stale
  auto replaced = AdminSocket::Start(path_, *admin_);
  ASSERT_TRUE(replaced) << replaced.error().message;
  socket_ = std::move(*replaced);
  EXPECT_TRUE(app::CallAdminSocket(path_, {{"op", "ping"}}));
}

}  // namespace
}  // namespace coffre::server
