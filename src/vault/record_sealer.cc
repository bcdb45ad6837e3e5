#include "vault/record_sealer.h"

#include <cstring>

#include "vault/internal/layout.h"

namespace coffre::vault {

void SealedRecord::Reset() {
  data_key_key.clear();
  data_key_value.clear();
  record_key.clear();
  record_value.clear();
  member_key.clear();
  index.clear();
}

namespace {

// `idx` is keyring.blind(collection, def.name), looked up by the caller.
void AppendIndexKey(const crypto::BlindIndexer* idx, std::string_view collection,
                    const schema::FieldDef& def, std::string_view value, std::string_view record_id,
                    std::string& key) {
  AppendLengthPrefixed(key, collection);
  AppendLengthPrefixed(key, def.name);
  size_t at = key.size();
  key.resize(at + crypto::kBlindBytes);
  idx->Compute(value, reinterpret_cast<unsigned char*>(key.data() + at));
  if (!def.unique) key += record_id;
}

// Everything but the index entries, which go to `emit(def, pos, value)`.
template <typename EmitIndex>
void SealRecordCore(const Keyring& keyring, const schema::Collection& collection,
                    uint32_t schema_version, const std::vector<FieldValue>& fields,
                    const crypto::SecretKey& data_key, bool wrap_key, SealedRecord& out,
                    EmitIndex&& emit) {
  const std::string& id = out.record_id;
  const std::string& subject = out.subject;
  std::string& aad = out.aad;
  aad.clear();
  if (wrap_key) {
    out.data_key_key.clear();
    layout::AppendDataKeyKey(out.data_key_key, subject, collection.name);
    out.data_key_value.push_back(layout::kFormatV1);
    AppendBigEndian32(out.data_key_value, layout::kKekVersion);
    layout::AppendDataKeyAad(aad, subject, collection.name);
    crypto::WrapKeyAppend(keyring.kek(), data_key, aad, out.data_key_value);
    aad.clear();
  }

  std::string& plain = out.plain;
  plain.clear();
  EncodeFields(fields, plain);
  out.record_key.clear();
  layout::AppendRecordKey(out.record_key, collection.name, id);
  out.record_value.reserve(layout::kRecordHeaderBytes + plain.size() + crypto::kSealOverhead);
  out.record_value.push_back(layout::kFormatV1);
  out.record_value += subject;
  AppendBigEndian32(out.record_value, schema_version);
  layout::AppendRecordAad(aad, collection.name, id, subject, schema_version);
  crypto::SealAppend(data_key, plain, aad, out.record_value);
  crypto::Wipe(plain.data(), plain.size());  // the plaintext copy

  out.member_key.clear();
  layout::AppendMemberKey(out.member_key, subject, collection.name, id);

  // Fields usually come in schema order (Vault::ValidateInto), so the next
  // definition is tried before searching by name; the blind indexers of the
  // collection's fields are looked up once per SealedRecord, not per row.
  if (out.indexers_keyring != &keyring || out.indexers_collection != &collection) {
    out.indexers.assign(collection.fields.size(), nullptr);
    for (size_t i = 0; i < collection.fields.size(); ++i) {
      const schema::FieldDef& def = collection.fields[i];
      if (def.searchable || def.unique) out.indexers[i] = keyring.blind(collection.name, def.name);
    }
    out.indexers_keyring = &keyring;
    out.indexers_collection = &collection;
  }
  size_t next = 0;
  for (const FieldValue& f : fields) {
    const schema::FieldDef* def = collection.Find(f.name, next);
    if (def == nullptr) continue;
    const size_t pos = collection.PositionOf(*def);
    next = pos + 1;
    if (!(def->searchable || def->unique)) continue;
    emit(*def, pos, out.indexers[pos], f.value);
  }
}

}  // namespace

void SealRecord(const Keyring& keyring, const schema::Collection& collection,
                uint32_t schema_version, const std::vector<FieldValue>& fields,
                const crypto::SecretKey& data_key, bool wrap_key, SealedRecord& out) {
  const std::string& id = out.record_id;
  SealRecordCore(keyring, collection, schema_version, fields, data_key, wrap_key, out,
                 [&](const schema::FieldDef& def, size_t pos, const crypto::BlindIndexer* idx,
                     std::string_view value) {
                   IndexEntry& e = out.index.emplace_back();
                   AppendIndexKey(idx, collection.name, def, value, id, e.key);
                   if (def.unique) e.value = id;
                   e.unique = def.unique;
                   e.field = pos;
                 });
}

void SealRecord(const Keyring& keyring, const schema::Collection& collection,
                uint32_t schema_version, const std::vector<FieldValue>& fields,
                const crypto::SecretKey& data_key, bool wrap_key, SealedRecord& out,
                IndexRun& index, uint32_t row) {
  const std::string& id = out.record_id;
  SealRecordCore(keyring, collection, schema_version, fields, data_key, wrap_key, out,
                 [&](const schema::FieldDef& def, size_t pos, const crypto::BlindIndexer* idx,
                     std::string_view value) {
                   IndexRun::Entry e;
                   e.offset = static_cast<uint32_t>(index.bytes.size());
                   AppendIndexKey(idx, collection.name, def, value, id, index.bytes);
                   e.key_size = static_cast<uint16_t>(index.bytes.size() - e.offset);
                   const size_t blind_at =
                       e.offset + e.key_size - crypto::kBlindBytes - (def.unique ? 0 : id.size());
                   uint64_t head = 0;
                   std::memcpy(&head, index.bytes.data() + blind_at, sizeof head);
                   e.head = __builtin_bswap64(head);
                   if (def.unique) index.bytes += id;
                   e.value_size = static_cast<uint16_t>(index.bytes.size() - e.offset - e.key_size);
                   e.row = row;
                   e.field = static_cast<uint16_t>(pos);
                   e.unique = def.unique;
                   index.entries.push_back(e);
                 });
}

std::vector<std::string> IndexKeysOf(const Keyring& keyring, const schema::Collection& collection,
                                     const Record& record) {
  std::vector<std::string> keys;
  for (const FieldValue& f : record.fields) {
    const schema::FieldDef* def = collection.Find(f.name);
    if (def == nullptr || !(def->searchable || def->unique)) continue;
    std::string key;
    AppendIndexKey(keyring.blind(collection.name, def->name), collection.name, *def, f.value,
                   record.id, key);
    keys.push_back(std::move(key));
  }
  return keys;
}

std::string UniqueClashMessage(std::string_view field_name) {
  return "field '" + std::string(field_name) + "': value already exists (unique)";
}

}  // namespace coffre::vault
