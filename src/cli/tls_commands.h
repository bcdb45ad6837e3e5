// `coffre tls set`: the vault's TLS certificate replaced, with or without a
// running server (app/admin_tls_op.h; docs/operations.md, "Certificates").
#pragma once

#include <CLI/CLI.hpp>

#include "cli/commands.h"

namespace coffre::cli {

void RegisterTlsCommands(CLI::App& app, Context& ctx);

}  // namespace coffre::cli
