// Files encrypted to a recipient's public key, written and read in chunks so
// that memory stays flat whatever their size: bulk exports and breach
// notification lists (docs/adr/0009-breach-reports-and-approvals.md).
//
//   auto w = crypto::SealedFileWriter::Create("/tmp/people.sealed", recipient_pk);
//   if (!w) return w.error();
//   COFFRE_TRY((*w)->Write(ndjson_line));     // any number of times
//   COFFRE_TRY((*w)->Finish());               // final chunk, fsync
//
//   crypto::SecretKey sk = ...;               // `coffre keygen`
//   COFFRE_TRY(crypto::OpenSealedFile("/tmp/people.sealed", sk,
//                                     [&](std::string_view plain) { ...; return Ok(); }));
//
// Format (all integers big-endian):
//   "coffre-sealed v1\n"                 17 bytes
//   sealed box of the file key           80 bytes (crypto_box_seal of 32 bytes)
//   stream header                        24 bytes (secretstream)
//   chunks: BE32(n) || n sealed bytes    plaintext chunks of at most 64 KiB,
//                                        the last one (possibly empty) final
// The file key is random per file; the sealed box gives it to the recipient
// only, and the stream authenticates every chunk and their order, so an
// altered, reordered, dropped or truncated chunk fails to open, and nothing
// may follow the final chunk.
//
// Thread-safety: a writer belongs to one thread. OpenSealedFile is
// thread-safe.
#pragma once

#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "crypto/crypto.h"

namespace coffre::crypto {

inline constexpr size_t kSealedFileChunkBytes = 64u << 10;

class SealedFileWriter {
 public:
  // Creates `path` (O_EXCL, mode 0600: never overwrites). kAlreadyExists if
  // it exists; kInvalidArgument for an unusable public key.
  static Result<std::unique_ptr<SealedFileWriter>> Create(const std::string& path,
                                                          std::string_view recipient_public_key);
  // Without Finish(), the partial file is removed.
  ~SealedFileWriter();
  SealedFileWriter(const SealedFileWriter&) = delete;
  SealedFileWriter& operator=(const SealedFileWriter&) = delete;

  // Buffers `plaintext`, sealing and writing each full 64 KiB chunk.
  [[nodiscard]] Status Write(std::string_view plaintext);
  // Seals the rest as the final chunk, fsyncs and closes the file.
  [[nodiscard]] Status Finish();
  // Bytes written to the file so far.
  uint64_t bytes_written() const { return written_; }

 private:
  SealedFileWriter(std::string path, int fd, StreamSealer sealer)
      : path_(std::move(path)), fd_(fd), sealer_(std::move(sealer)) {}
  Status WriteChunk(bool final);
  Status WriteAll(std::string_view bytes);

  std::string path_;
  int fd_ = -1;
  StreamSealer sealer_;
  std::string plain_;   // at most one chunk; wiped after each seal
  std::string sealed_;  // the chunk being written
  uint64_t written_ = 0;
  bool finished_ = false;
};

// The whole image of a sealed file holding `plaintext` (at most one chunk,
// kSealedFileChunkBytes), built in memory: the bytes SealedFileWriter would
// write, for a caller that writes several small files all or none (the
// key shares of `coffre keys split`). kInvalidArgument for an unusable
// public key or a plaintext over one chunk.
Result<std::string> SealSmallFile(std::string_view recipient_public_key,
                                  std::string_view plaintext);

// Opens a sealed file and hands its plaintext to `sink`, chunk by chunk, in
// order. kDataLoss when the file is not a sealed file, does not open with
// `secret`, or is altered or truncated; the chunks already handed over must
// then be discarded (truncation shows only at the end). kNotFound when the
// file does not exist. A sink error stops the walk and is returned.
[[nodiscard]] Status OpenSealedFile(const std::string& path, const SecretKey& secret,
                                    const std::function<Status(std::string_view plaintext)>& sink);
// The same over an open stream (standard input, the fuzz target's memory);
// `name` names it in messages. Does not close `in`.
[[nodiscard]] Status OpenSealedStream(
    std::FILE* in, std::string_view name, const SecretKey& secret,
    const std::function<Status(std::string_view plaintext)>& sink);

}  // namespace coffre::crypto
