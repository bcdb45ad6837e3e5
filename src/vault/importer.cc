#include "vault/importer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_set>

#include <simdjson.h>

#include "common/bytes.h"
#include "crypto/crypto.h"
#include "vault/record_sealer.h"

namespace coffre::vault {
namespace {

using storage::Space;

struct Row {
  size_t begin = 0;  // offsets into Chunk::data
  size_t end = 0;
  uint64_t line = 0;  // 1-based line number where the row starts
};

struct UniqueProbe {
  size_t row = 0;
  std::string key;
  size_t field = 0;
};

// One batch of rows travelling through the pipeline.
struct Chunk {
  uint64_t seq = 0;
  std::string data;  // raw bytes, followed by simdjson padding
  std::vector<Row> rows;
  uint64_t last_line = 0;

  // Filled by a worker.
  std::unique_ptr<storage::WriteBatch> batch;
  std::string ops;                       // per-row encoded entries, for the slow path
  std::vector<std::pair<size_t, size_t>> row_ops;  // row -> [begin, end) in ops; empty if rejected
  std::vector<UniqueProbe> probes;
  std::vector<std::pair<uint64_t, std::string>> rejects;  // line, reason
  uint64_t valid = 0;
};

void AppendOp(std::string& ops, Space space, std::string_view key, std::string_view value) {
  ops.push_back(static_cast<char>(space));
  AppendLengthPrefixed(ops, key);
  AppendLengthPrefixed(ops, value);
}

// Splits a CSV record into fields (RFC 4180: quotes, doubled quotes, commas
// and newlines inside quotes). Unquoted fields are views into `rec`; quoted
// ones are unescaped into `scratch`, which is reserved up front so views stay valid.
bool SplitCsv(std::string_view rec, std::vector<std::string_view>& out, std::string& scratch) {
  out.clear();
  scratch.clear();
  scratch.reserve(rec.size());
  size_t i = 0;
  while (true) {
    if (i < rec.size() && rec[i] == '"') {
      size_t start = scratch.size();
      ++i;
      while (true) {
        if (i >= rec.size()) return false;  // unterminated quote
        if (rec[i] == '"') {
          if (i + 1 < rec.size() && rec[i + 1] == '"') {
            scratch.push_back('"');
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        scratch.push_back(rec[i++]);
      }
      out.emplace_back(scratch.data() + start, scratch.size() - start);
      if (i == rec.size()) return true;
      if (rec[i] != ',') return false;
      ++i;
    } else {
      size_t comma = rec.find(',', i);
      if (comma == std::string_view::npos) {
        out.push_back(rec.substr(i));
        return true;
      }
      out.push_back(rec.substr(i, comma - i));
      i = comma + 1;
    }
  }
}

class Pipeline {
 public:
  Pipeline(Vault& vault, const ImportOptions& options, const schema::Collection& collection,
           ImportFormat format)
      : vault_(vault), options_(options), collection_(collection), format_(format) {}

  Result<ImportStats> Run();

 private:
  Status ReadAll();
  void WorkerLoop();
  void CommitterLoop();
  void Prepare(Chunk& chunk, simdjson::dom::parser& parser,
               std::vector<NamedInput>& inputs, std::vector<std::string_view>& cells,
               std::string& scratch, SealedRecord& sealed);
  Status Commit(Chunk& chunk, std::unordered_set<std::string>& seen);
  void SetError(Error e);
  bool Failed();

  Vault& vault_;
  const ImportOptions& options_;
  const schema::Collection& collection_;
  ImportFormat format_;
  std::vector<std::string> header_;  // CSV column names

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Chunk>> todo_;
  std::map<uint64_t, std::unique_ptr<Chunk>> done_;
  size_t in_flight_ = 0;
  size_t max_in_flight_ = 4;
  bool reading_done_ = false;
  uint64_t chunks_total_ = 0;
  std::optional<Error> error_;

  ImportProgress progress_;
  std::ofstream rejects_;
};

void Pipeline::SetError(Error e) {
  std::lock_guard lock(mu_);
  if (!error_) error_ = std::move(e);
  cv_.notify_all();
}

bool Pipeline::Failed() {
  std::lock_guard lock(mu_);
  return error_.has_value();
}

Status Pipeline::ReadAll() {
  int fd = ::open(options_.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Fail(ErrorCode::kNotFound, "cannot open import file " + options_.path + ": " +
                                          std::strerror(errno));
  }
  struct stat st{};
  ::fstat(fd, &st);
  {
    std::lock_guard lock(mu_);
    progress_.bytes_total = static_cast<uint64_t>(st.st_size);
  }
  std::string pending;
  size_t scan = 0;         // next byte of `pending` to scan
  size_t rec_start = 0;    // start of the current record in `pending`
  bool in_quotes = false;
  uint64_t line = 1;       // line number of the next byte
  uint64_t rec_line = 1;
  uint64_t seq = 0;
  bool header_pending = format_ == ImportFormat::kCsv;
  auto chunk = std::make_unique<Chunk>();
  size_t chunk_start = 0;  // start of the chunk's first record in `pending`
  std::vector<char> block(1 << 20);
  bool eof = false;

  auto emit = [&](size_t cut) -> Status {
    // Copy records [chunk_start, cut) into the chunk with padding.
    chunk->data.assign(pending, chunk_start, cut - chunk_start);
    chunk->data.append(simdjson::SIMDJSON_PADDING, '\0');
    for (Row& r : chunk->rows) {
      r.begin -= chunk_start;
      r.end -= chunk_start;
    }
    chunk->seq = seq++;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return in_flight_ < max_in_flight_ || error_; });
      if (error_) return Fail(*error_);
      ++in_flight_;
      todo_.push_back(std::move(chunk));
    }
    cv_.notify_all();
    chunk = std::make_unique<Chunk>();
    pending.erase(0, cut);
    scan -= cut;
    rec_start -= cut;
    chunk_start = 0;
    return Ok();
  };

  auto finish_record = [&](size_t end) -> Status {
    // `end` is the index of '\n' (or pending.size() at EOF).
    size_t stop = end;
    if (stop > rec_start && pending[stop - 1] == '\r') --stop;
    bool blank = true;
    for (size_t i = rec_start; i < stop && blank; ++i) blank = pending[i] == ' ' || pending[i] == '\t';
    if (!blank) {
      if (header_pending) {
        std::vector<std::string_view> cells;
        std::string scratch;
        if (!SplitCsv(std::string_view(pending).substr(rec_start, stop - rec_start), cells, scratch)) {
          return Fail(ErrorCode::kInvalidArgument, "CSV header row is malformed");
        }
        for (auto c : cells) header_.emplace_back(c);
        header_pending = false;
        chunk_start = end + 1;
      } else {
        if (chunk->rows.empty()) chunk_start = rec_start;
        chunk->rows.push_back({rec_start, stop, rec_line});
        chunk->last_line = line;
      }
    } else if (chunk->rows.empty()) {
      chunk_start = end + 1;
    }
    rec_start = end + 1;
    rec_line = line + 1;
    if (chunk->rows.size() >= options_.chunk_rows) return emit(std::min(end + 1, pending.size()));
    return Ok();
  };

  Status status = Ok();
  while (!eof && status) {
    ssize_t n = ::read(fd, block.data(), block.size());
    if (n < 0) {
      status = Fail(ErrorCode::kIoError, "cannot read import file " + options_.path);
      break;
    }
    if (n == 0) {
      eof = true;
    } else {
      pending.append(block.data(), static_cast<size_t>(n));
      std::lock_guard lock(mu_);
      progress_.bytes_read += static_cast<uint64_t>(n);
    }
    while (status && scan < pending.size()) {
      if (format_ == ImportFormat::kNdjson) {
        const void* nl = std::memchr(pending.data() + scan, '\n', pending.size() - scan);
        if (nl == nullptr) {
          scan = pending.size();
          break;
        }
        size_t at = static_cast<const char*>(nl) - pending.data();
        scan = at + 1;
        status = finish_record(at);
        ++line;
      } else {
        char c = pending[scan];
        if (c == '"') in_quotes = !in_quotes;
        if (c == '\n') {
          if (!in_quotes) {
            scan++;
            status = finish_record(scan - 1);
            ++line;
            continue;
          }
          ++line;
        }
        ++scan;
      }
    }
    if (eof && status && rec_start < pending.size()) status = finish_record(pending.size());
  }
  ::close(fd);
  if (status && header_pending) status = Fail(ErrorCode::kInvalidArgument, "CSV file has no header row");
  if (status && !chunk->rows.empty()) status = emit(pending.size());
  {
    std::lock_guard lock(mu_);
    reading_done_ = true;
    chunks_total_ = seq;
  }
  cv_.notify_all();
  return status;
}

void Pipeline::Prepare(Chunk& chunk, simdjson::dom::parser& parser,
                       std::vector<NamedInput>& inputs, std::vector<std::string_view>& cells,
                       std::string& scratch, SealedRecord& sealed) {
  chunk.batch = vault_.store().NewBatch();
  chunk.row_ops.assign(chunk.rows.size(), {0, 0});
  uint32_t schema_version = vault_.schema().version();
  for (size_t r = 0; r < chunk.rows.size(); ++r) {
    const Row& row = chunk.rows[r];
    auto reject = [&](std::string reason) {
      chunk.rejects.emplace_back(row.line, std::move(reason));
    };
    inputs.clear();
    std::string_view text(chunk.data.data() + row.begin, row.end - row.begin);
    if (format_ == ImportFormat::kNdjson) {
      // The chunk buffer carries simdjson's padding after its last row, so
      // rows parse in place (realloc_if_needed = false).
      simdjson::dom::element doc;
      simdjson::dom::object obj;
      if (parser.parse(text.data(), text.size(), false).get(doc) || doc.get(obj)) {
        reject("not a JSON object");
        continue;
      }
      bool bad = false;
      for (auto [key, value] : obj) {
        switch (value.type()) {
          case simdjson::dom::element_type::STRING:
            inputs.emplace_back(key, schema::Input::String(value.get_string().value_unsafe()));
            break;
          case simdjson::dom::element_type::INT64:
            inputs.emplace_back(key, schema::Input::Integer(value.get_int64().value_unsafe()));
            break;
          case simdjson::dom::element_type::BOOL:
            inputs.emplace_back(key, schema::Input::Boolean(value.get_bool().value_unsafe()));
            break;
          case simdjson::dom::element_type::NULL_VALUE:
            inputs.emplace_back(key, schema::Input::Null());
            break;
          case simdjson::dom::element_type::UINT64:
          case simdjson::dom::element_type::DOUBLE:
            reject("a number is not an integer in range");
            bad = true;
            break;
          default:
            reject("values must be strings, numbers, booleans or null");
            bad = true;
        }
        if (bad) break;
      }
      if (bad) continue;
    } else {
      if (!SplitCsv(text, cells, scratch)) {
        reject("malformed CSV (unbalanced quotes)");
        continue;
      }
      if (cells.size() != header_.size()) {
        reject("has " + std::to_string(cells.size()) + " columns, the header has " +
               std::to_string(header_.size()));
        continue;
      }
      for (size_t i = 0; i < cells.size(); ++i) {
        inputs.emplace_back(header_[i], schema::Input::String(cells[i]));
      }
    }
    auto fields = vault_.Validate(collection_, inputs);
    if (!fields) {
      reject(fields.error().message);
      continue;
    }
    sealed.Reset();
    unsigned char ids[2 * kIdBytes];
    crypto::RandomBytes(ids, sizeof ids);
    sealed.record_id.assign(reinterpret_cast<char*>(ids), kIdBytes);
    sealed.subject.assign(reinterpret_cast<char*>(ids) + kIdBytes, kIdBytes);
    crypto::SecretKey data_key = crypto::SecretKey::Random();
    SealRecord(vault_.keyring(), collection_, schema_version, *fields, data_key, true, sealed);

    size_t ops_begin = chunk.ops.size();
    for (size_t i = 0; i < sealed.index_count; ++i) {
      const IndexEntry& e = sealed.index[i];
      if (e.unique) chunk.probes.push_back({r, e.key, e.field});
      chunk.batch->Put(Space::kIndex, e.key, e.value);
      AppendOp(chunk.ops, Space::kIndex, e.key, e.value);
    }
    chunk.batch->Put(Space::kKeys, sealed.data_key_key, sealed.data_key_value);
    chunk.batch->Put(Space::kRecords, sealed.record_key, sealed.record_value);
    chunk.batch->Put(Space::kSubjects, sealed.member_key, "");
    AppendOp(chunk.ops, Space::kKeys, sealed.data_key_key, sealed.data_key_value);
    AppendOp(chunk.ops, Space::kRecords, sealed.record_key, sealed.record_value);
    AppendOp(chunk.ops, Space::kSubjects, sealed.member_key, "");
    chunk.row_ops[r] = {ops_begin, chunk.ops.size()};
    ++chunk.valid;
  }
}

void Pipeline::WorkerLoop() {
  simdjson::dom::parser parser;
  std::vector<NamedInput> inputs;
  std::vector<std::string_view> cells;
  std::string scratch;
  SealedRecord sealed;
  while (true) {
    std::unique_ptr<Chunk> chunk;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return !todo_.empty() || reading_done_ || error_; });
      if (error_ || todo_.empty()) return;
      chunk = std::move(todo_.front());
      todo_.pop_front();
    }
    Prepare(*chunk, parser, inputs, cells, scratch, sealed);
    {
      std::lock_guard lock(mu_);
      done_.emplace(chunk->seq, std::move(chunk));
    }
    cv_.notify_all();
  }
}

Status Pipeline::Commit(Chunk& chunk, std::unordered_set<std::string>& seen) {
  // Unique constraints: against the store (earlier chunks are committed) and
  // within this chunk. A clash rejects the later row.
  std::vector<bool> clash(chunk.rows.size(), false);
  bool any_clash = false;
  seen.clear();
  for (const UniqueProbe& p : chunk.probes) {
    if (clash[p.row]) continue;
    bool taken = !seen.insert(p.key).second;
    if (!taken) {
      COFFRE_ASSIGN_OR_RETURN(auto existing, vault_.store().Get(Space::kIndex, p.key));
      taken = existing.has_value();
    }
    if (taken) {
      clash[p.row] = true;
      any_clash = true;
      chunk.rejects.emplace_back(chunk.rows[p.row].line,
                                 "field '" + collection_.fields[p.field].name +
                                     "': value already exists (unique)");
    }
  }
  uint64_t imported = chunk.valid;
  if (any_clash) {
    // Slow path: rebuild the batch without the clashing rows.
    chunk.batch->Clear();
    imported = 0;
    for (size_t r = 0; r < chunk.rows.size(); ++r) {
      auto [begin, end] = chunk.row_ops[r];
      if (begin == end || clash[r]) continue;
      ++imported;
      std::string_view ops(chunk.ops.data() + begin, end - begin);
      while (!ops.empty()) {
        auto space = static_cast<Space>(ops[0]);
        ops.remove_prefix(1);
        std::string_view key, value;
        ReadLengthPrefixed(ops, key);
        ReadLengthPrefixed(ops, value);
        chunk.batch->Put(space, key, value);
      }
    }
  }
  if (chunk.batch->Count() > 0) COFFRE_TRY(vault_.store().Write(*chunk.batch));

  std::sort(chunk.rejects.begin(), chunk.rejects.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  if (!chunk.rejects.empty()) {
    if (!rejects_.is_open()) {
      rejects_.open(options_.rejects_path, std::ios::out | std::ios::trunc);
      if (!rejects_) return Fail(ErrorCode::kIoError, "cannot write " + options_.rejects_path);
    }
    for (const auto& [line, reason] : chunk.rejects) rejects_ << "line " << line << ": " << reason << '\n';
  }
  ImportProgress snapshot;
  {
    std::lock_guard lock(mu_);
    progress_.imported += imported;
    progress_.rejected += chunk.rejects.size();
    progress_.committed_through_line = chunk.last_line;
    snapshot = progress_;
  }
  if (options_.on_commit) options_.on_commit(snapshot);
  return Ok();
}

void Pipeline::CommitterLoop() {
  std::unordered_set<std::string> seen;
  for (uint64_t next = 0;; ++next) {
    std::unique_ptr<Chunk> chunk;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] {
        return done_.count(next) > 0 || error_ || (reading_done_ && next >= chunks_total_);
      });
      if (error_) return;
      if (done_.count(next) == 0) return;  // all chunks committed
      chunk = std::move(done_[next]);
      done_.erase(next);
    }
    Status s = Commit(*chunk, seen);
    chunk.reset();
    {
      std::lock_guard lock(mu_);
      --in_flight_;
    }
    cv_.notify_all();
    if (!s) {
      SetError(s.error());
      return;
    }
  }
}

Result<ImportStats> Pipeline::Run() {
  auto start = std::chrono::steady_clock::now();
  unsigned threads = options_.threads ? options_.threads : std::max(1u, std::thread::hardware_concurrency());
  max_in_flight_ = 2 * threads + 2;
  std::error_code ec;
  std::filesystem::remove(options_.rejects_path, ec);  // a stale file would mislead

  std::vector<std::thread> workers;
  for (unsigned i = 0; i < threads; ++i) workers.emplace_back([this] { WorkerLoop(); });
  std::thread committer([this] { CommitterLoop(); });
  Status read = ReadAll();
  if (!read) SetError(read.error());
  for (auto& w : workers) w.join();
  committer.join();
  if (rejects_.is_open()) rejects_.close();
  if (error_) return Fail(*error_);

  ImportStats stats;
  stats.imported = progress_.imported;
  stats.rejected = progress_.rejected;
  stats.committed_through_line = progress_.committed_through_line;
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

ImportFormat DetectFormat(const std::string& path) {
  auto ends = [&](std::string_view suffix) {
    return path.size() >= suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends(".csv") || ends(".CSV")) return ImportFormat::kCsv;
  if (ends(".ndjson") || ends(".jsonl") || ends(".json")) return ImportFormat::kNdjson;
  std::ifstream in(path);
  char c = 0;
  while (in.get(c)) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    return c == '{' ? ImportFormat::kNdjson : ImportFormat::kCsv;
  }
  return ImportFormat::kNdjson;
}

}  // namespace

Result<ImportStats> Import(Vault& vault, const ImportOptions& in) {
  const schema::Collection* collection = vault.schema().Find(in.collection);
  if (collection == nullptr) return Fail(ErrorCode::kNotFound, "unknown collection '" + in.collection + "'");
  ImportOptions options = in;
  if (options.rejects_path.empty()) options.rejects_path = options.path + ".rejects";
  if (options.chunk_rows == 0) options.chunk_rows = 4096;
  struct stat st{};
  if (::stat(options.path.c_str(), &st) != 0) {
    return Fail(ErrorCode::kNotFound, "cannot open import file " + options.path);
  }
  ImportFormat format = options.format == ImportFormat::kAuto ? DetectFormat(options.path) : options.format;
  Pipeline pipeline(vault, options, *collection, format);
  return pipeline.Run();
}

}  // namespace coffre::vault
