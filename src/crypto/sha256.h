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

#include <memory>
#include <string>
#include <string_view>

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX

namespace coffre::crypto {

inline constexpr size_t kSha256Bytes = 32;

// OpenSSL's implementation: it uses the CPU's SHA extensions where they
// exist (measured: about 3x libsodium's portable one on this machine, which
// made hashing most of a backup's CPU time).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(std::string_view bytes);
  // The digest of everything given; the object must not be used afterwards.
  std::string Finish();

 private:
  struct Free {
    void operator()(evp_md_ctx_st* ctx) const;
  };
  std::unique_ptr<evp_md_ctx_st, Free> ctx_;
};

std::string Sha256Of(std::string_view bytes);

}  // namespace coffre::crypto
