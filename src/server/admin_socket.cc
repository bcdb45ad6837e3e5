#include "server/admin_socket.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "crypto/crypto.h"

namespace coffre::server {
namespace {

constexpr int kIoTimeoutMs = 10'000;

}  // namespace

Result<std::unique_ptr<AdminSocket>> AdminSocket::Start(const std::string& path,
                                                        app::Admin& admin) {
  return Start(path,
               [&admin](boost::json::object& request, uint32_t uid, std::span<const int> fds) {
                 return admin.Execute(request, uid, fds);
               });
}

Result<std::unique_ptr<AdminSocket>> AdminSocket::Start(const std::string& path, Handler handler) {
  COFFRE_ASSIGN_OR_RETURN(sockaddr_un addr, app::AdminSocketAddress(path));
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return Fail(ErrorCode::kFailedPrecondition, path + " exists and is not a socket");
    }
    // Only a stale socket may be replaced: a live one belongs to a server.
    // (A ping that succeeds has no error() to read: IsNotFound asks first.)
    if (!IsNotFound(app::CallAdminSocket(path, {{"op", "ping"}}))) {
      return Fail(ErrorCode::kFailedPrecondition, "another server answers on " + path);
    }
    ::unlink(path.c_str());
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Fail(ErrorCode::kIoError, "cannot create the admin socket");
  // Created 0600 from the start: no window in which others could connect.
  mode_t old = ::umask(0177);
  int bound = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::umask(old);
  if (bound != 0 || ::listen(fd, 16) != 0) {
    int err = errno;
    ::close(fd);
    return Fail(ErrorCode::kIoError, "cannot listen on " + path + ": " + std::strerror(err));
  }
  if (::chmod(path.c_str(), 0600) != 0) {
    int err = errno;
    ::close(fd);
    ::unlink(path.c_str());
    return Fail(ErrorCode::kIoError, "cannot make " + path + " private: " + std::strerror(err));
  }
  std::unique_ptr<AdminSocket> s(new AdminSocket(path, fd, std::move(handler)));
  if (::pipe2(s->wake_pipe_, O_CLOEXEC) != 0)
    return Fail(ErrorCode::kIoError, "cannot create a pipe");
  s->thread_ = std::thread([p = s.get()] { p->Serve(); });
  return s;
}

AdminSocket::AdminSocket(std::string path, int fd, Handler handler)
    : path_(std::move(path)), listen_fd_(fd), handler_(std::move(handler)) {}

AdminSocket::~AdminSocket() { Stop(); }

void AdminSocket::Stop() {
  if (thread_.joinable()) {
    char b = 1;
    (void)!::write(wake_pipe_[1], &b, 1);
    thread_.join();
  }
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    listen_fd_ = -1;
    ::unlink(path_.c_str());
  }
  for (int& p : wake_pipe_) {
    if (p >= 0) ::close(p);
    p = -1;
  }
}

void AdminSocket::Serve() {
  // Descriptors a caller passed (records.import: its stdout for commit
  // reports, a FIFO named by --rejects) may be pipes whose reader goes
  // away: the write then fails with EPIPE instead of killing the server.
  // SIGPIPE is sent to the writing thread, and the importer's threads
  // inherit this mask.
  sigset_t pipe_signal;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  ::pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    Answer(client);
    ::close(client);
  }
}

void AdminSocket::Answer(int client) {
  ucred cred{};
  socklen_t len = sizeof cred;
  // The request is read before anything is answered: closing a socket
  // with unread data resets it, and the client would see an I/O error
  // instead of the refusal.
  // Descriptors passed with the request (records.import's files) are the
  // caller's: closed here once answered.
  std::vector<int> fds;
  struct CloseFds {
    std::vector<int>& v;
    ~CloseFds() {
      for (int f : v) ::close(f);
    }
  } close_fds{fds};
  auto line = app::ReadAdminLine(client, kIoTimeoutMs, app::kMaxAdminRequestBytes, &fds);
  // The file mode keeps other users out; the peer's uid is checked as well,
  // so a socket whose mode was loosened still serves only the server's own
  // user (or root), and an unknown peer is refused.
  if (::getsockopt(client, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
      (cred.uid != ::geteuid() && cred.uid != 0)) {
    (void)app::WriteAdminBytes(client,
                               boost::json::serialize(app::ErrorToJson(
                                   {ErrorCode::kPermissionDenied,
                                    "the admin socket serves only the user running the server"})) +
                                   "\n");
    return;
  }
  boost::json::object answer;
  if (!line) {
    answer = app::ErrorToJson(line.error());
  } else {
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(*line, ec);
    if (ec || !v.is_object()) {
      answer =
          app::ErrorToJson({ErrorCode::kInvalidArgument, "the admin request is not a JSON object"});
    } else if (auto op = v.as_object().if_contains("op");
               op && op->is_string() && op->get_string() == "ping") {
      answer = {{"pong", true}};
    } else {
      auto r = handler_(v.as_object(), cred.uid, fds);
      answer = r ? std::move(*r) : app::ErrorToJson(r.error());
    }
  }
  // The request line may hold a secret (an unseal share): not left in
  // freed memory.
  if (line) crypto::Wipe(line->data(), line->size());
  (void)app::WriteAdminBytes(client, boost::json::serialize(answer) + "\n");
}

}  // namespace coffre::server
