#include "cards/card_eraser.h"

#include <algorithm>

#include "cards/card_layout.h"

namespace coffre::cards {

using storage::Space;

Result<size_t> CardEraser::AddErasure(std::string_view subject, storage::Store& store,
                                      storage::WriteBatch& batch) {
  // Found by their subject entry, whose value is the hash naming their
  // recognition entry.
  size_t n = 0;
  const std::string prefix = layout::SubjectPrefix(subject);
  COFFRE_TRY(store.Scan(Space::kCards, prefix, [&](std::string_view key, std::string_view hash) {
    std::string_view id = key.substr(prefix.size());
    if (id.size() != layout::kIdBytes) return true;
    batch.Delete(Space::kCards, layout::CardKey(id));
    batch.Delete(Space::kCards, layout::DataKeyKey(id));
    if (hash.size() == layout::kHashBytes) batch.Delete(Space::kCards, layout::HashKey(hash, id));
    batch.Delete(Space::kCards, key);
    ++n;
    return true;
  }));
  return n;
}

Status CardEraser::AddReplay(const vault::JournalEntry& entry, storage::Store& store,
                             storage::WriteBatch& batch) {
  const bool number_only = entry.Is(kCardNumberJournal);
  if (!number_only && !entry.Is(kCardJournal)) return Eraser::AddReplay(entry, store, batch);
  COFFRE_ASSIGN_OR_RETURN(auto sealed, store.Get(Space::kCards, layout::CardKey(entry.id)));
  // Already gone (a replay interrupted after this entry's batch included):
  // its recognition and subject entries must go all the same. The state
  // byte (docs/key-hierarchy.md) is in clear: an evidence holds no number.
  if (sealed) {
    if (number_only && sealed->size() >= 2 && (*sealed)[1] == layout::kEvidenceStateByte)
      return Ok();
    batch.Delete(Space::kCards, layout::CardKey(entry.id));
    batch.Delete(Space::kCards, layout::DataKeyKey(entry.id));
  }
  gone_.push_back(entry.id);
  return Ok();
}

Status CardEraser::FinishReplay(storage::Store& store, storage::WriteBatch& batch) {
  std::vector<std::string> gone = std::move(gone_);
  gone_.clear();
  if (gone.empty()) return Ok();
  std::sort(gone.begin(), gone.end());
  for (std::string_view prefix : {layout::kHashPrefix, layout::kSubjectPrefix}) {
    COFFRE_TRY(store.Scan(Space::kCards, prefix, [&](std::string_view key, std::string_view) {
      if (key.size() >= layout::kIdBytes &&
          std::binary_search(gone.begin(), gone.end(), key.substr(key.size() - layout::kIdBytes))) {
        batch.Delete(Space::kCards, key);
      }
      return true;
    }));
  }
  return Ok();
}

}  // namespace coffre::cards
