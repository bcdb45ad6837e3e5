// An AES-256 secret key that lives inside a PKCS#11 token and is used only
// through it: coffre's master key when the vault's key source is `pkcs11`
// (docs/key-hierarchy.md, docs/adr/0038-master-key-in-a-token.md).
//
//   COFFRE_ASSIGN_OR_RETURN(auto uri, crypto::ParsePkcs11Uri(text));
//   COFFRE_ASSIGN_OR_RETURN(auto key, crypto::TokenKey::Open(uri, TokenKey::kOpenExisting));
//   COFFRE_ASSIGN_OR_RETURN(std::string sealed, key->Seal(plaintext, aad));
//   COFFRE_ASSIGN_OR_RETURN(std::string plain, key->Open(sealed, aad, "keyring entry"));
//
// Sealing is CKM_AES_GCM computed by the token: nonce(12) || ciphertext ||
// tag(16), the nonce random from libsodium. The key's value never leaves
// the token: coffre asks for it to be created sensitive and not extractable,
// and refuses to use one that is not.
//
// The module (module-path) is loaded with dlopen and initialised once per
// process, shared by every TokenKey of that module, finalised with the last.
//
// Errors (never quoting a PIN): kNotFound when the module or the token is
// missing; kPermissionDenied for a wrong or missing PIN, a key that the
// URI does not name (opening never creates one), or a key that could leave
// the token; kDataLoss when a sealed value does not open; kInternal for
// other token failures, with the PKCS#11 return value's name.
//
// Thread-safety: a TokenKey holds one session; use it from one thread at a
// time (the vault uses it at open and under its write lock).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "crypto/pkcs11_uri.h"

namespace coffre::crypto {

class TokenKey {
 public:
  enum Mode { kOpenExisting, kCreateIfAbsent };
  // Checks the URI (CheckMasterKeyUri), loads the module, finds the token,
  // logs in with the PIN of pin-source, and finds the key (or creates it,
  // kCreateIfAbsent; `created` says whether it did).
  static Result<std::unique_ptr<TokenKey>> Open(const Pkcs11Uri& uri, Mode mode,
                                                bool* created = nullptr);
  ~TokenKey();
  TokenKey(const TokenKey&) = delete;
  TokenKey& operator=(const TokenKey&) = delete;

  Result<std::string> Seal(std::string_view plaintext, std::string_view aad);
  // kDataLoss when the tag does not verify; `what` names the value.
  Result<std::string> Open(std::string_view sealed, std::string_view aad, std::string_view what);

  // What the token says of the key (tests and `init` check them).
  struct Attributes {
    bool sensitive = false;
    bool extractable = true;
    bool token = false;
    bool always_sensitive = false;
    bool never_extractable = false;
    unsigned long value_len = 0;
  };
  Result<Attributes> attributes();

  const Pkcs11Uri& uri() const { return uri_; }

  struct Session;  // the module, the session and the key's handle (pkcs11_key.cc)

 private:
  TokenKey(Pkcs11Uri uri, std::unique_ptr<Session> session);
  Pkcs11Uri uri_;
  std::unique_ptr<Session> s_;
};

}  // namespace coffre::crypto
