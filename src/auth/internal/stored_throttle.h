// SourceThrottle's rule (a GCRA: `burst` failures at once, then one per
// `refill_seconds`), with its state in the store, for a shared store: the
// nodes of a cluster count one budget, so spreading guesses over N nodes
// does not give N budgets (docs/adr/0043-auth-across-nodes.md).
//
// Storage (Space::kPrincipals): PREFIX + KEY -> the key's theoretical
// arrival time, decimal unix seconds (no personal data: callers pass keyed
// hashes, never a name or an address). Each step is one Store::Transact
// under the lock "t/" + PREFIX + KEY. A key whose debt is paid is deleted
// when it is next refunded; others stay until their key comes back (a few
// bytes per failing source; see the ADR).
//
// Internal to auth. Thread-safety: thread-safe (state lives in the store).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "storage/space_handle.h"

namespace coffre::auth::internal {

// The GCRA step both throttles share: 0 when admitted (and `tat` charged),
// otherwise the seconds to wait (>= 1). `tat` 0: a key never seen.
int64_t GcraAdmit(int64_t& tat, int64_t now, int64_t burst, int64_t refill);

class StoredThrottle {
 public:
  StoredThrottle(storage::SpaceHandle store, std::string prefix, int64_t burst,
                 int64_t refill_seconds);

  // 0 when admitted (and charged); otherwise the seconds to wait (>= 1).
  Result<int64_t> Admit(std::string_view key, int64_t now);
  // Returns the charge of an admitted attempt that succeeded.
  [[nodiscard]] Status Refund(std::string_view key, int64_t now);
  // Forgets every key that starts with `key_prefix` (an admin's unlock).
  [[nodiscard]] Status ForgetPrefix(std::string_view key_prefix);

 private:
  storage::SpaceHandle store_;
  const std::string prefix_;
  const int64_t burst_;
  const int64_t refill_;
};

}  // namespace coffre::auth::internal
