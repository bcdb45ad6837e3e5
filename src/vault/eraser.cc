#include "vault/eraser.h"

#include <string>

namespace coffre::vault {

Status Eraser::AddReplay(const JournalEntry& entry, storage::Store&, storage::WriteBatch&) {
  return Fail(ErrorCode::kInternal, "eraser '" + std::string(name()) + "' declares journal kind '" +
                                        entry.word + "' but does not replay it");
}

Status Eraser::FinishReplay(storage::Store&, storage::WriteBatch&) { return Ok(); }

}  // namespace coffre::vault
