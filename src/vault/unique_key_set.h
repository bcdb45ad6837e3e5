// An exact set of blind-index unique keys, for the bulk importer's committer
// (docs/adr/0002-bulk-import-by-ingestion.md): the unique keys of the commit
// groups that a worker's store lookup could not see yet.
//
//   UniqueKeySet taken;
//   if (!taken.Contains(field, blind)) taken.Insert(field, blind);
//
// A unique key is lp(collection) || lp(field) || blind value, so within one
// collection (field, blind value) identifies it exactly. The blind value is a
// keyed hash, so its first bytes serve as the hash: nobody without the
// blind-index key can make them collide. Open addressing, at most half full;
// no allocation per key (the table doubles when needed).
//
// Thread-safety: none; one owner (the committer). `blind` points at
// crypto::kBlindBytes bytes, copied on Insert.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "crypto/crypto.h"

namespace coffre::vault {

class UniqueKeySet {
 public:
  bool Contains(uint16_t field, const char* blind) const {
    if (slots_.empty()) return false;
    for (size_t i = Home(blind);; i = (i + 1) & (slots_.size() - 1)) {
      const Slot& s = slots_[i];
      if (!s.used) return false;
      if (s.field == field && std::memcmp(s.blind, blind, crypto::kBlindBytes) == 0) return true;
    }
  }

  // Adds the key; a key already present is left as it is.
  void Insert(uint16_t field, const char* blind) {
    if (2 * (size_ + 1) > slots_.size()) Grow();
    for (size_t i = Home(blind);; i = (i + 1) & (slots_.size() - 1)) {
      Slot& s = slots_[i];
      if (!s.used) {
        s.used = true;
        s.field = field;
        std::memcpy(s.blind, blind, crypto::kBlindBytes);
        ++size_;
        return;
      }
      if (s.field == field && std::memcmp(s.blind, blind, crypto::kBlindBytes) == 0) return;
    }
  }

  size_t size() const { return size_; }

 private:
  struct Slot {
    char blind[crypto::kBlindBytes];
    uint16_t field = 0;
    bool used = false;
  };

  size_t Home(const char* blind) const {
    uint64_t h = 0;
    std::memcpy(&h, blind, sizeof h);
    return static_cast<size_t>(h) & (slots_.size() - 1);
  }
  // Doubles the table (1,024 slots at first) and inserts every key again.
  void Grow();

  std::vector<Slot> slots_;  // size: a power of two, at most half full
  size_t size_ = 0;
};

}  // namespace coffre::vault
