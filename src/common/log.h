// The process log (docs/operations.md, "Logs"): one line per event on
// standard error, either JSON lines (one object per line, what journald and
// a SIEM's shipper read) or plain text (for a person at a terminal), at four
// levels. By default JSON when standard error is not a terminal (systemd,
// a pipe, a file) and text when it is.
//
//   log::Configure({.format = log::Format::kJson, .level = log::Level::kInfo});
//   log::AsyncScope async;     // a server: lines leave on a background thread
//   log::Info("server.start", "serving", {{"port", 8443}, {"dir", dir}});
//   log::Warn("audit.flush_failed", error.message);
//
// A JSON line: {"time":"2026-12-07T18:19:56.123Z","level":"info",
// "event":"server.start","msg":"serving","port":8443,"dir":"/srv/v"}
// (time in RFC 3339 UTC with milliseconds; "msg" omitted when empty; the
// fields in the order given). A text line:
// 2026-12-07T18:19:56.123Z INFO  server.start: serving port=8443 dir=/srv/v
//
// What a line may hold: event names, counts, error codes and messages
// (which never hold a personal value, CONVENTIONS.md 7), route templates,
// request ids, names of staff and service principals. Never a personal
// value, a record or subject id, an end user's name, a query string, a
// secret. Strings are escaped (control characters, quotes; invalid UTF-8
// becomes U+FFFD), so no value can forge a line.
//
// Without an AsyncScope (CLI commands), a line is written to stderr with one
// write(2) when it is logged. Under an AsyncScope (`coffre serve`), the
// caller formats the line into a buffer on its stack and appends it to the
// sink's buffer in memory (spdlog's logger, a sink of coffre's): no system
// call, no wake-up, no allocation. The sink's thread writes what waits every
// 100 ms with one write(2), at once for a warning or an error or when 32 KiB
// wait. If stderr blocks (journald stalled), up to 4 MiB wait, then lines
// are dropped rather than stall requests; DroppedLines() counts them.
//
// Thread-safety: the logging functions may be called from any thread at any
// time. Configure and AsyncScope's constructor and destructor from one
// thread, while no other thread logs (at the start and end of a process).
#pragma once

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"

namespace coffre::log {

enum class Level : uint8_t { kDebug, kInfo, kWarn, kError };
enum class Format : uint8_t { kJson, kText };

// "debug", "info", "warn", "error"; "json", "text". kInvalidArgument
// naming what is accepted otherwise.
Result<Level> ParseLevel(std::string_view text);
Result<Format> ParseFormat(std::string_view text);
std::string_view LevelName(Level level);

// JSON unless standard error is a terminal.
Format DefaultFormat();

// One field of a line: a key (a constant of the code) and a string or an
// integer. Borrows the strings: use within the logging call.
class Field {
 public:
  enum class Kind : uint8_t { kString, kSigned, kUnsigned };
  Field(std::string_view key, std::string_view value) : key_(key), text_(value) {}
  Field(std::string_view key, const std::string& value) : key_(key), text_(value) {}
  Field(std::string_view key, const char* value) : key_(key), text_(value) {}
  template <std::integral T>
  requires(!std::same_as<T, bool> && !std::same_as<T, char>) Field(std::string_view key, T value)
      : key_(key) {
    if constexpr (std::signed_integral<T>) {
      kind_ = Kind::kSigned;
      signed_ = value;
    } else {
      kind_ = Kind::kUnsigned;
      unsigned_ = value;
    }
  }

  std::string_view key() const { return key_; }
  Kind kind() const { return kind_; }
  std::string_view text() const { return text_; }
  int64_t signed_value() const { return signed_; }
  uint64_t unsigned_value() const { return unsigned_; }

 private:
  std::string_view key_;
  Kind kind_ = Kind::kString;
  std::string_view text_;
  int64_t signed_ = 0;
  uint64_t unsigned_ = 0;
};

using Fields = std::initializer_list<Field>;

struct Options {
  Format format = Format::kText;
  Level level = Level::kInfo;
};

// Sets the format and the lowest level written (before Configure: the
// DefaultFormat() and info).
void Configure(const Options& options);
Options Current();

// Whether a line at `level` would be written (skip building costly fields).
bool Enabled(Level level);

// Logs one line (nothing below the configured level). `event` names what
// happened ("http.request", "audit.flush_failed"); `msg` says it for a
// person, and may be empty.
void Write(Level level, std::string_view event, std::string_view msg,
           std::span<const Field> fields);

inline void Debug(std::string_view event, std::string_view msg, Fields fields = {}) {
  Write(Level::kDebug, event, msg, std::span<const Field>(fields.begin(), fields.size()));
}
inline void Info(std::string_view event, std::string_view msg, Fields fields = {}) {
  Write(Level::kInfo, event, msg, std::span<const Field>(fields.begin(), fields.size()));
}
inline void Warn(std::string_view event, std::string_view msg, Fields fields = {}) {
  Write(Level::kWarn, event, msg, std::span<const Field>(fields.begin(), fields.size()));
}
inline void Error(std::string_view event, std::string_view msg, Fields fields = {}) {
  Write(Level::kError, event, msg, std::span<const Field>(fields.begin(), fields.size()));
}

// The line Write would write at `time_ms` (Unix milliseconds), with its
// newline, appended to `out` (for tests, and what Write does).
void FormatLine(Format format, int64_t time_ms, Level level, std::string_view event,
                std::string_view msg, std::span<const Field> fields, std::string& out);

// While one lives, lines are buffered and written by a background thread
// (above). Its destructor writes every buffered line before it returns.
// At most one at a time.
class AsyncScope {
 public:
  AsyncScope();
  ~AsyncScope();
  AsyncScope(const AsyncScope&) = delete;
  AsyncScope& operator=(const AsyncScope&) = delete;
};

// Lines dropped because the buffer was full, since the process started.
uint64_t DroppedLines();

}  // namespace coffre::log
