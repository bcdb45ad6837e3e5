#include "cli/tls_commands.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "cli/cli_common.h"

namespace coffre::cli {
namespace {

struct TlsSetArgs {
  VaultArgs vault;
  std::string cert;
  std::string key;
  std::string ca;
};

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
