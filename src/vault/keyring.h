// The vault's sub-keys, sealed under the master key (vault/master_key.h: a
// key file's key or a PKCS#11 token key) in the meta space
// (docs/key-hierarchy.md): the data-key wrapping key, one blind-index key
// per searchable field, the API-key hashing key, the password pepper, the
// audit signing seed, the key that seals the vault's other secrets and the
// card-hash key.
//
//   auto ring = Keyring::LoadOrCreate(store, batch, vault_id, master, schema);
//   const crypto::SecretKey& kek = ring->kek();
//   const crypto::BlindIndexer* idx = ring->blind("people", "email");
//
// Thread-safety: immutable after Load/Create; share read-only.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "common/status.h"
#include "crypto/crypto.h"
#include "schema/schema.h"
#include "storage/store.h"
#include "vault/master_key.h"

namespace coffre::vault {

class Keyring {
 public:
  // Generates the sub-keys the schema needs that `store` lacks and adds
  // their sealed entries to `batch`; then loads all of them.
  static Result<Keyring> LoadOrCreate(storage::Store& store, storage::WriteBatch& batch,
                                      std::string_view vault_id, MasterKey& master,
                                      const schema::Schema& schema);

  const crypto::SecretKey& kek() const { return kek_; }
  // Keyed hash of service API keys (auth).
  const crypto::SecretKey& api_key_hash_key() const { return api_key_hash_; }
  // Seals password hashes (auth): a copied directory allows no offline guessing.
  const crypto::SecretKey& pepper() const { return pepper_; }
  // Seals the vault's small secrets (the TLS private key), Vault::PutSecret.
  const crypto::SecretKey& secrets_key() const { return secrets_; }
  // Keyed hash of end users' password-reset tokens (src/credentials).
  const crypto::SecretKey& credential_token_key() const { return credential_token_; }
  // Seed of the Ed25519 key that signs audit checkpoints.
  const crypto::SecretKey& audit_signing_seed() const { return audit_seed_; }
  // Keyed BLAKE2b of card numbers (src/cards): recognises a card after its
  // number is gone, and never leaves the keyring.
  const crypto::SecretKey& card_hash_key() const { return card_hash_; }
  // nullptr when the field is not searchable.
  const crypto::BlindIndexer* blind(std::string_view collection, std::string_view field) const;

  // Re-seals every keyring entry under `new_master` into `batch`.
  static Status Reseal(storage::Store& store, storage::WriteBatch& batch, std::string_view vault_id,
                       MasterKey& old_master, MasterKey& new_master, size_t* count);

 private:
  crypto::SecretKey kek_;
  crypto::SecretKey api_key_hash_;
  crypto::SecretKey pepper_;
  crypto::SecretKey audit_seed_;
  crypto::SecretKey secrets_;
  crypto::SecretKey card_hash_;
  crypto::SecretKey credential_token_;
  std::map<std::string, crypto::BlindIndexer, std::less<>> blind_;
};

}  // namespace coffre::vault
