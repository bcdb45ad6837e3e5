// Key and value formats of the vault's spaces (docs/key-hierarchy.md).
// Internal to the vault module: nothing else may depend on them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "crypto/crypto.h"

namespace coffre::vault::layout {

inline constexpr char kFormatV1 = 0x01;

// meta space
inline constexpr std::string_view kMetaFormat = "format";
inline constexpr std::string_view kMetaVaultId = "vault_id";
inline constexpr std::string_view kMetaSchema = "schema";
inline constexpr std::string_view kMetaKeyCheck = "kcv";
// absent or "file": a key file; "pkcs11:..." a token key (vault/master_key.h)
inline constexpr std::string_view kMetaKeySource = "key_source";
// count (u64 BE) || chained hash of the applied journal entries
inline constexpr std::string_view kMetaErasuresApplied = "erasures_applied";
// The same for one node of a cluster: "erasures_applied/<node id>".
inline std::string ErasuresAppliedKey(std::string_view node_id) {
  std::string k(kMetaErasuresApplied);
  if (!node_id.empty()) {
    k += '/';
    k += node_id;
  }
  return k;
}
// present while an erasure's compaction has not completed
inline constexpr std::string_view kMetaCompactionPending = "erasure_compaction_pending";
inline constexpr std::string_view kImportDirPrefix = "import-tmp-";
inline constexpr std::string_view kKeyringPrefix = "keyring/";

inline std::string KeyringMetaKey(std::string_view name) {
  std::string k(kKeyringPrefix);
  k += name;
  return k;
}

inline std::string KeyringAad(std::string_view vault_id, std::string_view name) {
  std::string aad = "coffre.kr.v1";
  AppendLengthPrefixed(aad, vault_id);
  AppendLengthPrefixed(aad, name);
  return aad;
}

inline std::string KeyCheckMessage(std::string_view vault_id) {
  std::string m = "coffre.kcv.v1";
  m += vault_id;
  return m;
}

inline std::string BlindKeyName(std::string_view collection, std::string_view field) {
  std::string n = "blind.";
  n += collection;
  n += '.';
  n += field;
  n += ".1";
  return n;
}

inline constexpr std::string_view kKekName = "kek.1";
inline constexpr uint32_t kKekVersion = 1;
inline constexpr std::string_view kApiKeyHashName = "apikey.1";
inline constexpr std::string_view kPepperName = "pepper.1";
inline constexpr std::string_view kAuditSignName = "audit.sign.1";
inline constexpr std::string_view kSecretsName = "secrets.1";
// Keyed BLAKE2b of card numbers (src/cards, docs/cards.md).
inline constexpr std::string_view kCardHashName = "cardhash.1";
inline constexpr std::string_view kCredentialTokenName = "credential.token.1";

// meta space: configuration ("config/" + name, plain) and small secrets
// ("secret/" + name, sealed under the secrets key with SecretAad).
inline constexpr std::string_view kConfigPrefix = "config/";
inline constexpr std::string_view kSecretPrefix = "secret/";
inline std::string SecretAad(std::string_view vault_id, std::string_view name) {
  std::string aad = "coffre.secret.v1";
  AppendLengthPrefixed(aad, vault_id);
  AppendLengthPrefixed(aad, name);
  return aad;
}

// keys space: subject || collection
inline void AppendDataKeyKey(std::string& k, std::string_view subject,
                             std::string_view collection) {
  k += subject;
  k += collection;
}
inline std::string DataKeyKey(std::string_view subject, std::string_view collection) {
  std::string k;
  k.reserve(subject.size() + collection.size());
  k += subject;
  k += collection;
  return k;
}

inline void AppendDataKeyAad(std::string& aad, std::string_view subject,
                             std::string_view collection) {
  aad += "coffre.dk.v1";
  AppendLengthPrefixed(aad, subject);
  AppendLengthPrefixed(aad, collection);
}

// records space: lp(collection) || record_id
inline void AppendRecordKey(std::string& k, std::string_view collection,
                            std::string_view record_id) {
  AppendLengthPrefixed(k, collection);
  k += record_id;
}
inline std::string RecordKey(std::string_view collection, std::string_view record_id) {
  std::string k;
  AppendLengthPrefixed(k, collection);
  k += record_id;
  return k;
}

inline void AppendRecordAad(std::string& aad, std::string_view collection,
                            std::string_view record_id, std::string_view subject,
                            uint32_t schema_version) {
  aad += "coffre.rec.v1";
  AppendLengthPrefixed(aad, collection);
  AppendLengthPrefixed(aad, record_id);
  AppendLengthPrefixed(aad, subject);
  AppendBigEndian32(aad, schema_version);
}

// Record value header: format(1) || subject(16) || schema_version(4) || sealed
inline constexpr size_t kRecordHeaderBytes = 1 + kIdBytes + 4;

// subjects space: subject || lp(collection) || record_id
inline void AppendMemberKey(std::string& k, std::string_view subject, std::string_view collection,
                            std::string_view record_id) {
  k += subject;
  AppendLengthPrefixed(k, collection);
  k += record_id;
}
inline std::string MemberKey(std::string_view subject, std::string_view collection,
                             std::string_view record_id) {
  std::string k(subject);
  AppendLengthPrefixed(k, collection);
  k += record_id;
  return k;
}

// subjects space, value: the record's last activity, unix seconds (u64 BE),
// written with every write of the record (docs/retention.md). Empty in
// vaults written before it was tracked.
inline std::string MemberValue(int64_t last_activity) {
  std::string v;
  AppendBigEndian64(v, static_cast<uint64_t>(last_activity));
  return v;
}

// Splits a membership key of `subject` (16 bytes) into collection and record
// id; false if malformed.
inline bool ParseMemberKey(std::string_view key, std::string_view& collection,
                           std::string_view& record_id) {
  if (key.size() < kIdBytes) return false;
  std::string_view rest = key.substr(kIdBytes);
  if (!ReadLengthPrefixed(rest, collection) || rest.size() != kIdBytes) return false;
  record_id = rest;
  return true;
}

// index space: lp(collection) || lp(field) || blind [|| record_id]
inline std::string IndexPrefix(std::string_view collection, std::string_view field,
                               std::string_view blind) {
  std::string k;
  AppendLengthPrefixed(k, collection);
  AppendLengthPrefixed(k, field);
  k += blind;
  return k;
}

// Lock names of a shared store's transactions (storage::Transaction::Lock,
// docs/adr/0044-unique-and-erasure-across-nodes.md): what a writer reads and
// then writes, taken in sorted order ("k/" < "r/" < "u/").
// A unique value: "u/<collection>/<field>/<hex of its blind index>".
inline std::string UniqueLockName(std::string_view collection, std::string_view field,
                                  std::string_view blind) {
  std::string n = "u/";
  n += collection;
  n += '/';
  n += field;
  n += '/';
  n += ToHex(blind);
  return n;
}
// The blind value at the end of a unique index key (no record id follows).
inline std::string_view UniqueKeyBlind(std::string_view key) {
  return key.substr(key.size() - crypto::kBlindBytes);
}
// A record: "r/<collection>/<hex record id>".
inline std::string RecordLockName(std::string_view collection, std::string_view record_id) {
  std::string n = "r/";
  n += collection;
  n += '/';
  n += ToHex(record_id);
  return n;
}
// A (subject, collection) data key: "k/<collection>/<hex subject>".
inline std::string DataKeyLockName(std::string_view subject, std::string_view collection) {
  std::string n = "k/";
  n += collection;
  n += '/';
  n += ToHex(subject);
  return n;
}

}  // namespace coffre::vault::layout
