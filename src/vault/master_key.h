// Where the vault's master key is, behind one seam: it seals and unseals
// the keyring's entries and makes and checks the key-check value
// (docs/key-hierarchy.md). The vault never asks for the key itself.
//
//   std::unique_ptr<MasterKey> m = MasterKeyInMemory(std::move(key), "demo.key");
//   COFFRE_ASSIGN_OR_RETURN(auto t, MasterKeyInToken(uri_text, crypto::TokenKey::kOpenExisting));
//   COFFRE_ASSIGN_OR_RETURN(std::string value, m->SealEntry(sub_key, aad));   // 0x01 || ...
//   COFFRE_ASSIGN_OR_RETURN(bool ok, t->Opens(kcv, vault_id));
//
// Two implementations:
// - in memory (key source `file`): 32 bytes in a SecretKey, read from a key
//   file (or, for the Shamir slice, rebuilt from shares); entries 0x01,
//   XChaCha20-Poly1305; kcv a keyed BLAKE2b.
// - in a PKCS#11 token (key source `pkcs11`): crypto::TokenKey; entries
//   0x02, AES-256-GCM computed by the token; kcv a check sealed by it. The
//   key never exists in coffre's memory.
//
// Thread-safety: not thread-safe (a token key holds one session); the vault
// uses its master key at open and under its write lock.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "crypto/crypto.h"
#include "crypto/pkcs11_key.h"

namespace coffre::vault {

class MasterKey {
 public:
  virtual ~MasterKey() = default;
  // What meta `key_source` holds: "file", or "pkcs11:" + the URI's path
  // attributes (no module, no PIN source).
  virtual std::string source() const = 0;
  // Names the key in messages: "the key file F", "the PKCS#11 key URI".
  virtual std::string name() const = 0;

  // A keyring entry's stored value: version byte || sealed sub-key.
  virtual Result<std::string> SealEntry(const crypto::SecretKey& sub_key, std::string_view aad) = 0;
  // kDataLoss when it does not open or is another source's entry.
  virtual Result<crypto::SecretKey> UnsealEntry(std::string_view value, std::string_view aad) = 0;

  // The key-check value (meta `kcv`) for `vault_id`, and whether a stored
  // one is this key's (false, not an error, for another key or source).
  virtual Result<std::string> KeyCheck(std::string_view vault_id) = 0;
  virtual Result<bool> Opens(std::string_view kcv, std::string_view vault_id) = 0;

  // The key itself when it is in coffre's memory (a key file's, or one
  // recombined from Shamir shares), to split it into shares; nullptr for a
  // token's key, which never leaves the token.
  virtual const crypto::SecretKey* key_in_memory() const { return nullptr; }
};

inline constexpr std::string_view kFileKeySource = "file";
inline constexpr std::string_view kPkcs11KeySourcePrefix = "pkcs11:";

// `key_file` only names it in messages.
std::unique_ptr<MasterKey> MasterKeyInMemory(crypto::SecretKey key, std::string key_file);

// The key named by a PKCS#11 URI (crypto::TokenKey::Open's errors);
// `created` as TokenKey::Open.
Result<std::unique_ptr<MasterKey>> MasterKeyInToken(std::string_view uri,
                                                    crypto::TokenKey::Mode mode,
                                                    bool* created = nullptr);

}  // namespace coffre::vault
