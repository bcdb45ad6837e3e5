// The serve config file (TOML): `coffre serve DIR --config FILE` and
// `coffre config check FILE` (docs/operations.md "Configuration",
// docs/adr/0032-config-file.md).
//
//   listen = "127.0.0.1:8443"
//   [key]
//   file = "people.key"          # relative to the file's own directory
//   [limits]
//   max_connections = 4096
//
// Every key of the file stands for one `serve` flag (kServeConfigKeys): its
// value is handed to that flag's CLI11 option, as if it had been typed, so
// the file gets exactly the flag's conversion and range checks. A flag
// given on the command line wins over the file; the file wins over the
// environment (COFFRE_KEY_FILE...) and the defaults.
//
// Strict on purpose: an unknown key, a value of the wrong type or an empty
// string is an error naming FILE:LINE:COLUMN and the key's dotted path, so
// that a typo (`[proxy] trustd = [...]`) never silently leaves a security
// setting at its default. No key takes a secret: the file names the files
// that hold secrets (key files), never their content.
//
// Thread-safety: free functions over values; thread-safe. A CLI::App is
// touched by ApplyServeConfig only, on the caller's thread.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace coffre::cli {

enum class ConfigType {
  kString,      // a non-empty string
  kPath,        // a non-empty string naming a file; relative: to the config's directory
  kInteger,     // a TOML integer
  kBool,        // true or false
  kStringList,  // an array of non-empty strings (a repeatable flag)
};

// What `config check` (and `serve --config`, for the values it takes from
// the file) verifies beyond the type.
enum class ConfigCheck {
  kNone,
  kListen,           // ADDRESS:PORT or NAME:PORT (server::ParseListen)
  kCidrList,         // each element a CIDR block or an address
  kReadableFile,     // an existing regular file this user can read
  kPrivateFile,      // the same, and not readable or writable by group or others (0600/0400)
  kParentDirExists,  // a file the server creates: its directory exists
  kWebhookUrl,       // https://..., or http:// to a loopback address; no credentials
  kPkcs11Uri,        // an RFC 7512 URI with module-path and pin-source, no pin-value
  kLogFormat,        // json | text
  kLogLevel,         // debug | info | warn | error
  kOnOff,            // on | off
};

// One key of the file. To add one (a new serve flag): one line in
// kServeConfigKeys (serve_config.cc), with the dotted TOML path, its type,
// the long flag it stands for (the flag must exist on `serve`: the unit
// test checks), the check and a one-line doc; then document it in
// packaging/coffre.example.toml (a test fails until it is there) and in
// docs/operations.md. Keys planned by other slices, to add once they merge:
//   {"key.pkcs11", kString, "--key-pkcs11", kNone, ...}   (refuse pin-value=: no secrets)
//   {"key.shamir", kBool, "--shamir"?, kNone, ...}
//   {"log.format", kString, "--log-format", kNone, ...}
//   {"log.level", kString, "--log-level", kNone, ...}
struct ConfigKey {
  std::string_view path;  // "limits.max_connections"
  ConfigType type;
  std::string_view flag;  // "--max-connections"
  ConfigCheck check;
  std::string_view doc;
};

// Every key the file may hold, in the order the example file shows them.
std::span<const ConfigKey> ServeConfigKeys();

// One value read from the file, as the flag would receive it: one string
// per list element, "true"/"false" for a bool, a path made absolute.
struct ConfigValue {
  const ConfigKey* key = nullptr;
  std::vector<std::string> args;
  std::string where;  // "FILE:LINE:COLUMN"
  uint32_t line = 0;
  uint32_t column = 0;
};

struct ServeConfig {
  std::string origin;  // the file's path as named
  std::vector<ConfigValue> values;
};

// Parses `text` (the file `origin`, whose relative paths are taken from
// `base_dir`). Appends every error found, not only the first, to `errors`
// ("FILE:LINE:COLUMN: key 'a.b': what is wrong"), in the file's order, as
// are the values; a TOML syntax error stops the parse (toml++ reports the
// first one).
ServeConfig ParseServeConfig(std::string_view text, const std::string& origin,
                             const std::string& base_dir, std::vector<std::string>& errors);

// Reads and parses the file `path`. The file must be a regular file owned by
// root or by this user and not writable by group or others (whoever can
// write it could name another key file, trust their own proxy or send the
// alerts elsewhere); that is an error too.
ServeConfig LoadServeConfig(const std::string& path, std::vector<std::string>& errors);

// The checks of ConfigCheck on every value of `config`; appends the errors.
void CheckServeConfig(const ServeConfig& config, std::vector<std::string>& errors);

// Hands each value to the option of `serve` (the `serve` subcommand) it
// stands for, unless that option was given on the command line; runs the
// option's own conversion and checks. Appends the errors. Returns the keys
// that were applied (the others were overridden).
std::vector<const ConfigValue*> ApplyServeConfig(const ServeConfig& config, CLI::App& serve,
                                                 std::vector<std::string>& errors);

// Orders errors "ORIGIN:LINE:COLUMN: ..." by line and column (errors about
// the file as a whole first), for printing.
void SortByPosition(std::vector<std::string>& errors, const std::string& origin);

}  // namespace coffre::cli
