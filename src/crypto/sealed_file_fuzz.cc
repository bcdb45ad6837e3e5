// libFuzzer target for the sealed file reader: a file handed back by
// someone else (`coffre decrypt`) is untrusted. Whatever the bytes, the
// reader ends with an error or the plaintext, never a crash, and never hands
// over more than one chunk at a time.
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "crypto/crypto.h"
#include "crypto/sealed_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace coffre::crypto;
  static const bool ready = static_cast<bool>(Init());
  if (!ready) std::abort();
  static const SecretKey key = *SecretKey::FromBytes(std::string(32, '\x42'));
  std::FILE* f = fmemopen(const_cast<uint8_t*>(data), size, "rb");
  if (f == nullptr) return 0;
  (void)OpenSealedStream(f, "fuzz input", key, [](std::string_view plain) -> coffre::Status {
    if (plain.size() > kSealedFileChunkBytes) std::abort();
    return coffre::Ok();
  });
  std::fclose(f);
  return 0;
}
