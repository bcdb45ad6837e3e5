#include "vault/record_sealer.h"

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

// The field named `name` and its position in the collection.
const schema::FieldDef* FieldDefOf(const schema::Collection& c, std::string_view name, size_t* pos) {
  const schema::FieldDef* def = c.Find(name);
  if (def != nullptr) *pos = static_cast<size_t>(def - c.fields.data());
  return def;
}

void AppendIndexKey(const Keyring& keyring, std::string_view collection,
                    const schema::FieldDef& def, std::string_view value,
                    std::string_view record_id, std::string& key) {
  const crypto::BlindIndexer* idx = keyring.blind(collection, def.name);
  AppendLengthPrefixed(key, collection);
  AppendLengthPrefixed(key, def.name);
  size_t at = key.size();
  key.resize(at + crypto::kBlindBytes);
  idx->Compute(value, reinterpret_cast<unsigned char*>(key.data() + at));
  if (!def.unique) key += record_id;
}

}  // namespace

void SealRecord(const Keyring& keyring, const schema::Collection& collection,
                uint32_t schema_version, const std::vector<FieldValue>& fields,
                const crypto::SecretKey& data_key, bool wrap_key, SealedRecord& out) {
  const std::string& id = out.record_id;
  const std::string& subject = out.subject;
  std::string aad;
  aad.reserve(96);
  if (wrap_key) {
    out.data_key_key = layout::DataKeyKey(subject, collection.name);
    out.data_key_value.push_back(layout::kFormatV1);
    AppendBigEndian32(out.data_key_value, layout::kKekVersion);
    layout::AppendDataKeyAad(aad, subject, collection.name);
    out.data_key_value += crypto::WrapKey(keyring.kek(), data_key, aad);
    aad.clear();
  }

  std::string plain;
  plain.reserve(512);
  EncodeFields(fields, plain);
  out.record_key = layout::RecordKey(collection.name, id);
  out.record_value.reserve(layout::kRecordHeaderBytes + plain.size() + crypto::kSealOverhead);
  out.record_value.push_back(layout::kFormatV1);
  out.record_value += subject;
  AppendBigEndian32(out.record_value, schema_version);
  layout::AppendRecordAad(aad, collection.name, id, subject, schema_version);
  crypto::SealAppend(data_key, plain, aad, out.record_value);
  crypto::RandomBytes(plain.data(), plain.size());  // overwrite the plaintext copy

  out.member_key = layout::MemberKey(subject, collection.name, id);

  for (const FieldValue& f : fields) {
    size_t pos = 0;
    const schema::FieldDef* def = FieldDefOf(collection, f.name, &pos);
    if (def == nullptr || !(def->searchable || def->unique)) continue;
    IndexEntry& e = out.index.emplace_back();
    AppendIndexKey(keyring, collection.name, *def, f.value, id, e.key);
    if (def->unique) e.value = id;
    e.unique = def->unique;
    e.field = pos;
  }
}

std::vector<std::string> IndexKeysOf(const Keyring& keyring, const schema::Collection& collection,
                                     const Record& record) {
  std::vector<std::string> keys;
  for (const FieldValue& f : record.fields) {
    size_t pos = 0;
    const schema::FieldDef* def = FieldDefOf(collection, f.name, &pos);
    if (def == nullptr || !(def->searchable || def->unique)) continue;
    std::string key;
    AppendIndexKey(keyring, collection.name, *def, f.value, record.id, key);
    keys.push_back(std::move(key));
  }
  return keys;
}

}  // namespace coffre::vault
