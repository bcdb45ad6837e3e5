// The anchor file: checkpoints kept outside the data directory
// (docs/audit-log.md, "The anchor"). Append-only text; every append fsynced.
#pragma once

#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "audit/internal/format.h"
#include "common/status.h"

namespace coffre::audit::internal {

// Creates a new anchor holding only the header (O_EXCL, mode 0600).
[[nodiscard]] Status CreateAnchor(const std::string& path, std::string_view public_key);

// Appends one checkpoint line and fsyncs; starts a new line after a torn
// write.
[[nodiscard]] Status AppendAnchor(const std::string& path, const Checkpoint& c);

// The anchor's public key; kNotFound when the file does not exist,
// kDataLoss when it is not an anchor.
Result<std::string> ReadAnchorPublicKey(const std::string& path);

// The last well-formed, newline-terminated checkpoint line, read from the
// end of the file (the file grows by one line per checkpoint: reading all
// of it at every open would cost more and more).
Result<std::optional<Checkpoint>> ReadLastAnchorCheckpoint(const std::string& path);

// Reads the checkpoint lines in order, skipping malformed and unterminated
// ones. Not thread-safe.
class AnchorReader {
 public:
  // kNotFound when the file does not exist.
  static Result<std::unique_ptr<AnchorReader>> Open(const std::string& path);
  ~AnchorReader();
  const std::string& public_key() const { return public_key_; }
  // The next checkpoint, or nullopt at the end.
  std::optional<Checkpoint> Next();

 private:
  AnchorReader() = default;
  std::FILE* file_ = nullptr;
  std::string public_key_;
};

}  // namespace coffre::audit::internal
