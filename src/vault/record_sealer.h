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
  bool unique = false;   // must not exist yet
  size_t field = 0;      // index into the collection's fields, for messages
  size_t row = 0;        // bulk import: the row it belongs to
};

struct SealedRecord {
  std::string record_id;        // raw
  std::string subject;          // raw
  std::string data_key_key;     // empty when the data key already exists
  std::string data_key_value;
  std::string record_key;
  std::string record_value;
  std::string member_key;
  std::vector<IndexEntry> index;

  void Reset();
};

// Seals `fields` (validated, schema order) as a new record. When `wrap_key`
// is set, the data key is wrapped into data_key_key/value as well.
void SealRecord(const Keyring& keyring, const schema::Collection& collection,
                uint32_t schema_version, const std::vector<FieldValue>& fields,
                const crypto::SecretKey& data_key, bool wrap_key, SealedRecord& out);

// The blind-index entries of an existing record, for deletion.
std::vector<std::string> IndexKeysOf(const Keyring& keyring, const schema::Collection& collection,
                                     const Record& record);

}  // namespace coffre::vault
