// The master key held as Shamir shares instead of a key file
// (docs/key-custody.md): the share set the vault records (meta
// `key_shares`), the plain share line a holder gets from `coffre decrypt`,
// the sealed share files `coffre keys split` writes, and the Unsealer that
// a sealed server feeds shares to until it has enough.
//
//   auto set = vault::PeekShareSet(dir, nullptr);        // no key needed
//   if (*set) {                                           // sealed by shares
//     vault::Unsealer u(vault_id, **set);
//     COFFRE_TRY(u.Give(line));                           // one holder's share
//     if (u.complete()) { auto master = u.Combine(); ... }
//   }
//
// Thread-safety: free functions are thread-safe; an Unsealer belongs to one
// thread at a time (the server guards it with a mutex).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "crypto/crypto.h"
#include "crypto/shamir.h"
#include "storage/store.h"

namespace coffre::vault {

// Meta key of the share set; absent for a vault whose key is a file.
inline constexpr std::string_view kMetaKeyShares = "key_shares";

struct ShareSet {
  uint32_t generation = 0;  // 1 at the first split, +1 per rotation
  unsigned threshold = 0;
  unsigned count = 0;
  std::vector<std::string> checks;  // raw 32 bytes each, share i at [i-1]
};
std::string EncodeShareSet(const ShareSet& set);
// kDataLoss when the stored value does not parse.
Result<ShareSet> DecodeShareSet(std::string_view text);
// The share set of the vault whose store is `store`; nullopt for a vault
// whose key is a file.
Result<std::optional<ShareSet>> ReadShareSet(storage::Store& store);

// What a sealed server needs before it has the key, read from `dir` opened
// read-only (`opener` as vault::OpenOptions::store; null: RocksDB). Opens
// nothing sealed. `share_set` nullopt: the key is a file. `config` holds
// the clear configuration entries (Vault::GetConfig) named in
// `config_names` that exist (the server asks for its TLS certificate).
struct SealedView {
  std::string vault_id;  // raw
  std::optional<ShareSet> share_set;
  std::map<std::string, std::string, std::less<>> config;
};
Result<SealedView> PeekSealedView(const std::string& dir, const storage::StoreOpener& opener,
                                  const std::vector<std::string_view>& config_names = {});

// Where `keys split` puts the vault's TLS private key (PEM, mode 0600), which
// a sealed server needs before it can open the vault's secrets: DIR.tls-key,
// beside the data directory (docs/key-custody.md).
inline std::string SealedTlsKeyPath(std::string_view dir) { return std::string(dir) + ".tls-key"; }

// The check value of a share (docs/key-custody.md), 32 raw bytes.
std::string ShareCheck(std::string_view vault_id, uint32_t generation, unsigned threshold,
                       unsigned count, const crypto::KeyShare& share);

// One plain share as a holder gets it.
struct PlainShare {
  std::string vault_id;  // raw
  uint32_t generation = 0;
  unsigned threshold = 0;
  unsigned count = 0;
  crypto::KeyShare share;
};
// The share's line (`coffre-key-share v1 ...\n`). It holds the share:
// the caller wipes it (crypto::Wipe) once used.
std::string FormatShare(const PlainShare& share);
// kPermissionDenied for a line that is not a share, or whose check value
// does not match (corrupt); the message never holds the share.
Result<PlainShare> ParseShare(std::string_view line);

// A new set of sealed share files, in memory: share i sealed to
// recipients[i-1] (hex X25519 public keys, distinct).
struct SealedShares {
  ShareSet set;
  std::vector<std::string> names;   // file names (no directory)
  std::vector<std::string> images;  // sealed bytes (crypto::SealSmallFile)
};
// Splits `master` into shares (threshold of recipients.size()), checks in
// memory that `threshold` of them (the first and the last ones) recombine
// to `master`, and seals each to its recipient. kInvalidArgument for a bad
// threshold, a recipient that is not a public key, or one given twice.
Result<SealedShares> SealShares(std::string_view vault_id, const crypto::SecretKey& master,
                                uint32_t generation, unsigned threshold,
                                const std::vector<std::string>& recipients);
// Writes the files into the directory `dir_fd` (its name `dir_name` for
// messages): each O_EXCL, mode 0600, fsynced, re-read and compared, then
// the directory fsynced. All or none: on any failure the files written are
// removed. kAlreadyExists when one exists. Returns the paths written.
Result<std::vector<std::string>> WriteShareFiles(int dir_fd, const std::string& dir_name,
                                                 const SealedShares& shares);
// Removes files WriteShareFiles wrote (a commit that failed after them).
void RemoveShareFiles(int dir_fd, const SealedShares& shares);

// Collects shares until `threshold` distinct valid ones are given.
class Unsealer {
 public:
  Unsealer(std::string vault_id, ShareSet set);
  ~Unsealer();
  Unsealer(const Unsealer&) = delete;
  Unsealer& operator=(const Unsealer&) = delete;

  // Takes one share line. kPermissionDenied for a share of another vault
  // or generation, or a corrupt one; the shares already given are kept. A
  // share of an index already given is not counted (returns false). True
  // when it was counted. The line is the caller's to wipe.
  Result<bool> Give(std::string_view line);
  unsigned given() const { return static_cast<unsigned>(shares_.size()); }
  unsigned threshold() const { return set_.threshold; }
  bool complete() const { return given() >= set_.threshold; }
  // The key the shares interpolate to (kFailedPrecondition before
  // complete()); every share is dropped and wiped, whatever the outcome.
  Result<crypto::SecretKey> Combine();
  // Drops (and wipes) every share given.
  void Reset() { shares_.clear(); }

 private:
  std::string vault_id_;
  ShareSet set_;
  std::map<unsigned, crypto::KeyShare> shares_;  // by index; SecretKeys wipe themselves
};

}  // namespace coffre::vault
