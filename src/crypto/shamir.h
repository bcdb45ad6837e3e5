// Shamir's secret sharing of a 32-byte key (libgfshare: one polynomial over
// GF(2^8) of degree threshold-1 per key byte). Any `threshold` shares give
// the key back; fewer give a value unrelated to it (combining them does not
// fail: the caller checks the result, e.g. against the vault's key-check
// value). Formats that carry shares: docs/key-custody.md.
//
//   COFFRE_TRY(crypto::Init());   // sets libgfshare's filler to libsodium
//   COFFRE_ASSIGN_OR_RETURN(auto shares, crypto::SplitKey(master, 3, 5));
//   std::vector<crypto::KeyShare> some;   // any 3 of them, by index
//   COFFRE_ASSIGN_OR_RETURN(crypto::SecretKey back, crypto::CombineKey(some));
//
// Randomness: libgfshare draws its coefficients through the global
// `gfshare_fill_rand`, unset by default (or random() if a program chooses
// it). Init() points it to a function calling libsodium's randombytes_buf;
// SplitKey refuses to run with any other filler.
//
// Thread-safety: free functions; thread-safe after Init().
#pragma once

#include <cstdint>
#include <vector>

#include "common/status.h"
#include "crypto/crypto.h"

namespace coffre::crypto {

inline constexpr unsigned kMaxShares = 255;

// One share: its x-coordinate (1..255) and its 32 bytes, kept in a SecretKey
// (wiped when destroyed, left out of core dumps).
struct KeyShare {
  uint8_t index = 0;
  SecretKey share;
};

// Shares 1..count of `key`. kInvalidArgument unless 2 <= threshold <= count
// <= 255; kInternal if libgfshare's filler is not libsodium's.
Result<std::vector<KeyShare>> SplitKey(const SecretKey& key, unsigned threshold, unsigned count);

// The key the given shares interpolate to. kInvalidArgument for fewer than
// two shares, an index 0 or an index given twice.
Result<SecretKey> CombineKey(const std::vector<KeyShare>& shares);

// Whether libgfshare's filler is the libsodium one Init() installs (tests).
[[nodiscard]] bool ShamirFillerIsLibsodium();

namespace internal {
// Called by Init(): points gfshare_fill_rand to libsodium.
void InstallShamirFiller();
}  // namespace internal

}  // namespace coffre::crypto
