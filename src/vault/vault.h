// The vault: typed, encrypted personal records on a Store. The core API that
// the CLI (and later the HTTP API) are thin front ends over.
//
//   auto v = Vault::Open({.dir = "demo", .key_file = "demo.key"});
//   if (!v) return v.error();
//   auto ids = (*v)->Put("people", {{"email", schema::Input::String("a@b.fr")}, ...});
//   auto rec = (*v)->Get("people", ids->record_id);
//   auto hits = (*v)->Find("people", "email", schema::Input::String("A@B.FR"));
//   COFFRE_TRY((*v)->EraseSubject(ids->subject));
//
// Every row is first checked against the schema's rules on whole rows (a
// card security code is refused: schema/security_code.h), whatever the
// front end; then every personal value is validated and normalised by its
// schema type, then
// sealed with the (subject, collection) data key; searchable fields get a
// blind index entry. Formats: docs/key-hierarchy.md. Ids are raw 16 bytes in
// this API; front ends show them as hex. Erasing a subject also runs the
// erasers that modules registered at open (vault/eraser.h), in one batch.
//
// Thread-safety: a Vault is safe for concurrent use. Writes that check
// unique constraints are serialised inside the vault.
// Ownership: the Vault owns its Store (opened by OpenOptions::store, RocksDB
// by default, whose Open takes the directory's lock).
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "crypto/crypto.h"
#include "schema/schema.h"
#include "storage/space_handle.h"
#include "storage/store.h"
#include "vault/eraser.h"
#include "vault/erasure_journal.h"
#include "vault/id_source.h"
#include "vault/key_shares.h"
#include "vault/keyring.h"

namespace coffre::vault {

struct InitOptions {
  std::string dir;
  std::string schema_path;
  std::string key_file;         // created; must not exist
  std::string erasure_journal;  // created; must not exist; empty: none (tests)
  // Written in the same batch as the vault (see PutConfig and PutSecret).
  std::vector<std::pair<std::string, std::string>> config;
  std::vector<std::pair<std::string, std::string>> secrets;
  // Opens the store the vault is created in (ADR 0025), asked for
  // {dir, create_if_missing}. Empty: RocksDB in `dir`. A shared store
  // (a cluster's database) that already holds a vault is refused,
  // kAlreadyExists, even against another init at the same moment; `dir`
  // then holds no data, only what the caller puts there.
  storage::StoreOpener store = nullptr;
  // A PKCS#11 URI (RFC 7512, docs/key-hierarchy.md): the master key is that
  // token key, created when absent, and key_file is not used.
  std::string key_pkcs11;
};

struct InitResult {
  std::string vault_id;  // raw
};

struct OpenOptions {
  std::string dir;
  std::string key_file;
  // The master key itself, instead of `key_file`: recombined from Shamir
  // shares by a sealed server (vault/key_shares.h). Borrowed for Open only.
  const crypto::SecretKey* master_key = nullptr;
  // The vault's master key is in a PKCS#11 token: its URI (key_file is then
  // not used). A vault records its key source; the other kind is refused.
  std::string key_pkcs11;
  // Erasure journal (outside the data directory and its backups); empty
  // disables it (tests only).
  std::string erasure_journal;
  bool read_only = false;
  bool disable_compression_everywhere = false;  // for plaintext-at-rest tests
  size_t write_buffer_bytes = 64u << 20;
  // storage::RocksOptions::row_cache_bytes (the server turns it on).
  size_t row_cache_bytes = 0;
  // Stamps last activity (retention) and the erasure journal. Not owned;
  // must outlive the vault. nullptr: the system clock.
  Clock* clock = nullptr;
  // What modules add to a subject's erasure and replay from the erasure
  // journal (vault/eraser.h), run in this order after the vault's own
  // records. Not owned; must outlive the vault. Names and journal kinds
  // must be distinct (kInvalidArgument).
  std::vector<Eraser*> erasers;
  // Opens the vault's store, as LevelDB's DB takes its Env (ADR 0025):
  // asked for {dir, read_only}; the vault owns what it returns. Empty:
  // RocksDB in `dir` with the options above (which only it reads), as
  // `coffre` always does. Tests pass storage::MemoryStoreOpener.
  storage::StoreOpener store = nullptr;
  // A cluster node's id (cluster/node.h), on a shared store; empty for an
  // embedded vault. Each node has its own erasure journal (beside its
  // directory), so the count of journal entries applied is kept per node
  // (docs/adr/0040-cluster-nodes.md).
  std::string node_id;
};

// A field as given by a caller, before validation.
using NamedInput = std::pair<std::string_view, schema::Input>;

struct FieldValue {
  std::string name;
  std::string value;  // canonical form
};

struct Record {
  std::string collection;
  std::string id;                  // raw 16 bytes
  std::string subject;             // raw 16 bytes
  std::vector<FieldValue> fields;  // schema order
};

struct RecordRef {
  std::string id;
  std::string subject;
};

struct EraseResult {
  size_t records = 0;
  size_t keys = 0;
  // What each registered eraser removed, by its name, in registration order.
  std::vector<std::pair<std::string, size_t>> by_eraser;
  // The count of the eraser named `name`; 0 when there is none.
  size_t Count(std::string_view name) const {
    for (const auto& [n, count] : by_eraser) {
      if (n == name) return count;
    }
    return 0;
  }
};

// When a deletion's entries leave the store's files (ADR 0004). kDeferred
// is for a caller that deletes many and calls CompactDeleted once after.
enum class Compaction { kNow, kDeferred };

// A page of a walk that must not stop at one bad record (the retention
// sweep): records that opened, and apart those that did not.
struct RecordPage {
  std::vector<Record> records;
  std::vector<std::string> unreadable;  // ids that fail to open (kDataLoss), left in place
  size_t gone = 0;                      // deleted or erased between the scan and the open
  std::string last;                     // id of the last entry scanned: the next page's `after`
  bool more = false;                    // `limit` entries scanned: there may be more
};

class Vault {
 public:
  static Result<InitResult> Init(const InitOptions& options);
  static Result<std::unique_ptr<Vault>> Open(const OpenOptions& options);
  ~Vault();

  const schema::Schema& schema() const { return schema_; }
  const std::string& vault_id() const { return vault_id_; }
  const std::string& dir() const { return options_.dir; }
  // The whole store and keyring: for the vault's own parts (the importer),
  // the composition root (src/app), and tests that inspect raw entries.
  // Modules get a handle on their own spaces (Grant) and the keys the
  // composition root hands them, never these (ADR 0025; tests/module_seams_test
  // checks it).
  storage::Store& store() { return *store_; }
  const Keyring& keyring() const { return keyring_; }
  // A handle on spaces that a module owns, for the composition root to give
  // it: read-write `writable`, and `read_only` for reading. The vault's own
  // spaces (meta, keys, records, index, subjects, archive) are never
  // granted: asking for them is a bug, kInternal.
  Result<storage::SpaceHandle> Grant(const char* module, storage::SpaceSet writable,
                                     storage::SpaceSet read_only = 0);
  IdSource& ids() { return ids_; }
  Clock& clock() const { return *clock_; }
  // Serialises writers that check unique constraints (Put, erasure,
  // rotation, bulk import).
  std::unique_lock<std::mutex> LockWrites() { return std::unique_lock(write_mu_); }

  // Validates every field (security code first, then unknown, duplicate,
  // missing required, type rule)
  // before writing anything. `subject` (raw) attaches the record to an
  // existing person; otherwise a new subject is created.
  Result<RecordRef> Put(std::string_view collection, const std::vector<NamedInput>& fields,
                        std::optional<std::string> subject = std::nullopt);

  // kNotFound when absent (or erased); kDataLoss when it fails to open.
  Result<Record> Get(std::string_view collection, std::string_view record_id);

  // Changes some fields of a record and returns it as stored. Each change is
  // validated like Put's; a null or empty value removes an optional field.
  // The record keeps its id, subject and data key; its index entries move
  // with the values; unique fields are checked. kNotFound when absent.
  // A card security code is looked for first in the changes, then in the
  // record as it would be (stored fields overlaid with the changes), so that
  // a pan and a lone 3-4 digit value written in two updates are refused.
  Result<Record> Update(std::string_view collection, std::string_view record_id,
                        const std::vector<NamedInput>& changes);

  // Deletes one record with its index entries and membership, in one batch.
  // When it was the subject's last record in this collection, the (subject,
  // collection) data key is shredded in the same batch. The deletion is
  // journalled first (CommitDeletion), so a restored backup does not bring
  // the record back; with Compaction::kNow its bytes are gone from the
  // store's files on return (CompactDeleted). kNotFound when absent.
  Status DeleteRecord(std::string_view collection, std::string_view record_id,
                      Compaction when = Compaction::kNow);

  // The data key of (subject, collection), nullopt when the subject has
  // none there yet. The bulk importer attaches rows to existing subjects
  // with it (--subject-key). kDataLoss when the stored key does not open.
  Result<std::optional<crypto::SecretKey>> FindDataKey(std::string_view subject,
                                                       std::string_view collection);

  // Equality search on a searchable field; the value is normalised first.
  Result<std::vector<RecordRef>> Find(std::string_view collection, std::string_view field,
                                      const schema::Input& value, size_t limit = SIZE_MAX);

  // All records of a subject, across collections (online ones; kNotFound
  // when the subject has no record, online or archived).
  Result<std::vector<Record>> ExportSubject(std::string_view subject);
  // The subject's archived records (docs/retention.md); empty when none.
  Result<std::vector<Record>> ArchivedOfSubject(std::string_view subject);

  // Up to `limit` records of `collection` whose ids sort after `after`
  // (empty: from the first), in id order. A bulk export pages through a
  // collection with it, so that memory stays bounded whatever its size.
  Result<std::vector<Record>> ListRecords(std::string_view collection, std::string_view after,
                                          size_t limit);

  // ---- Retention (docs/retention.md) ----
  // Every write of a record (Put, Update, bulk import) stamps its last
  // activity: the membership entry's value is the write's time (the
  // vault's clock, unix seconds). Reads do not count. nullopt for a record
  // written before coffre tracked it; kNotFound when there is no such
  // record, online or archived.
  Result<std::optional<int64_t>> LastActivity(std::string_view subject, std::string_view collection,
                                              std::string_view record_id);
  // Whether the subject has any record, online or archived.
  Result<bool> HasSubject(std::string_view subject);
  // Stamps `when` as the last activity of a record that has none (records
  // older than the tracking); a stamped one is left as it is.
  Status StampUnknownActivity(std::string_view subject, std::string_view collection,
                              std::string_view record_id, int64_t when);

  // Moves a record out of the online base into the archive space, in one
  // batch: its sealed form is kept as is (same data key, same associated
  // data), its index entries are deleted, its membership (and so its data
  // key and last activity) stays. Get, Find and ListRecords no longer see
  // it; GetArchived does. kNotFound when it is not online.
  Status ArchiveRecord(std::string_view collection, std::string_view record_id);
  Result<Record> GetArchived(std::string_view collection, std::string_view record_id);
  // ListRecords over the archive.
  Result<std::vector<Record>> ListArchived(std::string_view collection, std::string_view after,
                                           size_t limit);
  // ListRecords (archived false) or ListArchived (true), without stopping
  // at a record that does not open (RecordPage).
  Result<RecordPage> WalkRecords(std::string_view collection, bool archived, std::string_view after,
                                 size_t limit);
  // DeleteRecord for an archived record: shreds the (subject, collection)
  // data key with the subject's last record there, online or archived.
  Status DeleteArchived(std::string_view collection, std::string_view record_id,
                        Compaction when = Compaction::kNow);
  // Compacts the spaces deleted entries lived in and rolls the MANIFEST, so
  // that shredded keys and records are physically gone from the directory
  // (ADR 0004). Batched: concurrent callers share one compaction that
  // started after their deletions were written. Clears the compaction
  // pending flag when no deletion came in meanwhile.
  Status CompactDeleted();

  // Every deletion of personal data goes through here: journals `entries`
  // (appended and fsynced to the erasure journal), then writes `batch` with
  // the journal's applied count and chain and the compaction pending flag,
  // so that a crash or a restored backup replays the deletion at the next
  // open. The caller then compacts (CompactDeleted). Modules journal their
  // own deletions here too (JournalEntry::Module, of a kind a registered
  // eraser declares: kInvalidArgument otherwise). Safe from many threads.
  Status CommitDeletion(const std::vector<JournalEntry>& entries, storage::WriteBatch& batch);

  // Crypto-shredding: journals the erasure, deletes the subject's data keys,
  // records and index entries, and what every registered eraser adds (the
  // payment cards attached to the subject, its legal hold...), in one batch,
  // then compacts. An eraser's error leaves everything in place.
  // kNotFound when nothing at all is stored about the subject.
  Result<EraseResult> EraseSubject(std::string_view subject);

  // Writes a new key file, re-seals the keyring under it and updates the
  // key-check value in one batch, then compacts the meta space so that the
  // entries sealed under the old key leave the files. Records are not
  // rewritten. With an empty `new_key_file` the key file in use is replaced
  // in place (docs/adr/0016-every-deletion-journalled-and-compacted.md): the new key is
  // written to KEY.new, the rotation committed, the old key file linked to
  // KEY.old-<UTC time> (returned in `retired`) and KEY.new renamed over KEY;
  // Open finishes a rotation a crash interrupted.
  // On a vault whose key is in a PKCS#11 token, `new_key_file` must be
  // given: it moves the master key out of the token into that file.
  Result<size_t> RotateMasterKey(const std::string& new_key_file, std::string* retired = nullptr);
  // The same, under the token key `uri` names (created when absent): from a
  // token key, or from a key file (which is then retired as KEY.old-<UTC
  // time>, returned in `retired`). kAlreadyExists when that key already
  // opens the vault. The old token key is left in its token.
  Result<size_t> RotateMasterKeyToToken(const std::string& uri, std::string* retired = nullptr);
  // "file" or "pkcs11:<token and object>" (docs/key-hierarchy.md).
  std::string key_source();

  // ---- Key custody: Shamir shares (docs/key-custody.md) ----
  // The vault's share set; nullopt when its key is a file.
  Result<std::optional<ShareSet>> share_set();
  // Splits the master key into shares of `threshold` of recipients.size(),
  // each sealed to its recipient, written into the directory `out_fd`
  // (named `out_name`) all or none (WriteShareFiles), then records the
  // share set (meta key_shares) and removes the key file, with its
  // directory fsynced. kFailedPrecondition when the key is already split
  // (rotate instead). Returns the paths written.
  Result<std::vector<std::string>> SplitMasterKey(unsigned threshold,
                                                  const std::vector<std::string>& recipients,
                                                  int out_fd, const std::string& out_name);
  // keys rotate on a vault whose key is split: a new master key, split into
  // a new generation of shares written as SplitMasterKey does; the keyring
  // re-sealed under it, kcv and the share set in one batch (files removed
  // if it fails); then the meta space compacted. Returns the paths written
  // and, in `rewrapped`, the keyring entries re-sealed.
  Result<std::vector<std::string>> RotateMasterKeyToShares(
      unsigned threshold, const std::vector<std::string>& recipients, int out_fd,
      const std::string& out_name, size_t* rewrapped);

  // Configuration that is not secret (the policy text, the TLS
  // certificate), by name. Durable on return.
  Status PutConfig(std::string_view name, std::string_view value);
  Result<std::optional<std::string>> GetConfig(std::string_view name);
  // Small secrets (the TLS private key), sealed under the keyring's
  // secrets key; kDataLoss if the stored form does not open.
  Status PutSecret(std::string_view name, std::string_view plaintext);
  Result<std::optional<std::string>> GetSecret(std::string_view name);
  // Configuration and secrets replaced together, in one durable batch: all
  // of them or none (`coffre tls set`: a certificate and its key).
  Status PutSettings(const std::vector<std::pair<std::string, std::string>>& config,
                     const std::vector<std::pair<std::string, std::string>>& secrets);

  // Validates and normalises a record's fields into schema order; a row
  // holding a card security code is refused first (kInvalidArgument naming
  // the rule, never the value).
  Result<std::vector<FieldValue>> Validate(const schema::Collection& collection,
                                           const std::vector<NamedInput>& fields) const;
  // The same into `out`, reusing its elements' buffers (the bulk importer
  // validates millions of rows with one vector). `out` is unspecified on error.
  [[nodiscard]] Status ValidateInto(const schema::Collection& collection,
                                    const std::vector<NamedInput>& fields,
                                    std::vector<FieldValue>& out) const;

 private:
  Vault() = default;
  Result<crypto::SecretKey> LoadDataKey(std::string_view subject, std::string_view collection);
  Result<Record> OpenRecord(std::string_view collection, std::string_view record_id,
                            std::string_view value);
  Result<std::vector<Record>> ListIn(storage::Space space, const schema::Collection& c,
                                     std::string_view after, size_t limit);
  // Up to `limit` (id, stored value) pairs of `c` in `space` after `after`.
  Result<std::vector<std::pair<std::string, std::string>>> ScanPage(storage::Space space,
                                                                    const schema::Collection& c,
                                                                    std::string_view after,
                                                                    size_t limit);
  // The subject's records found in `space` (records or archive), and
  // whether it has any membership at all.
  Result<std::vector<Record>> RecordsOfSubject(std::string_view subject, storage::Space space,
                                               bool* known);
  // Adds to `batch` the deletion of the membership of (subject, collection,
  // record) and of the data key when no other record of the subject in the
  // collection needs it.
  Status DeleteMembership(storage::WriteBatch& batch, std::string_view subject,
                          std::string_view collection, std::string_view record_id);
  Status ReplayErasureJournal();
  Status FinishPendingCompaction();
  // Adds the deletion of every entry of `subject` to `batch`: the vault's
  // own, then each eraser's.
  Result<EraseResult> CollectErasure(std::string_view subject, storage::WriteBatch& batch);
  // The eraser that declares the kind of `entry`, or null.
  Eraser* EraserOf(const JournalEntry& entry) const;
  // Adds the deletion of a record (online or archived) to `batch`; false
  // when there is none.
  Result<bool> CollectRecordDeletion(std::string_view collection, std::string_view record_id,
                                     storage::WriteBatch& batch);
  Status CompactNow();
  // The meta key holding how much of this vault's (or node's) erasure
  // journal the store holds.
  std::string AppliedKey() const;
  // Re-seals the keyring under `next`, writes its key check and source in
  // one batch, and makes it the master key. Under write_mu_. `written`:
  // the batch was handed to the store (after which it may have landed).
  Status Rekey(std::unique_ptr<MasterKey> next, size_t* count, bool* written);

  OpenOptions options_;
  std::unique_ptr<storage::Store> store_;
  schema::Schema schema_;
  std::string vault_id_;
  std::unique_ptr<MasterKey> master_;
  Keyring keyring_;
  IdSource ids_;
  std::mutex write_mu_;
  Clock* clock_ = nullptr;
  // From the options' erasers: every journal kind they declare, and the
  // spaces a deletion may touch (the vault's and theirs).
  std::vector<JournalKind> journal_kinds_;
  std::vector<storage::Space> deleted_spaces_;

  // The erasure journal as this vault last wrote it (CommitDeletion): its
  // size, entry count and chain, so that an append does not re-read it.
  std::mutex journal_mu_;  // innermost lock: taken under write_mu_ and modules' locks
  bool journal_known_ = false;
  // A deletion was journalled but its store write failed (under journal_mu_).
  bool deletion_uncommitted_ = false;
  uint64_t journal_size_ = 0;
  uint64_t journal_count_ = 0;
  std::string journal_chain_;
  uint64_t deletions_ = 0;  // deletions committed, under journal_mu_

  // CompactDeleted's batching.
  std::mutex compact_mu_;
  std::condition_variable compact_cv_;
  uint64_t compact_requested_ = 0;
  uint64_t compact_done_ = 0;
  bool compact_running_ = false;
};

// Whether `store` holds a vault (its format entry). `coffre join` checks a
// database before it joins; Init on a shared store refuses one that does
// (kAlreadyExists), in the transaction that writes the new vault.
Result<bool> StoreHoldsVault(storage::Store& store);

// Master key rotation in place (Vault::RotateMasterKey, ADR 0016): the new
// key file is written to PendingKeyFile(KEY) = KEY.new; once the rotation
// is committed, FinishKeyFileRotation links KEY to KEY.old-<UTC time>
// (returned in `retired`) and renames KEY.new over KEY.
std::string PendingKeyFile(const std::string& key_file);
[[nodiscard]] Status FinishKeyFileRotation(const std::string& key_file, int64_t unix_seconds,
                                           std::string* retired);

// Encodes a record's fields as the sealed plaintext, and back.
void EncodeFields(const std::vector<FieldValue>& fields, std::string& out);
Result<std::vector<FieldValue>> DecodeFields(std::string_view plaintext);

}  // namespace coffre::vault
