#include "cli_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>

extern char** environ;

namespace coffre::testing {
namespace {

// A write to a pipe whose reader has exited must fail with EPIPE, not kill
// the test binary.
void IgnoreSigpipeOnce() {
  static std::once_flag once;
  std::call_once(once, [] { ::signal(SIGPIPE, SIG_IGN); });
}

// argv/envp storage for posix_spawn: owns the strings, exposes char* arrays.
class ExecArgs {
 public:
  ExecArgs(const std::vector<std::string>& args, const EnvVars& env) {
    strings_.push_back(CoffreBinary());
    for (const auto& a : args) strings_.push_back(a);
    argc_ = strings_.size();
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
      // A developer's COFFRE_KEY_FILE or COFFRE_ERASURE_JOURNAL must not
      // leak into the child: tests say explicitly what the child sees.
      if (std::strncmp(*e, "COFFRE_", 7) == 0) continue;
      strings_.emplace_back(*e);
    }
    for (const auto& [k, v] : env) strings_.push_back(k + "=" + v);
    for (size_t i = 0; i < argc_; ++i) argv_.push_back(strings_[i].data());
    argv_.push_back(nullptr);
    for (size_t i = argc_; i < strings_.size(); ++i) envp_.push_back(strings_[i].data());
    envp_.push_back(nullptr);
  }
  char* const* argv() { return argv_.data(); }
  char* const* envp() { return envp_.data(); }

 private:
  std::vector<std::string> strings_;
  size_t argc_ = 0;
  std::vector<char*> argv_;
  std::vector<char*> envp_;
};

int DecodeStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

int WaitFor(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return DecodeStatus(status);
}

struct Pipe {
  int fd[2] = {-1, -1};
  bool Open() { return ::pipe2(fd, O_CLOEXEC) == 0; }
  void Close(int i) {
    if (fd[i] >= 0) ::close(fd[i]);
    fd[i] = -1;
  }
  ~Pipe() {
    Close(0);
    Close(1);
  }
};

CliResult RunnerFailure(const std::string& why) {
  CliResult r;
  r.exit_code = -1;
  r.err = "cli_runner: " + why;
  return r;
}

// Spawns coffre with stdin from `in` (or /dev/null), stdout to `out_fd` and
// stderr to `err_fd`, then runs the I/O loop until both capture pipes close.
CliResult Run(const std::vector<std::string>& args, const EnvVars& env,
              const std::string& stdin_data, int stdout_file_fd, const std::string& cwd = "") {
  IgnoreSigpipeOnce();
  Pipe in, out, err;
  if (!in.Open() || !err.Open() || (stdout_file_fd < 0 && !out.Open()))
    return RunnerFailure("pipe failed");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in.fd[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&fa, stdout_file_fd >= 0 ? stdout_file_fd : out.fd[1],
                                   STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&fa, err.fd[1], STDERR_FILENO);
  if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, cwd.c_str());
  ExecArgs exec(args, env);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, exec.argv()[0], &fa, nullptr, exec.argv(), exec.envp());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return RunnerFailure(std::string("posix_spawn failed: ") + std::strerror(rc));
  in.Close(0);
  out.Close(1);
  err.Close(1);

  CliResult result;
  size_t written = 0;
  if (stdin_data.empty()) in.Close(1);
  char buf[1 << 16];
  while (out.fd[0] >= 0 || err.fd[0] >= 0) {
    pollfd fds[3];
    int n = 0;
    auto add = [&](int fd, short events) {
      if (fd >= 0) fds[n++] = {fd, events, 0};
    };
    add(out.fd[0], POLLIN);
    add(err.fd[0], POLLIN);
    add(in.fd[1], POLLOUT);
    if (::poll(fds, static_cast<nfds_t>(n), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == in.fd[1]) {
        ssize_t w = ::write(in.fd[1], stdin_data.data() + written, stdin_data.size() - written);
        if (w > 0) written += static_cast<size_t>(w);
        if (w < 0 || written == stdin_data.size()) in.Close(1);
        continue;
      }
      ssize_t r = ::read(fds[i].fd, buf, sizeof buf);
      if (r > 0) {
        (fds[i].fd == out.fd[0] ? result.out : result.err).append(buf, static_cast<size_t>(r));
      } else if (r == 0 || errno != EINTR) {
        if (fds[i].fd == out.fd[0]) {
          out.Close(0);
        } else {
          err.Close(0);
        }
      }
    }
  }
  in.Close(1);
  result.exit_code = WaitFor(pid);
  return result;
}

}  // namespace

std::string CliResult::LastOutLine() const {
  auto lines = OutLines();
  return lines.empty() ? std::string() : lines.back();
}

std::vector<std::string> CliResult::OutLines() const {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < out.size()) {
    size_t nl = out.find('\n', start);
    if (nl == std::string::npos) nl = out.size();
    if (nl > start) lines.push_back(out.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

std::string CoffreBinary() {
  const char* dir = std::getenv("COFFRE_BUILD_DIR");
  std::string base = dir != nullptr && *dir != '\0' ? dir : ".";
  return base + "/coffre";
}

CliResult RunCoffre(const std::vector<std::string>& args, const EnvVars& env,
                    const std::string& stdin_data) {
  return Run(args, env, stdin_data, -1);
}

CliResult RunCoffreIn(const std::string& cwd, const std::vector<std::string>& args,
                      const EnvVars& env, const std::string& stdin_data) {
  return Run(args, env, stdin_data, -1, cwd);
}

CliResult RunCoffreToFile(const std::vector<std::string>& args, const std::string& stdout_path,
                          const EnvVars& env) {
  int fd = ::open(stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return RunnerFailure("cannot create " + stdout_path);
  CliResult r = Run(args, env, "", fd);
  ::close(fd);
  return r;
}

CliChild::~CliChild() {
  if (pid_ > 0) Kill(SIGKILL);
  if (out_fd_ >= 0) ::close(out_fd_);
}

bool CliChild::Start(const std::vector<std::string>& args, const EnvVars& env, std::string& error) {
  IgnoreSigpipeOnce();
  Pipe out;
  if (!out.Open()) {
    error = "pipe failed";
    return false;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out.fd[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  ExecArgs exec(args, env);
  int rc = ::posix_spawn(&pid_, exec.argv()[0], &fa, nullptr, exec.argv(), exec.envp());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    pid_ = -1;
    error = std::string("posix_spawn failed: ") + std::strerror(rc);
    return false;
  }
  out_fd_ = out.fd[0];
  out.fd[0] = -1;
  return true;
}

std::optional<std::string> CliChild::ReadLine() {
  while (true) {
    size_t nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    if (eof_ || out_fd_ < 0) {
      if (buffer_.empty()) return std::nullopt;
      std::string line = std::move(buffer_);
      buffer_.clear();
      return line;
    }
    char buf[4096];
    ssize_t r = ::read(out_fd_, buf, sizeof buf);
    if (r > 0) {
      buffer_.append(buf, static_cast<size_t>(r));
    } else if (r == 0 || errno != EINTR) {
      eof_ = true;
    }
  }
}

int CliChild::Kill(int signal) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, signal);
  int code = WaitFor(pid_);
  pid_ = -1;
  return code;
}

int CliChild::Wait() {
  if (pid_ <= 0) return -1;
  int code = WaitFor(pid_);
  pid_ = -1;
  return code;
}

}  // namespace coffre::testing
