// The master key file: 32 random bytes kept outside the data directory.
//
//   COFFRE_TRY(crypto::CreateKeyFile("/etc/coffre/demo.key"));  // never overwrites
//   auto master = crypto::LoadKeyFile("/etc/coffre/demo.key");
//
// Format (docs/key-hierarchy.md): `coffre-master-key v1 <64 hex>\n`, mode 0600.
// Loading refuses a file readable by group or others, and any other format.
// Errors name the path, never the key.
//
// Thread-safety: free functions, thread-safe.
#pragma once

#include <string>

#include "common/status.h"
#include "crypto/crypto.h"

namespace coffre::crypto {

// Creates a new key file with a fresh random key (O_EXCL, 0600, fsynced with
// its directory). kAlreadyExists if the path exists.
[[nodiscard]] Status CreateKeyFile(const std::string& path);

// Writes a given key to a new file, same rules (used by key rotation).
[[nodiscard]] Status WriteKeyFile(const std::string& path, const SecretKey& key);

Result<SecretKey> LoadKeyFile(const std::string& path);

// A recipient's X25519 secret key for sealed files (`coffre keygen`,
// `coffre decrypt`): the same rules, format `coffre-box-secret v1 <64 hex>\n`,
// so neither kind of file is mistaken for the other.
[[nodiscard]] Status WriteBoxSecretFile(const std::string& path, const SecretKey& key);
Result<SecretKey> LoadBoxSecretFile(const std::string& path);

}  // namespace coffre::crypto
