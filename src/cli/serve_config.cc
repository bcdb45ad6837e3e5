#include "cli/serve_config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <utility>

#include "common/log.h"
#include "crypto/pkcs11_uri.h"
#include "guard/alert_webhook.h"
#include "server/client_address.h"
#include "server/server.h"

namespace coffre::cli {

namespace {

using enum ConfigType;
using enum ConfigCheck;

// The table: one line per key (see ConfigKey in the header for how to add
// one). The order is the example file's.
constexpr ConfigKey kKeys[] = {
    {"listen", kString, "--listen", kListen,
     "address and port of the HTTPS listener: ADDRESS:PORT or NAME:PORT"},
    {"audit_anchor", kPath, "--audit-anchor", kParentDirExists,
     "audit anchor file (signed checkpoints), outside the data directory"},
    {"erasure_journal", kPath, "--erasure-journal", kParentDirExists,
     "erasure journal, outside the data directory"},
    {"key.file", kPath, "--key-file", kPrivateFile,
     "master key file, mode 0600 (the file holds the key; this names it)"},
    {"key.pkcs11", kString, "--key-pkcs11", kPkcs11Uri,
     "the master key in a PKCS#11 token: an RFC 7512 URI with module-path and pin-source"},
    {"limits.max_connections", kInteger, "--max-connections", kNone,
     "connections at once, 1 to 1048576"},
    {"limits.max_connections_per_source", kInteger, "--max-connections-per-source", kNone,
     "connections at once per client address (an IPv6 client per /64)"},
    {"proxy.trusted", kStringList, "--trusted-proxy", kCidrList,
     "CIDR blocks of reverse proxies whose X-Forwarded-For or PROXY header names the client"},
    {"proxy.protocol", kBool, "--proxy-protocol", kNone,
     "connections from trusted proxies start with a PROXY protocol v2 header"},
    {"webhook.url", kString, "--alert-webhook", kWebhookUrl,
     "also POST each alert as JSON here: https, or http to a loopback address"},
    {"webhook.ca", kPath, "--alert-webhook-ca", kReadableFile,
     "PEM CA certificates for the webhook (default: the system's)"},
    {"metrics.listen", kString, "--metrics-listen", kListen,
     "address and port of the Prometheus metrics listener (plain HTTP, GET /metrics)"},
    // Readable, not private: the key may be 0640 for group coffre (certbot's
    // files are root's).
    {"tls.cert", kPath, "--tls-cert", kReadableFile,
     "the HTTPS certificate chain (PEM), read at start and on SIGHUP"},
    {"tls.key", kPath, "--tls-key", kReadableFile,
     "its private key (PEM), read at start and on SIGHUP"},
    {"tls.client_ca", kPath, "--tls-client-ca", kReadableFile,
     "CA certificates for client certificates (mTLS)"},
    {"log.format", kString, "--log-format", kLogFormat,
     "json (one object a line) or text; default: json unless standard error is a terminal"},
    {"log.level", kString, "--log-level", kLogLevel, "debug, info (default), warn or error"},
    {"log.access", kString, "--access-log", kOnOff,
     "on (default): one line per request (route template, status, duration, principal, "
     "request id); off: none"},
};

constexpr size_t kMaxConfigBytes = 1 << 20;

const ConfigKey* FindKey(std::string_view path) {
  for (const ConfigKey& k : kKeys) {
    if (k.path == path) return &k;
  }
  return nullptr;
}

// "limits" for "limits.max_connections": is `path` a table of keys?
bool IsTable(std::string_view path) {
  for (const ConfigKey& k : kKeys) {
    if (k.path.size() > path.size() && k.path.starts_with(path) && k.path[path.size()] == '.') {
      return true;
    }
  }
  return false;
}

// The names allowed directly under the table `prefix` ("" for the top).
std::string AllowedUnder(std::string_view prefix) {
  std::vector<std::string_view> names;
  for (const ConfigKey& k : kKeys) {
    std::string_view rest = k.path;
    if (!prefix.empty()) {
      if (!(rest.starts_with(prefix) && rest.size() > prefix.size() &&
            rest[prefix.size()] == '.')) {
        continue;
      }
      rest.remove_prefix(prefix.size() + 1);
    }
    std::string_view name = rest.substr(0, rest.find('.'));
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  std::string out;
  for (std::string_view n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

std::string_view TypeName(toml::node_type t) {
  switch (t) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time:
      return "a date or time";
    default:
      return "nothing";
  }
}

std::string_view Expected(ConfigType t) {
  switch (t) {
    case kString:
      return "a string";
    case kPath:
      return "a string (a file path)";
    case kInteger:
      return "an integer";
    case kBool:
      return "true or false";
    case kStringList:
      return "an array of strings";
  }
  return "";
}

// A name or value from the file, as an error message shows it: printable
// ASCII, at most 80 bytes (a quoted TOML key may hold terminal escapes).
std::string Shown(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 80)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (s.size() > 80) out += "...";
  return out;
}

std::string Where(const std::string& origin, const toml::source_region& r) {
  return origin + ":" + std::to_string(r.begin.line) + ":" + std::to_string(r.begin.column);
}

class Reader {
 public:
  Reader(const std::string& origin, const std::string& base_dir)
      : origin_(origin), base_dir_(base_dir) {}

  void Table(const toml::table& table, const std::string& prefix, ServeConfig& out) {
    for (auto&& [k, node] : table) {
      std::string path =
          prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
      if (const ConfigKey* key = FindKey(path)) {
        Value(*key, node, out);
      } else if (IsTable(path)) {
        if (const toml::table* sub = node.as_table()) {
          Table(*sub, path, out);
        } else {
          Error(
              node.source(), path,
              "must be a table ([" + Shown(path) + "]), not " + std::string(TypeName(node.type())));
        }
      } else {
        std::string allowed = AllowedUnder(prefix);
        Error(k.source(), path,
              "unknown key (allowed " +
                  (prefix.empty() ? std::string("at the top") : "in [" + prefix + "]") + ": " +
                  allowed + ")");
      }
    }
  }

  // Every error, in the file's order (toml++ iterates a table in key order).
  std::vector<std::string> SortedErrors() {
    std::stable_sort(found_.begin(), found_.end(), [](const Found& a, const Found& b) {
      return std::pair(a.line, a.column) < std::pair(b.line, b.column);
    });
    std::vector<std::string> out;
    for (Found& f : found_) out.push_back(std::move(f.text));
    return out;
  }

 private:
  struct Found {
    uint32_t line;
    uint32_t column;
    std::string text;
  };

  void Error(const toml::source_region& at, std::string_view path, const std::string& what) {
    found_.push_back({at.begin.line, at.begin.column,
                      Where(origin_, at) + ": key '" + Shown(path) + "': " + what});
  }

  void WrongType(const ConfigKey& key, const toml::node& node) {
    Error(node.source(), key.path,
          "expected " + std::string(Expected(key.type)) + ", found " +
              std::string(TypeName(node.type())));
  }

  // A string value of `key`: non-empty (an empty string would silently mean
  // the default), a path made absolute against the config's directory.
  bool String(const ConfigKey& key, const toml::node& node, std::string& out) {
    const auto* s = node.as_string();
    if (s == nullptr) {
      WrongType(key, node);
      return false;
    }
    out = s->get();
    if (out.empty()) {
      Error(node.source(), key.path, "must not be empty (leave the key out for the default)");
      return false;
    }
    if (out.find('\0') != std::string::npos) {
      Error(node.source(), key.path, "must not contain a NUL character");
      return false;
    }
    if (key.type == kPath && out.front() != '/') {
      out = (std::filesystem::path(base_dir_) / out).lexically_normal().string();
    }
    return true;
  }

  void Value(const ConfigKey& key, const toml::node& node, ServeConfig& out) {
    ConfigValue v;
    v.key = &key;
    v.where = Where(origin_, node.source());
    v.line = node.source().begin.line;
    v.column = node.source().begin.column;
    switch (key.type) {
      case kString:
      case kPath: {
        std::string s;
        if (!String(key, node, s)) return;
        v.args.push_back(std::move(s));
        break;
      }
      case kInteger: {
        const auto* i = node.as_integer();
        if (i == nullptr) return WrongType(key, node);
        v.args.push_back(std::to_string(i->get()));
        break;
      }
      case kBool: {
        const auto* b = node.as_boolean();
        if (b == nullptr) return WrongType(key, node);
        v.args.push_back(b->get() ? "true" : "false");
        break;
      }
      case kStringList: {
        const auto* a = node.as_array();
        if (a == nullptr) return WrongType(key, node);
        bool ok = true;
        for (const toml::node& e : *a) {
          std::string s;
          if (String(key, e, s)) {
            v.args.push_back(std::move(s));
          } else {
            ok = false;
          }
        }
        if (!ok) return;
        break;
      }
    }
    out.values.push_back(std::move(v));
  }

  const std::string& origin_;
  const std::string& base_dir_;
  std::vector<Found> found_;
};

std::string Errno(int e) { return std::strerror(e); }

// An existing regular file this user can read; "" or what is wrong.
std::string CheckReadable(const std::string& path, bool private_file) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return "cannot open " + path + ": " + Errno(errno);
  struct stat st {};
  int rc = ::fstat(fd, &st);
  int e = errno;
  ::close(fd);
  if (rc != 0) return "cannot stat " + path + ": " + Errno(e);
  if (!S_ISREG(st.st_mode)) return path + " is not a regular file";
  if (private_file && (st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return path + " has mode " + mode + ": a key file must not be readable or writable by group " +
           "or others (chmod 600)";
  }
  return {};
}

std::string CheckValue(const ConfigValue& v) {
  const std::string& first = v.args.empty() ? std::string() : v.args.front();
  switch (v.key->check) {
    case kNone:
      return {};
    case kListen: {
      auto l = server::ParseListen(first);
      return l ? std::string() : "expected ADDRESS:PORT or NAME:PORT, like 127.0.0.1:8443";
    }
    case kCidrList:
      for (const std::string& c : v.args) {
        if (!server::ProxyTrust::Parse({c})) {
          return "'" + Shown(c) +
                 "' is not a CIDR block or an address (like 10.0.0.0/8 or 2001:db8::/32)";
        }
      }
      return {};
    case kReadableFile:
      return CheckReadable(first, false);
    case kPrivateFile:
      return CheckReadable(first, true);
    case kParentDirExists: {
      std::string dir = std::filesystem::path(first).parent_path().string();
      struct stat st {};
      if (::stat(dir.c_str(), &st) != 0) return "directory " + dir + ": " + Errno(errno);
      if (!S_ISDIR(st.st_mode)) return dir + " is not a directory";
      return {};
    }
    case kWebhookUrl: {
      auto u = guard::ParseWebhookUrl(first);
      return u ? std::string() : u.error().message;
    }
    case kPkcs11Uri: {
      auto u = crypto::ParsePkcs11Uri(first);
      return u ? std::string() : u.error().message;
    }
    case kLogFormat: {
      auto f = log::ParseFormat(first);
      return f ? std::string() : f.error().message;
    }
    case kLogLevel: {
      auto l = log::ParseLevel(first);
      return l ? std::string() : l.error().message;
    }
    case kOnOff:
      return first == "on" || first == "off" ? std::string() : "expected \"on\" or \"off\"";
  }
  return {};
}

}  // namespace

std::span<const ConfigKey> ServeConfigKeys() { return kKeys; }

ServeConfig ParseServeConfig(std::string_view text, const std::string& origin,
                             const std::string& base_dir, std::vector<std::string>& errors) {
  ServeConfig config;
  config.origin = origin;
  auto syntax = [&](const toml::parse_error& e) {
    errors.push_back(Where(origin, e.source()) +
                     ": TOML syntax error: " + std::string(e.description()));
  };
  toml::table root;
#if TOML_EXCEPTIONS
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    syntax(e);
    return config;
  }
#else
  toml::parse_result parsed = toml::parse(text, origin);
  if (!parsed) {
    syntax(parsed.error());
    return config;
  }
  root = std::move(parsed).table();
#endif
  Reader reader(origin, base_dir);
  reader.Table(root, "", config);
  for (std::string& e : reader.SortedErrors()) errors.push_back(std::move(e));
  std::stable_sort(config.values.begin(), config.values.end(),
                   [](const ConfigValue& a, const ConfigValue& b) {
                     return std::pair(a.line, a.column) < std::pair(b.line, b.column);
                   });
  return config;
}

ServeConfig LoadServeConfig(const std::string& path, std::vector<std::string>& errors) {
  ServeConfig empty;
  empty.origin = path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    errors.push_back(path + ": cannot open the config file: " + Errno(errno));
    return empty;
  }
  struct stat st {};
  std::string text;
  std::string problem;
  if (::fstat(fd, &st) != 0) {
    problem = "cannot stat the config file: " + Errno(errno);
  } else if (!S_ISREG(st.st_mode)) {
    problem = "the config file is not a regular file";
  } else if (st.st_uid != 0 && st.st_uid != ::geteuid()) {
    problem = "the config file must be owned by root or by the user coffre runs as (uid " +
              std::to_string(::geteuid()) + "), not uid " + std::to_string(st.st_uid);
  } else if ((st.st_mode & 022) != 0) {
    problem =
        "the config file is writable by group or others: whoever can write it chooses the key "
        "file, the trusted proxies and where alerts go (chmod go-w)";
  } else if (static_cast<size_t>(st.st_size) > kMaxConfigBytes) {
    problem = "the config file is larger than 1 MiB";
  } else {
    text.resize(static_cast<size_t>(st.st_size));
    size_t got = 0;
    while (got < text.size()) {
      ssize_t n = ::read(fd, text.data() + got, text.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    if (got != text.size()) problem = "cannot read the config file";
  }
  ::close(fd);
  if (!problem.empty()) {
    errors.push_back(path + ": " + problem);
    return empty;
  }
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(path, ec);
  if (ec) {
    errors.push_back(path + ": " + ec.message());
    return empty;
  }
  return ParseServeConfig(text, path, abs.parent_path().string(), errors);
}

void CheckServeConfig(const ServeConfig& config, std::vector<std::string>& errors) {
  for (const ConfigValue& v : config.values) {
    std::string problem = CheckValue(v);
    if (!problem.empty()) {
      errors.push_back(v.where + ": key '" + std::string(v.key->path) + "': " + problem);
    }
  }
}

std::vector<const ConfigValue*> ApplyServeConfig(const ServeConfig& config, CLI::App& serve,
                                                 std::vector<std::string>& errors) {
  std::vector<const ConfigValue*> applied;
  for (const ConfigValue& v : config.values) {
    std::string where = v.where + ": key '" + std::string(v.key->path) + "': ";
    CLI::Option* opt = serve.get_option_no_throw(std::string(v.key->flag));
    if (opt == nullptr) {
      errors.push_back(where + "serve has no option " + std::string(v.key->flag) + " (a bug)");
      continue;
    }
    if (opt->count() > 0) continue;  // the command line wins
    if (v.args.empty()) continue;    // an empty list: the flag's default
    try {
      opt->add_result(v.args);
      opt->run_callback();
      applied.push_back(&v);
    } catch (const CLI::Error& e) {
      opt->clear();
      errors.push_back(where + e.what());
    }
  }
  return applied;
}

void SortByPosition(std::vector<std::string>& errors, const std::string& origin) {
  auto position = [&](const std::string& e) {
    std::pair<unsigned long, unsigned long> at{0, 0};
    if (e.size() <= origin.size() || !e.starts_with(origin) || e[origin.size()] != ':') return at;
    const char* p = e.c_str() + origin.size() + 1;
    char* end = nullptr;
    at.first = std::strtoul(p, &end, 10);
    if (end != p && *end == ':') at.second = std::strtoul(end + 1, nullptr, 10);
    return at;
  };
  std::stable_sort(errors.begin(), errors.end(), [&](const std::string& a, const std::string& b) {
    return position(a) < position(b);
  });
}

}  // namespace coffre::cli
