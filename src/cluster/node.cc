#include "cluster/node.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "common/bytes.h"
#include "crypto/crypto.h"

namespace coffre::cluster {
namespace {

namespace fs = std::filesystem;

bool IsNodeId(std::string_view id) {
  return id.size() == 32 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// Percent-decoding as libpq applies it to a URI's parameter names.
std::string PercentDecoded(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Fail(ErrorCode::kIoError, "cannot open " + dir + ": " + std::strerror(errno));
  const int synced = ::fsync(fd);
  ::close(fd);
  if (synced != 0) return Fail(ErrorCode::kIoError, "cannot sync " + dir);
  return Ok();
}

}  // namespace

std::string ConfigPath(const std::string& dir) { return dir + "/" + std::string(kConfigFile); }

bool IsNodeDir(const std::string& dir) {
  std::error_code ec;
  return fs::exists(ConfigPath(dir), ec);
}

std::optional<std::string> StoreUrlProblem(std::string_view url) {
  if (url.empty()) return "the store URL is empty";
  std::string_view rest;
  for (std::string_view scheme : {"postgresql://", "postgres://"}) {
    if (url.starts_with(scheme)) rest = url.substr(scheme.size());
  }
  if (rest.data() == nullptr) {
    return "the store URL is not a postgresql:// URI (a libpq connection URI, e.g. "
           "postgresql://coffre@db.example:5432/coffre)";
  }
  const std::string_view authority = rest.substr(0, rest.find_first_of("/?"));
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    if (authority.substr(0, at).find(':') != std::string_view::npos) {
      return "the store URL holds a password (user:password@): it would be seen in the "
             "process list and kept in cluster.toml; put it in a libpq passfile (PGPASSFILE) "
             "or a service file, or use a client certificate";
    }
  }
  if (const size_t q = rest.find('?'); q != std::string_view::npos) {
    std::string_view params = rest.substr(q + 1);
    while (!params.empty()) {
      const size_t amp = params.find('&');
      const std::string_view param = params.substr(0, amp);
      const std::string name = PercentDecoded(param.substr(0, param.find('=')));
      if (name == "password") {
        return "the store URL holds a password (a password parameter): it would be seen in "
               "the process list and kept in cluster.toml; put it in a libpq passfile "
               "(PGPASSFILE) or a service file, or use a client certificate";
      }
      if (amp == std::string_view::npos) break;
      params.remove_prefix(amp + 1);
    }
  }
  return std::nullopt;
}

Result<std::optional<NodeConfig>> ReadNodeConfig(const std::string& dir) {
  const std::string path = ConfigPath(dir);
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::optional<NodeConfig>();
  toml::table t;
  try {
    t = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::ostringstream where;
    where << e.source().begin.line;
    return Fail(ErrorCode::kInvalidArgument,
                path + ":" + where.str() + ": " + std::string(e.description()));
  }
  for (const auto& [key, value] : t) {
    if (key.str() != "store" && key.str() != "node") {
      return Fail(ErrorCode::kInvalidArgument,
                  path + ": unknown table [" + std::string(key.str()) + "]");
    }
    const toml::table* inner = value.as_table();
    if (inner == nullptr) {
      return Fail(ErrorCode::kInvalidArgument, path + ": " + std::string(key.str()) +
                                                   " must be a table ([" + std::string(key.str()) +
                                                   "])");
    }
    const std::string_view known = key.str() == "store" ? "url" : "id";
    for (const auto& [inner_key, unused] : *inner) {
      if (inner_key.str() != known) {
        return Fail(ErrorCode::kInvalidArgument, path + ": unknown key " + std::string(key.str()) +
                                                     "." + std::string(inner_key.str()));
      }
    }
  }
  NodeConfig c;
  const std::optional<std::string> url = t["store"]["url"].value<std::string>();
  if (!url) return Fail(ErrorCode::kInvalidArgument, path + ": [store] url (a string) is missing");
  if (auto problem = StoreUrlProblem(*url)) {
    return Fail(ErrorCode::kInvalidArgument, path + ": " + *problem);
  }
  const std::optional<std::string> id = t["node"]["id"].value<std::string>();
  if (!id || !IsNodeId(*id)) {
    return Fail(ErrorCode::kInvalidArgument,
                path + ": [node] id must be 32 lower-case hex digits (the node's identity)");
  }
  c.store_url = *url;
  c.node_id = *id;
  return std::optional<NodeConfig>(std::move(c));
}

Status WriteNodeConfig(const std::string& dir, const NodeConfig& config) {
  if (auto problem = StoreUrlProblem(config.store_url)) {
    return Fail(ErrorCode::kInvalidArgument, *problem);
  }
  if (!IsNodeId(config.node_id)) {
    return Fail(ErrorCode::kInvalidArgument, "a node id is 32 lower-case hex digits");
  }
  toml::table t{{"store", toml::table{{"url", config.store_url}}},
                {"node", toml::table{{"id", config.node_id}}}};
  std::ostringstream text;
  text << "# This coffre node's local state (docs/cluster.md). The vault is in the store;\n"
          "# the URL holds no password (a libpq passfile or service file, or a client\n"
          "# certificate, provides it).\n"
       << t << '\n';
  const std::string body = text.str();
  const std::string path = ConfigPath(dir);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return Fail(ErrorCode::kAlreadyExists, path + " already exists");
    return Fail(ErrorCode::kIoError, "cannot create " + path + ": " + std::strerror(errno));
  }
  size_t written = 0;
  while (written < body.size()) {
    const ssize_t n = ::write(fd, body.data() + written, body.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  const bool ok = written == body.size() && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) {
    std::error_code ec;
    fs::remove(path, ec);
    return Fail(ErrorCode::kIoError, "cannot write " + path);
  }
  return SyncDir(dir);
}

std::string NewNodeId() { return ToHex(crypto::RandomString(16)); }

Status PrepareNodeDir(const std::string& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec) || !fs::is_empty(dir, ec)) {
      return Fail(ErrorCode::kAlreadyExists,
                  "directory " + dir + " exists and is not empty; a node starts in a new one");
    }
  } else if (!fs::create_directories(dir, ec)) {
    return Fail(ErrorCode::kIoError, "cannot create directory " + dir + ": " + ec.message());
  }
  if (::chmod(dir.c_str(), 0700) != 0) {
    return Fail(ErrorCode::kIoError, "cannot chmod " + dir + ": " + std::strerror(errno));
  }
  return Ok();
}

Result<NodeLock> NodeLock::Acquire(const std::string& dir) {
  const std::string path = dir + "/" + std::string(kLockFile);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Fail(ErrorCode::kIoError, "cannot open " + path + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return Fail(ErrorCode::kFailedPrecondition,
                  "node directory " + dir + " is in use by another coffre process");
    }
    return Fail(ErrorCode::kIoError, "cannot lock " + path + ": " + std::strerror(err));
  }
  return NodeLock(fd);
}

NodeLock& NodeLock::operator=(NodeLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

NodeLock::~NodeLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace coffre::cluster
