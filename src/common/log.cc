#include "common/log.h"

#include <spdlog/logger.h>
#include <spdlog/sinks/base_sink.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <memory>
#include <mutex>
#include <thread>

#include "common/utf8.h"

namespace coffre::log {
namespace {

// Most lines fit: formatting them allocates nothing.
using LineBuffer = fmt::basic_memory_buffer<char, 1024>;

constexpr int kUnset = -1;
std::atomic<int> g_format{kUnset};
std::atomic<int> g_level{static_cast<int>(Level::kInfo)};

Format CurrentFormat() {
  int f = g_format.load(std::memory_order_relaxed);
  if (f == kUnset) {
    f = static_cast<int>(DefaultFormat());
    int expected = kUnset;
    if (!g_format.compare_exchange_strong(expected, f)) f = expected;
  }
  return static_cast<Format>(f);
}

void Put(LineBuffer& out, std::string_view s) { out.append(s.data(), s.data() + s.size()); }
void Put(LineBuffer& out, char c) { out.push_back(c); }

void PutEscapedByte(LineBuffer& out, unsigned char c) {
  static constexpr char kHex[] = "0123456789abcdef";
  switch (c) {
    case '"':
      return Put(out, "\\\"");
    case '\\':
      return Put(out, "\\\\");
    case '\n':
      return Put(out, "\\n");
    case '\r':
      return Put(out, "\\r");
    case '\t':
      return Put(out, "\\t");
    default:
      Put(out, "\\u00");
      Put(out, kHex[c >> 4]);
      Put(out, kHex[c & 0xf]);
  }
}

// `s` escaped for the inside of a JSON string: quote, backslash and every
// control character (C0, DEL, C1) escaped; bytes that are not well-formed
// UTF-8 become U+FFFD, so the line is valid UTF-8 whatever `s` holds.
// The bytes written as they are: printable ASCII but the quote and the
// backslash.
constexpr auto kPlain = [] {
  std::array<bool, 256> plain{};
  for (int c = 0x20; c < 0x7f; ++c) plain[c] = c != '"' && c != '\\';
  return plain;
}();

void PutEscaped(LineBuffer& out, std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    // The common case first: a run of printable ASCII, copied at once.
    size_t end = i;
    while (end < s.size() && kPlain[static_cast<unsigned char>(s[end])]) ++end;
    if (end > i) {
      Put(out, s.substr(i, end - i));
      i = end;
      if (i == s.size()) return;
    }
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      PutEscapedByte(out, c);
      ++i;
      continue;
    }
    char32_t cp = 0;
    const size_t len = DecodeUtf8(s, i, cp);
    if (len == 0) {
      Put(out, "\\ufffd");
      ++i;
      continue;
    }
    if (IsControl(cp)) {
      PutEscapedByte(out, static_cast<unsigned char>(cp));
    } else {
      Put(out, s.substr(i, len));
    }
    i += len;
  }
}

// A text value is written bare when a reader cannot mistake its end:
// printable ASCII without spaces, quotes, backslashes or '='.
bool IsBare(std::string_view s) {
  if (s.empty()) return false;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '=') return false;
  }
  return true;
}

void PutNumber(LineBuffer& out, const Field& f) {
  if (f.kind() == Field::Kind::kSigned) {
    const fmt::format_int text(f.signed_value());
    Put(out, std::string_view(text.data(), text.size()));
  } else {
    const fmt::format_int text(f.unsigned_value());
    Put(out, std::string_view(text.data(), text.size()));
  }
}

// "2026-12-07T18:19:56.123Z". The date and time of the last second each
// thread formatted are kept: most lines fall in the same second.
void PutTime(LineBuffer& out, int64_t time_ms) {
  thread_local int64_t cached_second = INT64_MIN;
  thread_local char cached[20];
  int64_t second = time_ms / 1000;
  int64_t ms = time_ms % 1000;
  if (ms < 0) {
    ms += 1000;
    --second;
  }
  if (second != cached_second) {
    std::time_t t = static_cast<std::time_t>(second);
    std::tm tm{};
    gmtime_r(&t, &tm);
    if (std::strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &tm) != 19) {
      std::memcpy(cached, "0000-00-00T00:00:00", 20);
    }
    cached_second = second;
  }
  Put(out, std::string_view(cached, 19));
  const char frac[] = {'.', static_cast<char>('0' + ms / 100),
                       static_cast<char>('0' + ms / 10 % 10), static_cast<char>('0' + ms % 10),
                       'Z'};
  Put(out, std::string_view(frac, sizeof frac));
}

spdlog::level::level_enum ToSpdlog(Level level) {
  switch (level) {
    case Level::kDebug:
      return spdlog::level::debug;
    case Level::kInfo:
      return spdlog::level::info;
    case Level::kWarn:
      return spdlog::level::warn;
    case Level::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

std::string_view TextLevel(Level level) {
  switch (level) {
    case Level::kDebug:
      return "DEBUG";
    case Level::kInfo:
      return "INFO ";
    case Level::kWarn:
      return "WARN ";
    case Level::kError:
      return "ERROR";
  }
  return "?";
}

void FormatInto(LineBuffer& out, Format format, int64_t time_ms, Level level,
                std::string_view event, std::string_view msg, std::span<const Field> fields) {
  if (format == Format::kJson) {
    Put(out, R"({"time":")");
    PutTime(out, time_ms);
    Put(out, R"(","level":")");
    Put(out, LevelName(level));
    Put(out, R"(","event":")");
    PutEscaped(out, event);
    if (!msg.empty()) {
      Put(out, R"(","msg":")");
      PutEscaped(out, msg);
    }
    Put(out, '"');
    for (const Field& f : fields) {
      Put(out, ",\"");
      PutEscaped(out, f.key());
      Put(out, "\":");
      if (f.kind() == Field::Kind::kString) {
        Put(out, '"');
        PutEscaped(out, f.text());
        Put(out, '"');
      } else {
        PutNumber(out, f);
      }
    }
    Put(out, "}\n");
    return;
  }
  PutTime(out, time_ms);
  Put(out, ' ');
  Put(out, TextLevel(level));
  Put(out, ' ');
  PutEscaped(out, event);
  if (!msg.empty()) {
    Put(out, ": ");
    PutEscaped(out, msg);
  }
  for (const Field& f : fields) {
    Put(out, ' ');
    PutEscaped(out, f.key());
    Put(out, '=');
    if (f.kind() != Field::Kind::kString) {
      PutNumber(out, f);
    } else if (IsBare(f.text())) {
      Put(out, f.text());
    } else {
      Put(out, '"');
      PutEscaped(out, f.text());
      Put(out, '"');
    }
  }
  Put(out, '\n');
}

void WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere to report it
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
}

// Collects lines in memory and leaves the writing to a thread of its own:
// a logging thread copies its line into the buffer under a mutex, with no
// system call and no wake-up; the writer takes the whole buffer every
// kWriteInterval (or at once when kBatchBytes are waiting, or for a warning
// or an error) and writes it with one write(2), outside the mutex. If
// stderr blocks (journald stalled), the buffer grows to kMaxPendingBytes,
// then lines are dropped and counted: a request never waits for the log.
class BatchingStderrSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  BatchingStderrSink() {
    pending_.reserve(kBatchBytes * 2);
    writer_ = std::thread([this] { Run(); });
  }
  ~BatchingStderrSink() override { Stop(); }

  // Writes what is pending and ends the writer.
  void Stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    if (writer_.joinable()) writer_.join();
  }
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {  // mutex_ held
    if (pending_.size() + msg.payload.size() > kMaxPendingBytes) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    pending_.append(msg.payload.data(), msg.payload.size());
    if (msg.level >= spdlog::level::warn) urgent_ = true;
    if (urgent_ || pending_.size() >= kBatchBytes) wake_.notify_one();
  }
  void flush_() override {  // mutex_ held
    urgent_ = true;
    wake_.notify_one();
  }

 private:
  void Run() {
    std::string out;
    out.reserve(kBatchBytes * 2);
    std::unique_lock lock(mutex_);
    for (;;) {
      wake_.wait_for(lock, kWriteInterval,
                     [&] { return stopping_ || urgent_ || pending_.size() >= kBatchBytes; });
      const bool last = stopping_;
      urgent_ = false;
      out.swap(pending_);
      lock.unlock();
      WriteAll(STDERR_FILENO, out.data(), out.size());
      out.clear();
      if (out.capacity() > 4 * kBatchBytes) {
        std::string().swap(out);
        out.reserve(kBatchBytes * 2);
      }
      lock.lock();
      if (last && pending_.empty()) return;
    }
  }

  static constexpr size_t kBatchBytes = 32u << 10;
  static constexpr size_t kMaxPendingBytes = 4u << 20;
  static constexpr auto kWriteInterval = std::chrono::milliseconds(100);
  std::string pending_;  // guarded by mutex_
  bool urgent_ = false;
  bool stopping_ = false;
  std::condition_variable wake_;
  std::atomic<uint64_t> dropped_{0};
  std::thread writer_;
};

struct Async {
  std::shared_ptr<BatchingStderrSink> sink;
  std::shared_ptr<spdlog::logger> logger;
};

std::atomic<Async*> g_async{nullptr};
std::atomic<uint64_t> g_dropped_before{0};  // by scopes that ended

}  // namespace

Result<Level> ParseLevel(std::string_view text) {
  if (text == "debug") return Level::kDebug;
  if (text == "info") return Level::kInfo;
  if (text == "warn") return Level::kWarn;
  if (text == "error") return Level::kError;
  return Fail(ErrorCode::kInvalidArgument,
              "log level: expected debug, info, warn or error, not " + std::string(text));
}

Result<Format> ParseFormat(std::string_view text) {
  if (text == "json") return Format::kJson;
  if (text == "text") return Format::kText;
  return Fail(ErrorCode::kInvalidArgument,
              "log format: expected json or text, not " + std::string(text));
}

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "?";
}

Format DefaultFormat() { return ::isatty(STDERR_FILENO) == 1 ? Format::kText : Format::kJson; }

void Configure(const Options& options) {
  g_format.store(static_cast<int>(options.format));
  g_level.store(static_cast<int>(options.level));
}

Options Current() {
  return {.format = CurrentFormat(), .level = static_cast<Level>(g_level.load())};
}

bool Enabled(Level level) {
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}

void FormatLine(Format format, int64_t time_ms, Level level, std::string_view event,
                std::string_view msg, std::span<const Field> fields, std::string& out) {
  LineBuffer line;
  FormatInto(line, format, time_ms, level, event, msg, fields);
  out.append(line.data(), line.size());
}

void Write(Level level, std::string_view event, std::string_view msg,
           std::span<const Field> fields) {
  if (!Enabled(level)) return;
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  LineBuffer line;
  FormatInto(line, CurrentFormat(), now_ms, level, event, msg, fields);
  if (Async* a = g_async.load(std::memory_order_acquire)) {
    // The logger's own level filter is off (trace): ours decided above.
    a->logger->log(ToSpdlog(level), spdlog::string_view_t(line.data(), line.size()));
    return;
  }
  WriteAll(STDERR_FILENO, line.data(), line.size());
}

AsyncScope::AsyncScope() {
  auto* a = new Async;
  a->sink = std::make_shared<BatchingStderrSink>();
  a->logger = std::make_shared<spdlog::logger>("", a->sink);
  a->logger->set_level(spdlog::level::trace);
  a->logger->flush_on(spdlog::level::off);
  Async* expected = nullptr;
  if (!g_async.compare_exchange_strong(expected, a)) delete a;  // one at a time
}

AsyncScope::~AsyncScope() {
  Async* a = g_async.exchange(nullptr);
  if (a == nullptr) return;
  a->sink->Stop();  // every pending line written
  g_dropped_before += a->sink->dropped();
  delete a;
}

uint64_t DroppedLines() {
  uint64_t n = g_dropped_before.load();
  if (Async* a = g_async.load()) n += a->sink->dropped();
  return n;
}

}  // namespace coffre::log
