#include "vault/unique_key_set.h"

#include <utility>

namespace coffre::vault {

void UniqueKeySet::Grow() {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(old.empty() ? 1024 : 2 * old.size(), Slot{});
  size_ = 0;
  for (const Slot& s : old) {
    if (s.used) Insert(s.field, s.blind);
  }
}

}  // namespace coffre::vault
