// A counting semaphore that never blocks, for the memory-hard hashes
// (Argon2id) of end users' credentials and staff logins: at most `cap`
// computations hold a slot at once, and a caller beyond the cap is refused
// at once (answered 503/429 with Retry-After) rather than queued, so a
// flood costs neither memory nor waiting workers.
//
//   HashSlots slots(4);
//   HashSlot slot(slots);
//   if (!slot.held()) return Busy();
//   Argon2id(...);            // released when `slot` goes out of scope
//
// Thread-safe. HashSlot borrows its HashSlots, which must outlive it.
#pragma once

#include <atomic>
#include <cstddef>

namespace coffre {

class HashSlots {
 public:
  explicit HashSlots(size_t cap) : cap_(cap) {}
  HashSlots(const HashSlots&) = delete;
  HashSlots& operator=(const HashSlots&) = delete;

  bool TryAcquire() {
    size_t n = in_use_.load();
    while (n < cap_) {
      if (in_use_.compare_exchange_weak(n, n + 1)) return true;
    }
    return false;
  }
  void Release() { in_use_.fetch_sub(1); }
  size_t in_use() const { return in_use_.load(); }
  size_t cap() const { return cap_; }

 private:
  const size_t cap_;
  std::atomic<size_t> in_use_{0};
};

// One slot, taken on construction when one is free, released on scope exit.
class HashSlot {
 public:
  explicit HashSlot(HashSlots& slots) : slots_(slots), held_(slots.TryAcquire()) {}
  ~HashSlot() {
    if (held_) slots_.Release();
  }
  HashSlot(const HashSlot&) = delete;
  HashSlot& operator=(const HashSlot&) = delete;
  bool held() const { return held_; }

 private:
  HashSlots& slots_;
  const bool held_;
};

}  // namespace coffre
