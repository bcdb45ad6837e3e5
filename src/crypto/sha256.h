// SHA-256 (FIPS 180-4), one shot and streamed: the file hashes of a backup
// manifest (docs/backup.md), chosen over BLAKE2b so that an operator can
// check a backed-up file with `sha256sum`. Not for secrets: use
// crypto.h's keyed hashes for those.
//
//   crypto::Sha256 h;
//   h.Update(chunk1);
//   h.Update(chunk2);
//   std::string digest = h.Finish();  // 32 raw bytes
//
// Thread-safety: a Sha256 belongs to one thread.
#pragma once

#include <array>
#include <string>
#include <string_view>

namespace coffre::crypto {

inline constexpr size_t kSha256Bytes = 32;

class Sha256 {
 public:
  Sha256();
  void Update(std::string_view bytes);
  // The digest of everything given; the object must not be used afterwards.
  std::string Finish();

 private:
  // libsodium's crypto_hash_sha256_state (104 bytes), kept opaque here.
  alignas(8) std::array<unsigned char, 128> state_{};
};

std::string Sha256Of(std::string_view bytes);

}  // namespace coffre::crypto
