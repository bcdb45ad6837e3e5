// A SoftHSM2 token of its own for one test: a temporary directory with a
// softhsm2.conf whose directories.tokendir is inside it, SOFTHSM2_CONF
// pointing at it, and a token initialised with softhsm2-util.
//
//   coffre::testing::SoftHsmToken hsm;             // token "coffre", fresh
//   std::string uri = hsm.Uri("master");           // with module-path and pin-source
//   hsm.DeleteToken();                             // the key is gone with it
//
// Header-only, used by crypto, vault and CLI tests. Keys opened on the token
// must be closed before the object dies (SoftHSM reads SOFTHSM2_CONF when
// the module is initialised, which the last closed key finalises).
// Thread-safety: one per test; it sets an environment variable.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace coffre::testing {

inline constexpr const char* kSoftHsmModule = "/usr/lib/softhsm/libsofthsm2.so";

class SoftHsmToken {
 public:
  explicit SoftHsmToken(std::string label = "coffre", std::string pin = "4711-test-pin")
      : label_(std::move(label)), pin_(std::move(pin)) {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp != nullptr && *tmp ? tmp : "/tmp") + "/coffre-hsm-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    std::filesystem::create_directories(dir_ + "/tokens");
    std::ofstream(dir_ + "/softhsm2.conf")
        << "directories.tokendir = " << dir_ << "/tokens\n"
        << "objectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n";
    ::setenv("SOFTHSM2_CONF", (dir_ + "/softhsm2.conf").c_str(), 1);
    WritePinFile(pin_file(), pin_);
    InitToken();
  }
  ~SoftHsmToken() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  SoftHsmToken(const SoftHsmToken&) = delete;
  SoftHsmToken& operator=(const SoftHsmToken&) = delete;

  const std::string& dir() const { return dir_; }
  const std::string& pin() const { return pin_; }
  const std::string& label() const { return label_; }
  std::string pin_file() const { return dir_ + "/pin"; }

  // pkcs11:token=LABEL;object=OBJECT?module-path=...&pin-source=file:PIN_FILE
  std::string Uri(const std::string& object, const std::string& pin_file_path = "") const {
    return "pkcs11:token=" + label_ + ";object=" + object + "?module-path=" + kSoftHsmModule +
           "&pin-source=file:" + (pin_file_path.empty() ? pin_file() : pin_file_path);
  }

  static void WritePinFile(const std::string& path, const std::string& pin) {
    std::ofstream(path) << pin << "\n";
    ::chmod(path.c_str(), 0600);
  }

  void InitToken() const {
    Run({"softhsm2-util", "--init-token", "--free", "--label", label_, "--pin", pin_, "--so-pin",
         "so-" + pin_});
  }
  void DeleteToken() const { Run({"softhsm2-util", "--delete-token", "--token", label_}); }

 private:
  // Runs softhsm2-util with these arguments, without a shell, its output
  // discarded; throws unless it exits 0.
  static void Run(const std::vector<std::string>& args) {
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    int rc = ::posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    int status = 0;
    if (rc != 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
      throw std::runtime_error("failed: " + args[0] + " " + args[1]);
    }
  }

  std::string label_;
  std::string pin_;
  std::string dir_;
};

}  // namespace coffre::testing
