#include "vault/importer.h"

#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <optional>

#include "common/bytes.h"
#include "crypto/crypto.h"
#include "vault/import_pipeline.h"
#include "vault/internal/layout.h"

namespace coffre::vault {
namespace {

// Sorted files are built inside the data directory so that ingestion is a
// hard link on the same file system. They hold ciphertext and blind-index
// hashes only. A crashed import's directory is removed by the next writable
// open of the vault.
Result<std::string> MakeImportDir(const std::string& dir) {
  std::error_code ec;
  std::string path =
      dir + "/" + std::string(layout::kImportDirPrefix) + ToHex(crypto::RandomString(8));
  if (!std::filesystem::create_directory(path, ec)) {
    return Fail(ErrorCode::kIoError, "cannot create a working directory in " + dir);
  }
  return path;
}

// The format a file name announces; kAuto when it announces none (then the
// reader decides from the first bytes it reads: the input is read once).
ImportFormat FormatFromName(const std::string& path) {
  auto ends = [&](std::string_view suffix) {
    return path.size() >= suffix.size() &&
           path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends(".csv") || ends(".CSV")) return ImportFormat::kCsv;
  if (ends(".ndjson") || ends(".jsonl") || ends(".json")) return ImportFormat::kNdjson;
  return ImportFormat::kAuto;
}

}  // namespace

std::string DefaultRejectsPath(const std::string& path, int64_t unix_seconds) {
  // /dev/stdin redirected from a file stats as a regular file: what counts
  // is the name given, never a device's or /proc's directory.
  std::error_code ec;
  const std::string absolute = std::filesystem::absolute(path, ec).lexically_normal().string();
  const bool system_dir = absolute.rfind("/dev/", 0) == 0 || absolute.rfind("/proc/", 0) == 0;
  struct stat st {};
  if (path != "-" && !system_dir && ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
    return path + ".rejects";
  }
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  return std::string("./coffre-import-") + stamp + ".rejects";
}

namespace {

// --subject-key [COLLECTION.]FIELD: FIELD must be unique in COLLECTION, and
// COLLECTION cannot be the imported one (an attached row would carry a value
// that is already there, and clash). Without COLLECTION, the one other
// collection where FIELD is unique.
Result<SubjectKey> ResolveSubjectKey(const schema::Schema& schema, const schema::Collection& target,
                                     std::string_view spec) {
  auto unique_in = [](const schema::Collection& c, std::string_view field) {
    const schema::FieldDef* d = c.Find(field);
    return d != nullptr && d->unique;
  };
  size_t dot = spec.find('.');
  if (dot != std::string_view::npos) {
    std::string_view name = spec.substr(0, dot), field = spec.substr(dot + 1);
    const schema::Collection* c = schema.Find(name);
    if (c == nullptr)
      return Fail(ErrorCode::kNotFound,
                  "--subject-key: unknown collection '" + std::string(name) + "'");
    if (!unique_in(*c, field)) {
      return Fail(ErrorCode::kInvalidArgument, "--subject-key: '" + std::string(field) +
                                                   "' is not a unique field of collection '" +
                                                   c->name + "'");
    }
    if (c == &target) {
      return Fail(ErrorCode::kInvalidArgument,
                  "--subject-key: '" + std::string(field) +
                      "' is unique in the imported collection '" + c->name +
                      "' itself, so a row carrying an existing value would clash; name a field of "
                      "another collection");
    }
    return SubjectKey{c, std::string(field)};
  }
  const schema::Collection* found = nullptr;
  for (const schema::Collection& c : schema.collections()) {
    if (&c == &target || !unique_in(c, spec)) continue;
    if (found != nullptr) {
      return Fail(ErrorCode::kInvalidArgument,
                  "--subject-key: '" + std::string(spec) +
                      "' is unique in several collections; write COLLECTION." + std::string(spec));
    }
    found = &c;
  }
  if (found == nullptr) {
    return Fail(ErrorCode::kInvalidArgument, "--subject-key: no collection other than '" +
                                                 target.name + "' has a unique field '" +
                                                 std::string(spec) + "'");
  }
  return SubjectKey{found, std::string(spec)};
}

}  // namespace

Result<ImportStats> Import(Vault& vault, const ImportOptions& in) {
  const schema::Collection* collection = vault.schema().Find(in.collection);
  if (collection == nullptr)
    return Fail(ErrorCode::kNotFound, "unknown collection '" + in.collection + "'");
  ImportOptions options = in;
  bool fresh_rejects = false;
  if (options.rejects_fd >= 0 && options.rejects_path.empty())
    return Fail(ErrorCode::kInvalidArgument, "a rejects descriptor needs the name of its file");
  if (options.rejects_path.empty()) {
    options.rejects_path = DefaultRejectsPath(options.path, vault.clock().NowUnixSeconds());
    fresh_rejects = options.rejects_path.rfind("./coffre-import-", 0) == 0;
  }
  if (options.chunk_rows == 0) options.chunk_rows = 8192;
  if (options.commit_rows == 0) options.commit_rows = 65536;
  std::optional<SubjectKey> subject_key;
  if (options.format == ImportFormat::kExport) {
    if (!options.subject_key.empty()) {
      return Fail(ErrorCode::kInvalidArgument,
                  "--subject-key does not apply to --format export (it keeps subjects)");
    }
    // Kept ids must not overwrite records: a collection is migrated once,
    // into a collection that has none.
    COFFRE_ASSIGN_OR_RETURN(auto online, vault.ListRecords(collection->name, "", 1));
    COFFRE_ASSIGN_OR_RETURN(auto archived, vault.ListArchived(collection->name, "", 1));
    if (!online.empty() || !archived.empty()) {
      return Fail(ErrorCode::kAlreadyExists, "--format export keeps record ids: collection '" +
                                                 collection->name +
                                                 "' must be empty (import into a new vault)");
    }
  }
  if (!options.subject_key.empty()) {
    COFFRE_ASSIGN_OR_RETURN(subject_key,
                            ResolveSubjectKey(vault.schema(), *collection, options.subject_key));
  }
  struct stat st {};
  if (options.path != "-" && options.input_fd < 0 && ::stat(options.path.c_str(), &st) != 0) {
    return Fail(ErrorCode::kNotFound, "cannot open import file " + options.path);
  }
  ImportFormat format =
      options.format == ImportFormat::kAuto ? FormatFromName(options.path) : options.format;
  COFFRE_ASSIGN_OR_RETURN(std::string tmp_dir, MakeImportDir(vault.dir()));
  // Unique checks assume no other writer adds index entries meanwhile.
  auto writes = vault.LockWrites();
  ImportPipeline pipeline(vault, options,
                          {.collection = collection,
                           .format = format,
                           .tmp_dir = tmp_dir,
                           .subject_key = std::move(subject_key),
                           .rejects_path = options.rejects_path,
                           .rejects_fresh = fresh_rejects});
  Status opened = pipeline.OpenIdsOut();
  Result<ImportStats> stats = opened ? pipeline.Run() : Result<ImportStats>(Fail(opened.error()));
  std::error_code ec;
  std::filesystem::remove_all(tmp_dir, ec);  // files not ingested (after a failure)
  if (!stats && opened && !options.ids_out_path.empty() && options.ids_out_fd < 0) {
    // Nothing committed: no ids file (committed rows keep theirs).
    struct stat ids {};
    if (::stat(options.ids_out_path.c_str(), &ids) == 0 && ids.st_size == 0)
      ::unlink(options.ids_out_path.c_str());
  }
  return stats;
}

}  // namespace coffre::vault
