// The Unix socket through which CLI management commands reach a running
// server (RocksDB allows one writer): DIR/admin.sock, mode 0600, one JSON
// request line, one JSON answer line. The caller's uid (SO_PEERCRED) is the
// audited source.
//
//   auto sock = AdminSocket::Start(dir + "/admin.sock", admin);   // server
//   auto answer = TryAdminSocket(dir + "/admin.sock", request);   // CLI
//   if (answer && !*answer) { no server: open DIR directly }
//
// Thread-safety: the server side answers on its own thread, one connection
// at a time; Stop() (or the destructor) joins it and removes the socket.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <boost/json.hpp>

#include "common/status.h"
#include "server/admin.h"

namespace coffre::server {

class AdminSocket {
 public:
  // Replaces a stale socket file (left by a crash), refuses a path that is
  // something else, binds with mode 0600.
  static Result<std::unique_ptr<AdminSocket>> Start(const std::string& path, Admin& admin);
  ~AdminSocket();
  void Stop();

 private:
  AdminSocket(std::string path, int fd, Admin& admin);
  void Serve();
  void Answer(int client);

  std::string path_;
  int listen_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};
  Admin& admin_;
  std::thread thread_;
};

// Sends `request` to the server listening at `path`: nullopt when no
// server listens there (no socket, or a stale one); the server's error,
// decoded, when it refuses the operation. A kNotFound the server answers
// (an unknown principal, subject...) is that answer, not the absence of a
// server: callers that fall back to opening the directory use this.
Result<std::optional<boost::json::object>> TryAdminSocket(const std::string& path,
                                                          const boost::json::object& request);
// TryAdminSocket with no server as kNotFound ("no server running"), for
// callers that only need to know whether one answers (ping).
Result<boost::json::object> CallAdminSocket(const std::string& path,
                                            const boost::json::object& request);

}  // namespace coffre::server
