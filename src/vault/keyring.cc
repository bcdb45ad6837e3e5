#include "vault/keyring.h"

#include <cstring>

#include "vault/internal/layout.h"

namespace coffre::vault {
namespace {

Result<std::string> Seal(MasterKey& master, std::string_view vault_id, std::string_view name,
                         const crypto::SecretKey& key) {
  return master.SealEntry(key, layout::KeyringAad(vault_id, name));
}

Result<crypto::SecretKey> Unseal(MasterKey& master, std::string_view vault_id,
                                 std::string_view name, std::string_view value) {
  return master.UnsealEntry(value, layout::KeyringAad(vault_id, name));
}

// Loads `name`, or creates it into `batch` when absent.
Result<crypto::SecretKey> LoadOrCreateOne(storage::Store& store, storage::WriteBatch& batch,
                                          std::string_view vault_id, MasterKey& master,
                                          std::string_view name) {
  COFFRE_ASSIGN_OR_RETURN(auto existing,
                          store.Get(storage::Space::kMeta, layout::KeyringMetaKey(name)));
  if (existing) return Unseal(master, vault_id, name, *existing);
  crypto::SecretKey key = crypto::SecretKey::Random();
  COFFRE_ASSIGN_OR_RETURN(std::string sealed, Seal(master, vault_id, name, key));
  batch.Put(storage::Space::kMeta, layout::KeyringMetaKey(name), sealed);
  return key;
}

}  // namespace

Result<Keyring> Keyring::LoadOrCreate(storage::Store& store, storage::WriteBatch& batch,
                                      std::string_view vault_id, MasterKey& master,
                                      const schema::Schema& schema) {
  Keyring ring;
  COFFRE_ASSIGN_OR_RETURN(ring.kek_,
                          LoadOrCreateOne(store, batch, vault_id, master, layout::kKekName));
  COFFRE_ASSIGN_OR_RETURN(ring.api_key_hash_,
                          LoadOrCreateOne(store, batch, vault_id, master, layout::kApiKeyHashName));
  COFFRE_ASSIGN_OR_RETURN(ring.pepper_,
                          LoadOrCreateOne(store, batch, vault_id, master, layout::kPepperName));
  COFFRE_ASSIGN_OR_RETURN(ring.audit_seed_,
                          LoadOrCreateOne(store, batch, vault_id, master, layout::kAuditSignName));
  COFFRE_ASSIGN_OR_RETURN(ring.secrets_,
                          LoadOrCreateOne(store, batch, vault_id, master, layout::kSecretsName));
  COFFRE_ASSIGN_OR_RETURN(ring.card_hash_,
                          LoadOrCreateOne(store, batch, vault_id, master, layout::kCardHashName));
  COFFRE_ASSIGN_OR_RETURN(ring.credential_token_, LoadOrCreateOne(store, batch, vault_id, master,
                                                                  layout::kCredentialTokenName));
  for (const auto& c : schema.collections()) {
    for (const auto& f : c.fields) {
      if (!f.searchable && !f.unique) continue;
      std::string name = layout::BlindKeyName(c.name, f.name);
      COFFRE_ASSIGN_OR_RETURN(auto key, LoadOrCreateOne(store, batch, vault_id, master, name));
      ring.blind_.emplace(c.name + '\0' + f.name, crypto::BlindIndexer(key));
    }
  }
  return ring;
}

const crypto::BlindIndexer* Keyring::blind(std::string_view collection,
                                           std::string_view field) const {
  // On the stack for usual names: this runs for every indexed field of every
  // imported row.
  char buf[256];
  std::string heap;
  std::string_view k;
  if (collection.size() + 1 + field.size() <= sizeof buf) {
    std::memcpy(buf, collection.data(), collection.size());
    buf[collection.size()] = '\0';
    std::memcpy(buf + collection.size() + 1, field.data(), field.size());
    k = std::string_view(buf, collection.size() + 1 + field.size());
  } else {
    heap.append(collection).append(1, '\0').append(field);
    k = heap;
  }
  auto it = blind_.find(k);
  return it == blind_.end() ? nullptr : &it->second;
}

Status Keyring::Reseal(storage::Store& store, storage::WriteBatch& batch, std::string_view vault_id,
                       MasterKey& old_master, MasterKey& new_master, size_t* count) {
  Status status = Ok();
  size_t n = 0;
  COFFRE_TRY(store.Scan(storage::Space::kMeta, layout::kKeyringPrefix,
                        [&](std::string_view key, std::string_view value) {
                          std::string_view name = key.substr(layout::kKeyringPrefix.size());
                          auto sub = Unseal(old_master, vault_id, name, value);
                          if (!sub) {
                            status = Fail(std::move(sub).error());
                            return false;
                          }
                          auto sealed = Seal(new_master, vault_id, name, *sub);
                          if (!sealed) {
                            status = Fail(std::move(sealed).error());
                            return false;
                          }
                          batch.Put(storage::Space::kMeta, key, *sealed);
                          ++n;
                          return true;
                        }));
  if (count) *count = n;
  return status;
}

}  // namespace coffre::vault
