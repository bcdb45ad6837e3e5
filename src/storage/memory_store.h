// An in-memory Store: the whole Store contract (spaces, atomic batches,
// ordered scans, sorted-file ingestion) on ordered maps, with no file. For
// tests that need a vault but no files, and for tools; it passes the
// conformance suite (memory_store_test.cc).
//
//   auto data = storage::NewMemoryData();            // outlives each opening
//   auto store = storage::OpenMemoryStore({.data = data});
//   if (!store) return store.error();
//   // ... then, e.g., a vault on it:
//   vault::OpenOptions o{.dir = dir, .key_file = key,
//                        .store = storage::MemoryStoreOpener(data)};
//
// A MemoryData plays the part of a data directory: stores opened on it
// share its entries, and what one wrote is there for the next opening (the
// "reopen" of the conformance suite). Like a RocksDB directory it has one
// writer at a time: a second writable opening fails with
// kFailedPrecondition until the first store is destroyed. A read-only
// store sees the data as of its opening (it copies it) and refuses writes.
//
// Differences from RocksDB, by design: nothing survives the process; Sync,
// Flush and CompactSpace have nothing to do (a deleted entry leaves the map
// at once, though its bytes may linger in freed heap memory: never hold
// real personal data here); a scan copies the range it visits, under the
// lock, then visits it unlocked, so a visitor may call the store (and sees
// the data as of the scan's start, like a RocksDB iterator).
//
// Thread-safety: a store is safe for concurrent use (one shared_mutex per
// MemoryData: reads share it, writes take it alone). A WriteBatch belongs
// to one thread until written.
// Ownership: each store and MemoryStoreOpener holds a reference to its
// MemoryData; batches must not outlive their store.
#pragma once

#include <memory>

#include "common/status.h"
#include "storage/store.h"

namespace coffre::storage {

class MemoryData;

// A new, empty data set.
std::shared_ptr<MemoryData> NewMemoryData();

struct MemoryOptions {
  std::shared_ptr<MemoryData> data;  // required
  bool read_only = false;
  // Plays a shared store (the nodes of a cluster, in one process): any
  // number of writable stores may be open on the data at once, shared()
  // is true, and Transact serialises the transactions of all of them.
  bool shared = false;
};

// kInvalidArgument without data; kFailedPrecondition when a writable store
// is already open on it (and read_only is false).
[[nodiscard]] Result<std::unique_ptr<Store>> OpenMemoryStore(const MemoryOptions& options);

// A StoreOpener (store.h) that opens stores on `data`, whatever the
// request's path; create_if_missing is accepted either way (a MemoryData is
// always there), read_only is honoured; `shared` as in MemoryOptions.
StoreOpener MemoryStoreOpener(std::shared_ptr<MemoryData> data, bool shared = false);

}  // namespace coffre::storage
