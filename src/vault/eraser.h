// What a module adds to the erasure of a subject (ADR 0016, ADR 0026):
// the vault erases its own records, keys and index entries, then asks each
// registered eraser to add the deletion of what its module keeps about the
// subject to the SAME write batch, which it journals and writes at once. A
// subject is thus erased whole or not at all, and a restored backup replays
// the erasure, through the same erasers, at the next open. The vault knows
// no module: the composition root (src/app/runtime.cc) registers them.
//
//   class HoldEraser final : public vault::Eraser {
//     std::string_view name() const override { return "holds"; }
//     std::vector<storage::Space> spaces() const override { return {Space::kRetention}; }
//     Result<size_t> AddErasure(std::string_view subject, storage::Store& store,
//                               storage::WriteBatch& batch) override {
//       batch.Delete(Space::kRetention, HoldKey(subject));  // only the batch is written
//       return 1;
//     }
//   };
//   auto v = Vault::Open({..., .erasers = {&card_eraser, &hold_eraser}});
//
// A module that journals deletions of its own (Vault::CommitDeletion with
// JournalEntry::Module) declares their kinds (journal_kinds) and replays
// them (AddReplay, FinishReplay): a vault refuses to open over a journal
// holding entries of a kind no registered eraser declares.
//
// Thread-safety: the vault calls an eraser under its write lock, one call
// at a time. Ownership: the vault borrows its erasers; they must outlive it.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "storage/store.h"
#include "vault/erasure_journal.h"

namespace coffre::vault {

class Eraser {
 public:
  virtual ~Eraser() = default;

  // Names the eraser's count in EraseResult ("cards"); unique in a vault.
  virtual std::string_view name() const = 0;
  // The spaces its deletions touch: compacted with the vault's after every
  // deletion, so that what it deleted leaves the store's files (ADR 0004).
  virtual std::vector<storage::Space> spaces() const = 0;

  // Adds to `batch` the deletion of everything the module keeps about
  // `subject` (raw 16 bytes), reading `store` as it is before the batch;
  // returns how many of its items go. Deletes only entries that exist (a
  // batch left empty by all means "unknown subject", kNotFound). Writes
  // nothing itself: on error the vault drops the batch, and nothing of the
  // subject is erased.
  virtual Result<size_t> AddErasure(std::string_view subject, storage::Store& store,
                                    storage::WriteBatch& batch) = 0;

  // The kinds of journal entries the module writes, none by default.
  virtual std::vector<JournalKind> journal_kinds() const { return {}; }
  // At open, for each of its journal entries the vault has not applied, in
  // journal order, one batch each: adds the entry's deletion to `batch`.
  // The store already holds the previous entries' batches.
  [[nodiscard]] virtual Status AddReplay(const JournalEntry& entry, storage::Store& store,
                                         storage::WriteBatch& batch);
  // Then once, when AddReplay was called: adds to the batch that records
  // the journal as applied what needs every entry seen (the cards delete
  // the recognition entries of the cards replayed, in one pass).
  [[nodiscard]] virtual Status FinishReplay(storage::Store& store, storage::WriteBatch& batch);
};

}  // namespace coffre::vault
