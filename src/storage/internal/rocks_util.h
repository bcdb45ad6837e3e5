// RocksDB helpers shared by the storage module's RocksDB code. Internal: no
// other module may include this file (it exposes RocksDB types).
#pragma once

#include <rocksdb/cache.h>
#include <rocksdb/status.h>
#include <rocksdb/table.h>

#include <memory>
#include <string_view>

#include "common/status.h"

namespace coffre::storage::internal {

// The one place where a rocksdb::Status becomes a coffre Error. `what` names
// the operation and its object (a path, a space), never data. RocksDB's own
// text is kept only for the codes whose text is about files and options
// (I/O, invalid argument, not supported); for corruption and the rest it is
// left out, because some RocksDB messages quote keys; the details are in the
// LOG file of the data directory.
Error FromRocks(const rocksdb::Status& s, std::string_view what);

// Table format shared by the live column families and by SortedFileWriter,
// so that ingested files look like the ones RocksDB writes itself.
// `cache` may be null (writers do not read blocks).
rocksdb::BlockBasedTableOptions TableOptions(std::shared_ptr<rocksdb::Cache> cache,
                                             bool bloom_filter);

}  // namespace coffre::storage::internal
