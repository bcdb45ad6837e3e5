#include "vault/id_source.h"

#include <chrono>

#include "crypto/crypto.h"

namespace coffre::vault {

uint64_t IdSource::Reserve(uint64_t n) {
  // 16 bits of counter per millisecond: 65,536 ids/ms before borrowing from
  // the next millisecond, which only matters for ordering, never uniqueness.
  uint64_t now_ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                              std::chrono::system_clock::now().time_since_epoch())
                                              .count());
  uint64_t floor = now_ms << 16;
  uint64_t last = last_.load(std::memory_order_relaxed);
  uint64_t base = 0;
  do {
    base = std::max(floor, last + 1);
  } while (!last_.compare_exchange_weak(last, base + n - 1, std::memory_order_relaxed));
  return base;
}

void IdSource::MakeInto(uint64_t seq, char* out) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(seq & 0xff);
    seq >>= 8;
  }
  crypto::RandomBytes(out + 8, 8);
}

std::string IdSource::Make(uint64_t seq) {
  std::string id(16, '\0');
  MakeInto(seq, id.data());
  return id;
}

}  // namespace coffre::vault
