// The payment cards' part of a subject's erasure (vault/eraser.h, ADR 0016,
// ADR 0026): the cards attached to the subject, numbers and evidences alike,
// go with their data keys (crypto-shredded), recognition and subject
// entries, in the vault's batch. It also replays the cards' own journal
// entries (`card`: a card deleted; `card-number`: a number made
// irreversible) on a restored backup. The composition root registers it
// when it opens the vault (src/app/runtime.cc):
//
//   cards::CardEraser card_eraser;
//   auto v = vault::Vault::Open({..., .erasers = {&card_eraser}});
//   auto cards = cards::Cards::Open(**v);  // journals kCardJournal entries
//
// Reads and deletes by key only (card_layout.h): it opens no card, so it
// needs no key and works before the cards module is opened.
//
// Thread-safety: the vault calls it under its write lock; the replay state
// lives from the first AddReplay to FinishReplay, at open.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "vault/eraser.h"

namespace coffre::cards {

// The eraser's name: its count in vault::EraseResult.
inline constexpr std::string_view kCardEraserName = "cards";
// The cards' journal kinds (format: docs/key-hierarchy.md, never changed).
inline constexpr vault::JournalKind kCardJournal{"card", 'c'};
inline constexpr vault::JournalKind kCardNumberJournal{"card-number", 'n'};

class CardEraser final : public vault::Eraser {
 public:
  std::string_view name() const override { return kCardEraserName; }
  std::vector<storage::Space> spaces() const override { return {storage::Space::kCards}; }
  Result<size_t> AddErasure(std::string_view subject, storage::Store& store,
                            storage::WriteBatch& batch) override;

  std::vector<vault::JournalKind> journal_kinds() const override {
    return {kCardJournal, kCardNumberJournal};
  }
  // A `card` entry deletes the card's sealed form and key; a `card-number`
  // entry too, unless the card is already an evidence (holds no number):
  // the number was made irreversible after the backup was taken, and the
  // evidence cannot be rebuilt without the card's keys, so the card goes
  // altogether (ADR 0016).
  Status AddReplay(const vault::JournalEntry& entry, storage::Store& store,
                   storage::WriteBatch& batch) override;
  // The recognition and subject entries of the cards gone: keyed by the
  // number's hash and the subject, which only the sealed card held, so
  // found by their id in one pass over each.
  Status FinishReplay(storage::Store& store, storage::WriteBatch& batch) override;

 private:
  std::vector<std::string> gone_;  // ids of the cards replayed away
};

}  // namespace coffre::cards
