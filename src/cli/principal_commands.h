// `coffre principal update | rotate-key | reset-totp | unlock | usage`
// (principal_commands.cc), and the TOTP enrolment shown by `principal add`
// and `reset-totp`: the secret once, on standard error, with a QR code.
#pragma once

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <string>

#include "cli/server_commands.h"

namespace coffre::cli {

struct TotpOptions {
  std::string issuer;       // empty: the server's default ("coffre")
  std::string qr = "auto";  // auto | ansi | light | dark | none
};
void AddTotpOptions(CLI::App* cmd, TotpOptions& o);

// Prints the QR code and the key of `out`'s otpauth_uri / totp_key on
// standard error and removes both from `out`, which is then printed.
[[nodiscard]] Status ShowTotpEnrolment(boost::json::object& out, const TotpOptions& o);

// Adds the lifecycle subcommands to the `principal` group.
void RegisterPrincipalLifecycle(CLI::App* group, Context& ctx);

}  // namespace coffre::cli
