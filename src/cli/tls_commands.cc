#include "cli/tls_commands.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cli/cli_common.h"
#include "common/file_text.h"
#include "crypto/crypto.h"
#include "vault/key_shares.h"

namespace coffre::cli {
namespace {

struct TlsSetArgs {
  VaultArgs vault;
  std::string cert;
  std::string key;
  std::string ca;
};

// A vault whose master key is split into shares keeps a copy of its TLS
// key in DIR.tls-key, which a sealed server serves with until unsealed
// (docs/key-custody.md): replaced here too, by this process (the server's
// sandbox may not write beside DIR), written aside then renamed.
Status ReplaceSealedTlsKey(const std::string& dir, const std::string& key_path) {
  const std::string target = vault::SealedTlsKeyPath(
      std::filesystem::absolute(TrimSlash(dir)).lexically_normal().string());
  std::error_code ec;
  if (!std::filesystem::exists(target, ec)) return Ok();
  COFFRE_ASSIGN_OR_RETURN(std::string pem, ReadWholeFile(key_path, "--key"));
  struct Wipe {
    std::string& s;
    ~Wipe() { crypto::Wipe(s.data(), s.size()); }
  } wipe{pem};
  const std::string staged = target + ".new";
  ::unlink(staged.c_str());
  int fd = ::open(staged.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return Fail(ErrorCode::kIoError, "cannot create " + staged + ": " + std::strerror(errno));
  std::string_view rest = pem;
  bool ok = true;
  while (!rest.empty() && ok) {
    const ssize_t n = ::write(fd, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) rest.remove_prefix(static_cast<size_t>(n));
  }
  ok = ::fsync(fd) == 0 && ok;
  ok = ::close(fd) == 0 && ok;
  if (!ok || std::rename(staged.c_str(), target.c_str()) != 0) {
    ::unlink(staged.c_str());
    return Fail(ErrorCode::kIoError,
                "the vault holds the new certificate, but the sealed "
                "server's key file " +
                    target +
                    " could not be replaced: "
                    "copy the new key there (mode 0600) before the next start");
  }
  return Ok();
}

// Descriptors this process opened, closed when it is done with them.
class OpenFiles {
 public:
  ~OpenFiles() {
    for (int fd : fds_) ::close(fd);
  }
  Status Open(const std::string& path, const char* flag) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      return Fail(
          errno == ENOENT || errno == ENOTDIR ? ErrorCode::kInvalidArgument : ErrorCode::kIoError,
          std::string(flag) + ": cannot open " + path + ": " + std::strerror(errno));
    }
    fds_.push_back(fd);
    return Ok();
  }
  const std::vector<int>& fds() const { return fds_; }

 private:
  std::vector<int> fds_;
};

void RegisterTlsSet(CLI::App* group, Context& ctx) {
  auto* cmd = group->add_subcommand(
      "set", "replace the vault's TLS certificate and key (a running server reloads it)");
  auto a = std::make_shared<TlsSetArgs>();
  AddVaultArgs(cmd, a->vault);
  cmd->add_option("--cert", a->cert,
                  "PEM certificate chain: the server's certificate, then its intermediates "
                  "(certbot's fullchain.pem)")
      ->required();
  cmd->add_option("--key", a->key, "PEM private key of the certificate (not encrypted)")
      ->required();
  cmd->add_option("--ca", a->ca,
                  "PEM trust anchors the chain must end at (a private CA); default: the system "
                  "trust store, or a root certificate at the end of --cert");
  cmd->footer([] {
    return std::string(
        "Checked before anything changes (exit 2 naming the problem): the key is the\n"
        "certificate's, the chain verifies up to a trust anchor for TLS server use, and\n"
        "the certificate is valid now; a warning if it expires within 30 days. The files\n"
        "are opened here and passed to the server as descriptors; the key is stored\n"
        "sealed in the vault, and the certificate copied to DIR/tls/cert.pem.\n"
        "Examples:\n"
        "  coffre tls set vault --cert fullchain.pem --key privkey.pem\n"
        "  coffre tls set vault --cert chain.pem --key key.pem --ca internal-root.pem\n");
  });
  cmd->callback([&ctx, a] {
    Run(ctx, [&]() -> Status {
      OpenFiles files;
      COFFRE_TRY(files.Open(a->cert, "--cert"));
      COFFRE_TRY(files.Open(a->key, "--key"));
      boost::json::object req{{"op", "tls.set"}};  // a local operation (app/admin_tls_op.h)
      if (!a->ca.empty()) {
        COFFRE_TRY(files.Open(a->ca, "--ca"));
        req["ca"] = true;
      }
      COFFRE_ASSIGN_OR_RETURN(boost::json::object out, Manage(a->vault, req, files.fds()));
      COFFRE_TRY(ReplaceSealedTlsKey(a->vault.dir, a->key));
      if (const boost::json::value* w = out.if_contains("warning"); w && w->is_string()) {
        std::cerr << "coffre: warning: " << w->get_string().c_str() << "\n";
      }
      const boost::json::value* served = out.if_contains("served");
      if (served != nullptr && served->is_string() && *served != out.at("fingerprint")) {
        std::cerr << "coffre: the running server serves the files of serve --tls-cert "
                     "(fingerprint "
                  << served->get_string().c_str()
                  << "); the vault's new certificate is served when it serves from the vault\n";
      }
      PrintJson(out);
      return Ok();
    });
  });
}

}  // namespace

void RegisterTlsCommands(CLI::App& app, Context& ctx) {
  auto* group = app.add_subcommand("tls", "the TLS certificate `coffre serve` presents");
  group->require_subcommand(1);
  Examples(group, {"coffre tls set vault --cert fullchain.pem --key privkey.pem"});
  RegisterTlsSet(group, ctx);
}

}  // namespace coffre::cli
