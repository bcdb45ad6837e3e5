// Builds every store entry of one new record: the wrapped data key (for a new
// (subject, collection) pair), the sealed record, the subject membership and
// the blind-index entries. Shared by Vault::Put and the bulk importer so both
// write exactly the same formats (docs/key-hierarchy.md).
//
// Thread-safety: stateless functions over immutable inputs; call from any
// thread. A SealedRecord may be reused across rows (Reset) to keep its buffers.
#pragma once

#include <string>
#include <vector>

#include "crypto/crypto.h"
#include "schema/schema.h"
#include "vault/keyring.h"
#include "vault/vault.h"

namespace coffre::vault {

struct IndexEntry {
  std::string key;
  std::string value;
  bool unique = false;  // must not exist yet
  size_t field = 0;     // index into the collection's fields, for messages
  size_t row = 0;       // bulk import: the row it belongs to
};

// The blind-index entries of many rows in one buffer (bulk import): no
// allocation per entry. Not thread-safe; one per chunk of rows.
struct IndexRun {
  struct Entry {
    uint64_t head = 0;    // first 8 bytes of the blind value, big-endian (cheap ordering)
    uint32_t offset = 0;  // key, then value, in `bytes`
    uint16_t key_size = 0;
    uint16_t value_size = 0;
    uint32_t row = 0;     // the row it belongs to
    uint16_t field = 0;   // index into the collection's fields
    bool unique = false;  // must not exist yet
  };
  std::string bytes;
  std::vector<Entry> entries;

  std::string_view key(const Entry& e) const { return {bytes.data() + e.offset, e.key_size}; }
  std::string_view value(const Entry& e) const {
    return {bytes.data() + e.offset + e.key_size, e.value_size};
  }
  void Clear() {
    bytes.clear();
    entries.clear();
  }
};

struct SealedRecord {
  std::string record_id;     // raw
  std::string subject;       // raw
  std::string data_key_key;  // empty when the data key already exists
  std::string data_key_value;
  std::string record_key;
  std::string record_value;
  std::string member_key;
  std::vector<IndexEntry> index;
  // Scratch buffers kept across rows (wiped after use).
  std::string plain;
  std::string aad;
  // The blind indexer of each field of the last collection sealed (null for
  // fields without an index), valid while that keyring is: a SealedRecord
  // lives for one import or one write, under the vault's write lock.
  std::vector<const crypto::BlindIndexer*> indexers;
  const Keyring* indexers_keyring = nullptr;
  const schema::Collection* indexers_collection = nullptr;

  void Reset();
};

// Seals `fields` (validated, schema order) as a new record. When `wrap_key`
// is set, the data key is wrapped into data_key_key/value as well.
void SealRecord(const Keyring& keyring, const schema::Collection& collection,
                uint32_t schema_version, const std::vector<FieldValue>& fields,
                const crypto::SecretKey& data_key, bool wrap_key, SealedRecord& out);

// The same, with the index entries appended to `index` (tagged with `row`)
// instead of out.index: the bulk importer's form.
void SealRecord(const Keyring& keyring, const schema::Collection& collection,
                uint32_t schema_version, const std::vector<FieldValue>& fields,
                const crypto::SecretKey& data_key, bool wrap_key, SealedRecord& out,
                IndexRun& index, uint32_t row);

// The blind-index entries of an existing record, for deletion.
std::vector<std::string> IndexKeysOf(const Keyring& keyring, const schema::Collection& collection,
                                     const Record& record);

// What Put, Update and the importer's rejects say when a unique field's value
// is already held: one message, naming the field and never the value.
std::string UniqueClashMessage(std::string_view field_name);

}  // namespace coffre::vault
