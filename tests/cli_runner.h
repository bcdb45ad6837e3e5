// Runs the real `coffre` binary for black-box tests, without a shell: the
// arguments reach execve() as given, so no value is ever interpolated.
//
//   CliResult r = RunCoffre({"find", dir, "people", "email=a@b.fr"});
//   EXPECT_EQ(r.exit_code, 0) << r.err;
//
// The binary is $COFFRE_BUILD_DIR/coffre (coffre_test() sets the variable).
// The child inherits the test's environment minus the COFFRE_* variables,
// so that a developer's shell cannot change what a test exercises; `env`
// adds variables on top.
//
// Thread-safety: RunCoffre may be called from any thread. A CliChild belongs
// to one thread.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace coffre::testing {

using EnvVars = std::vector<std::pair<std::string, std::string>>;

// Exit codes of the CLI contract (README), written here rather than taken
// from src/cli so that the tests hold the binary to the documented values.
constexpr int kExitOk = 0;
constexpr int kExitInvalid = 2;
constexpr int kExitNotFound = 3;
constexpr int kExitExists = 4;
constexpr int kExitWrongKey = 5;

struct CliResult {
  int exit_code = -1;  // exit status, or 128 + signal number
  std::string out;     // everything written to stdout
  std::string err;     // everything written to stderr

  // The last non-empty line of `out` ("" if none).
  std::string LastOutLine() const;
  // The non-empty lines of `out`.
  std::vector<std::string> OutLines() const;
};

// Path of the coffre binary under test.
std::string CoffreBinary();

// Runs coffre with `args` (without argv[0]), feeding `stdin_data` to it, and
// waits for it to exit.
CliResult RunCoffre(const std::vector<std::string>& args, const EnvVars& env = {},
                    const std::string& stdin_data = "");

// The same, run in the working directory `cwd`.
CliResult RunCoffreIn(const std::string& cwd, const std::vector<std::string>& args,
                      const EnvVars& env = {}, const std::string& stdin_data = "");

// Runs coffre with stdout redirected to the file `stdout_path` (for large
// outputs such as `gen`); stderr is captured.
CliResult RunCoffreToFile(const std::vector<std::string>& args, const std::string& stdout_path,
                          const EnvVars& env = {});

// A running coffre whose stdout is read line by line, for tests that must act
// while it works (kill -9 during an import). Stderr goes to /dev/null.
class CliChild {
 public:
  CliChild() = default;
  ~CliChild();  // kills (SIGKILL) and reaps a child still running
  CliChild(const CliChild&) = delete;
  CliChild& operator=(const CliChild&) = delete;

  // Returns false (and the reason in `error`) if the child cannot start.
  bool Start(const std::vector<std::string>& args, const EnvVars& env, std::string& error);

  // The next line of stdout without its '\n'; nullopt at end of stream.
  std::optional<std::string> ReadLine();

  // Sends `signal`, then waits; returns the exit code as in CliResult.
  int Kill(int signal);
  // Waits for the child to exit on its own.
  int Wait();

  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string buffer_;
  bool eof_ = false;
};

}  // namespace coffre::testing
