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
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "app/admin.h"
#include "app/admin_channel.h"
#include "common/status.h"

namespace coffre::server {

class AdminSocket {
 public:
  // Replaces a stale socket file (left by a crash), refuses a path that is
  // something else, binds with mode 0600.
  static Result<std::unique_ptr<AdminSocket>> Start(const std::string& path, app::Admin& admin);
  ~AdminSocket();
  void Stop();

 private:
  AdminSocket(std::string path, int fd, app::Admin& admin);
  void Serve();
  void Answer(int client);

  std::string path_;
  int listen_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};
  app::Admin& admin_;
  std::thread thread_;
};

}  // namespace coffre::server
