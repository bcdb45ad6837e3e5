// The wire of the admin socket, DIR/admin.sock (docs/api.md, "Local
// commands"; ADR 0024): one JSON request line, one JSON answer
// line. The request is the operation's input with its name in "op"; the
// answer is the operation's output, or {"error": {code, message}}. The
// server side lives in server/admin_socket.h; the client side is here so
// that the CLI reaches a running server without linking it.
//
//   auto answer = TryAdminSocket(AdminSocketPath(dir), {{"op", "record.get"}, ...});
//   if (answer && !*answer) { no server: run the operation on DIR directly }
//
// Thread-safety: free functions, safe from any thread.
#pragma once

#include <sys/un.h>

#include <boost/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace coffre::app {

// The admin socket of a data directory.
std::string AdminSocketPath(const std::string& dir);

// Error values to and from their JSON form on the socket.
boost::json::object ErrorToJson(const Error& e);
Error ErrorFromJson(const boost::json::value& v);

// Bounds of the wire: a request (a record, a policy) and an answer (a
// retention report lists up to 100,000 records per collection).
inline constexpr size_t kMaxAdminRequestBytes = 1u << 20;
inline constexpr size_t kMaxAdminAnswerBytes = 256u << 20;

// The address of the socket at `path`; kInvalidArgument if too long.
Result<sockaddr_un> AdminSocketAddress(const std::string& path);
// Reads up to the first newline (or EOF) from `fd`, with a deadline and a
// bound: past `max_bytes`, kInvalidArgument (a request) or kIoError (an
// answer). Descriptors passed with the bytes (SCM_RIGHTS, at most
// kMaxAdminFds) are appended to `*fds` (the caller closes them), or closed
// when `fds` is null.
inline constexpr size_t kMaxAdminFds = 4;
Result<std::string> ReadAdminLine(int fd, int timeout_ms, size_t max_bytes,
                                  std::vector<int>* fds = nullptr);
// Writes all of `data` to the socket `fd` (no SIGPIPE).
Status WriteAdminBytes(int fd, std::string_view data);

// Sends `request` to the server listening at `path`: nullopt when no
// server listens there (no socket, or a stale one); the server's error,
// decoded, when it refuses the operation. A kNotFound the server answers
// (an unknown principal, subject...) is that answer, not the absence of a
// server: callers that fall back to opening the directory use this.
// `fds` travel with the request (SCM_RIGHTS; records.import's files);
// `answer_timeout_ms` < 0 waits for the answer as long as it takes (an
// import of a large file).
inline constexpr int kAdminAnswerTimeoutMs = 300'000;
Result<std::optional<boost::json::object>> TryAdminSocket(
    const std::string& path, const boost::json::object& request, std::span<const int> fds = {},
    int answer_timeout_ms = kAdminAnswerTimeoutMs);
// TryAdminSocket with no server as kNotFound ("no server running"), for
// callers that only need to know whether one answers (ping).
Result<boost::json::object> CallAdminSocket(const std::string& path,
                                            const boost::json::object& request);

}  // namespace coffre::app
