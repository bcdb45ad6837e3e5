#include "crypto/sealed_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/bytes.h"

namespace coffre::crypto {
namespace {

constexpr std::string_view kMagic = "coffre-sealed v1\n";
constexpr size_t kSealedKeyBytes = kKeyBytes + kBoxSealOverhead;
constexpr size_t kMaxSealedChunk = kSealedFileChunkBytes + kStreamChunkOverhead;

void Wipe(std::string& s) {
  // Plaintext chunks hold personal data: overwrite before release.
  if (!s.empty()) RandomBytes(s.data(), s.size());
  s.clear();
}

// Reads exactly n bytes; returns how many were read (fewer at the end).
Result<size_t> ReadFull(std::FILE* f, char* out, size_t n) {
  size_t got = std::fread(out, 1, n, f);
  if (got < n && std::ferror(f)) return Fail(ErrorCode::kIoError, "cannot read the sealed file");
  return got;
}

}  // namespace

Result<std::unique_ptr<SealedFileWriter>> SealedFileWriter::Create(
    const std::string& path, std::string_view recipient_public_key) {
  SecretKey file_key = SecretKey::Random();
  COFFRE_ASSIGN_OR_RETURN(std::string sealed_key,
                          SealToRecipient(recipient_public_key, file_key.view()));
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return Fail(ErrorCode::kAlreadyExists, path + " already exists");
    return Fail(ErrorCode::kIoError, "cannot create " + path + ": " + std::strerror(errno));
  }
  std::string header;
  StreamSealer sealer(file_key, header);
  std::unique_ptr<SealedFileWriter> w(new SealedFileWriter(path, fd, std::move(sealer)));
  std::string head(kMagic);
  head += sealed_key;
  head += header;
  COFFRE_TRY(w->WriteAll(head));
  w->plain_.reserve(kSealedFileChunkBytes);
  w->sealed_.reserve(kMaxSealedChunk + 4);
  return w;
}

SealedFileWriter::~SealedFileWriter() {
  Wipe(plain_);
  if (fd_ >= 0) ::close(fd_);
  if (!finished_) ::unlink(path_.c_str());
}

Status SealedFileWriter::WriteAll(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Fail(ErrorCode::kIoError, "cannot write " + path_ + ": " + std::strerror(errno));
    }
    bytes.remove_prefix(static_cast<size_t>(n));
    written_ += static_cast<uint64_t>(n);
  }
  return Ok();
}

Status SealedFileWriter::WriteChunk(bool final) {
  sealed_.clear();
  AppendBigEndian32(sealed_, static_cast<uint32_t>(plain_.size() + kStreamChunkOverhead));
  sealer_.Push(plain_, final, sealed_);
  Wipe(plain_);
  return WriteAll(sealed_);
}

Status SealedFileWriter::Write(std::string_view plaintext) {
  if (finished_ || fd_ < 0)
    return Fail(ErrorCode::kFailedPrecondition, "the sealed file is closed");
  while (!plaintext.empty()) {
    size_t take = std::min(plaintext.size(), kSealedFileChunkBytes - plain_.size());
    plain_.append(plaintext.substr(0, take));
    plaintext.remove_prefix(take);
    if (plain_.size() == kSealedFileChunkBytes) COFFRE_TRY(WriteChunk(false));
  }
  return Ok();
}

Status SealedFileWriter::Finish() {
  if (finished_ || fd_ < 0)
    return Fail(ErrorCode::kFailedPrecondition, "the sealed file is closed");
  COFFRE_TRY(WriteChunk(true));
  if (::fsync(fd_) != 0) return Fail(ErrorCode::kIoError, "cannot sync " + path_);
  int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) return Fail(ErrorCode::kIoError, "cannot close " + path_);
  finished_ = true;
  return Ok();
}

Result<std::string> SealSmallFile(std::string_view recipient_public_key,
                                  std::string_view plaintext) {
  if (plaintext.size() > kSealedFileChunkBytes)
    return Fail(ErrorCode::kInvalidArgument, "a small sealed file holds at most one chunk");
  SecretKey file_key = SecretKey::Random();
  COFFRE_ASSIGN_OR_RETURN(std::string sealed_key,
                          SealToRecipient(recipient_public_key, file_key.view()));
  std::string header;
  StreamSealer sealer(file_key, header);
  std::string out(kMagic);
  out += sealed_key;
  out += header;
  AppendBigEndian32(out, static_cast<uint32_t>(plaintext.size() + kStreamChunkOverhead));
  sealer.Push(plaintext, true, out);
  return out;
}

Status OpenSealedFile(const std::string& path, const SecretKey& secret,
                      const std::function<Status(std::string_view plaintext)>& sink) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rbe"), &std::fclose);
  if (!f) {
    if (errno == ENOENT) return Fail(ErrorCode::kNotFound, "no file " + path);
    return Fail(ErrorCode::kIoError, "cannot open " + path + ": " + std::strerror(errno));
  }
  return OpenSealedStream(f.get(), path, secret, sink);
}

Status OpenSealedStream(std::FILE* in, std::string_view name, const SecretKey& secret,
                        const std::function<Status(std::string_view plaintext)>& sink) {
  const std::string path(name);
  const Error not_sealed{ErrorCode::kDataLoss, path + " is not a coffre sealed file"};
  std::string head(kMagic.size() + kSealedKeyBytes + kStreamHeaderBytes, '\0');
  COFFRE_ASSIGN_OR_RETURN(size_t got, ReadFull(in, head.data(), head.size()));
  if (got != head.size() || std::string_view(head).substr(0, kMagic.size()) != kMagic) {
    return Fail(not_sealed);
  }
  auto key_bytes =
      OpenSealedBox(secret, std::string_view(head).substr(kMagic.size(), kSealedKeyBytes));
  if (!key_bytes) {
    return Fail(ErrorCode::kDataLoss,
                path + " is not sealed to this secret key (or its header was altered)");
  }
  COFFRE_ASSIGN_OR_RETURN(SecretKey file_key, SecretKey::FromBytes(*key_bytes));
  RandomBytes(key_bytes->data(), key_bytes->size());
  COFFRE_ASSIGN_OR_RETURN(StreamOpener opener,
                          StreamOpener::Start(file_key, std::string_view(head).substr(
                                                            kMagic.size() + kSealedKeyBytes)));
  std::string sealed;
  std::string plain;
  sealed.reserve(kMaxSealedChunk);
  plain.reserve(kSealedFileChunkBytes);
  for (;;) {
    char len_bytes[4];
    COFFRE_ASSIGN_OR_RETURN(got, ReadFull(in, len_bytes, 4));
    if (got != 4) return Fail(ErrorCode::kDataLoss, path + " is truncated (no final chunk)");
    uint32_t n = ReadBigEndian32(std::string_view(len_bytes, 4));
    if (n < kStreamChunkOverhead || n > kMaxSealedChunk) {
      return Fail(ErrorCode::kDataLoss, path + " holds a chunk of impossible size");
    }
    sealed.resize(n);
    COFFRE_ASSIGN_OR_RETURN(got, ReadFull(in, sealed.data(), n));
    if (got != n) return Fail(ErrorCode::kDataLoss, path + " is truncated (no final chunk)");
    plain.clear();
    auto final = opener.Pull(sealed, plain);
    if (!final) return Fail(ErrorCode::kDataLoss, path + ": " + final.error().message);
    Status delivered = sink(plain);
    Wipe(plain);
    COFFRE_TRY(delivered);
    if (*final) break;
  }
  char extra;
  COFFRE_ASSIGN_OR_RETURN(got, ReadFull(in, &extra, 1));
  if (got != 0) return Fail(ErrorCode::kDataLoss, path + " has bytes after its final chunk");
  return Ok();
}

}  // namespace coffre::crypto
