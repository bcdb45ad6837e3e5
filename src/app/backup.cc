#include "app/backup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "audit/audit_log.h"
#include "audit/format_version.h"
#include "audit/verify.h"
#include "common/bytes.h"
#include "common/clock.h"
#include "common/file_text.h"
#include "crypto/crypto.h"
#include "crypto/sha256.h"
#include "storage/space_handle.h"
#include "vault/format_version.h"

#ifndef COFFRE_VERSION
#error "COFFRE_VERSION is set by src/app/CMakeLists.txt from project(VERSION)"
#endif

namespace coffre::app {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

constexpr char kFormatName[] = "coffre-backup";
constexpr char kManifestName[] = "manifest.json";
constexpr char kSignatureName[] = "manifest.sig";
constexpr char kDataDir[] = "data";
constexpr char kJournalName[] = "erasures";
constexpr char kAnchorName[] = "audit-anchor";
constexpr char kSignatureWord[] = "coffre-backup-signature";
constexpr char kSignedPrefix[] = "coffre-backup-manifest v1\n";
constexpr size_t kCopyChunk = 1u << 20;
constexpr size_t kMaxManifestBytes = 256u << 20;
constexpr size_t kMaxSignatureBytes = 4096;

std::string Errno() { return std::strerror(errno); }

// An owned descriptor.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      if (fd_ >= 0) ::close(fd_);
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_;
};

Status WriteAll(int fd, std::string_view bytes, const std::string& what) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Fail(ErrorCode::kIoError, "cannot write " + what + ": " + Errno());
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return Ok();
}

Status Sync(int fd, const std::string& what) {
  if (::fsync(fd) != 0) return Fail(ErrorCode::kIoError, "cannot sync " + what + ": " + Errno());
  return Ok();
}

// Makes every file and directory written so far durable with one call:
// syncfs on the file system holding `fd` (as `sync -f`). Measured: one
// fsync per file cost several times the copy itself (bench/backup).
Status SyncFileSystem(int fd, const std::string& what) {
  if (::syncfs(fd) != 0) return Fail(ErrorCode::kIoError, "cannot sync " + what + ": " + Errno());
  return Ok();
}

// Creates `name` in `dirfd` (never an existing file, never through a link).
Result<Fd> CreateAt(int dirfd, const std::string& name, const std::string& what) {
  Fd fd(::openat(dirfd, name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd.ok()) return Fail(ErrorCode::kIoError, "cannot create " + what + ": " + Errno());
  return fd;
}

Result<Fd> MakeDirAt(int dirfd, const std::string& name, const std::string& what) {
  if (::mkdirat(dirfd, name.c_str(), 0700) != 0 && errno != EEXIST) {
    return Fail(ErrorCode::kIoError, "cannot create directory " + what + ": " + Errno());
  }
  Fd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.ok()) return Fail(ErrorCode::kIoError, "cannot open directory " + what + ": " + Errno());
  return fd;
}

// A relative path the manifest may name: '/'-separated components, none
// empty, "." or "..".
bool SafeRelativePath(std::string_view path) {
  if (path.empty() || path.front() == '/' || path.find('\0') != std::string_view::npos) {
    return false;
  }
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

// Copies the first `size` bytes of `in` to `out` (opened read-write) inside
// the kernel (copy_file_range, as `cp` does: a read/write loop through a
// buffer was ~4x slower here, bench/backup), falling back to pread/pwrite
// where the kernel refuses (file systems that cannot), then hashes what
// `out` holds by reading it back from the page cache: the hash describes
// the bytes of the copy itself.
Result<std::string> CopyAndHash(int in, uint64_t size, int out, std::string& buffer,
                                const std::string& what) {
  uint64_t done = 0;
  bool in_kernel = true;
  while (done < size) {
    if (in_kernel) {
      loff_t in_off = static_cast<loff_t>(done);
      loff_t out_off = static_cast<loff_t>(done);
      ssize_t n = ::copy_file_range(in, &in_off, out, &out_off, size - done, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP)) {
        in_kernel = false;
        continue;
      }
      if (n < 0) return Fail(ErrorCode::kIoError, "cannot copy " + what + ": " + Errno());
      if (n == 0) return Fail(ErrorCode::kIoError, what + " is shorter than its size to copy");
      done += static_cast<uint64_t>(n);
      continue;
    }
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(buffer.size(), size - done));
    ssize_t n = ::pread(in, buffer.data(), chunk, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Fail(ErrorCode::kIoError, "cannot read " + what + ": " + Errno());
    if (n == 0) return Fail(ErrorCode::kIoError, what + " is shorter than its size to copy");
    size_t written = 0;
    while (written < static_cast<size_t>(n)) {
      ssize_t w = ::pwrite(out, buffer.data() + written, static_cast<size_t>(n) - written,
                           static_cast<off_t>(done + written));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0)
        return Fail(ErrorCode::kIoError, "cannot write the copy of " + what + ": " + Errno());
      written += static_cast<size_t>(w);
    }
    done += static_cast<uint64_t>(n);
  }
  crypto::Sha256 hash;
  uint64_t read_back = 0;
  while (read_back < size) {
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(buffer.size(), size - read_back));
    ssize_t n = ::pread(out, buffer.data(), chunk, static_cast<off_t>(read_back));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Fail(ErrorCode::kIoError, "cannot read back the copy of " + what);
    hash.Update(std::string_view(buffer.data(), static_cast<size_t>(n)));
    read_back += static_cast<uint64_t>(n);
  }
  return hash.Finish();
}

// The files of a backup being written, with their sizes and hashes.
class BackupWriter {
 public:
  BackupWriter() : buffer_(kCopyChunk, '\0') {}

  // `name` in `dirfd`, listed as `listed`, holding `contents`.
  Status AddContents(int dirfd, const std::string& name, const std::string& listed,
                     std::string_view contents) {
    COFFRE_ASSIGN_OR_RETURN(Fd out, CreateAt(dirfd, name, "backup file " + listed));
    COFFRE_TRY(WriteAll(out.get(), contents, "backup file " + listed));
    files_.push_back({listed, contents.size(), crypto::Sha256Of(contents)});
    bytes_ += contents.size();
    return Ok();
  }

  // The first `size` bytes of `source` (the whole file when nullopt).
  Status AddCopy(int dirfd, const std::string& name, const std::string& listed,
                 const std::string& source, std::optional<uint64_t> size) {
    Fd in(::open(source.c_str(), O_RDONLY | O_CLOEXEC));
    if (!in.ok()) return Fail(ErrorCode::kIoError, "cannot read " + source + ": " + Errno());
    uint64_t want = 0;
    if (size) {
      want = *size;
    } else {
      struct stat st {};
      if (::fstat(in.get(), &st) != 0) {
        return Fail(ErrorCode::kIoError, "cannot read " + source + ": " + Errno());
      }
      want = static_cast<uint64_t>(st.st_size);
    }
    COFFRE_ASSIGN_OR_RETURN(Fd out, CreateAt(dirfd, name, "backup file " + listed));
    COFFRE_ASSIGN_OR_RETURN(std::string digest,
                            CopyAndHash(in.get(), want, out.get(), buffer_, source));
    files_.push_back({listed, want, std::move(digest)});
    bytes_ += want;
    return Ok();
  }

  std::vector<BackupFile>& files() { return files_; }
  uint64_t bytes() const { return bytes_; }

 private:
  std::string buffer_;
  std::vector<BackupFile> files_;
  uint64_t bytes_ = 0;
};

std::string SignatureLine(const crypto::SigningKey& key, const std::string& manifest) {
  return std::string(kSignatureWord) + " v1 " + ToHex(key.public_key()) + " " +
         ToHex(key.Sign(kSignedPrefix + manifest)) + "\n";
}

// A member of the manifest, typed, or kDataLoss naming it.
Result<std::string> TextMember(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_string()) {
    return Fail(ErrorCode::kDataLoss,
                "the backup manifest has no string '" + std::string(key) + "'");
  }
  return std::string(it->value().get_string());
}

Result<int64_t> IntMember(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || !(it->value().is_int64() || it->value().is_uint64())) {
    return Fail(ErrorCode::kDataLoss,
                "the backup manifest has no integer '" + std::string(key) + "'");
  }
  const int64_t v = it->value().to_number<int64_t>();
  if (v < 0) {
    return Fail(ErrorCode::kDataLoss,
                "the backup manifest's '" + std::string(key) + "' is negative");
  }
  return v;
}

Result<std::string> HexMember(const json::object& o, std::string_view key, size_t raw_bytes) {
  COFFRE_ASSIGN_OR_RETURN(std::string hex, TextMember(o, key));
  auto raw = FromHex(hex);
  if (!raw || (raw_bytes != 0 && raw->size() != raw_bytes)) {
    return Fail(ErrorCode::kDataLoss,
                "the backup manifest's '" + std::string(key) + "' is not the expected hex");
  }
  return std::move(*raw);
}

Result<const json::object*> ObjectMember(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_object()) {
    return Fail(ErrorCode::kDataLoss,
                "the backup manifest has no object '" + std::string(key) + "'");
  }
  return &it->value().get_object();
}

// A bounded read of a small file of the backup; kDataLoss when it is
// missing (a backup without its manifest is damaged, not absent).
Result<std::string> ReadBackupFile(const std::string& path, const std::string& listed,
                                   size_t max_bytes) {
  Fd in(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!in.ok()) {
    if (errno == ENOENT || errno == ELOOP) {
      return Fail(ErrorCode::kDataLoss, "the backup has no " + listed + " (" + path + ")");
    }
    return Fail(ErrorCode::kIoError, "cannot read " + path + ": " + Errno());
  }
  std::string out;
  std::string buf(65536, '\0');
  for (;;) {
    ssize_t n = ::read(in.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Fail(ErrorCode::kIoError, "cannot read " + path + ": " + Errno());
    if (n == 0) break;
    out.append(buf.data(), static_cast<size_t>(n));
    if (out.size() > max_bytes) {
      return Fail(ErrorCode::kDataLoss, "the backup's " + listed + " is too large");
    }
  }
  return out;
}

std::string UtcStamp() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  return stamp;
}

Status SyncDirectory(const std::string& path) {
  Fd d(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!d.ok()) return Fail(ErrorCode::kIoError, "cannot open directory " + path + ": " + Errno());
  return Sync(d.get(), "directory " + path);
}

// Writes `contents` to a new file at `path` (O_EXCL, 0600), synced.
Status WriteNewFile(const std::string& path, std::string_view contents, const std::string& what) {
  Fd out(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!out.ok())
    return Fail(ErrorCode::kIoError, "cannot create " + what + " " + path + ": " + Errno());
  COFFRE_TRY(WriteAll(out.get(), contents, what + " " + path));
  return Sync(out.get(), what + " " + path);
}

std::string ParentOf(const std::string& path) {
  fs::path p = fs::path(path).parent_path();
  return p.empty() ? std::string(".") : p.string();
}

}  // namespace

Result<json::object> WriteBackup(Runtime& rt, int out_dirfd, audit::Entry& entry) {
  const auto started = std::chrono::steady_clock::now();
  const RuntimeOptions& o = rt.options();
  BackupWriter w;

  // 1. The anchor first: every checkpoint it lists is then in the copied log.
  COFFRE_TRY(w.AddCopy(out_dirfd, kAnchorName, kAnchorName, o.audit_anchor, std::nullopt));

  // 2. The chain's head: the last durable entry. The copy holds it, and
  //    perhaps a few entries more.
  const uint64_t last_seq = rt.audit().last_seq();
  COFFRE_ASSIGN_OR_RETURN(std::optional<std::string> head,
                          audit::StoredChainHash(rt.audit().reader(), last_seq));
  if (!head) {
    return Fail(ErrorCode::kInternal,
                "audit entry " + std::to_string(last_seq) + " is missing from the log");
  }
  const int64_t created_ms = rt.clock().NowUnixMillis();

  // 3. The store's files, pinned while they are copied.
  COFFRE_ASSIGN_OR_RETURN(Fd data, MakeDirAt(out_dirfd, kDataDir, "data of the backup"));
  COFFRE_TRY(rt.vault().store().CopyLiveFiles([&](const storage::LiveFile& f) -> Status {
    if (!SafeRelativePath(f.name) || f.name.find('/') != std::string::npos) {
      return Fail(ErrorCode::kInternal, "the store named a file that cannot be copied");
    }
    const std::string listed = std::string(kDataDir) + "/" + f.name;
    if (f.contents) return w.AddContents(data.get(), f.name, listed, *f.contents);
    return w.AddCopy(data.get(), f.name, listed, f.path, f.size);
  }));
  // DIR/tls: the certificate given to clients (init writes it).
  const fs::path tls = fs::path(o.dir) / "tls";
  std::error_code ec;
  if (fs::is_directory(fs::symlink_status(tls, ec))) {
    COFFRE_ASSIGN_OR_RETURN(Fd tls_out, MakeDirAt(data.get(), "tls", "data/tls of the backup"));
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(tls, ec)) {
      if (e.is_regular_file(ec) && !e.is_symlink(ec)) names.push_back(e.path().filename());
    }
    if (ec) return Fail(ErrorCode::kIoError, "cannot list " + tls.string() + ": " + ec.message());
    std::sort(names.begin(), names.end());
    for (const std::string& n : names) {
      COFFRE_TRY(w.AddCopy(tls_out.get(), n, std::string(kDataDir) + "/tls/" + n,
                           (tls / n).string(), std::nullopt));
    }
  }

  // 4. The journal after the data: it lists every deletion the copy has
  //    applied (and perhaps a few more, replayed again harmlessly).
  if (!o.erasure_journal.empty()) {
    COFFRE_TRY(w.AddCopy(out_dirfd, kJournalName, kJournalName, o.erasure_journal, std::nullopt));
  }

  // The manifest, then its signature: a backup without a valid signature is
  // refused by restore, so a crash before the end leaves nothing usable.
  std::vector<BackupFile>& files = w.files();
  std::sort(files.begin(), files.end(),
            [](const BackupFile& a, const BackupFile& b) { return a.path < b.path; });
  json::array listed;
  for (const BackupFile& f : files) {
    listed.push_back(json::object{{"path", f.path}, {"size", f.size}, {"sha256", ToHex(f.sha256)}});
  }
  crypto::SigningKey key = crypto::SigningKey::FromSeed(rt.vault().keyring().audit_signing_seed());
  const std::string backup_id = ToHex(crypto::RandomString(16));
  const std::string created = FormatRfc3339(created_ms / 1000);
  json::object manifest{
      {"format", kFormatName},
      {"version", kBackupFormatVersion},
      {"backup_id", backup_id},
      {"vault_id", ToHex(rt.vault().vault_id())},
      {"created", created},
      {"created_ms", created_ms},
      {"coffre", COFFRE_VERSION},
      {"formats", json::object{{"vault", vault::kFormatVersion},
                               {"audit_entry", audit::kEntryFormatVersion},
                               {"erasure_journal", vault::kErasureJournalFormatVersion},
                               {"store", "rocksdb"}}},
      {"audit", json::object{{"last_seq", last_seq},
                             {"hash", ToHex(*head)},
                             {"public_key", ToHex(key.public_key())}}},
      {"files", std::move(listed)},
  };
  const std::string text = json::serialize(manifest) + "\n";
  {
    COFFRE_ASSIGN_OR_RETURN(Fd m, CreateAt(out_dirfd, kManifestName, "the backup manifest"));
    COFFRE_TRY(WriteAll(m.get(), text, "the backup manifest"));
  }
  {
    COFFRE_ASSIGN_OR_RETURN(Fd s, CreateAt(out_dirfd, kSignatureName, "the backup signature"));
    COFFRE_TRY(WriteAll(s.get(), SignatureLine(key, text), "the backup signature"));
  }
  // Every file and directory of the backup durable before the caller
  // renames it into place.
  COFFRE_TRY(SyncFileSystem(out_dirfd, "the backup"));

  entry.reason =
      "backup " + backup_id + " with chain head " + std::to_string(last_seq) + " " + ToHex(*head);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return json::object{{"backup_id", backup_id},
                      {"vault_id", ToHex(rt.vault().vault_id())},
                      {"created", created},
                      {"files", files.size() + 2},
                      {"bytes", w.bytes() + text.size()},
                      {"audit_last_seq", last_seq},
                      {"seconds", seconds}};
}

Result<BackupManifest> ParseSignedManifest(const std::string& manifest_json,
                                           const std::string& signature_line) {
  // "coffre-backup-signature v1 <public key hex> <signature hex>\n"
  std::string_view line = signature_line;
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  std::vector<std::string_view> parts;
  while (!line.empty()) {
    size_t sp = line.find(' ');
    parts.push_back(line.substr(0, sp));
    if (sp == std::string_view::npos) break;
    line.remove_prefix(sp + 1);
  }
  if (parts.size() != 4 || parts[0] != kSignatureWord) {
    return Fail(ErrorCode::kDataLoss, "the backup's manifest.sig is malformed");
  }
  if (parts[1] != "v1") {
    return Fail(ErrorCode::kFailedPrecondition,
                "the backup's signature is of version " + std::string(parts[1]) +
                    ", which this coffre does not read (it reads v1)");
  }
  auto public_key = FromHex(parts[2]);
  auto signature = FromHex(parts[3]);
  if (!public_key || public_key->size() != crypto::kPublicKeyBytes || !signature ||
      signature->size() != crypto::kSignatureBytes) {
    return Fail(ErrorCode::kDataLoss, "the backup's manifest.sig is malformed");
  }
  if (!crypto::VerifySignature(*public_key, kSignedPrefix + manifest_json, *signature)) {
    return Fail(ErrorCode::kDataLoss,
                "the backup's manifest.json does not match its signature (manifest.sig): the "
                "manifest was altered");
  }
  boost::system::error_code ec;
  json::value v = json::parse(manifest_json, ec);
  if (ec || !v.is_object()) {
    return Fail(ErrorCode::kDataLoss, "the backup's manifest.json is not a JSON object");
  }
  const json::object& o = v.get_object();
  COFFRE_ASSIGN_OR_RETURN(std::string format, TextMember(o, "format"));
  if (format != kFormatName) {
    return Fail(ErrorCode::kDataLoss, "the backup's manifest.json is not a coffre backup manifest");
  }
  COFFRE_ASSIGN_OR_RETURN(int64_t version, IntMember(o, "version"));
  if (version != kBackupFormatVersion) {
    return Fail(ErrorCode::kFailedPrecondition,
                "the backup is of format version " + std::to_string(version) +
                    ", which this coffre does not read (it reads " +
                    std::to_string(kBackupFormatVersion) + "): use a newer coffre");
  }
  BackupManifest m;
  COFFRE_ASSIGN_OR_RETURN(m.backup_id, TextMember(o, "backup_id"));
  if (m.backup_id.size() != 32 || !FromHex(m.backup_id)) {
    return Fail(ErrorCode::kDataLoss, "the backup manifest's 'backup_id' is not 32 hex digits");
  }
  COFFRE_ASSIGN_OR_RETURN(m.vault_id, HexMember(o, "vault_id", 0));
  COFFRE_ASSIGN_OR_RETURN(m.created, TextMember(o, "created"));
  COFFRE_ASSIGN_OR_RETURN(m.created_ms, IntMember(o, "created_ms"));
  COFFRE_ASSIGN_OR_RETURN(const json::object* a, ObjectMember(o, "audit"));
  COFFRE_ASSIGN_OR_RETURN(int64_t last_seq, IntMember(*a, "last_seq"));
  m.audit_last_seq = static_cast<uint64_t>(last_seq);
  COFFRE_ASSIGN_OR_RETURN(m.audit_hash, HexMember(*a, "hash", 32));
  COFFRE_ASSIGN_OR_RETURN(m.public_key, HexMember(*a, "public_key", crypto::kPublicKeyBytes));
  if (m.public_key != *public_key) {
    return Fail(ErrorCode::kDataLoss,
                "the backup's manifest.sig names another key than the manifest's audit key");
  }
  auto files = o.find("files");
  if (files == o.end() || !files->value().is_array()) {
    return Fail(ErrorCode::kDataLoss, "the backup manifest has no array 'files'");
  }
  std::set<std::string> seen;
  for (const json::value& f : files->value().get_array()) {
    if (!f.is_object())
      return Fail(ErrorCode::kDataLoss, "a backup manifest file is not an object");
    BackupFile file;
    COFFRE_ASSIGN_OR_RETURN(file.path, TextMember(f.get_object(), "path"));
    COFFRE_ASSIGN_OR_RETURN(int64_t size, IntMember(f.get_object(), "size"));
    file.size = static_cast<uint64_t>(size);
    COFFRE_ASSIGN_OR_RETURN(file.sha256, HexMember(f.get_object(), "sha256", crypto::kSha256Bytes));
    const bool known_place = file.path == kJournalName || file.path == kAnchorName ||
                             file.path.starts_with(std::string(kDataDir) + "/");
    if (!SafeRelativePath(file.path) || !known_place) {
      return Fail(ErrorCode::kDataLoss,
                  "the backup manifest lists a file outside the backup's "
                  "layout");
    }
    if (!seen.insert(file.path).second) {
      return Fail(ErrorCode::kDataLoss, "the backup manifest lists " + file.path + " twice");
    }
    m.files.push_back(std::move(file));
  }
  return m;
}

namespace {

// Everything a failed restore must undo, undone unless Commit() was called.
class RestoreUndo {
 public:
  ~RestoreUndo() {
    if (committed_) return;
    std::error_code ec;
    if (!new_anchor_.empty()) fs::remove(new_anchor_, ec);
    if (!kept_anchor_.empty()) fs::rename(kept_anchor_, new_anchor_, ec);
    if (!anchor_copy_.empty()) fs::remove(anchor_copy_, ec);
    if (!journal_.empty()) fs::remove(journal_, ec);
    if (!tmp_.empty()) fs::remove_all(tmp_, ec);
  }
  void Commit() { committed_ = true; }

  std::string tmp_;          // DIR.restore-tmp-XXXXXX
  std::string journal_;      // a journal this restore created
  std::string anchor_copy_;  // ANCHOR.backup-ID
  std::string new_anchor_;   // the anchor path (new once reopened)
  std::string kept_anchor_;  // where the old anchor was moved

 private:
  bool committed_ = false;
};

Status MakeParents(const fs::path& root, const std::string& relative) {
  fs::path dir = (root / relative).parent_path();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Fail(ErrorCode::kIoError, "cannot create " + dir.string() + ": " + ec.message());
  fs::permissions(dir, fs::perms::owner_all, ec);
  return Ok();
}

// Reads the backup's file `f`, checking its size and hash, into `to` (a new
// file) or into `*contents`.
Status CheckAndCopy(const std::string& backup, const BackupFile& f, const std::string* to,
                    std::string* contents, std::string& buffer) {
  const std::string source = backup + "/" + f.path;
  Fd in(::open(source.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!in.ok()) {
    if (errno == ENOENT || errno == ELOOP) {
      return Fail(ErrorCode::kDataLoss,
                  "backup file " + f.path + " is missing (or is a symbolic link)");
    }
    return Fail(ErrorCode::kIoError, "cannot read backup file " + source + ": " + Errno());
  }
  struct stat st {};
  if (::fstat(in.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return Fail(ErrorCode::kDataLoss, "backup file " + f.path + " is not a regular file");
  }
  if (static_cast<uint64_t>(st.st_size) != f.size) {
    return Fail(ErrorCode::kDataLoss, "backup file " + f.path + " has " +
                                          std::to_string(st.st_size) + " bytes, the manifest " +
                                          std::to_string(f.size) + ": it was altered or damaged");
  }
  const std::string mismatch = "backup file " + f.path +
                               " does not match the manifest's SHA-256: it was altered or "
                               "damaged";
  if (to != nullptr) {
    Fd out(::open(to->c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!out.ok()) return Fail(ErrorCode::kIoError, "cannot create " + *to + ": " + Errno());
    COFFRE_ASSIGN_OR_RETURN(std::string digest,
                            CopyAndHash(in.get(), f.size, out.get(), buffer, source));
    if (!crypto::ConstantTimeEquals(digest, f.sha256)) return Fail(ErrorCode::kDataLoss, mismatch);
    return Ok();
  }
  crypto::Sha256 hash;
  uint64_t done = 0;
  for (;;) {
    ssize_t n = ::read(in.get(), buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      return Fail(ErrorCode::kIoError, "cannot read backup file " + source + ": " + Errno());
    if (n == 0) break;
    std::string_view got(buffer.data(), static_cast<size_t>(n));
    done += got.size();
    if (done > f.size) break;
    hash.Update(got);
    if (contents != nullptr) contents->append(got);
  }
  if (done != f.size || !crypto::ConstantTimeEquals(hash.Finish(), f.sha256)) {
    return Fail(ErrorCode::kDataLoss, mismatch);
  }
  return Ok();
}

// Every file and directory of the backup must be the manifest's, its
// signature or a directory on the way to a listed file.
Status RefuseExtraFiles(const std::string& backup, const BackupManifest& m) {
  std::set<std::string> allowed = {kManifestName, kSignatureName};
  std::set<std::string> dirs;
  for (const BackupFile& f : m.files) {
    allowed.insert(f.path);
    for (fs::path p = fs::path(f.path).parent_path(); !p.empty(); p = p.parent_path()) {
      dirs.insert(p.string());
    }
  }
  std::error_code ec;
  fs::recursive_directory_iterator it(backup, fs::directory_options::none, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string rel = fs::relative(it->path(), backup, ec).string();
    const fs::file_status st = it->symlink_status(ec);
    if (fs::is_directory(st) && dirs.contains(rel)) continue;
    if (fs::is_regular_file(st) && allowed.contains(rel)) continue;
    return Fail(ErrorCode::kDataLoss, "backup file " + rel +
                                          " is not in the backup's manifest: the backup was "
                                          "altered");
  }
  if (ec)
    return Fail(ErrorCode::kIoError, "cannot list the backup " + backup + ": " + ec.message());
  return Ok();
}

}  // namespace

Result<json::object> RestoreBackup(const RestoreOptions& ro) {
  const std::string& dir = ro.vault.dir;
  const std::string& journal = ro.vault.erasure_journal;
  const std::string& anchor = ro.vault.audit_anchor;
  std::error_code ec;

  // The arguments, before any work.
  const fs::file_status dir_status = fs::symlink_status(dir, ec);
  const bool dir_exists = fs::exists(dir_status);
  if (dir_exists && (!fs::is_directory(dir_status) || !fs::is_empty(dir, ec))) {
    return Fail(ErrorCode::kAlreadyExists,
                dir + " exists and is not an empty directory: restore into a new one");
  }
  if (!fs::is_directory(ro.backup, ec)) {
    return Fail(ErrorCode::kNotFound, "no backup at " + ro.backup);
  }
  if (journal.empty() || anchor.empty() || ro.vault.key_file.empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                "restore needs the key file, journal and anchor paths");
  }
  const bool journal_exists = fs::exists(fs::symlink_status(journal, ec));
  if (journal_exists && !ro.journal_from.empty()) {
    return Fail(ErrorCode::kAlreadyExists,
                "the erasure journal " + journal +
                    " exists and is kept (it is never replaced by an older copy): drop "
                    "--journal-from");
  }
  if (!journal_exists && ro.journal_from.empty()) {
    return Fail(ErrorCode::kNotFound,
                "no erasure journal at " + journal +
                    ": pass --journal-from FILE (the newest journal, the one the old vault used) "
                    "or --journal-from backup (the backup's copy: people erased after the backup "
                    "would come back)");
  }
  if (!ro.journal_from.empty() && ro.journal_from != "backup" &&
      !fs::is_regular_file(ro.journal_from, ec)) {
    return Fail(ErrorCode::kNotFound, "no erasure journal at " + ro.journal_from);
  }

  // The manifest and its signature, then the backup's contents.
  COFFRE_ASSIGN_OR_RETURN(
      std::string signature,
      ReadBackupFile(ro.backup + "/" + kSignatureName, kSignatureName, kMaxSignatureBytes));
  COFFRE_ASSIGN_OR_RETURN(std::string text, ReadBackupFile(ro.backup + "/" + kManifestName,
                                                           kManifestName, kMaxManifestBytes));
  COFFRE_ASSIGN_OR_RETURN(BackupManifest m, ParseSignedManifest(text, signature));
  COFFRE_TRY(RefuseExtraFiles(ro.backup, m));
  const std::string anchor_copy_path = anchor + ".backup-" + m.backup_id;
  if (fs::exists(fs::symlink_status(anchor_copy_path, ec))) {
    return Fail(ErrorCode::kAlreadyExists,
                anchor_copy_path + " exists: this backup was restored beside this anchor before");
  }

  RestoreUndo undo;
  std::string tmp_template = dir + ".restore-tmp-XXXXXX";
  if (::mkdtemp(tmp_template.data()) == nullptr) {
    return Fail(ErrorCode::kIoError, "cannot create a directory beside " + dir + ": " + Errno());
  }
  undo.tmp_ = tmp_template;
  const fs::path tmp = undo.tmp_;
  std::string buffer(kCopyChunk, '\0');
  std::string journal_copy;
  std::string anchor_copy;
  bool has_journal = false;
  bool has_anchor = false;
  bool has_data = false;
  for (const BackupFile& f : m.files) {
    if (f.path == kJournalName) {
      COFFRE_TRY(CheckAndCopy(ro.backup, f, nullptr, &journal_copy, buffer));
      has_journal = true;
    } else if (f.path == kAnchorName) {
      COFFRE_TRY(CheckAndCopy(ro.backup, f, nullptr, &anchor_copy, buffer));
      has_anchor = true;
    } else {
      const std::string relative = f.path.substr(std::string_view(kDataDir).size() + 1);
      COFFRE_TRY(MakeParents(tmp, relative));
      const std::string to = (tmp / relative).string();
      COFFRE_TRY(CheckAndCopy(ro.backup, f, &to, nullptr, buffer));
      has_data = true;
    }
  }
  if (!has_data) return Fail(ErrorCode::kDataLoss, "the backup holds no data directory");
  {
    Fd d(::open(tmp.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!d.ok()) return Fail(ErrorCode::kIoError, "cannot open " + tmp.string() + ": " + Errno());
    COFFRE_TRY(SyncFileSystem(d.get(), "the restored files"));
  }

  // The copy with the master key: the key opens it (else kPermissionDenied),
  // it is the manifest's vault, and its keyring's audit key signed the
  // manifest, so only the master key's holder could have made it.
  {
    vault::OpenOptions vo;
    vo.dir = tmp.string();
    vo.key_file = ro.vault.key_file;
    vo.read_only = true;
    COFFRE_ASSIGN_OR_RETURN(std::unique_ptr<vault::Vault> v, vault::Vault::Open(vo));
    if (v->vault_id() != m.vault_id) {
      return Fail(ErrorCode::kDataLoss,
                  "the backup's data belong to another vault than its "
                  "manifest names");
    }
    crypto::SigningKey key = crypto::SigningKey::FromSeed(v->keyring().audit_signing_seed());
    if (key.public_key() != m.public_key) {
      return Fail(ErrorCode::kDataLoss,
                  "the backup's manifest is not signed by this vault's audit key");
    }
    storage::SpaceHandle log(v->store(), "backup", 0, audit::kAuditSpaces);
    COFFRE_ASSIGN_OR_RETURN(std::optional<std::string> head,
                            audit::StoredChainHash(log, m.audit_last_seq));
    if (!head || !crypto::ConstantTimeEquals(*head, m.audit_hash)) {
      return Fail(ErrorCode::kDataLoss,
                  "the backup's audit log does not hold the chain head its manifest names "
                  "(entry " +
                      std::to_string(m.audit_last_seq) + ")");
    }
  }

  // The journal: kept when it exists, else the one named.
  if (!journal_exists) {
    std::string contents;
    if (ro.journal_from == "backup") {
      if (!has_journal) return Fail(ErrorCode::kNotFound, "the backup holds no erasure journal");
      contents = std::move(journal_copy);
    } else {
      COFFRE_ASSIGN_OR_RETURN(contents, ReadWholeFile(ro.journal_from, "erasure journal"));
    }
    COFFRE_TRY(WriteNewFile(journal, contents, "erasure journal"));
    undo.journal_ = journal;
  }

  // The anchors: the old one kept as evidence, the backup's beside it.
  const std::string stamp = UtcStamp();
  if (fs::exists(fs::symlink_status(anchor, ec))) {
    const std::string kept = anchor + ".replaced-" + stamp;
    if (fs::exists(fs::symlink_status(kept, ec))) {
      return Fail(ErrorCode::kAlreadyExists, kept + " already exists; try again in a second");
    }
    fs::rename(anchor, kept, ec);
    if (ec) {
      return Fail(ErrorCode::kIoError,
                  "cannot move " + anchor + " to " + kept + ": " + ec.message());
    }
    undo.kept_anchor_ = kept;
  }
  undo.new_anchor_ = anchor;  // from here on, any file there is this restore's
  if (has_anchor) {
    COFFRE_TRY(WriteNewFile(anchor_copy_path, anchor_copy, "audit anchor copy"));
    undo.anchor_copy_ = anchor_copy_path;
  }

  // Writable, with a new anchor: the open replays the journal entries the
  // backup had not applied; then the restore is recorded and signed.
  uint64_t last_seq = 0;
  {
    RuntimeOptions o = ro.vault;
    o.dir = tmp.string();
    o.recreate_audit_anchor = true;
    COFFRE_ASSIGN_OR_RETURN(std::unique_ptr<Runtime> rt, Runtime::Open(o));
    audit::Entry e;
    e.principal = "local";
    e.action = "backup.restore";
    e.outcome = "allowed";
    e.reason = "restored from backup " + m.backup_id + " (vault " + ToHex(m.vault_id) + ", taken " +
               m.created + ") with chain head " + std::to_string(m.audit_last_seq) + " " +
               ToHex(m.audit_hash);
    e.source = ro.source;
    COFFRE_ASSIGN_OR_RETURN(last_seq, rt->audit().Append(std::move(e)));
    COFFRE_TRY(rt->audit().Checkpoint());
  }

  // Into place.
  if (dir_exists) {
    fs::remove(dir, ec);
    if (ec) return Fail(ErrorCode::kIoError, "cannot replace " + dir + ": " + ec.message());
  }
  fs::rename(tmp, dir, ec);
  if (ec) {
    return Fail(ErrorCode::kIoError,
                "cannot rename " + tmp.string() + " to " + dir + ": " + ec.message());
  }
  undo.Commit();
  COFFRE_TRY(SyncDirectory(ParentOf(dir)));
  json::object out{{"vault", dir},
                   {"backup_id", m.backup_id},
                   {"vault_id", ToHex(m.vault_id)},
                   {"backup_created", m.created},
                   {"backup_audit_last_seq", m.audit_last_seq},
                   {"audit_last_seq", last_seq},
                   {"erasure_journal", journal},
                   {"audit_anchor", anchor}};
  if (!undo.kept_anchor_.empty()) out["previous_anchor"] = undo.kept_anchor_;
  if (has_anchor) out["backup_anchor"] = anchor_copy_path;
  return out;
}

}  // namespace coffre::app
