#include "server/admin_socket.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace coffre::server {
namespace {

constexpr size_t kMaxRequestBytes = 1u << 20;
// Answers may be larger (a retention report lists up to 100,000 records
// per collection); still bounded.
constexpr size_t kMaxAnswerBytes = 256u << 20;
constexpr int kIoTimeoutMs = 10'000;
// The CLI waits longer for an answer than the server for a request: some
// operations take a while (audit verify of a long log, canary add).
constexpr int kAnswerTimeoutMs = 300'000;

Result<sockaddr_un> Address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    return Fail(ErrorCode::kInvalidArgument, "socket path too long: " + path);
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

// Reads up to the first newline (or EOF), with a deadline and a bound:
// past `max_bytes`, kInvalidArgument (a request) or kIoError (an answer).
Result<std::string> ReadLine(int fd, int timeout_ms = kIoTimeoutMs, size_t max_bytes = kMaxRequestBytes) {
  std::string data;
  char buf[4096];
  while (data.find('\n') == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, timeout_ms);
    if (r <= 0) return Fail(ErrorCode::kIoError, "admin socket: timed out");
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Fail(ErrorCode::kIoError, std::string("admin socket: ") + std::strerror(errno));
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > max_bytes) {
      if (max_bytes == kMaxRequestBytes) return Fail(ErrorCode::kInvalidArgument, "admin request too large");
      return Fail(ErrorCode::kIoError, "the server's answer is too large");
    }
  }
  if (auto nl = data.find('\n'); nl != std::string::npos) data.resize(nl);
  return data;
}

Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Fail(ErrorCode::kIoError, std::string("admin socket: ") + std::strerror(errno));
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Ok();
}

}  // namespace

Result<std::unique_ptr<AdminSocket>> AdminSocket::Start(const std::string& path, Admin& admin) {
  COFFRE_ASSIGN_OR_RETURN(sockaddr_un addr, Address(path));
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return Fail(ErrorCode::kFailedPrecondition, path + " exists and is not a socket");
    }
    // Only a stale socket may be replaced: a live one belongs to a server.
    // (A ping that succeeds has no error() to read: IsNotFound asks first.)
    if (!IsNotFound(CallAdminSocket(path, {{"op", "ping"}}))) {
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
  std::unique_ptr<AdminSocket> s(new AdminSocket(path, fd, admin));
  if (::pipe2(s->wake_pipe_, O_CLOEXEC) != 0) return Fail(ErrorCode::kIoError, "cannot create a pipe");
  s->thread_ = std::thread([p = s.get()] { p->Serve(); });
  return s;
}

AdminSocket::AdminSocket(std::string path, int fd, Admin& admin)
    : path_(std::move(path)), listen_fd_(fd), admin_(admin) {}

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
  auto line = ReadLine(client);
  // The file mode keeps other users out; the peer's uid is checked as well,
  // so a socket whose mode was loosened still serves only the server's own
  // user (or root), and an unknown peer is refused.
  if (::getsockopt(client, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
      (cred.uid != ::geteuid() && cred.uid != 0)) {
    (void)WriteAll(client, boost::json::serialize(ErrorToJson(
                               {ErrorCode::kPermissionDenied,
                                "the admin socket serves only the user running the server"})) +
                               "\n");
    return;
  }
  const std::string source = "cli:uid=" + std::to_string(cred.uid);
  boost::json::object answer;
  if (!line) {
    answer = ErrorToJson(line.error());
  } else {
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(*line, ec);
    if (ec || !v.is_object()) {
      answer = ErrorToJson({ErrorCode::kInvalidArgument, "the admin request is not a JSON object"});
    } else if (auto op = v.as_object().if_contains("op"); op && op->is_string() && op->get_string() == "ping") {
      answer = {{"pong", true}};
    } else {
      auto r = admin_.Execute(v.as_object(), source);
      answer = r ? std::move(*r) : ErrorToJson(r.error());
    }
  }
  (void)WriteAll(client, boost::json::serialize(answer) + "\n");
}

Result<std::optional<boost::json::object>> TryAdminSocket(const std::string& path,
                                                          const boost::json::object& request) {
  COFFRE_ASSIGN_OR_RETURN(sockaddr_un addr, Address(path));
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Fail(ErrorCode::kIoError, "cannot create a socket");
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    ::close(fd);
    if (err == ENOENT || err == ECONNREFUSED) return std::optional<boost::json::object>();
    return Fail(ErrorCode::kIoError, "cannot reach the server at " + path + ": " + std::strerror(err));
  }
  Status sent = WriteAll(fd, boost::json::serialize(request) + "\n");
  if (!sent) {
    ::close(fd);
    return Fail(sent.error());
  }
  auto line = ReadLine(fd, kAnswerTimeoutMs, kMaxAnswerBytes);
  ::close(fd);
  if (!line) return Fail(line.error());
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(*line, ec);
  if (ec || !v.is_object()) return Fail(ErrorCode::kIoError, "the server's answer is not JSON");
  if (v.as_object().contains("error")) return Fail(ErrorFromJson(v));
  return std::optional<boost::json::object>(std::move(v.as_object()));
}

Result<boost::json::object> CallAdminSocket(const std::string& path,
                                            const boost::json::object& request) {
  COFFRE_ASSIGN_OR_RETURN(auto answer, TryAdminSocket(path, request));
  if (!answer) return Fail(ErrorCode::kNotFound, "no server running");
  return std::move(*answer);
}

}  // namespace coffre::server
