#include "common/log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <regex>
#include <string>
#include <thread>
#include <vector>

namespace coffre::log {
namespace {

namespace json = boost::json;

// 2026-12-07T18:19:56.123Z
constexpr int64_t kTimeMs = 1796667596123;

std::string Line(Format format, Level level, std::string_view event, std::string_view msg,
                 std::initializer_list<Field> fields) {
  std::string out;
  FormatLine(format, kTimeMs, level, event, msg,
             std::span<const Field>(fields.begin(), fields.size()), out);
  return out;
}

json::object ParseLine(const std::string& line) {
  EXPECT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line, one object";
  json::error_code ec;
  json::value v = json::parse(line, ec);
  EXPECT_FALSE(ec) << line;
  EXPECT_TRUE(v.is_object()) << line;
  return v.is_object() ? v.as_object() : json::object();
}

TEST(LogFormat, JsonLineHasTimeLevelEventMessageAndFieldsInOrder) {
  const std::string line = Line(Format::kJson, Level::kInfo, "server.start", "serving",
                                {{"port", 8443}, {"dir", "/srv/v"}, {"n", uint64_t{1} << 63}});
  EXPECT_EQ(line, R"({"time":"2026-12-07T18:19:56.123Z","level":"info","event":"server.start",)"
                  R"("msg":"serving","port":8443,"dir":"/srv/v","n":9223372036854775808})"
                  "\n");
  json::object o = ParseLine(line);
  EXPECT_EQ(o.at("port").as_int64(), 8443);
}

TEST(LogFormat, JsonLineOmitsAnEmptyMessageAndKeepsNegativeNumbers) {
  json::object o = ParseLine(Line(Format::kJson, Level::kWarn, "x", "", {{"d", -5}}));
  EXPECT_FALSE(o.contains("msg"));
  EXPECT_EQ(o.at("level").as_string(), "warn");
  EXPECT_EQ(o.at("d").as_int64(), -5);
}

TEST(LogFormat, TimeIsRfc3339UtcWithMilliseconds) {
  for (int64_t t : {int64_t{0}, int64_t{999}, kTimeMs, int64_t{4102444799999}}) {
    std::string out;
    FormatLine(Format::kJson, t, Level::kInfo, "e", "", {}, out);
    json::object o = ParseLine(out);
    const std::string time(o.at("time").as_string());
    EXPECT_TRUE(std::regex_match(time, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")))
        << time;
  }
  std::string epoch;
  FormatLine(Format::kJson, 999, Level::kInfo, "e", "", {}, epoch);
  EXPECT_NE(epoch.find("1970-01-01T00:00:00.999Z"), std::string::npos);
  std::string later;
  FormatLine(Format::kJson, 4102444799999, Level::kInfo, "e", "", {}, later);
  EXPECT_NE(later.find("2099-12-31T23:59:59.999Z"), std::string::npos);
}

TEST(LogFormat, JsonEscapesEveryStringSoNoValueCanForgeALineOrAField) {
  const std::string nasty = std::string("a\"b\\c\nd\re\tf") + '\0' + "\x01\x1f\x7f" + "\xc2\x85" +
                            "é" + "\xff\xc3" + "\"}";
  const std::string line =
      Line(Format::kJson, Level::kError, "ev\"ent", nasty, {{"k\"ey", nasty}, {"x", "y"}});
  json::object o = ParseLine(line);
  EXPECT_EQ(o.size(), 6u) << line;  // time, level, event, msg, k"ey, x: nothing injected
  EXPECT_EQ(o.at("event").as_string(), "ev\"ent");
  const std::string expected = std::string("a\"b\\c\nd\re\tf") + '\0' + "\x01\x1f\x7f" +
                               "\xc2\x85" + "é" + "\xef\xbf\xbd\xef\xbf\xbd" + "\"}";
  EXPECT_EQ(std::string(o.at("msg").as_string()), expected);
  EXPECT_EQ(std::string(o.at("k\"ey").as_string()), expected);
  // No raw control character survives, C1 (U+0085, a line break to some
  // readers) included.
  for (size_t i = 0; i + 1 < line.size(); ++i) {
    const auto c = static_cast<unsigned char>(line[i]);
    EXPECT_FALSE(c < 0x20 || c == 0x7f) << "raw control byte at " << i;
  }
  EXPECT_EQ(line.find("\xc2\x85"), std::string::npos);
  EXPECT_NE(line.find("\\u0085"), std::string::npos);
}

TEST(LogFormat, TextLineIsReadableAndQuotesWhatCouldBeMisread) {
  EXPECT_EQ(Line(Format::kText, Level::kInfo, "http.request", "",
                 {{"route", "/v1/collections/{collection}/records/{id}"}, {"status", 200}}),
            "2026-12-07T18:19:56.123Z INFO  http.request "
            "route=/v1/collections/{collection}/records/{id} status=200\n");
  EXPECT_EQ(Line(Format::kText, Level::kWarn, "audit.flush_failed", "the store is gone",
                 {{"why", "two words"}, {"eq", "a=b"}, {"empty", ""}}),
            "2026-12-07T18:19:56.123Z WARN  audit.flush_failed: the store is gone "
            "why=\"two words\" eq=\"a=b\" empty=\"\"\n");
  const std::string forged =
      Line(Format::kText, Level::kError, "e", "x\n2026-01-01T00:00:00.000Z INFO  fake", {});
  EXPECT_EQ(forged.find('\n'), forged.size() - 1);
  EXPECT_NE(forged.find("x\\n2026"), std::string::npos);
  EXPECT_EQ(Line(Format::kText, Level::kDebug, "e", "", {{"v", "a\"b"}}),
            "2026-12-07T18:19:56.123Z DEBUG e v=\"a\\\"b\"\n");
}

TEST(LogLevels, ParseNamesAndFilter) {
  for (Level l : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
    auto parsed = ParseLevel(LevelName(l));
    ASSERT_TRUE(parsed);
    EXPECT_EQ(*parsed, l);
  }
  auto bad = ParseLevel("verbose");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.error().message.find("debug, info, warn or error"), std::string::npos);
  EXPECT_EQ(*ParseFormat("json"), Format::kJson);
  EXPECT_EQ(*ParseFormat("text"), Format::kText);
  EXPECT_FALSE(ParseFormat("JSON"));

  const Options before = Current();
  Configure({.format = Format::kJson, .level = Level::kWarn});
  EXPECT_FALSE(Enabled(Level::kDebug));
  EXPECT_FALSE(Enabled(Level::kInfo));
  EXPECT_TRUE(Enabled(Level::kWarn));
  EXPECT_TRUE(Enabled(Level::kError));
  Configure({.format = Format::kJson, .level = Level::kDebug});
  EXPECT_TRUE(Enabled(Level::kDebug));
  Configure(before);
}

// Captures what the process writes to stderr while it lives.
class StderrCapture {
 public:
  StderrCapture() {
    std::fflush(stderr);
    char path[] = "/tmp/coffre-log-test-XXXXXX";
    fd_ = ::mkstemp(path);
    ::unlink(path);
    saved_ = ::dup(STDERR_FILENO);
    ::dup2(fd_, STDERR_FILENO);
  }
  ~StderrCapture() { Restore(); }
  std::string Restore() {
    if (saved_ >= 0) {
      ::dup2(saved_, STDERR_FILENO);
      ::close(saved_);
      saved_ = -1;
    }
    std::string text;
    if (fd_ >= 0) {
      ::lseek(fd_, 0, SEEK_SET);
      char buf[65536];
      ssize_t n;
      while ((n = ::read(fd_, buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
      ::close(fd_);
      fd_ = -1;
    }
    return text;
  }

 private:
  int fd_ = -1;
  int saved_ = -1;
};

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1)
    out.push_back(text.substr(start, nl - start + 1));
  EXPECT_EQ(start, text.size()) << "a partial line";
  return out;
}

TEST(LogWrite, WithoutAScopeALineIsWrittenAtOnceAndFilteredByLevel) {
  const Options before = Current();
  Configure({.format = Format::kJson, .level = Level::kInfo});
  StderrCapture capture;
  Debug("hidden", "below the level");
  Info("shown", "at the level", {{"n", 1}});
  const std::string text = capture.Restore();
  Configure(before);
  auto lines = Lines(text);
  ASSERT_EQ(lines.size(), 1u) << text;
  json::object o = ParseLine(lines[0]);
  EXPECT_EQ(o.at("event").as_string(), "shown");
  EXPECT_EQ(o.at("n").as_int64(), 1);
}

TEST(LogWrite, UnderAnAsyncScopeEveryLineArrivesWholeAndInOrderPerThread) {
  const Options before = Current();
  Configure({.format = Format::kJson, .level = Level::kInfo});
  StderrCapture capture;
  constexpr int kThreads = 3, kPerThread = 2000;
  {
    AsyncScope scope;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([t] {
        for (int i = 0; i < kPerThread; ++i) {
          Info("test.line", "a line long enough to be batched with its neighbours",
               {{"thread", t}, {"i", i}});
        }
      });
    }
    for (auto& th : threads) th.join();
  }  // written before the scope ends
  const std::string text = capture.Restore();
  Configure(before);
  const uint64_t dropped = DroppedLines();
  auto lines = Lines(text);
  EXPECT_EQ(lines.size() + dropped, static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(dropped, 0u) << "the queue holds more lines than a burst of this size";
  std::vector<int64_t> next(kThreads, 0);
  for (const auto& line : lines) {
    json::object o = ParseLine(line);
    const auto t = static_cast<size_t>(o.at("thread").as_int64());
    ASSERT_LT(t, next.size());
    EXPECT_EQ(o.at("i").as_int64(), next[t]++);
  }
}

// A stalled reader of stderr (journald stuck) never blocks a logging
// thread: lines wait in memory up to a bound, then are dropped and counted.
TEST(LogWrite, ABlockedStderrDropsLinesInsteadOfBlockingTheCaller) {
  const Options before = Current();
  Configure({.format = Format::kJson, .level = Level::kInfo});
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::fflush(stderr);
  const int saved = ::dup(STDERR_FILENO);
  ::dup2(fds[1], STDERR_FILENO);
  const uint64_t dropped_before = DroppedLines();
  const std::string padding(200, 'x');
  constexpr int kLines = 40000;  // ~10 MB: more than the pipe and the buffer hold
  size_t read_bytes = 0;
  std::thread reader;
  {
    AsyncScope scope;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kLines; ++i) Info("test.flood", padding, {{"i", i}});
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_LT(took, std::chrono::seconds(5)) << "the caller waited for stderr";
    EXPECT_GT(DroppedLines(), dropped_before) << "nothing dropped: was stderr blocked?";
    // Unblock stderr so that the scope can write what it kept and end.
    reader = std::thread([&] {
      char buf[65536];
      ssize_t n;
      while ((n = ::read(fds[0], buf, sizeof buf)) > 0) read_bytes += static_cast<size_t>(n);
    });
  }
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  ::close(fds[1]);
  reader.join();  // at the end of the pipe
  ::close(fds[0]);
  Configure(before);
  EXPECT_GT(read_bytes, 0u);
}

}  // namespace
}  // namespace coffre::log
