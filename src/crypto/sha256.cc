#include "crypto/sha256.h"

#include <sodium.h>

namespace coffre::crypto {

static_assert(sizeof(crypto_hash_sha256_state) <= 128);

namespace {
crypto_hash_sha256_state* State(std::array<unsigned char, 128>& raw) {
  return reinterpret_cast<crypto_hash_sha256_state*>(raw.data());
}
}  // namespace

Sha256::Sha256() { crypto_hash_sha256_init(State(state_)); }

void Sha256::Update(std::string_view bytes) {
  crypto_hash_sha256_update(State(state_), reinterpret_cast<const unsigned char*>(bytes.data()),
                            bytes.size());
}

std::string Sha256::Finish() {
  std::string out(kSha256Bytes, '\0');
  crypto_hash_sha256_final(State(state_), reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

std::string Sha256Of(std::string_view bytes) {
  Sha256 h;
  h.Update(bytes);
  return h.Finish();
}

}  // namespace coffre::crypto
