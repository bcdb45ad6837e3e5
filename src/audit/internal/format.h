// Keys, values, chain and checkpoints of the audit log (docs/audit-log.md).
// Shared by the writer (audit_log.cc) and the verifier (verify.cc); no other
// module may include it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace coffre::audit::internal {

inline constexpr size_t kHashBytes = 32;
inline constexpr char kEntryTag = 'e';
inline constexpr char kCheckpointTag = 'c';
inline constexpr char kHeadKey[] = "h";
inline constexpr char kRolePrincipal = 'p';
inline constexpr char kRoleUser = 'u';

std::string EntryKey(uint64_t seq);
std::string CheckpointKey(uint64_t seq);
// Seq of an 'e' or 'c' key; nullopt for anything else.
std::optional<uint64_t> SeqOfKey(std::string_view key, char tag);

// kAuditByPrincipal / kAuditBySubject keys. The prefix forms stop before the
// time, for range scans.
std::string PrincipalPrefix(char role, std::string_view name);
std::string SubjectPrefix(std::string_view subject);
std::string IndexKey(std::string_view prefix, int64_t time_ms, uint64_t seq);
// The seq at the end of an index key (the last 8 bytes).
std::optional<uint64_t> SeqOfIndexKey(std::string_view key);

// h_n = BLAKE2b-256(h_{n-1} || BE64(n) || entry bytes).
std::string ChainHash(std::string_view previous, uint64_t seq, std::string_view entry_bytes);
// The same into `out` (kHashBytes), building the message in `scratch`: no
// allocation once scratch has grown (verification walks millions).
void ChainHashInto(std::string_view previous, uint64_t seq, std::string_view entry_bytes,
                   std::string& scratch, char* out);
inline std::string ZeroHash() { return std::string(kHashBytes, '\0'); }

// Stored entry value: entry bytes || h_seq.
struct StoredEntry {
  std::string_view bytes;
  std::string_view hash;
};
std::optional<StoredEntry> SplitStoredEntry(std::string_view value);

struct Checkpoint {
  uint64_t seq = 0;
  int64_t time_ms = 0;
  std::string hash;       // h_seq, 32 bytes
  std::string signature;  // Ed25519, 64 bytes
};
// The message an Ed25519 checkpoint signature covers.
std::string CheckpointMessage(uint64_t seq, int64_t time_ms, std::string_view hash);
std::string EncodeCheckpointValue(const Checkpoint& c);
std::optional<Checkpoint> DecodeCheckpointValue(uint64_t seq, std::string_view value);
[[nodiscard]] bool CheckpointSignatureValid(const Checkpoint& c, std::string_view public_key);

struct Head {
  uint64_t last_seq = 0;
  std::string hash;  // h_last_seq
  uint64_t last_checkpoint_seq = 0;
};
std::string EncodeHead(const Head& h);
std::optional<Head> DecodeHead(std::string_view value);

// Anchor file lines.
std::string AnchorHeader(std::string_view public_key);
std::optional<std::string> ParseAnchorHeader(std::string_view line);  // public key
std::string AnchorLine(const Checkpoint& c);                          // ends with '\n'
std::optional<Checkpoint> ParseAnchorLine(std::string_view line);

}  // namespace coffre::audit::internal
