// The metrics listener (server/metrics_listener.h): POSIX sockets, no
// Beast, one thread.
#include "server/metrics_listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <thread>

namespace coffre::server {
namespace {

constexpr size_t kMaxRequestBytes = 8u << 10;
constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void Reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

std::string Answer(int status, std::string_view reason, std::string_view content_type,
                   std::string_view body, bool head, std::string_view extra_header = {}) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) + "\r\n";
  out += "Content-Type: ";
  out += content_type;
  out += "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  out += "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n";
  out += extra_header;
  out += "\r\n";
  if (!head) out += body;
  return out;
}

class Listener final : public MetricsListener {
 public:
  Listener(const MetricsListenerOptions& o, Render render)
      : options_(o), render_(std::move(render)) {}
  ~Listener() override { Stop(); }

  Status Listen() {
    sockaddr_storage addr{};
    socklen_t len = 0;
    int family = AF_INET;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
    if (::inet_pton(AF_INET, options_.address.c_str(), &v4->sin_addr) == 1) {
      v4->sin_family = AF_INET;
      v4->sin_port = htons(options_.port);
      len = sizeof(sockaddr_in);
    } else if (::inet_pton(AF_INET6, options_.address.c_str(), &v6->sin6_addr) == 1) {
      family = AF_INET6;
      v6->sin6_family = AF_INET6;
      v6->sin6_port = htons(options_.port);
      len = sizeof(sockaddr_in6);
    } else {
      return Fail(ErrorCode::kInvalidArgument,
                  "--metrics-listen: not an IP address: " + options_.address);
    }
    listen_fd_.Reset(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (listen_fd_.get() < 0) return Fail(ErrorCode::kIoError, "cannot open the metrics socket");
    const int one = 1;
    (void)::setsockopt(listen_fd_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(listen_fd_.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(listen_fd_.get(), 16) != 0) {
      return Fail(ErrorCode::kIoError, "cannot listen for metrics on " + options_.address + ":" +
                                           std::to_string(options_.port) + ": " +
                                           std::strerror(errno));
    }
    sockaddr_storage bound{};
    socklen_t bound_len = sizeof bound;
    if (::getsockname(listen_fd_.get(), reinterpret_cast<sockaddr*>(&bound), &bound_len) == 0) {
      port_ = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                      : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
    }
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0)
      return Fail(ErrorCode::kIoError, "cannot make the metrics listener's wake pipe");
    wake_read_.Reset(pipe_fds[0]);
    wake_write_.Reset(pipe_fds[1]);
    thread_ = std::thread([this] { Run(); });
    return Ok();
  }

  uint16_t port() const override { return port_; }

  void Stop() override {
    if (stopping_.exchange(true)) return;
    if (wake_write_.get() >= 0) {
      const char c = 0;
      (void)!::write(wake_write_.get(), &c, 1);
    }
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Run() {
    while (!stopping_.load()) {
      pollfd fds[2] = {{listen_fd_.get(), POLLIN, 0}, {wake_read_.get(), POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (fds[1].revents != 0) return;
      if ((fds[0].revents & POLLIN) == 0) continue;
      Fd client(::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (client.get() < 0) continue;
      Serve(client.get());
    }
  }

  // Waits until `fd` is ready for `events`, the wake pipe fires, or the
  // deadline passes; true only in the first case.
  bool WaitFor(int fd, short events, std::chrono::steady_clock::time_point deadline) {
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd fds[2] = {{fd, events, 0}, {wake_read_.get(), POLLIN, 0}};
      const int n = ::poll(fds, 2, static_cast<int>(left.count()));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || fds[1].revents != 0) return false;
      return true;
    }
  }

  void Serve(int fd) {
    const auto deadline = std::chrono::steady_clock::now() + options_.io_timeout;
    std::string request;
    char buf[1024];
    while (request.find("\r\n\r\n") == std::string::npos) {
      if (request.size() > kMaxRequestBytes) {
        return Send(fd,
                    Answer(431, "Request Header Fields Too Large", "text/plain",
                           "request too large\n", false),
                    deadline);
      }
      if (!WaitFor(fd, POLLIN, deadline)) return;
      const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n == 0) return;
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        return;
      }
      request.append(buf, static_cast<size_t>(n));
    }
    Send(fd, Respond(request), deadline);
  }

  std::string Respond(std::string_view request) {
    const std::string_view line = request.substr(0, request.find("\r\n"));
    const size_t sp1 = line.find(' ');
    const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || !line.substr(sp2 + 1).starts_with("HTTP/1.")) {
      return Answer(400, "Bad Request", "text/plain", "bad request\n", false);
    }
    const std::string_view method = line.substr(0, sp1);
    std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    target = target.substr(0, target.find('?'));
    const bool head = method == "HEAD";
    if (target != "/metrics") return Answer(404, "Not Found", "text/plain", "not found\n", head);
    if (method != "GET" && !head) {
      return Answer(405, "Method Not Allowed", "text/plain", "use GET\n", false,
                    "Allow: GET, HEAD\r\n");
    }
    return Answer(200, "OK", kContentType, render_(), head);
  }

  void Send(int fd, const std::string& out, std::chrono::steady_clock::time_point deadline) {
    size_t sent = 0;
    while (sent < out.size()) {
      if (!WaitFor(fd, POLLOUT, deadline)) return;
      const ssize_t n =
          ::send(fd, out.data() + sent, out.size() - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        return;
      }
      sent += static_cast<size_t>(n);
    }
    ::shutdown(fd, SHUT_WR);
  }

  MetricsListenerOptions options_;
  Render render_;
  Fd listen_fd_;
  Fd wake_read_;
  Fd wake_write_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<MetricsListener>> MetricsListener::Start(
    const MetricsListenerOptions& options, Render render) {
  auto listener = std::make_unique<Listener>(options, std::move(render));
  COFFRE_TRY(listener->Listen());
  return std::unique_ptr<MetricsListener>(std::move(listener));
}

}  // namespace coffre::server
