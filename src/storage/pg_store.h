// The PostgreSQL store: the Store contract on a PostgreSQL 15 database
// through libpq, for the nodes of a cluster (docs/adr/0039-postgresql-store.md).
// Any number of processes open the same database at once: shared() is true,
// NowMicros() is the database's clock, and Transact serialises
// read-modify-writes of all of them under named advisory locks.
//
//   auto store = storage::OpenPgStore(
//       {.url = "postgresql://coffre@db1:5432,db2:5432/coffre?target_session_attrs=read-write",
//        .create_if_missing = true});
//   if (!store) return store.error();
//   // ... then a vault on it (vault::OpenOptions::store):
//   //   .store = storage::PgStoreOpener(url)
//
// One table per Space (coffre_meta, coffre_records, ...: k bytea primary
// key, v bytea), created by create_if_missing in the connecting role's
// default schema; no extension and no superuser needed, only a role owning
// the database. The URL is a libpq connection URI without a password: the
// password comes from a passfile (PGPASSFILE), a service file, or a client
// certificate is used (CheckStoreUrl refuses a URL holding a secret).
//
// Errors: kIoError when the server cannot be reached, or when a write's
// commit outcome is unknown (the connection broke while it was committing:
// it may or may not have landed); the store then reconnects by itself on
// the next call (with several hosts and target_session_attrs=read-write,
// libpq finds the new primary after a failover). kNotFound when the
// database holds no coffre tables and create_if_missing is false.
//
// Thread-safety: a store is safe for concurrent use by many threads; each
// call takes a connection of its own from a pool. A scan's visitor may call
// the store (it then uses another connection).
// Ownership: the caller owns the store; batches must not outlive it.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "storage/store.h"

namespace coffre::storage {

struct PgOptions {
  // A libpq connection URI: postgresql://coffre@127.0.0.1:5432/coffre.
  std::string url;
  // Connections kept open when idle. More are opened while more calls run
  // at once (scans whose visitor calls the store, bursts) and closed when
  // they end.
  int pool_size = 8;
  std::string application_name = "coffre";
  // Creates the tables that do not exist (every space's); without it, a
  // database without coffre's tables gives kNotFound.
  bool create_if_missing = false;
  // Answers reads; refuses Write, Transact's commits, CompactSpace,
  // SyncWal and ingestion with kFailedPrecondition.
  bool read_only = false;
};

// Connects and checks (or creates) the tables. kInvalidArgument for a bad
// URL (see CheckStoreUrl); kIoError when no server answers or login fails;
// kNotFound "no vault in the database at <url>" without tables and without
// create_if_missing. Messages name the URL without its query.
[[nodiscard]] Result<std::unique_ptr<Store>> OpenPgStore(const PgOptions& options);

// kInvalidArgument unless `url` is a libpq URI (postgresql:// or
// postgres://) without a password (nor a client key's passphrase): a URL
// sits in argv and config files. The message names the problem and never
// repeats the URL's secret.
[[nodiscard]] Status CheckStoreUrl(std::string_view url);

// A StoreOpener (store.h) that opens the PostgreSQL store at `url`,
// honouring the request's create_if_missing and read_only and ignoring its
// path (a node's directory holds no data).
StoreOpener PgStoreOpener(std::string url);

}  // namespace coffre::storage
