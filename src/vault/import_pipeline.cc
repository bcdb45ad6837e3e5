#include "vault/import_pipeline.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <queue>
#include <thread>
#include <unordered_map>

#include "common/bytes.h"
#include "crypto/crypto.h"
#include "schema/security_code.h"
#include "storage/sorted_file_writer.h"
#include "vault/csv_reader.h"
#include "vault/export_line_reader.h"
#include "vault/import_out_file.h"
#include "vault/internal/layout.h"
#include "vault/ndjson_reader.h"
#include "vault/record_sealer.h"
#include "vault/record_splitter.h"
#include "vault/unique_key_set.h"

namespace coffre::vault {
namespace {

using storage::Space;

struct Row {
  size_t begin = 0;  // offsets into Chunk::data
  size_t end = 0;
  uint64_t line = 0;  // 1-based line number where the row starts
};

// A unique index entry claimed in a shared store before its group is
// ingested (ImportPipeline::Impl::ClaimUniques).
struct Claim {
  std::string key;
  std::string value;  // the record id
  uint16_t field = 0;
};

struct UniqueProbe {
  uint32_t row = 0;
  uint32_t entry = 0;  // in Chunk::index.entries
  uint16_t field = 0;
  bool in_store = false;  // found by the worker's lookup
};

// The rows of one atomic commit, handed from the committer to the ingester.
struct Group {
  uint64_t number = 0;
  std::vector<IndexRun> runs;  // each sorted by key
  std::vector<std::pair<Space, std::string>> files;
  uint64_t imported = 0;
  uint64_t rejected = 0;
  uint64_t last_line = 0;
  std::string ids_lines;              // --ids-out lines, written once the group is durable
  std::vector<std::string> canaries;  // --format export: subjects flagged canary
};

// Appends `s` as a JSON string (quotes and escapes).
void AppendJsonString(std::string& out, std::string_view s) {
  out += '"';
  AppendJsonEscaped(out, s);
  out += '"';
}

// The key/value entries of one space, with their rows, to be written in key
// order (--subject-key: memberships and data keys of existing subjects do
// not come in id order).
struct OpRef {
  std::string_view key;
  std::string_view value;
  uint32_t row = 0;
};

// One batch of rows travelling through the pipeline.
struct Chunk {
  uint64_t seq = 0;
  std::string data;  // raw bytes, followed by NdjsonReader::kPadding bytes
  std::vector<Row> rows;
  uint64_t last_line = 0;
  uint64_t id_base = 0;  // row r uses sequences id_base + 2r (record), + 2r + 1 (subject)
  uint64_t epoch = 0;    // groups ingested before the worker's unique lookups

  // Filled by a worker.
  // Entries of the three sorted files, length-prefixed key and value
  // (kOrderedSpaces order): one record and one membership per valid row,
  // one data key per new data key; op_rows[s][i] is the row of the i-th
  // entry of ops[s], so the slow path can leave rows out.
  std::string ops[3];
  std::vector<uint32_t> op_rows[3];
  std::vector<OpRef> sorted;  // scratch of WriteChunkFiles (--subject-key)
  // --ids-out: record id || subject id (32 bytes) of row r at 32 * r, and
  // the row's --key-field value at key_spans[r] in key_text.
  std::string row_ids;
  std::vector<uint8_t> row_canary;  // --format export: the line says "canary":true
  std::string key_text;
  std::vector<std::pair<uint32_t, uint32_t>> key_spans;  // offset, size; size ~0u: none
  IndexRun index;                   // sorted by key; each entry carries its row
  std::vector<UniqueProbe> probes;  // grouped by row
  std::vector<std::pair<uint64_t, std::string>> rejects;  // line, reason
  std::vector<std::pair<Space, std::string>> files;       // sorted files written
  uint64_t valid = 0;

  // Empties the chunk for reuse, keeping its buffers' capacity.
  void Reset() {
    seq = last_line = id_base = epoch = valid = 0;
    data.clear();
    rows.clear();
    for (std::string& o : ops) o.clear();
    for (auto& r : op_rows) r.clear();
    sorted.clear();
    row_ids.clear();
    row_canary.clear();
    key_text.clear();
    key_spans.clear();
    index.Clear();
    probes.clear();
    rejects.clear();
    files.clear();
  }
};

// The three spaces whose keys a chunk writes in increasing order.
constexpr Space kOrderedSpaces[] = {Space::kRecords, Space::kKeys, Space::kSubjects};

void AppendOp(std::string& ops, std::string_view key, std::string_view value) {
  AppendLengthPrefixed(ops, key);
  AppendLengthPrefixed(ops, value);
}

// The rejects file replaces what is at its path: never the input itself.
Status CheckRejectsIsNotInput(const std::string& input, const std::string& rejects) {
  struct stat in {
  }, out{};
  if (input == "-" || ::stat(input.c_str(), &in) != 0 || ::stat(rejects.c_str(), &out) != 0)
    return Ok();
  if (in.st_dev == out.st_dev && in.st_ino == out.st_ino) {
    return Fail(ErrorCode::kInvalidArgument, "--rejects names the input file itself");
  }
  return Ok();
}

// The format of an input that names none, from the bytes read so far: the
// first byte that is not white space decides ('{': NDJSON, else CSV); kAuto
// while only white space was read and more may come (an input of white
// space only holds no row: NDJSON).
ImportFormat FormatFromFirstBytes(std::string_view bytes, bool eof) {
  size_t first = bytes.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return eof ? ImportFormat::kNdjson : ImportFormat::kAuto;
  return bytes[first] != '{' ? ImportFormat::kCsv : ImportFormat::kNdjson;
}

}  // namespace

class ImportPipeline::Impl {
 public:
  Impl(Vault& vault, const ImportOptions& options, PipelineSetup setup)
      : vault_(vault),
        options_(options),
        collection_(*setup.collection),
        format_(setup.format),
        tmp_dir_(std::move(setup.tmp_dir)),
        subject_key_(std::move(setup.subject_key)),
        rejects_path_(std::move(setup.rejects_path)),
        rejects_fresh_(setup.rejects_fresh) {
    key_column_ = !options_.key_field.empty() && collection_.Find(options_.key_field) == nullptr;
    subject_column_ = subject_key_ && collection_.Find(subject_key_->field) == nullptr;
    // Index keys start with lp(collection) || lp(field); no field's prefix
    // is a prefix of another's (length-prefixed), so ordering keys of
    // different fields is ordering their fields' prefixes.
    std::vector<std::pair<std::string, size_t>> prefixes;
    for (size_t i = 0; i < collection_.fields.size(); ++i) {
      std::string p;
      AppendLengthPrefixed(p, collection_.name);
      AppendLengthPrefixed(p, collection_.fields[i].name);
      prefixes.emplace_back(std::move(p), i);
    }
    std::sort(prefixes.begin(), prefixes.end());
    field_rank_.resize(prefixes.size());
    for (size_t r = 0; r < prefixes.size(); ++r)
      field_rank_[prefixes[r].second] = static_cast<uint32_t>(r);
  }

  Result<ImportStats> Run();
  // Creates the --ids-out file (before anything is read).
  Status OpenIdsOut() {
    if (options_.ids_out_fd >= 0) return ids_out_.Adopt(options_.ids_out_fd, options_.ids_out_path);
    return options_.ids_out_path.empty() ? Ok() : ids_out_.Open(options_.ids_out_path, true);
  }

 private:
  // A worker's buffers, kept from row to row.
  struct Scratch {
    explicit Scratch(const schema::Collection& collection) : exports(collection.name) {}
    NdjsonReader ndjson;
    ExportLineReader exports;
    CsvReader::Scratch csv;
    ExportLine export_line;
    std::vector<NamedInput> inputs;
    std::vector<FieldValue> fields;
    SealedRecord sealed;
    std::vector<std::string_view> keys;
    std::vector<UniqueProbe> probes;
    std::vector<uint32_t> row_starts;
  };

  // Byte order of index keys, cheaply: field prefix, then the blind value's
  // first 8 bytes, then (rarely) the whole keys.
  bool Before(const IndexRun& ra, const IndexRun::Entry& a, const IndexRun& rb,
              const IndexRun::Entry& b) const {
    if (a.field != b.field) return field_rank_[a.field] < field_rank_[b.field];
    if (a.head != b.head) return a.head < b.head;
    return ra.key(a) < rb.key(b);
  }
  std::unique_ptr<Chunk> NewChunk();

  Status ReadAll();
  void WorkerLoop();
  void CommitterLoop();
  // Reads one row into `scratch.inputs` with the format's reader; false if
  // rejected (reason added).
  bool ParseRow(Chunk& chunk, const Row& row, Scratch& scratch);
  struct AttachKey;
  // The data key of an existing (or kept, --format export) subject for this
  // collection: from the store, or created once for the whole import.
  Result<const AttachKey*> KeyOfSubject(const std::string& subject);
  // --key-field and --subject-key: copies the row's key, takes out the
  // columns that are not fields, and finds the subject to attach to (with
  // its data key). False if the row is rejected (reason added).
  Result<bool> PrepareColumns(Chunk& chunk, size_t r, Scratch& scratch, std::string& subject,
                              const crypto::SecretKey** data_key, bool* wrap_key);
  Status Prepare(Chunk& chunk, Scratch& scratch);
  Status WriteChunkFiles(Chunk& chunk, const std::vector<bool>* drop);
  Status Commit(Chunk& chunk);
  // A shared store: claims the unique values of the chunk's rows not yet
  // rejected, marking in `clash` (with a reject) the rows whose value
  // another node holds.
  Status ClaimUniques(Chunk& chunk, std::vector<bool>& clash);
  // After a failure: removes the claims of groups that were not ingested.
  void ReleaseClaims();
  Status OpenRejects();
  // Hands the current group to the ingester (waits while it is busy).
  Status IngestGroup();
  void IngesterLoop();
  Status Ingest(Group& group);
  std::string TmpPath(std::string_view what, uint64_t n) const;
  void SetError(Error e);

  Vault& vault_;
  std::vector<uint32_t> field_rank_;  // by field index: rank of its index-key prefix
  const ImportOptions& options_;
  const schema::Collection& collection_;
  ImportFormat format_;
  std::string tmp_dir_;
  std::optional<SubjectKey> subject_key_;
  bool key_column_ = false;      // the --key-field column is not a field: not stored
  bool subject_column_ = false;  // the --subject-key column is not a field: not stored
  // --subject-key: the (subject, collection) data key of every subject
  // attached to so far, and whether it was in the store before the import
  // (otherwise every chunk that uses it writes it, wrapped; all the same key).
  struct AttachKey {
    crypto::SecretKey key;
    bool stored = false;
  };
  std::mutex attach_mu_;
  std::unordered_map<std::string, AttachKey> attach_keys_;  // by subject; nodes never move
  CsvReader csv_;                                           // its header, once read
  // Why every row is rejected when a column is named like a security code.
  std::optional<std::string> header_security_code_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Chunk>> todo_;
  std::vector<std::unique_ptr<Chunk>> free_chunks_;  // committed, kept for their buffers
  std::map<uint64_t, std::unique_ptr<Chunk>> done_;
  size_t in_flight_ = 0;
  size_t max_in_flight_ = 4;
  bool reading_done_ = false;
  uint64_t chunks_total_ = 0;
  std::optional<Error> error_;

  // Committer state: the current commit group, and the unique keys of the
  // groups a worker's lookup may not have seen (not yet ingested then).
  Group group_;
  uint64_t group_rows_ = 0;
  std::map<uint64_t, UniqueKeySet> pending_unique_;  // by group
  std::atomic<uint64_t> groups_ingested_{0};
  // A shared store: the unique entries claimed by groups not yet ingested
  // (by group; under mu_).
  std::map<uint64_t, std::vector<Claim>> claims_;

  // Ingester: at most one group queued while another is being ingested.
  std::optional<Group> queued_;
  bool committer_done_ = false;

  ImportProgress progress_;
  uint64_t rows_read_ = 0;  // reader: rows handed to the pipeline
  uint64_t canaries_ = 0;   // committed rows flagged canary
  ImportOutFile rejects_;
  std::string rejects_path_;    // where rejects_ is (or will be) created
  bool rejects_fresh_ = false;  // the default beside a pipe or device: a new file
  std::string rejects_text_;    // committer: one chunk's reject lines
  ImportOutFile ids_out_;
  std::string last_kept_id_;  // committer, --format export: the last record id kept
};

void ImportPipeline::Impl::SetError(Error e) {
  std::lock_guard lock(mu_);
  if (!error_) error_ = std::move(e);
  cv_.notify_all();
}

Status ImportPipeline::Impl::ReadAll() {
  // A descriptor the caller opened (ImportOptions::input_fd) is its own.
  const bool borrowed = options_.path == "-" || options_.input_fd >= 0;
  int fd = options_.input_fd >= 0 ? options_.input_fd
           : options_.path == "-" ? STDIN_FILENO
                                  : ::open(options_.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return Fail(ErrorCode::kNotFound,
                "cannot open import file " + options_.path + ": " + std::strerror(errno));
  }
  struct stat st {};
  ::fstat(fd, &st);
  {
    std::lock_guard lock(mu_);
    // A pipe or a device has no size: the progress bar then shows counts only.
    progress_.bytes_total = S_ISREG(st.st_mode) ? static_cast<uint64_t>(st.st_size) : 0;
  }
  RecordSplitter splitter;
  uint64_t seq = 0;
  bool header_pending = false;
  auto chunk = NewChunk();
  size_t chunk_start = 0;  // start of the chunk's first row in the splitter's buffer
  std::vector<char> block(1 << 20);
  bool eof = false;

  // Hands the rows so far, bytes [chunk_start, cut) of the buffer, to the workers.
  auto emit = [&](size_t cut) -> Status {
    std::string_view pending = splitter.buffer();
    chunk->data.assign(pending.data() + chunk_start, cut - chunk_start);
    chunk->data.append(NdjsonReader::kPadding, '\0');
    for (Row& r : chunk->rows) {
      r.begin -= chunk_start;
      r.end -= chunk_start;
    }
    chunk->seq = seq++;
    chunk->id_base = vault_.ids().Reserve(2 * chunk->rows.size());
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return in_flight_ < max_in_flight_ || error_; });
      if (error_) return Fail(*error_);
      ++in_flight_;
      todo_.push_back(std::move(chunk));
    }
    cv_.notify_all();
    chunk = NewChunk();
    splitter.Discard(cut);
    chunk_start = 0;
    return Ok();
  };

  // Takes every record complete in the buffer: the CSV header, then rows.
  auto take_records = [&]() -> Status {
    InputRecord rec;
    while (splitter.Next(rec)) {
      if (header_pending) {
        COFFRE_TRY(csv_.ReadHeader(splitter.buffer().substr(rec.begin, rec.end - rec.begin)));
        header_pending = false;
        // A column named like a security code: every row is rejected for it.
        for (const std::string& name : csv_.header()) {
          if (header_security_code_) break;
          header_security_code_ = schema::FindSecurityCodeInFields({{name, schema::Input::Null()}});
        }
        continue;
      }
      if (chunk->rows.empty()) chunk_start = rec.begin;
      chunk->rows.push_back({rec.begin, rec.end, rec.first_line});
      chunk->last_line = rec.last_line;
      ++rows_read_;
      if (chunk->rows.size() >= options_.chunk_rows) COFFRE_TRY(emit(rec.next));
    }
    return Ok();
  };

  auto set_format = [&](ImportFormat format) {
    format_ = format;
    header_pending = format_ == ImportFormat::kCsv;
    splitter.set_mode(header_pending ? RecordSplitter::Mode::kCsv : RecordSplitter::Mode::kLines);
  };
  if (format_ != ImportFormat::kAuto) set_format(format_);

  Status status = Ok();
  while (!eof && status) {
    ssize_t n = ::read(fd, block.data(), block.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status = Fail(ErrorCode::kIoError, "cannot read import file " + options_.path);
      break;
    }
    if (n == 0) {
      eof = true;
      splitter.Finish();
    } else {
      splitter.Append(std::string_view(block.data(), static_cast<size_t>(n)));
      std::lock_guard lock(mu_);
      progress_.bytes_read += static_cast<uint64_t>(n);
    }
    if (format_ == ImportFormat::kAuto) {
      // Detected from the bytes read, which are then parsed as they are: a
      // pipe cannot be read twice.
      ImportFormat detected = FormatFromFirstBytes(splitter.buffer(), eof);
      if (detected == ImportFormat::kAuto) continue;
      set_format(detected);
    }
    status = take_records();
  }
  if (!borrowed) ::close(fd);
  if (status && header_pending)
    status = Fail(ErrorCode::kInvalidArgument, "CSV file has no header row");
  if (status && !chunk->rows.empty()) status = emit(splitter.buffer().size());
  {
    std::lock_guard lock(mu_);
    reading_done_ = true;
    chunks_total_ = seq;
  }
  cv_.notify_all();
  return status;
}

std::unique_ptr<Chunk> ImportPipeline::Impl::NewChunk() {
  std::lock_guard lock(mu_);
  if (free_chunks_.empty()) return std::make_unique<Chunk>();
  auto chunk = std::move(free_chunks_.back());
  free_chunks_.pop_back();
  return chunk;
}

std::string ImportPipeline::Impl::TmpPath(std::string_view what, uint64_t n) const {
  return tmp_dir_ + "/" + std::string(what) + "-" + std::to_string(n) + ".sst";
}

bool ImportPipeline::Impl::ParseRow(Chunk& chunk, const Row& row, Scratch& sc) {
  std::string_view text(chunk.data.data() + row.begin, row.end - row.begin);
  const size_t r = static_cast<size_t>(&row - chunk.rows.data());
  // Incident 1: a row holding a card security code is rejected for that
  // before any other rule (docs/cards.md); rows that parse into fields are
  // checked by Vault::Validate, the others here.
  Status read = Ok();
  switch (format_) {
    case ImportFormat::kCsv:
      if (header_security_code_) {
        chunk.rejects.emplace_back(row.line, *header_security_code_);
        return false;
      }
      read = csv_.ReadRow(text, sc.csv, sc.inputs);
      if (!read && !sc.inputs.empty()) {
        // Another number of columns: the cells may still hold a code.
        std::optional<std::string> why = schema::FindSecurityCodeInFields(sc.inputs, &collection_);
        sc.inputs.clear();
        if (why) {
          chunk.rejects.emplace_back(row.line, std::move(*why));
          return false;
        }
      }
      break;
    case ImportFormat::kExport:
      // A line of `coffre bulk-export`: the ids are kept. The chunk's rows
      // are followed by the padding the JSON parser reads.
      read = sc.exports.ReadRow(text, sc.export_line, sc.inputs);
      if (read) {
        char* ids = chunk.row_ids.data() + 2 * kIdBytes * r;
        std::memcpy(ids, sc.export_line.record_id, kIdBytes);
        std::memcpy(ids + kIdBytes, sc.export_line.subject, kIdBytes);
        chunk.row_canary[r] = sc.export_line.canary ? 1 : 0;
      }
      break;
    default:
      read = sc.ndjson.ReadRow(text, sc.inputs);
  }
  if (read) return true;
  std::string reason = std::move(read.error().message);
  if (format_ != ImportFormat::kCsv) {
    if (auto why = schema::FindSecurityCodeInRow(text, collection_)) reason = std::move(*why);
  }
  chunk.rejects.emplace_back(row.line, std::move(reason));
  return false;
}

Result<const ImportPipeline::Impl::AttachKey*> ImportPipeline::Impl::KeyOfSubject(
    const std::string& subject) {
  {
    std::lock_guard lock(attach_mu_);
    auto it = attach_keys_.find(subject);
    if (it != attach_keys_.end()) return &it->second;
  }
  COFFRE_ASSIGN_OR_RETURN(std::optional<crypto::SecretKey> stored,
                          vault_.FindDataKey(subject, collection_.name));
  AttachKey fresh;
  fresh.stored = stored.has_value();
  fresh.key = stored ? std::move(*stored) : crypto::SecretKey::Random();
  std::lock_guard lock(attach_mu_);
  // Another worker may have added it meanwhile: theirs wins.
  return &attach_keys_.try_emplace(subject, std::move(fresh)).first->second;
}

Result<bool> ImportPipeline::Impl::PrepareColumns(Chunk& chunk, size_t r, Scratch& sc,
                                                  std::string& subject,
                                                  const crypto::SecretKey** data_key,
                                                  bool* wrap_key) {
  const Row& row = chunk.rows[r];
  const schema::Input* key_input = nullptr;
  const schema::Input* subject_input = nullptr;
  for (const NamedInput& in : sc.inputs) {
    if (!options_.key_field.empty() && in.first == options_.key_field) key_input = &in.second;
    if (subject_key_ && in.first == subject_key_->field) subject_input = &in.second;
  }
  if (key_input != nullptr && !chunk.key_spans.empty() &&
      key_input->kind != schema::Input::Kind::kNull) {
    const size_t start = chunk.key_text.size();
    switch (key_input->kind) {
      case schema::Input::Kind::kString:
        chunk.key_text += key_input->text;
        break;
      case schema::Input::Kind::kInteger:
        chunk.key_text += std::to_string(key_input->integer);
        break;
      default:
        chunk.key_text += key_input->boolean ? "true" : "false";
    }
    chunk.key_spans[r] = {static_cast<uint32_t>(start),
                          static_cast<uint32_t>(chunk.key_text.size() - start)};
  }
  if (subject_key_) {
    const SubjectKey& sk = *subject_key_;
    if (subject_input == nullptr || subject_input->kind == schema::Input::Kind::kNull ||
        (subject_input->kind == schema::Input::Kind::kString && subject_input->text.empty())) {
      chunk.rejects.emplace_back(row.line, "field '" + sk.field + "': missing (--subject-key)");
      return false;
    }
    auto refs = vault_.Find(sk.collection->name, sk.field, *subject_input, 1);
    if (!refs) {
      if (refs.error().code != ErrorCode::kInvalidArgument) return Fail(refs.error());
      chunk.rejects.emplace_back(row.line, refs.error().message + " (--subject-key)");
      return false;
    }
    if (refs->empty()) {
      chunk.rejects.emplace_back(row.line, "field '" + sk.field + "': no subject in collection '" +
                                               sk.collection->name +
                                               "' has this value (--subject-key)");
      return false;
    }
    subject = std::move((*refs)[0].subject);
    COFFRE_ASSIGN_OR_RETURN(const AttachKey* found, KeyOfSubject(subject));
    *data_key = &found->key;
    *wrap_key = !found->stored;
  }
  if (key_column_ || subject_column_) {
    std::erase_if(sc.inputs, [&](const NamedInput& in) {
      return (key_column_ && in.first == options_.key_field) ||
             (subject_column_ && in.first == subject_key_->field);
    });
  }
  return true;
}

Status ImportPipeline::Impl::Prepare(Chunk& chunk, Scratch& sc) {
  uint32_t schema_version = vault_.schema().version();
  // Last activity (docs/retention.md): one clock read per chunk; the value
  // rides in the membership entry the import writes anyway.
  const std::string activity = layout::MemberValue(vault_.clock().NowUnixSeconds());
  SealedRecord& sealed = sc.sealed;
  std::vector<FieldValue>& fields = sc.fields;
  const bool ids_out = ids_out_.is_open();
  const bool keep_ids = format_ == ImportFormat::kExport;
  if (ids_out || keep_ids) chunk.row_ids.resize(chunk.rows.size() * 2 * kIdBytes);
  if (keep_ids) chunk.row_canary.assign(chunk.rows.size(), 0);
  if (ids_out && !options_.key_field.empty()) chunk.key_spans.assign(chunk.rows.size(), {0, ~0u});
  std::string attach_subject;
  std::string_view previous_id;  // --format export: ids must increase (sorted files)
  for (size_t r = 0; r < chunk.rows.size(); ++r) {
    const Row& row = chunk.rows[r];
    if (!ParseRow(chunk, row, sc)) continue;
    const crypto::SecretKey* attach_key = nullptr;
    bool wrap_key = true;
    if (keep_ids) {
      std::string_view id(chunk.row_ids.data() + 2 * kIdBytes * r, kIdBytes);
      if (!previous_id.empty() && id <= previous_id) {
        chunk.rejects.emplace_back(row.line,
                                   "record id repeated or out of order (an export is in id order)");
        continue;
      }
      attach_subject.assign(chunk.row_ids.data() + 2 * kIdBytes * r + kIdBytes, kIdBytes);
      COFFRE_ASSIGN_OR_RETURN(const AttachKey* key, KeyOfSubject(attach_subject));
      attach_key = &key->key;
      wrap_key = !key->stored;
    }
    if (!options_.key_field.empty() || subject_key_) {
      COFFRE_ASSIGN_OR_RETURN(bool kept,
                              PrepareColumns(chunk, r, sc, attach_subject, &attach_key, &wrap_key));
      if (!kept) continue;
    }
    if (Status valid = vault_.ValidateInto(collection_, sc.inputs, fields); !valid) {
      chunk.rejects.emplace_back(row.line, valid.error().message);
      continue;
    }
    sealed.Reset();
    sealed.record_id.resize(kIdBytes);
    if (keep_ids) {
      std::memcpy(sealed.record_id.data(), chunk.row_ids.data() + 2 * kIdBytes * r, kIdBytes);
      previous_id = std::string_view(chunk.row_ids.data() + 2 * kIdBytes * r, kIdBytes);
    } else {
      IdSource::MakeInto(chunk.id_base + 2 * r, sealed.record_id.data());
    }
    if (attach_key != nullptr) {
      sealed.subject = attach_subject;
    } else {
      sealed.subject.resize(kIdBytes);
      IdSource::MakeInto(chunk.id_base + 2 * r + 1, sealed.subject.data());
    }
    crypto::SecretKey data_key;
    if (attach_key == nullptr) data_key = crypto::SecretKey::Random();
    SealRecord(vault_.keyring(), collection_, schema_version, fields,
               attach_key != nullptr ? *attach_key : data_key, wrap_key, sealed, chunk.index,
               static_cast<uint32_t>(r));
    AppendOp(chunk.ops[0], sealed.record_key, sealed.record_value);
    chunk.op_rows[0].push_back(static_cast<uint32_t>(r));
    if (wrap_key) {
      AppendOp(chunk.ops[1], sealed.data_key_key, sealed.data_key_value);
      chunk.op_rows[1].push_back(static_cast<uint32_t>(r));
    }
    AppendOp(chunk.ops[2], sealed.member_key, activity);
    chunk.op_rows[2].push_back(static_cast<uint32_t>(r));
    if (ids_out) {
      std::memcpy(chunk.row_ids.data() + 2 * kIdBytes * r, sealed.record_id.data(), kIdBytes);
      std::memcpy(chunk.row_ids.data() + 2 * kIdBytes * r + kIdBytes, sealed.subject.data(),
                  kIdBytes);
    }
    ++chunk.valid;
  }
  // Index entries carry their row so that the committer can drop a row's
  // entries if a unique check rejects it.
  std::vector<IndexRun::Entry>& entries = chunk.index.entries;
  std::sort(entries.begin(), entries.end(),
            [&](const IndexRun::Entry& a, const IndexRun::Entry& b) {
              return Before(chunk.index, a, chunk.index, b);
            });
  // Unique keys, looked up in key order (RocksDB then skips its own sort),
  // then grouped by row for the committer (counting sort: rows are dense).
  sc.probes.clear();
  sc.keys.clear();
  for (size_t i = 0; i < entries.size(); ++i) {
    if (!entries[i].unique) continue;
    sc.probes.push_back({entries[i].row, static_cast<uint32_t>(i), entries[i].field, false});
    sc.keys.push_back(chunk.index.key(entries[i]));
  }
  chunk.epoch = groups_ingested_.load(std::memory_order_acquire);
  if (!sc.probes.empty()) {
    COFFRE_ASSIGN_OR_RETURN(auto found, vault_.store().MultiGet(Space::kIndex, sc.keys));
    for (size_t i = 0; i < found.size(); ++i) sc.probes[i].in_store = found[i].has_value();
    sc.row_starts.assign(chunk.rows.size() + 1, 0);
    for (const UniqueProbe& p : sc.probes) ++sc.row_starts[p.row + 1];
    for (size_t r = 0; r < chunk.rows.size(); ++r) sc.row_starts[r + 1] += sc.row_starts[r];
    chunk.probes.resize(sc.probes.size());
    for (const UniqueProbe& p : sc.probes) chunk.probes[sc.row_starts[p.row]++] = p;
  }
  return WriteChunkFiles(chunk, nullptr);
}

// Writes the chunk's records, data keys and memberships as three sorted
// files, leaving out the rows marked in `drop`. Replaces any files written
// before. New subjects' entries are in id order already (rows are); with
// --subject-key the data keys and memberships of existing subjects are
// sorted here, and a data key wrapped by several rows is written once (every
// copy wraps the same key).
Status ImportPipeline::Impl::WriteChunkFiles(Chunk& chunk, const std::vector<bool>* drop) {
  for (auto& [space, path] : chunk.files) std::filesystem::remove(path);
  chunk.files.clear();
  for (size_t s = 0; s < std::size(kOrderedSpaces); ++s) {
    const Space space = kOrderedSpaces[s];
    std::unique_ptr<storage::SortedFileWriter> writer;
    std::string path = TmpPath(storage::SpaceName(space), chunk.seq);
    const std::vector<uint32_t>& rows = chunk.op_rows[s];
    auto add = [&](std::string_view key, std::string_view value) -> Status {
      if (!writer) {
        COFFRE_ASSIGN_OR_RETURN(writer, storage::SortedFileWriter::Create(path, rows.size()));
      }
      return writer->Add(key, value);
    };
    const bool sort =
        (subject_key_ || format_ == ImportFormat::kExport) && space != Space::kRecords;
    chunk.sorted.clear();
    std::string_view ops(chunk.ops[s]);
    for (size_t i = 0; !ops.empty(); ++i) {
      OpRef op;
      ReadLengthPrefixed(ops, op.key);
      ReadLengthPrefixed(ops, op.value);
      op.row = rows[i];
      if (drop && (*drop)[op.row]) continue;
      if (sort) {
        chunk.sorted.push_back(op);
      } else {
        COFFRE_TRY(add(op.key, op.value));
      }
    }
    if (sort) {
      std::stable_sort(chunk.sorted.begin(), chunk.sorted.end(),
                       [](const OpRef& a, const OpRef& b) { return a.key < b.key; });
      chunk.sorted.erase(std::unique(chunk.sorted.begin(), chunk.sorted.end(),
                                     [](const OpRef& a, const OpRef& b) { return a.key == b.key; }),
                         chunk.sorted.end());
      for (const OpRef& op : chunk.sorted) COFFRE_TRY(add(op.key, op.value));
    }
    if (writer) {
      COFFRE_TRY(writer->Finish());
      chunk.files.emplace_back(space, path);
    }
  }
  return Ok();
}

void ImportPipeline::Impl::WorkerLoop() {
  Scratch scratch(collection_);
  while (true) {
    std::unique_ptr<Chunk> chunk;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return !todo_.empty() || reading_done_ || error_; });
      if (error_ || todo_.empty()) return;
      chunk = std::move(todo_.front());
      todo_.pop_front();
    }
    Status s = Prepare(*chunk, scratch);
    if (!s) {
      SetError(s.error());
      return;
    }
    chunk->data.clear();  // keeps its capacity: the chunk is reused (NewChunk)
    {
      std::lock_guard lock(mu_);
      done_.emplace(chunk->seq, std::move(chunk));
    }
    cv_.notify_all();
  }
}

Status ImportPipeline::Impl::Commit(Chunk& chunk) {
  // Unique constraints, in file order. The worker looked each key up in the
  // store; groups not yet ingested at that moment are checked here, from
  // memory. Only the last few groups are kept in memory: an older chunk (rare)
  // is looked up again, since every group dropped from memory is ingested.
  constexpr size_t kKeptGroups = 4;
  while (pending_unique_.size() > kKeptGroups) pending_unique_.erase(pending_unique_.begin());
  bool stale = !pending_unique_.empty() && chunk.epoch < pending_unique_.begin()->first;
  auto& mine = pending_unique_[group_.number];
  std::vector<bool> clash(chunk.rows.size(), false);
  bool any_clash = false;
  if (format_ == ImportFormat::kExport) {
    // Kept record ids increase within a chunk (Prepare); across chunks too,
    // or a repeated id would overwrite a record.
    for (uint32_t r : chunk.op_rows[0]) {
      std::string_view id(chunk.row_ids.data() + 2 * kIdBytes * r, kIdBytes);
      if (!last_kept_id_.empty() && id <= last_kept_id_) {
        clash[r] = true;
        any_clash = true;
        chunk.rejects.emplace_back(chunk.rows[r].line,
                                   "record id repeated or out of order (an export is in id order)");
      } else {
        last_kept_id_.assign(id);
        break;  // the rest of the chunk increases from here
      }
    }
  }
  // A row's probes are contiguous (Prepare adds them row by row). Its keys are
  // reserved only once all of them are free, so a rejected row never touches
  // what earlier rows reserved.
  for (size_t begin = 0; begin < chunk.probes.size();) {
    size_t end = begin;
    while (end < chunk.probes.size() && chunk.probes[end].row == chunk.probes[begin].row) ++end;
    if (clash[chunk.probes[begin].row]) {
      begin = end;
      continue;
    }
    const UniqueProbe* taken_probe = nullptr;
    for (size_t i = begin; i < end && !taken_probe; ++i) {
      UniqueProbe& p = chunk.probes[i];
      std::string_view key = chunk.index.key(chunk.index.entries[p.entry]);
      if (stale && !p.in_store) {
        COFFRE_ASSIGN_OR_RETURN(auto existing, vault_.store().Get(Space::kIndex, key));
        p.in_store = existing.has_value();
      }
      bool taken = p.in_store;
      const char* blind = key.data() + key.size() - crypto::kBlindBytes;
      for (auto it = pending_unique_.lower_bound(chunk.epoch);
           !taken && it != pending_unique_.end(); ++it) {
        taken = it->second.Contains(p.field, blind);
      }
      if (taken) taken_probe = &p;
    }
    if (taken_probe) {
      clash[taken_probe->row] = true;
      any_clash = true;
      chunk.rejects.emplace_back(chunk.rows[taken_probe->row].line,
                                 UniqueClashMessage(collection_.fields[taken_probe->field].name));
    } else {
      for (size_t i = begin; i < end; ++i) {
        std::string_view key = chunk.index.key(chunk.index.entries[chunk.probes[i].entry]);
        mine.Insert(chunk.probes[i].field, key.data() + key.size() - crypto::kBlindBytes);
      }
    }
    begin = end;
  }
  // A shared store: the values another node may have taken since the
  // worker's lookup are claimed in the store, under their locks.
  const bool claimed = vault_.store().shared() && !chunk.probes.empty();
  if (claimed) {
    COFFRE_TRY(ClaimUniques(chunk, clash));
    any_clash = any_clash || std::find(clash.begin(), clash.end(), true) != clash.end();
  }
  uint64_t imported = chunk.valid;
  if (any_clash) {
    // Slow path: rewrite the chunk's files without the rejected rows.
    for (size_t r = 0; r < clash.size(); ++r) imported -= clash[r] ? 1 : 0;
    COFFRE_TRY(WriteChunkFiles(chunk, &clash));
  }
  if (any_clash || claimed) {
    // Claimed unique entries are in the store already.
    auto& entries = chunk.index.entries;
    entries.erase(std::remove_if(entries.begin(), entries.end(),
                                 [&](const IndexRun::Entry& e) {
                                   return clash[e.row] || (claimed && e.unique);
                                 }),
                  entries.end());
  }
  if (!chunk.index.entries.empty()) {
    group_.runs.push_back(std::move(chunk.index));
    chunk.index.Clear();
  }
  for (auto& f : chunk.files) group_.files.push_back(std::move(f));
  chunk.files.clear();

  std::sort(chunk.rejects.begin(), chunk.rejects.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  if (!chunk.rejects.empty()) {
    if (!rejects_.is_open()) COFFRE_TRY(OpenRejects());
    rejects_text_.clear();
    for (const auto& [line, reason] : chunk.rejects) {
      rejects_text_ += "line ";
      rejects_text_ += std::to_string(line);
      rejects_text_ += ": ";
      rejects_text_ += reason;
      rejects_text_ += '\n';
    }
    COFFRE_TRY(rejects_.Write(rejects_text_));
  }
  if (format_ == ImportFormat::kExport) {
    for (uint32_t r : chunk.op_rows[0]) {
      if (clash[r]) continue;
      last_kept_id_.assign(chunk.row_ids.data() + 2 * kIdBytes * r, kIdBytes);
      if (chunk.row_canary[r]) {
        group_.canaries.emplace_back(chunk.row_ids.data() + 2 * kIdBytes * r + kIdBytes, kIdBytes);
      }
    }
  }
  if (ids_out_.is_open()) {
    // Written by the ingester once the group is durable.
    std::string& out = group_.ids_lines;
    for (uint32_t r : chunk.op_rows[0]) {
      if (clash[r]) continue;
      std::string_view ids(chunk.row_ids.data() + 2 * kIdBytes * r, 2 * kIdBytes);
      out += "{\"line\":";
      out += std::to_string(chunk.rows[r].line);
      out += ",\"id\":\"";
      out += ToHex(ids.substr(0, kIdBytes));
      out += "\",\"subject\":\"";
      out += ToHex(ids.substr(kIdBytes));
      out += '"';
      if (!chunk.key_spans.empty()) {
        out += ",\"key\":";
        auto [offset, size] = chunk.key_spans[r];
        if (size == ~0u) {
          out += "null";
        } else {
          AppendJsonString(out, std::string_view(chunk.key_text).substr(offset, size));
        }
      }
      out += "}\n";
    }
  }
  group_rows_ += chunk.rows.size();
  group_.imported += imported;
  group_.rejected += chunk.rejects.size();
  group_.last_line = chunk.last_line;
  return Ok();
}

// Each slice of rows (whole rows, about kClaimLocks values) is one
// transaction: it takes the values' locks, the same names Vault::Put takes,
// looks each value up and writes the index entries of the rows whose values
// are all free. A create on another node then either committed first (the
// row is rejected, as a clash with the store always was) or sees the claim
// (409). Slices bound the locks one transaction holds (PostgreSQL's lock
// table is shared and finite).
Status ImportPipeline::Impl::ClaimUniques(Chunk& chunk, std::vector<bool>& clash) {
  constexpr size_t kClaimLocks = 256;
  storage::Store& store = vault_.store();
  const std::vector<UniqueProbe>& probes = chunk.probes;
  auto key_of = [&](const UniqueProbe& p) { return chunk.index.key(chunk.index.entries[p.entry]); };
  auto row_end = [&](size_t i) {
    size_t end = i;
    while (end < probes.size() && probes[end].row == probes[i].row) ++end;
    return end;
  };
  std::vector<std::string> locks;
  std::vector<size_t> taken;  // the first probe found held, of each row rejected
  for (size_t begin = 0; begin < probes.size();) {
    size_t end = begin;
    while (end < probes.size() && end - begin < kClaimLocks) end = row_end(end);
    locks.clear();
    for (size_t i = begin; i < end; ++i) {
      if (clash[probes[i].row]) continue;
      locks.push_back(layout::UniqueLockName(collection_.name,
                                             collection_.fields[probes[i].field].name,
                                             layout::UniqueKeyBlind(key_of(probes[i]))));
    }
    std::sort(locks.begin(), locks.end());
    locks.erase(std::unique(locks.begin(), locks.end()), locks.end());
    if (locks.empty()) {
      begin = end;
      continue;
    }
    COFFRE_TRY(store.Transact([&](storage::Transaction& t) -> Status {
      taken.clear();  // the body may run again
      for (const std::string& name : locks) COFFRE_TRY(t.Lock(name));
      for (size_t i = begin; i < end;) {
        const size_t next = row_end(i);
        if (!clash[probes[i].row]) {
          std::optional<size_t> held;
          for (size_t j = i; j < next && !held; ++j) {
            COFFRE_ASSIGN_OR_RETURN(auto existing, t.Get(Space::kIndex, key_of(probes[j])));
            if (existing) held = j;
          }
          if (held) {
            taken.push_back(*held);
          } else {
            for (size_t j = i; j < next; ++j) {
              const IndexRun::Entry& e = chunk.index.entries[probes[j].entry];
              t.batch().Put(Space::kIndex, chunk.index.key(e), chunk.index.value(e));
            }
          }
        }
        i = next;
      }
      return Ok();
    }));
    for (size_t j : taken) {
      const UniqueProbe& p = probes[j];
      clash[p.row] = true;
      chunk.rejects.emplace_back(chunk.rows[p.row].line,
                                 UniqueClashMessage(collection_.fields[p.field].name));
    }
    std::vector<Claim> mine;
    for (size_t i = begin; i < end; ++i) {
      if (clash[probes[i].row]) continue;
      const IndexRun::Entry& e = chunk.index.entries[probes[i].entry];
      mine.push_back(
          {std::string(chunk.index.key(e)), std::string(chunk.index.value(e)), probes[i].field});
    }
    {
      std::lock_guard lock(mu_);
      auto& claims = claims_[group_.number];
      for (Claim& c : mine) claims.push_back(std::move(c));
    }
    begin = end;
  }
  return Ok();
}

// Best effort: a claim still holding our record id is removed, under its
// lock; one another node's write replaced is left alone.
void ImportPipeline::Impl::ReleaseClaims() {
  std::vector<Claim> all;
  {
    std::lock_guard lock(mu_);
    for (auto& [group, claims] : claims_) {
      for (Claim& c : claims) all.push_back(std::move(c));
    }
    claims_.clear();
  }
  constexpr size_t kReleaseLocks = 256;
  for (size_t begin = 0; begin < all.size(); begin += kReleaseLocks) {
    const size_t end = std::min(all.size(), begin + kReleaseLocks);
    std::vector<std::string> locks;
    for (size_t i = begin; i < end; ++i) {
      locks.push_back(layout::UniqueLockName(collection_.name,
                                             collection_.fields[all[i].field].name,
                                             layout::UniqueKeyBlind(all[i].key)));
    }
    std::sort(locks.begin(), locks.end());
    locks.erase(std::unique(locks.begin(), locks.end()), locks.end());
    Status s = vault_.store().Transact([&](storage::Transaction& t) -> Status {
      for (const std::string& name : locks) COFFRE_TRY(t.Lock(name));
      for (size_t i = begin; i < end; ++i) {
        COFFRE_ASSIGN_OR_RETURN(auto v, t.Get(Space::kIndex, all[i].key));
        if (v && *v == all[i].value) t.batch().Delete(Space::kIndex, all[i].key);
      }
      return Ok();
    });
    if (!s) return;  // the store is gone: the claims stay (ADR 0044)
  }
}

Status ImportPipeline::Impl::IngestGroup() {
  uint64_t next = group_.number + 1;
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !queued_ || error_; });
    if (error_) return Fail(*error_);
    queued_ = std::move(group_);
  }
  cv_.notify_all();
  group_ = Group{};
  group_.number = next;
  group_rows_ = 0;
  return Ok();
}

void ImportPipeline::Impl::IngesterLoop() {
  while (true) {
    Group group;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return queued_ || committer_done_ || error_; });
      if (error_ || !queued_) return;
      group = std::move(*queued_);
      queued_.reset();
    }
    cv_.notify_all();
    Status s = Ingest(group);
    if (!s) {
      SetError(s.error());
      return;
    }
  }
}

// One atomic, durable step: the group's sorted files in all four spaces.
Status ImportPipeline::Impl::Ingest(Group& group) {
  std::vector<storage::IngestSet> sets;
  if (!group.runs.empty()) {
    // k-way merge of the workers' sorted runs straight into one sorted file.
    std::string path = TmpPath("index", group.number);
    uint64_t entries = 0;
    for (const IndexRun& run : group.runs) entries += run.entries.size();
    COFFRE_ASSIGN_OR_RETURN(auto writer, storage::SortedFileWriter::Create(path, entries));
    using Head = std::pair<size_t, size_t>;  // run, position
    auto after = [&](const Head& a, const Head& b) {
      const IndexRun& ra = group.runs[a.first];
      const IndexRun& rb = group.runs[b.first];
      return Before(rb, rb.entries[b.second], ra, ra.entries[a.second]);
    };
    std::priority_queue<Head, std::vector<Head>, decltype(after)> heap(after);
    for (size_t r = 0; r < group.runs.size(); ++r) heap.push({r, 0});
    while (!heap.empty()) {
      auto [r, i] = heap.top();
      heap.pop();
      const IndexRun& run = group.runs[r];
      const IndexRun::Entry& e = run.entries[i];
      COFFRE_TRY(writer->Add(run.key(e), run.value(e)));
      if (i + 1 < run.entries.size()) {
        // The runs' bytes are far apart (megabytes each): start loading the
        // key this run offers next while the heap works.
        __builtin_prefetch(run.bytes.data() + run.entries[i + 1].offset);
        heap.push({r, i + 1});
      }
    }
    COFFRE_TRY(writer->Finish());
    sets.push_back({Space::kIndex, {path}});
  }
  for (Space space : kOrderedSpaces) {
    storage::IngestSet set{space, {}};
    for (auto& [s, path] : group.files) {
      if (s == space) set.paths.push_back(path);
    }
    if (!set.paths.empty()) sets.push_back(std::move(set));
  }
  if (!group.canaries.empty()) {
    // Registered before the records exist: a listed subject that never
    // arrives is harmless, a canary left unlisted would pass for a person.
    if (!options_.on_canaries) {
      return Fail(ErrorCode::kInvalidArgument,
                  "the input holds canaries and nothing registers them");
    }
    COFFRE_TRY(options_.on_canaries(group.canaries));
  }
  if (!sets.empty()) COFFRE_TRY(vault_.store().IngestAtomically(sets));
  groups_ingested_.store(group.number + 1, std::memory_order_release);
  if (vault_.store().shared()) {
    std::lock_guard lock(mu_);
    claims_.erase(group.number);  // their records are in: claims no more
  }

  ImportProgress snapshot;
  {
    std::lock_guard lock(mu_);
    progress_.imported += group.imported;
    canaries_ += group.canaries.size();
    progress_.rejected += group.rejected;
    progress_.committed_through_line = group.last_line;
    snapshot = progress_;
  }
  if (!group.ids_lines.empty()) COFFRE_TRY(ids_out_.Write(group.ids_lines));
  if (options_.on_commit) options_.on_commit(snapshot);
  return Ok();
}

// Created at the first rejected row, so a clean import leaves no file. The
// default beside a pipe or device is a fresh name in the working directory
// (O_EXCL; -2, -3, ... if an import in the same second took it).
Status ImportPipeline::Impl::OpenRejects() {
  if (options_.rejects_fd >= 0) return rejects_.Adopt(options_.rejects_fd, rejects_path_);
  if (!rejects_fresh_) return rejects_.Open(rejects_path_, false);
  const std::string base = rejects_path_.substr(0, rejects_path_.size() - std::strlen(".rejects"));
  for (int n = 1;; ++n) {
    std::string path = n == 1 ? rejects_path_ : base + "-" + std::to_string(n) + ".rejects";
    Status s = rejects_.Open(path, true);
    if (s) {
      std::lock_guard lock(mu_);
      rejects_path_ = std::move(path);
      return Ok();
    }
    if (s.error().code != ErrorCode::kAlreadyExists || n >= 100) return s;
  }
}

void ImportPipeline::Impl::CommitterLoop() {
  for (uint64_t next = 0;; ++next) {
    std::unique_ptr<Chunk> chunk;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] {
        return done_.count(next) > 0 || error_ || (reading_done_ && next >= chunks_total_);
      });
      if (error_) return;
      if (done_.count(next) == 0) break;  // input exhausted: every chunk committed
      chunk = std::move(done_[next]);
      done_.erase(next);
    }
    Status s = Commit(*chunk);
    if (s && group_rows_ >= options_.commit_rows) s = IngestGroup();
    chunk->Reset();
    {
      std::lock_guard lock(mu_);
      --in_flight_;
      free_chunks_.push_back(std::move(chunk));
    }
    cv_.notify_all();
    if (!s) {
      SetError(s.error());
      return;
    }
  }
  // What the last, partial group holds.
  if (group_rows_ > 0) {
    if (Status s = IngestGroup(); !s) SetError(s.error());
  }
}

Result<ImportStats> ImportPipeline::Impl::Run() {
  auto start = std::chrono::steady_clock::now();
  unsigned threads =
      options_.threads ? options_.threads : std::max(1u, std::thread::hardware_concurrency());
  max_in_flight_ = 2 * threads + 2;
  if (options_.rejects_fd >= 0) {
    // Descriptors the caller opened: the same checks on what they are.
    struct stat in {
    }, out{};
    if (options_.input_fd >= 0 && ::fstat(options_.input_fd, &in) == 0 &&
        ::fstat(options_.rejects_fd, &out) == 0 && S_ISREG(in.st_mode) && in.st_dev == out.st_dev &&
        in.st_ino == out.st_ino) {
      return Fail(ErrorCode::kInvalidArgument, "--rejects names the input file itself");
    }
    // The stale content a path would have been unlinked for.
    if (::fstat(options_.rejects_fd, &out) == 0 && S_ISREG(out.st_mode) &&
        ::ftruncate(options_.rejects_fd, 0) != 0) {
      return Fail(ErrorCode::kIoError,
                  "cannot truncate " + rejects_path_ + ": " + std::strerror(errno));
    }
  } else if (!rejects_fresh_) {
    COFFRE_TRY(CheckRejectsIsNotInput(options_.path, rejects_path_));
    // A stale file would mislead (a device named by --rejects stays).
    struct stat st {};
    if (::lstat(rejects_path_.c_str(), &st) == 0 && S_ISREG(st.st_mode))
      ::unlink(rejects_path_.c_str());
  }

  std::vector<std::thread> workers;
  for (unsigned i = 0; i < threads; ++i) workers.emplace_back([this] { WorkerLoop(); });
  std::thread committer([this] {
    CommitterLoop();
    std::lock_guard lock(mu_);
    committer_done_ = true;
    cv_.notify_all();
  });
  std::thread ingester([this] { IngesterLoop(); });
  Status read = ReadAll();
  if (!read) SetError(read.error());
  for (auto& w : workers) w.join();
  committer.join();
  ingester.join();
  rejects_.Close();
  ids_out_.Close();
  if (error_) {
    if (vault_.store().shared()) ReleaseClaims();
    return Fail(*error_);
  }

  ImportStats stats;
  stats.read = rows_read_;
  stats.imported = progress_.imported;
  stats.rejected = progress_.rejected;
  stats.committed_through_line = progress_.committed_through_line;
  stats.rejects_path = rejects_path_;
  stats.canaries = canaries_;
  if (stats.imported + stats.rejected != stats.read) {
    // Never report a count that leaves rows unaccounted for.
    return Fail(ErrorCode::kInternal,
                std::to_string(stats.read) + " rows read but " + std::to_string(stats.imported) +
                    " imported and " + std::to_string(stats.rejected) +
                    " rejected: rows unaccounted for; committed through line " +
                    std::to_string(stats.committed_through_line));
  }
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

ImportPipeline::ImportPipeline(Vault& vault, const ImportOptions& options, PipelineSetup setup)
    : impl_(std::make_unique<Impl>(vault, options, std::move(setup))) {}

ImportPipeline::~ImportPipeline() = default;

Status ImportPipeline::OpenIdsOut() { return impl_->OpenIdsOut(); }

Result<ImportStats> ImportPipeline::Run() { return impl_->Run(); }

}  // namespace coffre::vault
