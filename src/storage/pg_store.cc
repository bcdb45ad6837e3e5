// The PostgreSQL store (pg_store.h). Decisions, with the isolation level of
// each operation, are in docs/adr/0039-postgresql-store.md.
#include "storage/pg_store.h"

#include <libpq-fe.h>
#include <poll.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/sst_file_reader.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

namespace coffre::storage {
namespace {

// A scan fetches this many rows in one statement; a longer one reruns in
// a cursor, fetched in pages of kCursorPage (memory stays bounded).
constexpr int kFirstPage = 256;
constexpr int kCursorPage = 512;
// Deadlocks between nodes (40P01) and serialization failures (40001) are
// retried this many times.
constexpr int kMaxRetries = 20;
// Slots of coffre_sync (SyncWal's write): a few, so nodes rarely wait on
// one another's row.
constexpr int kSyncSlots = 64;
// pg_advisory_xact_lock key serialising table creation.
constexpr int64_t kCreateTablesLock = 0x636f66667265;  // "coffre"
// COPY binary format's header: signature, flags, header extension length.
constexpr std::string_view kCopyHeader("PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0", 19);

struct ConnCloser {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using ConnPtr = std::unique_ptr<PGconn, ConnCloser>;
struct ResultClearer {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultClearer>;

std::string TableName(Space s) { return "coffre_" + std::string(SpaceName(s)); }

void AppendBe32(std::string& out, uint32_t v) {
  const std::array<char, 4> b = {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                                 static_cast<char>(v >> 8), static_cast<char>(v)};
  out.append(b.data(), b.size());
}

void AppendBe16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}

std::string Be64(int64_t value) {
  auto v = static_cast<uint64_t>(value);
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[static_cast<size_t>(i)] = static_cast<char>(v & 0xffU);
    v >>= 8;
  }
  return out;
}

// A one-dimensional bytea[] in PostgreSQL's binary array format.
std::string ByteaArray(const std::vector<std::string_view>& items) {
  constexpr uint32_t kByteaOid = 17;
  std::string out;
  size_t total = 20;
  for (auto i : items) total += 4 + i.size();
  out.reserve(total);
  AppendBe32(out, 1);  // dimensions
  AppendBe32(out, 0);  // no nulls
  AppendBe32(out, kByteaOid);
  AppendBe32(out, static_cast<uint32_t>(items.size()));
  AppendBe32(out, 1);  // lower bound
  for (auto i : items) {
    AppendBe32(out, static_cast<uint32_t>(i.size()));
    out.append(i);
  }
  return out;
}

// The smallest key greater than every key starting with `prefix`; empty
// when there is none (a prefix of 0xff bytes only, or empty).
std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff) end.pop_back();
  if (!end.empty()) end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  return end;
}

// FNV-1a, 64 bits: stable across builds and machines, so every node maps a
// lock name to the same advisory lock key. A collision only makes two
// names wait for each other.
int64_t LockKey(std::string_view name) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : name) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  int64_t out = 0;
  std::memcpy(&out, &h, sizeof out);
  return out;
}

// The URL as shown in messages: without its query (options, file paths).
// A password never gets this far (CheckStoreUrl).
std::string ShownUrl(std::string_view url) {
  return std::string(url.substr(0, std::min(url.find('?'), url.size())));
}

std::string OneLine(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

bool IsRetryable(const std::string& sqlstate) { return sqlstate == "40P01" || sqlstate == "40001"; }

// One connection and the statements prepared on it.
struct Conn {
  ConnPtr pg;
  std::unordered_set<std::string> prepared;
  bool broken = false;
  bool reused = false;   // came from the pool rather than a fresh connect
  std::string sqlstate;  // of the first failure since the last ResetFailure
  int cursors = 0;

  void ResetFailure() { sqlstate.clear(); }
};

// Turns a failed statement into an Error; marks the connection broken when
// it is lost (or the server is no longer a primary), so the pool drops it.
Error Failure(Conn& c, const PGresult* r, std::string_view what) {
  const char* state = r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  std::string code = state != nullptr ? state : "";
  if (c.sqlstate.empty()) c.sqlstate = code;
  if (PQstatus(c.pg.get()) == CONNECTION_BAD || code.empty() || code.starts_with("08") ||
      code.starts_with("57P") || code == "25006") {
    c.broken = true;
  }
  const char* primary = r != nullptr ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  std::string msg = primary != nullptr ? primary : OneLine(PQerrorMessage(c.pg.get()));
  if (!code.empty()) msg += " (SQLSTATE " + code + ")";
  return Error{ErrorCode::kIoError, std::string(what) + ": " + msg};
}

struct Param {
  std::string_view bytes;
  bool binary = true;
};

Result<ResultPtr> CheckResult(Conn& c, PGresult* raw, std::string_view what) {
  ResultPtr r(raw);
  ExecStatusType st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_COPY_IN) return r;
  return Fail(Failure(c, r.get(), what));
}

// A simple-protocol command (no parameters, text results).
Status Simple(Conn& c, const std::string& sql, std::string_view what) {
  COFFRE_ASSIGN_OR_RETURN(ResultPtr r, CheckResult(c, PQexec(c.pg.get(), sql.c_str()), what));
  return Ok();
}

// Runs `sql` with `params`: as the named statement `name`, prepared on the
// connection's first use of it, or unnamed when `name` is empty.
Result<ResultPtr> Query(Conn& c, const std::string& name, const std::string& sql,
                        const std::vector<Param>& params, int result_format,
                        std::string_view what) {
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats;
  values.reserve(params.size());
  lengths.reserve(params.size());
  formats.reserve(params.size());
  for (const Param& p : params) {
    values.push_back(p.bytes.data());
    lengths.push_back(static_cast<int>(p.bytes.size()));
    formats.push_back(p.binary ? 1 : 0);
  }
  const int n = static_cast<int>(params.size());
  if (name.empty()) {
    return CheckResult(c,
                       PQexecParams(c.pg.get(), sql.c_str(), n, nullptr, values.data(),
                                    lengths.data(), formats.data(), result_format),
                       what);
  }
  if (!c.prepared.contains(name)) {
    COFFRE_ASSIGN_OR_RETURN(
        ResultPtr prep,
        CheckResult(c, PQprepare(c.pg.get(), name.c_str(), sql.c_str(), n, nullptr), what));
    c.prepared.insert(name);
  }
  return CheckResult(c,
                     PQexecPrepared(c.pg.get(), name.c_str(), n, values.data(), lengths.data(),
                                    formats.data(), result_format),
                     what);
}

std::string_view Value(const PGresult* r, int row, int col) {
  return {PQgetvalue(r, row, col), static_cast<size_t>(PQgetlength(r, row, col))};
}

// ---------------------------------------------------------------------------
// The pool.

class Pool {
 public:
  Pool(std::string url, std::string application_name, int idle_max)
      : url_(std::move(url)), app_(std::move(application_name)), idle_max_(idle_max) {}

  Result<std::unique_ptr<Conn>> Acquire() {
    {
      std::lock_guard lock(mu_);
      while (!idle_.empty()) {
        std::unique_ptr<Conn> c = std::move(idle_.back());
        idle_.pop_back();
        if (Healthy(*c)) {
          c->reused = true;
          return c;
        }
      }
    }
    return Connect();
  }

  void Release(std::unique_ptr<Conn> c) {
    if (c->broken || PQstatus(c->pg.get()) != CONNECTION_OK ||
        PQtransactionStatus(c->pg.get()) != PQTRANS_IDLE) {
      return;  // closed
    }
    c->ResetFailure();
    std::lock_guard lock(mu_);
    if (static_cast<int>(idle_.size()) < idle_max_) idle_.push_back(std::move(c));
  }

  const std::string& url() const { return url_; }

 private:
  // An idle connection has nothing to say: anything readable on it is the
  // server closing it (a restart, pg_terminate_backend) or worse.
  static bool Healthy(Conn& c) {
    if (PQstatus(c.pg.get()) != CONNECTION_OK) return false;
    pollfd p{.fd = PQsocket(c.pg.get()), .events = POLLIN, .revents = 0};
    return p.fd >= 0 && ::poll(&p, 1, 0) == 0;
  }

  Result<std::unique_ptr<Conn>> Connect() {
    // Later entries win: the URL may override the timeouts and the
    // application name set before it.
    const std::array<const char*, 8> keys = {"connect_timeout",
                                             "keepalives_idle",
                                             "keepalives_interval",
                                             "keepalives_count",
                                             "application_name",
                                             "options",
                                             "dbname",
                                             nullptr};
    const std::array<const char*, 8> values = {
        "10", "30", "10", "3", app_.c_str(),
        // A node that vanished mid-transaction must not hold its locks for ever.
        "-c idle_in_transaction_session_timeout=120000", url_.c_str(), nullptr};
    auto c = std::make_unique<Conn>();
    c->pg.reset(PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/1));
    if (!c->pg || PQstatus(c->pg.get()) != CONNECTION_OK) {
      return Fail(ErrorCode::kIoError,
                  "cannot connect to the store at " + ShownUrl(url_) + ": " +
                      (c->pg ? OneLine(PQerrorMessage(c->pg.get())) : "out of memory"));
    }
    return c;
  }

  const std::string url_;
  const std::string app_;
  const int idle_max_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Conn>> idle_;
};

// A connection on loan from the pool, given back when the lease ends.
class Lease {
 public:
  Lease(Pool& pool, std::unique_ptr<Conn> c) : pool_(&pool), c_(std::move(c)) {}
  Lease(Lease&& o) noexcept = default;
  Lease& operator=(Lease&&) = delete;
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease() { Return(); }
  Conn& operator*() { return *c_; }
  Conn* operator->() { return c_.get(); }
  void Return() {
    if (c_) pool_->Release(std::move(c_));
  }

 private:
  Pool* pool_;
  std::unique_ptr<Conn> c_;
};

// ---------------------------------------------------------------------------
// Batches.

class PgWriteBatch final : public WriteBatch {
 public:
  struct Op {
    Space space;
    bool del;
    std::string key;
    std::string value;
  };

  size_t Count() const override { return ops_.size(); }
  size_t ApproximateBytes() const override { return bytes_; }
  const std::vector<Op>& ops() const { return ops_; }

 protected:
  void DoPut(Space space, std::string_view key, std::string_view value) override {
    ops_.push_back({space, false, std::string(key), std::string(value)});
    bytes_ += 16 + key.size() + value.size();
  }
  void DoDelete(Space space, std::string_view key) override {
    ops_.push_back({space, true, std::string(key), {}});
    bytes_ += 16 + key.size();
  }
  void DoClear() override {
    ops_.clear();
    bytes_ = 0;
  }

 private:
  std::vector<Op> ops_;
  size_t bytes_ = 0;
};

// A batch as statements: per space, the keys to delete and the entries to
// upsert, the last operation on each key only, keys sorted (rows are then
// locked in one order by every writer).
struct WritePlan {
  struct SpaceOps {
    std::vector<std::string_view> del;
    std::vector<std::string_view> put_k;
    std::vector<std::string_view> put_v;
  };
  std::array<SpaceOps, kSpaceCount> spaces;
  uint32_t del_mask = 0;
  uint32_t put_mask = 0;

  explicit WritePlan(const PgWriteBatch& batch) {
    const auto& ops = batch.ops();
    std::vector<uint32_t> order(ops.size());
    for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      if (ops[a].space != ops[b].space) return ops[a].space < ops[b].space;
      return ops[a].key < ops[b].key;
    });
    for (size_t i = 0; i < order.size(); ++i) {
      const auto& op = ops[order[i]];
      if (i + 1 < order.size()) {
        const auto& next = ops[order[i + 1]];
        if (next.space == op.space && next.key == op.key) continue;  // a later op wins
      }
      auto s = static_cast<uint32_t>(op.space);
      SpaceOps& so = spaces[s];
      if (op.del) {
        so.del.push_back(op.key);
        del_mask |= 1U << s;
      } else {
        so.put_k.push_back(op.key);
        so.put_v.push_back(op.value);
        put_mask |= 1U << s;
      }
    }
  }
};

enum class WriteMode { kSync, kAsync, kInTransaction };

// ---------------------------------------------------------------------------
// The store.

class PgStore;

class PgTransaction final : public Transaction {
 public:
  PgTransaction(PgStore& store, Conn& c) : store_(store), c_(c) {}
  Status Lock(std::string_view name) override;
  Result<std::optional<std::string>> Get(Space space, std::string_view key) override;
  Status Scan(Space space, std::string_view prefix, const ScanVisitor& visit) override;
  WriteBatch& batch() override { return batch_; }
  PgWriteBatch& pg_batch() { return batch_; }

 private:
  PgStore& store_;
  Conn& c_;
  PgWriteBatch batch_;
};

class PgStore final : public Store {
 public:
  explicit PgStore(const PgOptions& o)
      : pool_(o.url, o.application_name, std::max(1, o.pool_size)), read_only_(o.read_only) {
    std::random_device rd;
    sync_slot_ = static_cast<int>(rd() % kSyncSlots);
  }

  Status CheckTables(bool create_if_missing) {
    COFFRE_ASSIGN_OR_RETURN(Lease c, Acquire());
    COFFRE_ASSIGN_OR_RETURN(
        ResultPtr r,
        Query(*c, "",
              "SELECT relname FROM pg_catalog.pg_class WHERE relkind IN ('r', 'p') AND relname "
              "LIKE 'coffre\\_%' AND pg_catalog.pg_table_is_visible(oid)",
              {}, 0, "cannot list the store's tables"));
    std::unordered_set<std::string> have;
    for (int i = 0; i < PQntuples(r.get()); ++i) have.insert(PQgetvalue(r.get(), i, 0));
    if (!have.contains(TableName(Space::kMeta)) && !create_if_missing) {
      return Fail(ErrorCode::kNotFound, "no vault in the database at " + ShownUrl(pool_.url()));
    }
    std::string create;
    for (int i = 0; i < kSpaceCount; ++i) {
      std::string t = TableName(static_cast<Space>(i));
      if (have.contains(t)) continue;
      // Values are ciphertext: TOAST compression would only cost CPU.
      create += "CREATE TABLE IF NOT EXISTS " + t + " (k bytea PRIMARY KEY, v bytea NOT NULL);" +
                "ALTER TABLE " + t + " ALTER COLUMN v SET STORAGE EXTERNAL;";
    }
    if (!have.contains("coffre_sync")) {
      create += "CREATE TABLE IF NOT EXISTS coffre_sync (slot int4 PRIMARY KEY, n int8 NOT NULL);";
    }
    if (create.empty()) return Ok();
    if (read_only_) {
      return Fail(ErrorCode::kFailedPrecondition,
                  "the database at " + ShownUrl(pool_.url()) +
                      " lacks some of coffre's tables; open it writable once to create them");
    }
    return Simple(*c,
                  "BEGIN; SELECT pg_catalog.pg_advisory_xact_lock(" +
                      std::to_string(kCreateTablesLock) + "); " + create + " COMMIT;",
                  "cannot create the store's tables");
  }

  std::unique_ptr<WriteBatch> NewBatch() override { return std::make_unique<PgWriteBatch>(); }

  Status Write(WriteBatch& b, bool sync) override {
    COFFRE_TRY(Writable("write"));
    auto& batch = static_cast<PgWriteBatch&>(b);
    if (batch.Count() == 0) return Ok();
    WritePlan plan(batch);
    for (int attempt = 0;; ++attempt) {
      COFFRE_ASSIGN_OR_RETURN(Lease c, Acquire());
      Status s = WriteOn(*c, plan, sync ? WriteMode::kSync : WriteMode::kAsync);
      if (s) {
        if (!sync) unsynced_.store(true);
        return s;
      }
      if (IsRetryable(c->sqlstate) && attempt < kMaxRetries) {
        Backoff(attempt);
        continue;
      }
      if (c->broken) {
        return Fail(ErrorCode::kIoError,
                    "the connection to the store broke during a write: its outcome is unknown (" +
                        s.error().message + ")");
      }
      return s;
    }
  }

  Result<std::optional<std::string>> Get(Space space, std::string_view key) override {
    return Reading([&](Conn& c) { return GetOn(c, space, key); });
  }

  Result<std::vector<std::optional<std::string>>> MultiGet(
      Space space, const std::vector<std::string_view>& keys) override {
    if (keys.empty()) return std::vector<std::optional<std::string>>{};
    const std::string array = ByteaArray(keys);
    return Reading([&](Conn& c) -> Result<std::vector<std::optional<std::string>>> {
      COFFRE_ASSIGN_OR_RETURN(
          ResultPtr r, Query(c, "mget_" + std::string(SpaceName(space)),
                             "SELECT k, v FROM " + TableName(space) + " WHERE k = ANY($1::bytea[])",
                             {Param{array}}, 1, "cannot read from the store"));
      std::vector<std::optional<std::string>> out(keys.size());
      for (int row = 0; row < PQntuples(r.get()); ++row) {
        std::string_view k = Value(r.get(), row, 0);
        for (size_t i = 0; i < keys.size(); ++i) {
          if (keys[i] == k) out[i] = std::string(Value(r.get(), row, 1));
        }
      }
      return out;
    });
  }

  Status Scan(Space space, std::string_view prefix, const ScanVisitor& visit) override {
    return ScanRange(space, prefix, PrefixEnd(prefix), visit);
  }

  Status ScanRange(Space space, std::string_view begin, std::string_view end,
                   const ScanVisitor& visit) override {
    if (!end.empty() && end <= begin) return Ok();
    for (int attempt = 0;; ++attempt) {
      COFFRE_ASSIGN_OR_RETURN(Lease c, Acquire());
      const bool retry_ok = c->reused && attempt == 0;
      bool visited = false;
      Status s = ScanOn(*c, space, begin, end, visit, /*in_transaction=*/false, &c, &visited);
      // A dead pooled connection: once more on a fresh one, unless the
      // visitor already saw entries (it would see them twice).
      if (s || !retry_ok || visited || !c->broken) return s;
    }
  }

  Status CompactSpace(Space space) override {
    COFFRE_TRY(Writable("compact"));
    COFFRE_ASSIGN_OR_RETURN(Lease c, Acquire());
    return Simple(*c, "VACUUM " + TableName(space), "cannot vacuum the store");
  }

  Status Flush() override { return Ok(); }

  Status SyncWal() override {
    COFFRE_TRY(Writable("sync"));
    if (!unsynced_.exchange(false)) return Ok();
    // A synchronous commit that wrote WAL flushes the log up to its commit
    // record, which lies after those of every earlier asynchronous commit.
    COFFRE_ASSIGN_OR_RETURN(Lease c, Acquire());
    auto r = Query(*c, "sync",
                   "INSERT INTO coffre_sync (slot, n) VALUES ($1::int4, 1) ON CONFLICT (slot) DO "
                   "UPDATE SET n = coffre_sync.n + 1",
                   {Param{std::to_string(sync_slot_), false}}, 0, "cannot sync the store");
    if (!r) {
      unsynced_.store(true);
      return Fail(r.error());
    }
    return Ok();
  }

  Status IngestAtomically(const std::vector<IngestSet>& sets) override;

  Status CopyLiveFiles(const LiveFileVisitor& /*copy*/) override {
    return Fail(ErrorCode::kFailedPrecondition,
                "the PostgreSQL store has no files of its own to copy: back the database up with "
                "pg_basebackup (and WAL archiving), see docs/cluster.md");
  }

  Status Transact(const TransactionBody& body) override;

  bool shared() const override { return true; }

  Result<int64_t> NowMicros() override {
    return Reading([&](Conn& c) -> Result<int64_t> {
      COFFRE_ASSIGN_OR_RETURN(
          ResultPtr r,
          Query(c, "now",
                "SELECT (extract(epoch FROM pg_catalog.clock_timestamp()) * 1000000)::int8", {}, 0,
                "cannot read the store's clock"));
      if (PQntuples(r.get()) != 1) return Fail(ErrorCode::kIoError, "no time from the store");
      return static_cast<int64_t>(std::strtoll(PQgetvalue(r.get(), 0, 0), nullptr, 10));
    });
  }

  // --- shared with PgTransaction -------------------------------------------

  Result<std::optional<std::string>> GetOn(Conn& c, Space space, std::string_view key) {
    COFFRE_ASSIGN_OR_RETURN(ResultPtr r,
                            Query(c, "get_" + std::string(SpaceName(space)),
                                  "SELECT v FROM " + TableName(space) + " WHERE k = $1::bytea",
                                  {Param{key}}, 1, "cannot read from the store"));
    if (PQntuples(r.get()) == 0) return std::optional<std::string>();
    return std::optional<std::string>(std::string(Value(r.get(), 0, 0)));
  }

  // Visits [begin, end) in key order. A first statement fetches up to
  // kFirstPage + 1 rows; when there are more, the scan reruns in a cursor,
  // in pages, so that it sees one snapshot (in its own REPEATABLE READ
  // transaction, or in the caller's) and memory stays bounded. `lease`,
  // when given, is returned to the pool before a short scan's visits.
  Status ScanOn(Conn& c, Space space, std::string_view begin, std::string_view end,
                const ScanVisitor& visit, bool in_transaction, Lease* lease, bool* visited) {
    const std::string table = TableName(space);
    const std::string where =
        end.empty() ? " WHERE k >= $1::bytea" : " WHERE k >= $1::bytea AND k < $2::bytea";
    std::vector<Param> params{Param{begin}};
    if (!end.empty()) params.push_back(Param{end});
    const std::string select = "SELECT k, v FROM " + table + where + " ORDER BY k";
    const std::string name =
        std::string(end.empty() ? "scanb_" : "scanr_") + std::string(SpaceName(space));
    COFFRE_ASSIGN_OR_RETURN(
        ResultPtr first, Query(c, name, select + " LIMIT " + std::to_string(kFirstPage + 1), params,
                               1, "cannot scan the store"));
    const int rows = PQntuples(first.get());
    if (rows <= kFirstPage) {
      if (lease != nullptr) lease->Return();
      if (rows > 0) *visited = true;
      for (int i = 0; i < rows; ++i) {
        if (!visit(Value(first.get(), i, 0), Value(first.get(), i, 1))) break;
      }
      return Ok();
    }
    first.reset();
    if (!in_transaction) {
      COFFRE_TRY(
          Simple(c, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", "cannot scan the store"));
    }
    const std::string cursor = "coffre_scan_" + std::to_string(++c.cursors);
    COFFRE_ASSIGN_OR_RETURN(ResultPtr declared,
                            Query(c, "", "DECLARE " + cursor + " NO SCROLL CURSOR FOR " + select,
                                  params, 1, "cannot scan the store"));
    const std::string fetch = "FETCH " + std::to_string(kCursorPage) + " FROM " + cursor;
    bool more = true;
    while (more) {
      COFFRE_ASSIGN_OR_RETURN(ResultPtr page, Query(c, "", fetch, {}, 1, "cannot scan the store"));
      const int n = PQntuples(page.get());
      more = n == kCursorPage;
      if (n > 0) *visited = true;
      for (int i = 0; i < n; ++i) {
        if (!visit(Value(page.get(), i, 0), Value(page.get(), i, 1))) {
          more = false;
          break;
        }
      }
    }
    COFFRE_TRY(Simple(c, "CLOSE " + cursor, "cannot scan the store"));
    if (!in_transaction) COFFRE_TRY(Simple(c, "COMMIT", "cannot scan the store"));
    return Ok();
  }

  // The batch as one statement: data-modifying CTEs, deletes and upserts
  // per space. Outside a transaction the statement commits by itself, all
  // or nothing; kAsync commits without waiting for the WAL flush.
  Status WriteOn(Conn& c, const WritePlan& plan, WriteMode mode) {
    c.ResetFailure();
    const char tag = mode == WriteMode::kAsync ? 'a' : 's';
    const std::string name = "w" + std::to_string(plan.put_mask) + "_" +
                             std::to_string(plan.del_mask) + "_" + std::string(1, tag);
    std::vector<std::string> arrays;
    arrays.reserve(3 * kSpaceCount);
    std::string sql = "WITH ";
    int param = 0;
    bool first = true;
    for (int i = 0; i < kSpaceCount; ++i) {
      const auto& so = plan.spaces[static_cast<size_t>(i)];
      const std::string table = TableName(static_cast<Space>(i));
      if (!so.del.empty()) {
        if (!first) sql += ", ";
        first = false;
        arrays.push_back(ByteaArray(so.del));
        sql += "d" + std::to_string(i) + " AS (DELETE FROM " + table + " WHERE k = ANY($" +
               std::to_string(++param) + "::bytea[]))";
      }
      if (!so.put_k.empty()) {
        if (!first) sql += ", ";
        first = false;
        arrays.push_back(ByteaArray(so.put_k));
        arrays.push_back(ByteaArray(so.put_v));
        sql += "p" + std::to_string(i) + " AS (INSERT INTO " + table +
               " (k, v) SELECT * FROM unnest($" + std::to_string(param + 1) + "::bytea[], $" +
               std::to_string(param + 2) +
               "::bytea[]) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v)";
        param += 2;
      }
    }
    sql += mode == WriteMode::kAsync
               ? " SELECT pg_catalog.set_config('synchronous_commit', 'off', true)"
               : " SELECT 1";
    std::vector<Param> params;
    params.reserve(arrays.size());
    for (const auto& a : arrays) params.push_back(Param{a});
    COFFRE_ASSIGN_OR_RETURN(ResultPtr r,
                            Query(c, name, sql, params, 0, "cannot write to the store"));
    return Ok();
  }

  Status Writable(std::string_view what) const {
    if (!read_only_) return Ok();
    return Fail(ErrorCode::kFailedPrecondition,
                "the store was opened read-only: cannot " + std::string(what));
  }

  bool read_only() const { return read_only_; }

  static void Backoff(int attempt) {
    thread_local std::minstd_rand rng(std::random_device{}());
    const int cap = 1 << std::min(attempt, 6);  // up to 64 ms
    std::this_thread::sleep_for(std::chrono::milliseconds(1 + static_cast<int>(rng() % cap)));
  }

  Result<Lease> Acquire() {
    COFFRE_ASSIGN_OR_RETURN(std::unique_ptr<Conn> c, pool_.Acquire());
    return Lease(pool_, std::move(c));
  }

 private:
  // A read, retried once on a fresh connection when a pooled one turns out
  // to be dead (the server restarted while it sat idle).
  template <typename F>
  auto Reading(F&& f) -> decltype(f(std::declval<Conn&>())) {
    for (int attempt = 0;; ++attempt) {
      COFFRE_ASSIGN_OR_RETURN(Lease c, Acquire());
      auto r = f(*c);
      if (r || !c->broken || !c->reused || attempt > 0) return r;
    }
  }

  Status IngestSet(Conn& c, const IngestSet& set, bool upsert);

  Pool pool_;
  const bool read_only_;
  int sync_slot_ = 0;
  std::atomic<bool> unsynced_{false};
};

Status PgTransaction::Lock(std::string_view name) {
  const std::string key = Be64(LockKey(name));
  COFFRE_ASSIGN_OR_RETURN(ResultPtr r,
                          Query(c_, "lock", "SELECT pg_catalog.pg_advisory_xact_lock($1::int8)",
                                {Param{key}}, 0, "cannot take a lock in the store"));
  return Ok();
}

Result<std::optional<std::string>> PgTransaction::Get(Space space, std::string_view key) {
  return store_.GetOn(c_, space, key);
}

Status PgTransaction::Scan(Space space, std::string_view prefix, const ScanVisitor& visit) {
  bool visited = false;
  return store_.ScanOn(c_, space, prefix, PrefixEnd(prefix), visit, /*in_transaction=*/true,
                       nullptr, &visited);
}

Status PgStore::Transact(const TransactionBody& body) {
  for (int attempt = 0;; ++attempt) {
    COFFRE_ASSIGN_OR_RETURN(Lease lease, Acquire());
    Conn& c = *lease;
    c.ResetFailure();
    Status begun = Simple(c, "BEGIN", "cannot begin a transaction in the store");
    if (!begun) {
      if (c.broken && c.reused && attempt == 0) continue;  // a dead pooled connection
      return begun;
    }
    PgTransaction t(*this, c);
    Status s = body(t);
    const bool failed_inside = PQtransactionStatus(c.pg.get()) == PQTRANS_INERROR;
    if (s && !failed_inside && t.pg_batch().Count() > 0) {
      if (read_only()) {
        (void)Simple(c, "ROLLBACK", "rollback");  // the connection is dropped if this fails
        return Writable("commit a transaction");
      }
      s = WriteOn(c, WritePlan(t.pg_batch()), WriteMode::kInTransaction);
    }
    if (!s || failed_inside) {
      const bool retry = IsRetryable(c.sqlstate) && attempt < kMaxRetries;
      (void)Simple(c, "ROLLBACK", "rollback");  // the connection is dropped if this fails
      if (retry) {
        Backoff(attempt);
        continue;
      }
      if (!s) return s;
      return Fail(ErrorCode::kIoError,
                  "a statement of the transaction failed (SQLSTATE " + c.sqlstate + ")");
    }
    auto committed = CheckResult(c, PQexec(c.pg.get(), "COMMIT"), "cannot commit");
    if (!committed) {
      if (IsRetryable(c.sqlstate) && attempt < kMaxRetries) {
        Backoff(attempt);
        continue;
      }
      if (c.broken) {
        return Fail(ErrorCode::kIoError,
                    "the connection to the store broke during a commit: its outcome is unknown (" +
                        committed.error().message + ")");
      }
      return Fail(committed.error());
    }
    if (std::strcmp(PQcmdStatus(committed->get()), "COMMIT") != 0) {
      return Fail(ErrorCode::kIoError, "the store rolled the transaction back");
    }
    return Ok();
  }
}

// ---------------------------------------------------------------------------
// Ingestion: the sorted files' entries COPY'd (binary) in one transaction.

// Streams every entry of the set's files as COPY binary data into `table`.
Status CopyFiles(Conn& c, const std::string& table, const std::vector<std::string>& paths) {
  COFFRE_ASSIGN_OR_RETURN(
      ResultPtr r,
      CheckResult(
          c, PQexec(c.pg.get(), ("COPY " + table + " (k, v) FROM STDIN (FORMAT binary)").c_str()),
          "cannot copy into the store"));
  std::string buf(kCopyHeader);
  Status failed = Ok();
  auto flush = [&]() -> bool {
    if (PQputCopyData(c.pg.get(), buf.data(), static_cast<int>(buf.size())) != 1) {
      failed = Fail(Failure(c, nullptr, "cannot copy into the store"));
      return false;
    }
    buf.clear();
    return true;
  };
  for (const std::string& path : paths) {
    rocksdb::Options options;
    rocksdb::SstFileReader reader(options);
    rocksdb::Status st = reader.Open(path);
    if (!st.ok()) {
      failed = Fail(ErrorCode::kIoError, "cannot read sorted file " + path + ": " + st.ToString());
      break;
    }
    rocksdb::ReadOptions ro;
    ro.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(reader.NewIterator(ro));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const rocksdb::Slice k = it->key();
      const rocksdb::Slice v = it->value();
      AppendBe16(buf, 2);
      AppendBe32(buf, static_cast<uint32_t>(k.size()));
      buf.append(k.data(), k.size());
      AppendBe32(buf, static_cast<uint32_t>(v.size()));
      buf.append(v.data(), v.size());
      if (buf.size() >= (1U << 20) && !flush()) break;
    }
    if (!failed) break;
    if (!it->status().ok()) {
      failed = Fail(ErrorCode::kDataLoss,
                    "cannot read sorted file " + path + ": " + it->status().ToString());
      break;
    }
  }
  if (failed) {
    AppendBe16(buf, 0xffff);  // the trailer
    if (!flush()) {
      (void)PQputCopyEnd(c.pg.get(), "aborted");
    } else if (PQputCopyEnd(c.pg.get(), nullptr) != 1) {
      failed = Fail(Failure(c, nullptr, "cannot copy into the store"));
    }
  } else {
    (void)PQputCopyEnd(c.pg.get(), "a sorted file could not be read");
  }
  // Drain the results: the first tells how the COPY went.
  Status result = Ok();
  while (PGresult* raw = PQgetResult(c.pg.get())) {
    auto checked = CheckResult(c, raw, "cannot copy into the store");
    if (!checked && result) result = Fail(checked.error());
  }
  if (!failed) return failed;
  return result;
}

Status PgStore::IngestSet(Conn& c, const storage::IngestSet& set, bool upsert) {
  const std::string table = TableName(set.space);
  if (!upsert) return CopyFiles(c, table, set.paths);
  // Entries replace existing ones: through a temporary table, then upserted.
  const std::string temp = "coffre_ingest_" + std::string(SpaceName(set.space));
  COFFRE_TRY(Simple(
      c, "CREATE TEMP TABLE " + temp + " (k bytea NOT NULL, v bytea NOT NULL) ON COMMIT DROP",
      "cannot ingest into the store"));
  COFFRE_TRY(CopyFiles(c, temp, set.paths));
  return Simple(c,
                "INSERT INTO " + table + " (k, v) SELECT k, v FROM " + temp +
                    " ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v; DROP TABLE " + temp,
                "cannot ingest into the store");
}

Status PgStore::IngestAtomically(const std::vector<storage::IngestSet>& sets) {
  COFFRE_TRY(Writable("ingest"));
  size_t files = 0;
  for (const auto& s : sets) files += s.paths.size();
  if (files == 0) return Ok();
  COFFRE_ASSIGN_OR_RETURN(Lease lease, Acquire());
  Conn& c = *lease;
  c.ResetFailure();
  COFFRE_TRY(Simple(c, "BEGIN", "cannot ingest into the store"));
  for (const auto& set : sets) {
    if (set.paths.empty()) continue;
    // Straight into the table when no key exists yet (a first import);
    // on a duplicate key, back to the savepoint and upsert instead.
    COFFRE_TRY(Simple(c, "SAVEPOINT coffre_ingest", "cannot ingest into the store"));
    Status direct = IngestSet(c, set, /*upsert=*/false);
    if (!direct) {
      if (c.sqlstate != "23505") return direct;  // the lease drops the aborted connection
      c.ResetFailure();
      COFFRE_TRY(Simple(c, "ROLLBACK TO SAVEPOINT coffre_ingest", "cannot ingest into the store"));
      COFFRE_TRY(IngestSet(c, set, /*upsert=*/true));
    }
    COFFRE_TRY(Simple(c, "RELEASE SAVEPOINT coffre_ingest", "cannot ingest into the store"));
  }
  auto committed = CheckResult(c, PQexec(c.pg.get(), "COMMIT"), "cannot commit the ingestion");
  if (!committed) {
    if (c.broken) {
      return Fail(ErrorCode::kIoError,
                  "the connection to the store broke while committing an ingestion: its outcome "
                  "is unknown (" +
                      committed.error().message + ")");
    }
    return Fail(committed.error());
  }
  if (std::strcmp(PQcmdStatus(committed->get()), "COMMIT") != 0) {
    return Fail(ErrorCode::kIoError, "the store rolled the ingestion back");
  }
  for (const auto& set : sets) {
    for (const auto& p : set.paths) {
      std::error_code ec;
      std::filesystem::remove(p, ec);
    }
  }
  return Ok();
}

}  // namespace

Status CheckStoreUrl(std::string_view url) {
  if (!url.starts_with("postgresql://") && !url.starts_with("postgres://")) {
    return Fail(ErrorCode::kInvalidArgument,
                "the store URL must be a libpq connection URI starting with postgresql://");
  }
  char* err = nullptr;
  PQconninfoOption* raw = PQconninfoParse(std::string(url).c_str(), &err);
  if (err != nullptr) PQfreemem(err);  // it may quote the URL: not shown
  if (raw == nullptr) {
    return Fail(ErrorCode::kInvalidArgument, "the store URL is not a valid libpq connection URI");
  }
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> opts(raw, &PQconninfoFree);
  for (const PQconninfoOption* o = opts.get(); o->keyword != nullptr; ++o) {
    if (o->val == nullptr || *o->val == '\0') continue;
    const std::string_view k = o->keyword;
    if (k == "password" || k == "sslpassword") {
      return Fail(ErrorCode::kInvalidArgument,
                  "the store URL holds a " + std::string(k) +
                      ": a URL shows in process lists and config files; put the password in a "
                      "passfile (PGPASSFILE) or a service file, or use a client certificate");
    }
  }
  return Ok();
}

Result<std::unique_ptr<Store>> OpenPgStore(const PgOptions& options) {
  COFFRE_TRY(CheckStoreUrl(options.url));
  auto store = std::make_unique<PgStore>(options);
  COFFRE_TRY(store->CheckTables(options.create_if_missing && !options.read_only));
  return std::unique_ptr<Store>(std::move(store));
}

StoreOpener PgStoreOpener(std::string url) {
  return [url = std::move(url)](const StoreRequest& request) -> Result<std::unique_ptr<Store>> {
    return OpenPgStore({.url = url,
                        .create_if_missing = request.create_if_missing,
                        .read_only = request.read_only});
  };
}

}  // namespace coffre::storage
