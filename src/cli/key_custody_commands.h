// `coffre keys split`, `coffre unseal` and the share options of `coffre
// keys rotate`: the master key held as Shamir shares (docs/key-custody.md,
// ADR 0037).
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "common/status.h"

namespace coffre::cli {

struct ShareArgs {
  unsigned threshold = 0;
  std::vector<std::string> recipients;  // hex X25519 public keys, one per holder
  std::string out_dir;
};
// --threshold, --recipient (repeated), --out-dir.
void AddShareOptions(CLI::App* cmd, ShareArgs& s);

// `keys rotate` on a vault whose key is split: a new key in a new set of
// shares, through the running, unsealed server (the only holder of the key).
Status RotateToShares(const VaultArgs& a, const ShareArgs& s);

// Registers `keys split` under `keys` and `unseal` under `app`.
// `tls_key_secret`: the vault secret holding its TLS private key, which
// `keys split` writes to DIR.tls-key for the sealed server.
void RegisterKeyCustody(CLI::App& app, CLI::App* keys, Context& ctx,
                        std::string_view tls_key_secret);

}  // namespace coffre::cli
