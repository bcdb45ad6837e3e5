// A node's local record of the chain registry (docs/audit-cluster.md, "The
// chain registry, anchored on every node"): `<audit anchor>.chains`, kept
// outside the data directory and the database beside the node's anchor.
// Append-only text; every append fsynced. Internal to the audit module.
//
//   coffre-audit-chains v1 <public key hex>
//   chain <chain hex> <h_1 hex> <time_ms>
//   seen <chain hex> <seq> <h_seq hex>
//
// Thread-safety: none (the log serialises its appends).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "common/status.h"

namespace coffre::audit::internal {

std::string ChainsPath(const std::string& anchor_path);

struct ChainsFile {
  std::string public_key;
  std::map<std::string, std::string, std::less<>> first;  // chain -> h_1
  // chain -> the furthest checkpoint seen (seq, h_seq)
  std::map<std::string, std::pair<uint64_t, std::string>, std::less<>> seen;
};

// Creates the file with its header (O_EXCL, mode 0600); kAlreadyExists.
[[nodiscard]] Status CreateChainsFile(const std::string& path, std::string_view public_key);
// kNotFound when absent; kDataLoss when it is not a chains file. Malformed
// or torn lines are skipped (never acknowledged).
Result<ChainsFile> ReadChainsFile(const std::string& path);
std::string ChainLine(std::string_view chain, std::string_view first_hash, int64_t time_ms);
std::string SeenLine(std::string_view chain, uint64_t seq, std::string_view hash);
// Appends `lines` (each ending with '\n') and fsyncs.
[[nodiscard]] Status AppendChainsLines(const std::string& path, std::string_view lines);

}  // namespace coffre::audit::internal
