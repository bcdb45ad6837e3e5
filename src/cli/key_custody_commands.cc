#include "cli/key_custody_commands.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include "app/admin_channel.h"
#include "common/bytes.h"
#include "crypto/crypto.h"
#include "vault/key_shares.h"

namespace coffre::cli {
namespace {

namespace fs = std::filesystem;

// The out directory, created (0700) if absent, as a descriptor.
class OutDir {
 public:
  static Result<OutDir> Open(const std::string& path) {
    if (path.empty()) return Fail(ErrorCode::kInvalidArgument, "--out-dir is required");
    if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
      return Fail(ErrorCode::kIoError, "cannot create " + path + ": " + std::strerror(errno));
    }
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      return Fail(ErrorCode::kInvalidArgument,
                  "--out-dir " + path + " is not a directory: " + std::strerror(errno));
    }
    return OutDir(fd, fs::absolute(path).lexically_normal().string());
  }
  OutDir(OutDir&& o) noexcept : fd_(o.fd_), name_(std::move(o.name_)) { o.fd_ = -1; }
  OutDir& operator=(OutDir&&) = delete;
  ~OutDir() {
    if (fd_ >= 0) ::close(fd_);
  }
  int fd() const { return fd_; }
  const std::string& name() const { return name_; }

 private:
  OutDir(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
  int fd_;
  std::string name_;
};

// Writes the TLS private key to a new file (O_EXCL, 0600, fsynced).
Status WritePrivateFile(const std::string& path, std::string_view pem) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    if (errno == EEXIST)
      return Fail(ErrorCode::kAlreadyExists, path + " already exists; move it away first");
    return Fail(ErrorCode::kIoError, "cannot create " + path + ": " + std::strerror(errno));
  }
  bool ok = true;
  while (!pem.empty() && ok) {
    ssize_t n = ::write(fd, pem.data(), pem.size());
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) pem.remove_prefix(static_cast<size_t>(n));
  }
  ok = ok && ::fsync(fd) == 0;
  ok = ::close(fd) == 0 && ok;
  if (!ok) {
    ::unlink(path.c_str());
    return Fail(ErrorCode::kIoError, "cannot write " + path);
  }
  return Ok();
}

boost::json::array Files(const std::vector<std::string>& paths) {
  boost::json::array out;
  for (const auto& p : paths) out.emplace_back(p);
  return out;
}

// One line from standard input, without echo on a terminal. The caller
// wipes it.
Result<std::string> ReadShareLine() {
  const bool tty = ::isatty(STDIN_FILENO) != 0;
  termios saved{};
  if (tty && ::tcgetattr(STDIN_FILENO, &saved) == 0) {
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    (void)::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    std::cerr << "share (not echoed): " << std::flush;
  }
  std::string line;
  line.reserve(512);
  char c = 0;
  bool too_long = false;
  for (;;) {
    ssize_t n = ::read(STDIN_FILENO, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || c == '\n') break;
    if (line.size() >= 500) {
      too_long = true;
      continue;
    }
    line.push_back(c);
  }
  c = 0;
  if (tty) {
    (void)::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    std::cerr << "\n";
  }
  if (too_long || line.empty()) {
    crypto::Wipe(line.data(), line.size());
    return Fail(ErrorCode::kInvalidArgument,
                too_long ? "the input is longer than a share line"
                         : "no share on standard input (coffre decrypt --secret-key MINE "
                           "SHARE_FILE | coffre unseal DIR)");
  }
  return line;
}

}  // namespace

void AddShareOptions(CLI::App* cmd, ShareArgs& s) {
  cmd->add_option("--threshold", s.threshold, "shares needed to unseal (K, 2..N)");
  cmd->add_option("--recipient", s.recipients,
                  "a share holder's X25519 public key (hex, coffre keygen); once per holder (N)");
  cmd->add_option("--out-dir", s.out_dir,
                  "directory for the sealed share files (created 0700 if absent)");
}

Status RotateToShares(const VaultArgs& a, const ShareArgs& s) {
  COFFRE_ASSIGN_OR_RETURN(OutDir out, OutDir::Open(s.out_dir));
  boost::json::array recipients;
  for (const auto& r : s.recipients) recipients.emplace_back(r);
  boost::json::object req{{"op", "keys.resplit"},
                          {"threshold", s.threshold},
                          {"recipients", std::move(recipients)},
                          {"out_dir", out.name()}};
  const int fds[] = {out.fd()};
  COFFRE_ASSIGN_OR_RETURN(auto answer,
                          app::TryAdminSocket(app::AdminSocketPath(TrimSlash(a.dir)), req, fds));
  if (!answer) {
    return Fail(ErrorCode::kFailedPrecondition,
                "the master key of " + a.dir +
                    " is split into shares: only the running, unsealed server holds it; start "
                    "coffre serve " +
                    a.dir + ", unseal it, then rotate");
  }
  std::cerr << "coffre: the vault now opens only with the new shares (generation "
            << answer->at("generation").as_int64()
            << "): hand each file to its holder; the old shares no longer open it.\n";
  PrintJson(*answer);
  return Ok();
}

void RegisterKeyCustody(CLI::App& app, CLI::App* keys, Context& ctx,
                        std::string_view tls_key_secret) {
  auto* split = keys->add_subcommand(
      "split",
      "split the master key into Shamir shares sealed to their holders; the key file "
      "is removed and the server then starts sealed");
  Examples(split,
           {"coffre keys split vault --threshold 3 --recipient PUB1 --recipient PUB2 "
            "--recipient PUB3 --recipient PUB4 --recipient PUB5 --out-dir shares",
            "coffre decrypt --secret-key holder1.secret shares/coffre-share-...-1-of-5.sealed | "
            "coffre unseal vault"});
  auto a = std::make_shared<VaultArgs>();
  auto s = std::make_shared<ShareArgs>();
  AddVaultArgs(split, *a);
  AddShareOptions(split, *s);
  split->callback([&ctx, a, s, secret = std::string(tls_key_secret)] {
    Run(ctx, [&]() -> Status {
      COFFRE_TRY(RefuseOnCluster(
          *a, "coffre keys split",
          "every node holds the master key to open the database's keyring; keep it in a "
          "PKCS#11 token each node reaches (coffre keys rotate DIR --new-key-pkcs11 URI) "
          "rather than in a key file"));
      if (s->recipients.empty() || s->threshold == 0) {
        return Fail(ErrorCode::kInvalidArgument,
                    "keys split needs --threshold and one --recipient per share holder");
      }
      // The server holds the key it started with: splitting is done with
      // it stopped, and it then starts sealed (ADR 0037).
      const std::string dir = TrimSlash(a->dir);
      if (!IsNotFound(app::CallAdminSocket(app::AdminSocketPath(dir), {{"op", "ping"}}))) {
        return Fail(ErrorCode::kFailedPrecondition,
                    "a server is running on " + dir +
                        ": stop it, split the key, then start it again (it will start sealed)");
      }
      COFFRE_ASSIGN_OR_RETURN(auto local, Local::Open(*a));
      vault::Vault& v = local->vault();
      COFFRE_ASSIGN_OR_RETURN(auto existing, v.share_set());
      if (existing) {
        return Fail(ErrorCode::kFailedPrecondition,
                    "the master key is already split into shares; coffre keys rotate " + dir +
                        " --threshold K --recipient ... --out-dir OUT makes a new set");
      }
      COFFRE_ASSIGN_OR_RETURN(OutDir out, OutDir::Open(s->out_dir));
      // The sealed server's TLS key, taken out of the vault's secrets first.
      const std::string tls_path =
          vault::SealedTlsKeyPath(fs::absolute(dir).lexically_normal().string());
      COFFRE_ASSIGN_OR_RETURN(auto pem, v.GetSecret(secret));
      if (!pem) {
        return Fail(ErrorCode::kFailedPrecondition,
                    "the vault has no TLS key (made by coffre init); it could not serve sealed");
      }
      Status tls = WritePrivateFile(tls_path, *pem);
      crypto::Wipe(pem->data(), pem->size());
      COFFRE_TRY(tls);
      auto written = v.SplitMasterKey(s->threshold, s->recipients, out.fd(), out.name());
      if (!written) {
        ::unlink(tls_path.c_str());
        return Fail(written.error());
      }
      COFFRE_TRY(local->Audit("keys.split", "", "", {}, {},
                              "master key split into " + std::to_string(written->size()) +
                                  " shares, threshold " + std::to_string(s->threshold)));
      std::cerr << "coffre: the master key is now " << written->size() << " shares, "
                << s->threshold << " of which unseal the vault; the key file "
                << ResolveKeyFile(a->dir, a->key_file)
                << " is removed. Hand each share file to its holder only. `coffre serve " << dir
                << "` now starts sealed (TLS key in " << tls_path << ").\n";
      PrintJson(boost::json::object{
          {"threshold", s->threshold}, {"shares", Files(*written)}, {"tls_key_file", tls_path}});
      return Ok();
    });
  });

  auto* unseal = app.add_subcommand(
      "unseal", "give one Shamir share (read from standard input) to the sealed server");
  Examples(unseal, {"coffre decrypt --secret-key holder1.secret SHARE_FILE | coffre unseal vault",
                    "coffre unseal vault    # paste the share; it is not echoed"});
  auto u = std::make_shared<std::string>();
  unseal->add_option("DIR", *u, "data directory of the vault")->required();
  unseal->callback([&ctx, u] {
    Run(ctx, [&]() -> Status {
      const std::string dir = TrimSlash(*u);
      COFFRE_ASSIGN_OR_RETURN(std::string line, ReadShareLine());
      boost::json::object req{{"op", "unseal"}, {"share", line}};
      crypto::Wipe(line.data(), line.size());
      auto answer = app::TryAdminSocket(app::AdminSocketPath(dir), req);
      boost::json::string& sent = req["share"].get_string();
      crypto::Wipe(sent.data(), sent.size());
      if (!answer) return Fail(answer.error());
      if (!*answer) {
        return Fail(ErrorCode::kFailedPrecondition,
                    "no server runs on " + dir + ": start coffre serve " + dir + " first");
      }
      PrintJson(**answer);
      return Ok();
    });
  });
}

}  // namespace coffre::cli
