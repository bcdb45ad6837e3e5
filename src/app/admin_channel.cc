#include "app/admin_channel.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace coffre::app {
namespace {

namespace json = boost::json;

// The CLI waits longer for an answer (kAdminAnswerTimeoutMs) than the
// server for a request: some operations take a while (audit verify of a
// long log, canary add).

// Keeps the descriptors of one control message (SCM_RIGHTS), or closes
// them when there is no room or no taker.
void TakeFds(msghdr& msg, std::vector<int>* fds) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < n; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (fds != nullptr && fds->size() < kMaxAdminFds) {
        fds->push_back(fd);
      } else {
        ::close(fd);
      }
    }
  }
}

}  // namespace

std::string AdminSocketPath(const std::string& dir) { return dir + "/admin.sock"; }

json::object ErrorToJson(const Error& e) {
  return json::object{
      {"error", json::object{{"code", ErrorCodeName(e.code)}, {"message", e.message}}}};
}

Error ErrorFromJson(const json::value& v) {
  static const ErrorCode kAll[] = {
      ErrorCode::kInvalidArgument,  ErrorCode::kNotFound,           ErrorCode::kAlreadyExists,
      ErrorCode::kPermissionDenied, ErrorCode::kFailedPrecondition, ErrorCode::kDataLoss,
      ErrorCode::kIoError,          ErrorCode::kInternal,           ErrorCode::kUnauthenticated,
      ErrorCode::kResourceExhausted};
  Error e{ErrorCode::kInternal, "the server answered with a malformed error"};
  if (!v.is_object() || !v.as_object().contains("error")) return e;
  const json::value& err = v.as_object().at("error");
  if (!err.is_object()) return e;
  const json::object& o = err.as_object();
  if (auto it = o.find("message"); it != o.end() && it->value().is_string()) {
    e.message = std::string(it->value().get_string());
  }
  if (auto it = o.find("code"); it != o.end() && it->value().is_string()) {
    for (ErrorCode c : kAll) {
      if (ErrorCodeName(c) == it->value().get_string()) e.code = c;
    }
  }
  return e;
}

Result<sockaddr_un> AdminSocketAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    return Fail(ErrorCode::kInvalidArgument, "socket path too long: " + path);
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

Result<std::string> ReadAdminLine(int fd, int timeout_ms, size_t max_bytes, std::vector<int>* fds) {
  std::string data;
  char buf[4096];
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxAdminFds)];
  while (data.find('\n') == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, timeout_ms);
    if (r <= 0) return Fail(ErrorCode::kIoError, "admin socket: timed out");
    iovec iov{buf, sizeof buf};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    if (n >= 0) TakeFds(msg, fds);
    if (n >= 0 && (msg.msg_flags & MSG_CTRUNC) != 0)
      return Fail(ErrorCode::kInvalidArgument, "admin request: too many descriptors");
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      return Fail(ErrorCode::kIoError, std::string("admin socket: ") + std::strerror(errno));
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > max_bytes) {
      if (max_bytes == kMaxAdminRequestBytes)
        return Fail(ErrorCode::kInvalidArgument, "admin request too large");
      return Fail(ErrorCode::kIoError, "the server's answer is too large");
    }
  }
  if (auto nl = data.find('\n'); nl != std::string::npos) data.resize(nl);
  return data;
}

Status WriteAdminBytes(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      return Fail(ErrorCode::kIoError, std::string("admin socket: ") + std::strerror(errno));
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Ok();
}

Result<std::optional<json::object>> TryAdminSocket(const std::string& path,
                                                   const json::object& request,
                                                   std::span<const int> fds,
                                                   int answer_timeout_ms) {
  COFFRE_ASSIGN_OR_RETURN(sockaddr_un addr, AdminSocketAddress(path));
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Fail(ErrorCode::kIoError, "cannot create a socket");
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    ::close(fd);
    if (err == ENOENT || err == ECONNREFUSED) return std::optional<json::object>();
    return Fail(ErrorCode::kIoError,
                "cannot reach the server at " + path + ": " + std::strerror(err));
  }
  const std::string line_out = json::serialize(request) + "\n";
  std::string_view rest = line_out;
  if (!fds.empty()) {
    // The descriptors ride on the first bytes of the request.
    if (fds.size() > kMaxAdminFds) {
      ::close(fd);
      return Fail(ErrorCode::kInternal, "too many descriptors for one admin request");
    }
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxAdminFds)] = {};
    iovec iov{const_cast<char*>(rest.data()), rest.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    ssize_t n;
    do {
      n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return Fail(ErrorCode::kIoError, std::string("admin socket: ") + std::strerror(err));
    }
    rest.remove_prefix(static_cast<size_t>(n));
  }
  Status sent = WriteAdminBytes(fd, rest);
  if (!sent) {
    ::close(fd);
    return Fail(sent.error());
  }
  auto line = ReadAdminLine(fd, answer_timeout_ms, kMaxAdminAnswerBytes);
  ::close(fd);
  if (!line) return Fail(line.error());
  boost::system::error_code ec;
  json::value v = json::parse(*line, ec);
  if (ec || !v.is_object()) return Fail(ErrorCode::kIoError, "the server's answer is not JSON");
  if (v.as_object().contains("error")) return Fail(ErrorFromJson(v));
  return std::optional<json::object>(std::move(v.as_object()));
}

Result<json::object> CallAdminSocket(const std::string& path, const json::object& request) {
  COFFRE_ASSIGN_OR_RETURN(auto answer, TryAdminSocket(path, request));
  if (!answer) return Fail(ErrorCode::kNotFound, "no server running");
  return std::move(*answer);
}

}  // namespace coffre::app
