// The Store: coffre's only view of persistence. Ordered keys in a few named
// spaces, atomic batches across spaces, prefix scans, and durable writes.
//
// RocksDB is the embedded default (OpenRocksStore); memory_store.h holds an
// in-memory backend for tests and tools. Every backend passes the
// conformance suite in store_conformance.h. Modules other than the vault see
// a store only through a SpaceHandle (space_handle.h): the spaces they own.
//
//   auto store = OpenRocksStore({.path = dir});
//   if (!store) return store.error();
//   auto batch = (*store)->NewBatch();
//   batch->Put(Space::kRecords, key, value);
//   COFFRE_TRY((*store)->Write(*batch));          // synced: durable on return
//   auto v = (*store)->Get(Space::kRecords, key);  // Result<std::optional<std::string>>
//
// Thread-safety: a Store is safe for concurrent use by many threads. A
// WriteBatch belongs to one thread until it is written.
// Ownership: the caller owns the Store and each batch it creates; batches
// must not outlive their Store.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace coffre::storage {

// Named key spaces (RocksDB column families). Values are stable: they name
// on-disk column families, see docs/storage-layout.md.
enum class Space : uint8_t {
  kMeta = 0,              // vault metadata, keyring (wrapped sub-keys), key-check value
  kKeys = 1,              // wrapped data keys, per (subject, collection)
  kRecords = 2,           // sealed records
  kIndex = 3,             // blind index entries
  kSubjects = 4,          // subject -> records membership
  kAudit = 5,             // audit entries by sequence number, checkpoints
  kAuditByPrincipal = 6,  // (principal, time, seq) -> empty
  kAuditBySubject = 7,    // (subject, time, seq) -> empty
  kPrincipals = 8,        // principals, their credentials (hashed, sealed), lockout state
  kCounters = 9,          // quota counters, suspensions
  kAlerts = 10,           // raised alerts
  kCards = 11,            // payment cards: sealed cards, their wrapped keys, card-hash index
  kCredentials = 12,      // end users' credentials (hashed, sealed), src/credentials
  kArchive = 13,          // archived records (retention), docs/retention.md
  kRetention = 14,        // legal holds (retention), docs/retention.md
};
// One more than the largest value.
inline constexpr int kSpaceCount = 15;
std::string_view SpaceName(Space s);

// A set of spaces, one bit per Space value (SpaceHandle's grants, the
// spaces a batch touches). Values past the last bit all map to it, so that
// a bad space is never taken for a granted one.
using SpaceSet = uint64_t;
constexpr SpaceSet SpaceBit(Space s) {
  return static_cast<uint8_t>(s) < 63 ? SpaceSet{1} << static_cast<uint8_t>(s) : SpaceSet{1} << 63;
}
constexpr SpaceSet Spaces(std::initializer_list<Space> spaces) {
  SpaceSet set = 0;
  for (Space s : spaces) set |= SpaceBit(s);
  return set;
}

// Put and Delete are not virtual: they note the space touched (one OR, so
// that SpaceHandle::Write can check a module's batch against its grant
// without a virtual call per entry) and call the backend's DoPut/DoDelete.
class WriteBatch {
 public:
  virtual ~WriteBatch() = default;
  void Put(Space space, std::string_view key, std::string_view value) {
    touched_ |= SpaceBit(space);
    DoPut(space, key, value);
  }
  void Delete(Space space, std::string_view key) {
    touched_ |= SpaceBit(space);
    DoDelete(space, key);
  }
  virtual size_t Count() const = 0;
  virtual size_t ApproximateBytes() const = 0;
  void Clear() {
    touched_ = 0;
    DoClear();
  }
  // Every space a Put or Delete named since the last Clear.
  SpaceSet touched() const { return touched_; }

 protected:
  virtual void DoPut(Space space, std::string_view key, std::string_view value) = 0;
  virtual void DoDelete(Space space, std::string_view key) = 0;
  virtual void DoClear() = 0;

 private:
  SpaceSet touched_ = 0;
};

// Sorted files destined for one space (Store::IngestAtomically).
struct IngestSet {
  Space space;
  std::vector<std::string> paths;
};

// One file of a consistent copy of a store (Store::CopyLiveFiles).
struct LiveFile {
  // Relative to the store's directory, '/'-separated, e.g. "000012.sst".
  std::string name;
  // Where to read it while the visitor runs; ignored when `contents` is set.
  std::string path;
  // Bytes to copy from the start of `path` (a log or MANIFEST may have grown
  // since the copy's point; only this prefix belongs to it).
  uint64_t size = 0;
  // The file's contents at the copy's point, when the file on disk must not
  // be read (RocksDB's CURRENT).
  std::optional<std::string> contents;
};
using LiveFileVisitor = std::function<Status(const LiveFile& file)>;

// A visitor for scans; return false to stop early.
using ScanVisitor = std::function<bool(std::string_view key, std::string_view value)>;

// A read-modify-write step that must be atomic against every other writer
// of the store, other processes included when the store is shared (the
// PostgreSQL store of a cluster, docs/adr/0039-postgresql-store.md). Handed
// to the body of Store::Transact; valid only during it.
//
//   COFFRE_TRY(store.Transact([&](Transaction& t) -> Status {
//     COFFRE_TRY(t.Lock("u/people/email/" + blind));    // names, in sorted order
//     COFFRE_ASSIGN_OR_RETURN(bool taken, t.Exists(Space::kIndex, prefix));
//     if (taken) return Fail(ErrorCode::kAlreadyExists, "...");
//     t.batch().Put(Space::kIndex, key, "");
//     return Ok();                                       // commits the batch
//   }));
class Transaction {
 public:
  virtual ~Transaction() = default;
  // Takes the exclusive lock `name` until the transaction ends. Locks are
  // names chosen by the caller for what it reads and then writes (a unique
  // value, a principal's quota), not keys; reads made after Lock see every
  // write committed by an earlier holder of the same name. A body taking
  // several names takes them in sorted order. The embedded stores hold one
  // lock for every transaction of the store, so Lock costs nothing there.
  virtual Status Lock(std::string_view name) = 0;
  virtual Result<std::optional<std::string>> Get(Space space, std::string_view key) = 0;
  // Store::Scan, inside the transaction.
  virtual Status Scan(Space space, std::string_view prefix, const ScanVisitor& visit) = 0;
  // True when some key of `space` starts with `prefix`.
  Result<bool> Exists(Space space, std::string_view prefix);
  // The writes, applied atomically (synced) when the body returns Ok, and
  // dropped otherwise.
  virtual WriteBatch& batch() = 0;
};
using TransactionBody = std::function<Status(Transaction& t)>;

class Store {
 public:
  virtual ~Store() = default;

  virtual std::unique_ptr<WriteBatch> NewBatch() = 0;

  // Applies the batch atomically. With sync (the default) the write-ahead log
  // is flushed to stable storage before returning: an acknowledged write
  // survives kill -9 and power loss. Concurrent synced writers share syncs
  // (group commit).
  virtual Status Write(WriteBatch& batch, bool sync = true) = 0;

  // nullopt when the key is absent.
  virtual Result<std::optional<std::string>> Get(Space space, std::string_view key) = 0;

  // Several point lookups in one call; result i answers keys[i]. Backends
  // batch them (RocksDB shares filter and index probes); the default loops.
  virtual Result<std::vector<std::optional<std::string>>> MultiGet(
      Space space, const std::vector<std::string_view>& keys);

  // Visits, in key order, every entry of `space` whose key starts with
  // `prefix` (all entries for an empty prefix).
  virtual Status Scan(Space space, std::string_view prefix, const ScanVisitor& visit) = 0;

  // Visits, in key order, every entry of `space` with begin <= key < end
  // (to the end of the space when `end` is empty). Unlike Scan it starts at
  // an arbitrary key: time windows and sequence ranges (the audit log) seek
  // straight to their first entry. The default scans the common prefix of
  // begin and end and skips what lies before `begin`; backends seek.
  virtual Status ScanRange(Space space, std::string_view begin, std::string_view end,
                           const ScanVisitor& visit);

  // ScanRange for walks over much data that is read once (audit
  // verification, breach reports, bulk exports): the backend keeps none of
  // it in its caches, where it would evict what requests read often and
  // where concurrent walks would contend for the cache's locks. Same
  // results as ScanRange, which the default calls.
  virtual Status ScanRangeOnce(Space space, std::string_view begin, std::string_view end,
                               const ScanVisitor& visit) {
    return ScanRange(space, begin, end, visit);
  }

  // Rewrites the space's files so that deleted entries are physically gone
  // (crypto-shredding relies on it). Blocks until done.
  virtual Status CompactSpace(Space space) = 0;

  // After CompactSpace dropped deleted entries, makes the store's own
  // bookkeeping forget them too: RocksDB's MANIFEST keeps the smallest and
  // largest key of every file it ever listed (blind-index hashes among
  // them), so a fresh MANIFEST is written and the old one deleted (ADR
  // 0004). Backends without such bookkeeping need nothing.
  virtual Status RollManifest() { return Ok(); }

  // Writes all in-memory data to files (used before copying a directory).
  virtual Status Flush() = 0;

  // Makes every write that returned before this call durable, as if it had
  // been written with sync: the write-ahead log is flushed to stable
  // storage. Lets a writer overlap its next batch with the sync of the last
  // (the audit log, ADR 0014). Note: RocksDB shows an unsynced write to
  // readers at once; a writer that needs readers to see only durable data
  // must bound its reads itself. Refused by a read-only store.
  virtual Status SyncWal() = 0;

  // Adds externally built sorted files (see sorted_file_writer.h) to one or
  // more spaces in one atomic step, bypassing the write-ahead log and
  // memtables: the fast path for bulk import. Either every file of every set
  // is visible afterwards or none is, also across a crash. The files are
  // moved (hard-linked, then removed) into the store; on success the paths no
  // longer exist. Within a set, the files' key ranges must not overlap one
  // another; their entries replace existing entries with the same keys.
  // Durable on return.
  //
  // Backends that cannot ingest such files return kFailedPrecondition (the
  // default), and callers fall back to batches.
  virtual Status IngestAtomically(const std::vector<IngestSet>& sets);

  // A consistent copy of a store that keeps serving (online backup,
  // docs/backup.md): the backend fixes a point in time, at or after every
  // write that returned before the call, and keeps the files making up
  // that point in place while `copy` visits each of them once; the files
  // copied as described open as the store did at that point. `copy`
  // failing stops the walk with its error. Returns when the files are no
  // longer pinned. Backends without files (the in-memory store) return
  // kFailedPrecondition (the default). Refused by a read-only store.
  virtual Status CopyLiveFiles(const LiveFileVisitor& copy);

  // Runs `body` in a transaction (see Transaction) and commits its batch
  // when it returns Ok; its error otherwise, with nothing written. A
  // shared store may run the body more than once (a deadlock between
  // nodes' locks): the body must only read through `t` and write through
  // t.batch(). kIoError when the store cannot be reached, or the
  // commit's outcome is unknown (the connection broke during it). The
  // default (embedded stores) runs every transaction of this Store under
  // one mutex; a process opens an embedded store once, so that is enough.
  virtual Status Transact(const TransactionBody& body);

  // True when other processes may write this store at the same time (the
  // nodes of a cluster): state kept in memory (quotas, sessions, caches)
  // must then live in the store. False for RocksDB and the memory store.
  virtual bool shared() const { return false; }

  // Microseconds since the Unix epoch by the store's clock: the database
  // server's for a shared store, so that the entries of every node are
  // ordered by one clock (audit entry times); the system clock otherwise.
  virtual Result<int64_t> NowMicros();

  // IngestAtomically with a single set.
  Status IngestSortedFiles(Space space, const std::vector<std::string>& paths) {
    return IngestAtomically({IngestSet{space, paths}});
  }

 protected:
  // The default Transact, holding `mu` for the whole transaction (the
  // shared memory store passes one mutex for all stores on its data).
  Status TransactUnder(std::mutex& mu, const TransactionBody& body);

 private:
  std::mutex transact_mu_;  // the default Transact's
};

// What the opener of a store asks for (vault::Vault::Init and Open).
struct StoreRequest {
  std::string path;  // the vault's data directory
  bool create_if_missing = false;
  bool read_only = false;
};

// Opens a store: how a vault takes its store from its caller, as LevelDB's
// DB takes its Env (vault::OpenOptions::store, ADR 0025). Backends offer one
// (MemoryStoreOpener); the vault's default opens RocksDB at request.path.
// Returns the errors of the backend's open (see OpenRocksStore).
using StoreOpener = std::function<Result<std::unique_ptr<Store>>(const StoreRequest& request)>;

struct RocksOptions {
  std::string path;
  bool create_if_missing = false;
  // Opens an existing directory without writing to it.
  bool read_only = false;
  // Tests that search files for plaintext set this; ciphertext spaces are
  // never compressed anyway (it does not compress).
  bool disable_compression_everywhere = false;
  // Larger memtables for bulk import.
  size_t write_buffer_bytes = 64u << 20;
  // RocksDB's row cache: point lookups that hit it skip the index, filter and
  // data blocks (a cached Vault::Get costs ~5 us instead of ~13 us). 0: off.
  // It holds values as stored (ciphertext, wrapped keys), like the block
  // cache; a deleted key is never served from it, since the tombstone sits
  // in a newer memtable or file and is found first.
  size_t row_cache_bytes = 0;
};

// Opens (or, with create_if_missing, creates) the RocksDB store at
// options.path. Errors name the path, never data:
//   kNotFound           no directory (or an empty one) and !create_if_missing:
//                       "no vault at PATH"
//   kFailedPrecondition the directory holds something that is not a coffre
//                       store, or another process has it open ("data
//                       directory is in use by another coffre process")
//   kDataLoss / kIoError corrupt files / file system failure
// A read-only store answers Get and Scan and refuses Write, CompactSpace,
// Flush and IngestSortedFiles with kFailedPrecondition; it sees the data as
// of its opening.
Result<std::unique_ptr<Store>> OpenRocksStore(const RocksOptions& options);

}  // namespace coffre::storage
