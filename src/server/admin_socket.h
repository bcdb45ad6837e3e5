// The Unix socket through which CLI management commands reach a running
// server (RocksDB allows one writer): DIR/admin.sock, mode 0600, one JSON
// request line, one JSON answer line. The caller's uid (SO_PEERCRED) is the
// audited source.
//
//   auto sock = AdminSocket::Start(dir + "/admin.sock", admin);   // server
//   // the CLI: app::TryAdminSocket (app/admin_channel.h)
//
// Thread-safety: the server side answers on its own thread, one connection
// at a time; Stop() (or the destructor) joins it and removes the socket.
#pragma once

#include <boost/json.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>

#include "app/admin.h"
#include "app/admin_channel.h"
#include "common/status.h"

namespace coffre::server {

class AdminSocket {
 public:
  // What answers a request (other than ping): app::Admin::Execute, or what
  // a sealed server puts in front of it (server.cc). The request is the
  // handler's to wipe (an unseal share travels in it).
  using Handler = std::function<Result<boost::json::object>(
      boost::json::object& request, uint32_t uid, std::span<const int> fds)>;

  // Replaces a stale socket file (left by a crash), refuses a path that is
  // something else, binds with mode 0600.
  static Result<std::unique_ptr<AdminSocket>> Start(const std::string& path, app::Admin& admin);
  static Result<std::unique_ptr<AdminSocket>> Start(const std::string& path, Handler handler);
  ~AdminSocket();
  void Stop();

 private:
  AdminSocket(std::string path, int fd, Handler handler);
  void Serve();
  void Answer(int client);

  std::string path_;
  int listen_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};
  Handler handler_;
  std::thread thread_;
};

}  // namespace coffre::server
