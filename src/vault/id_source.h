// Record and subject ids: 16 bytes = 8-byte big-endian time-ordered sequence
// || 8 random bytes. Ids are unique by their random half; the ordered half
// makes new ids sort after existing ones, so a bulk import's files cover
// fresh key ranges and are ingested without rewriting older data
// (docs/adr/0002-bulk-import-by-ingestion.md). The sequence reveals the
// creation time to the millisecond, nothing personal.
//
//   IdSource ids;
//   std::string id = ids.Next();
//   uint64_t base = ids.Reserve(1000);      // sequences base .. base+999
//   std::string first = IdSource::Make(base);
//
// Thread-safety: thread-safe (lock-free).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace coffre::vault {

class IdSource {
 public:
  std::string Next() { return Make(Reserve(1)); }
  // Reserves `n` consecutive sequence numbers, all greater than any given out
  // before by this source; returns the first.
  uint64_t Reserve(uint64_t n);
  // An id with sequence `seq` and a fresh random half.
  static std::string Make(uint64_t seq);
  // Same, writing 16 bytes to `out`.
  static void MakeInto(uint64_t seq, char* out);

 private:
  std::atomic<uint64_t> last_{0};
};

}  // namespace coffre::vault
