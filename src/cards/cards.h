// Payment cards: the built-in `cards` collection of every vault
// (docs/cards.md; ADR 0010; incident 1). Each card is sealed under its own
// random data key, wrapped by the keyring's kek; a card's number is
// replaced for good by a keyed hash and its last 4 digits when its
// transaction completes (unless the holder opted in to saving it) or when
// it expires, by deleting its data key in the same batch; the resulting
// evidence is deleted too, `evidence_months` after the expiry month.
//
//   auto cards = cards::Cards::Open(vault, *vault.Grant("cards", cards::kCardSpaces),
//                                   ring.kek(), ring.card_hash_key());  // reads the vault's config
//   auto made = (*cards)->Create({.pan = p, .expiry = "12/29"}, clock.NowUnixSeconds());
//   made->card.token;                                     // "ct_…", fails Luhn, ends with the last
//   4 auto card = (*cards)->Get(made->card.token);          // card->pan: digits (active or saved)
//   (*cards)->Complete(made->card.token, now);            // now an evidence: no number
//   (*cards)->Sweep(now, [&](const cards::SweepEvent& e) { return Audit(e); });
//   (*cards)->CompactIfShredded();                        // old versions leave the files
//
// Storage: Space::kCards (cards/card_layout.h, docs/storage-layout.md), keys
//   "c/" + id       version || state || Seal(data key, payload, aad)
//   "k/" + id       WrapKey(kek, data key, aad)
//   "h/" + hash + id  (empty)  recognition index, hash = keyed BLAKE2b(pan)
//   "s/" + subject + id  hash  the cards of a subject, which
//                   Vault::EraseSubject deletes with the subject
//                   (through CardEraser, card_eraser.h)
// with id the card id (16 random bytes, also the audit record id) and both
// associated data binding the vault id and the token (so a sealed card or
// key moved under another token does not open).
//
// Thread-safety: safe from many threads; changes of one card are
// serialised by a mutex (one process owns the data directory).
// Ownership: borrows the store (through its handle) and keys (the vault's),
// which must outlive it.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "cards/card_eraser.h"
#include "common/status.h"
#include "crypto/crypto.h"
#include "storage/space_handle.h"
#include "storage/store.h"
#include "vault/erasure_journal.h"

namespace coffre::vault {
class Vault;
}  // namespace coffre::vault

namespace coffre::cards {

// The space the cards module owns (vault::Vault::Grant, ADR 0025).
inline constexpr storage::SpaceSet kCardSpaces = storage::Spaces({storage::Space::kCards});

// The vault config (Vault::PutConfig) holding how many months the evidence
// of a card is kept after its expiry month; 13 when absent (coffre init
// --card-evidence-months).
inline constexpr std::string_view kEvidenceMonthsConfig = "cards.evidence_months";
inline constexpr int kDefaultEvidenceMonths = 13;
inline constexpr int kMaxEvidenceMonths = 120;
// Cards whose expiry is further ahead than this are refused (a typo).
inline constexpr int kMaxYearsAhead = 20;
inline constexpr size_t kMaxHolderBytes = 200;

// "12" -> 12; kInvalidArgument outside 1..kMaxEvidenceMonths.
Result<int> ParseEvidenceMonths(std::string_view text);

enum class State {
  kActive,    // number held; the transaction is not complete
  kSaved,     // number held at the holder's request (save: true), completed or not
  kEvidence,  // no number: keyed hash, last 4, expiry (completed or expired)
};
std::string_view StateName(State s);  // "active", "saved", "evidence"

struct NewCard {
  std::string pan;     // as given; normalised and checked
  std::string expiry;  // "MM/YY"
  std::optional<std::string> holder;
  bool save = false;
  std::string subject;  // raw 16 bytes, or empty
};

struct Card {
  std::string id;     // 16 raw bytes
  std::string token;  // MakeToken(id, last4)
  State state = State::kActive;
  std::string pan;  // digits; empty for an evidence
  std::string last4;
  std::string expiry;  // "MM/YY"
  std::string holder;  // empty when none, and for an evidence
  bool save = false;
  std::string subject;  // raw 16 bytes, or empty
  int64_t created_s = 0;
  int64_t completed_s = 0;       // 0 until completed
  int64_t expires_s = 0;         // end of the expiry month (the number goes then)
  int64_t evidence_until_s = 0;  // the evidence goes then
  std::string hash;              // keyed BLAKE2b-256 of the number (32 bytes); never shown
  // The masked number: at most the first 6 and last 4 digits
  // (schema/mask.h's pan rule); "****" + last 4 for an evidence.
  std::string Masked() const;
};

struct Created {
  Card card;
  // The same number was already known to the vault (another card, live or
  // evidence): the keyed hash matched. The other tokens are not returned.
  bool known = false;
};

struct SweepEvent {
  enum Kind { kExpired, kEvidenceDeleted } kind;
  std::string id;  // 16 raw bytes
  std::string token;
  std::string subject;  // raw, or empty
};
std::string_view SweepEventName(SweepEvent::Kind k);  // "card.expire", "card.evidence_delete"

struct SweepStats {
  size_t scanned = 0;
  size_t expired = 0;
  size_t evidence_deleted = 0;
  size_t unreadable = 0;  // entries that did not open: left in place
};

// year * 12 + month - 1 of `unix_seconds` (UTC): the sweep's results only
// change when it does.
int64_t MonthIndex(int64_t unix_seconds);

struct CardsOptions {
  int evidence_months = kDefaultEvidenceMonths;
};

class Cards {
 public:
  Cards(storage::SpaceHandle store, std::string vault_id, const crypto::SecretKey& kek,
        const crypto::SecretKey& hash_key, CardsOptions options);
  // Over the cards space of the vault's store (`store`, vault::Vault::Grant)
  // and the keys the composition root hands it (the vault's data-key
  // wrapping key and card-hash key), with the vault's evidence months config.
  // Deletions (Delete, Complete, the sweep) are then journalled in the
  // vault's erasure journal (Vault::CommitDeletion), so that a restored
  // backup does not bring a deleted card or number back (the vault must
  // have been opened with a CardEraser, which replays them; kInvalidArgument
  // otherwise); a Cards made with the constructor journals nothing (tests).
  static Result<std::unique_ptr<Cards>> Open(vault::Vault& vault, storage::SpaceHandle store,
                                             const crypto::SecretKey& kek,
                                             const crypto::SecretKey& hash_key);

  const CardsOptions& options() const { return options_; }

  // Validates (kInvalidArgument naming the field and the rule, never the
  // value: 'pan' Luhn and 12-19 digits, 'expiry' MM/YY, not past at `now`,
  // at most kMaxYearsAhead years ahead; 'holder' 1..200 bytes of text),
  // then stores the card in one synced batch.
  Result<Created> Create(const NewCard& card, int64_t now_s);

  // kInvalidArgument for a malformed token; kNotFound when no such card
  // (never was, or deleted); kDataLoss when it does not open.
  Result<Card> Get(std::string_view token);

  // The transaction is done. An active card becomes an evidence: its data
  // key and number are replaced in one batch (a new data key seals the
  // evidence). A saved card keeps its number and records the completion.
  // kFailedPrecondition for an evidence (already completed, or expired).
  Result<Card> Complete(std::string_view token, int64_t now_s);

  // Deletes the card at once with its key and hash entry (crypto-shredded).
  Result<Card> Delete(std::string_view token);

  // How many cards (numbers or evidences) are attached to `subject` (raw).
  // Vault::EraseSubject deletes them with the subject, in its batch, when
  // the vault was opened with a CardEraser (card_eraser.h).
  Result<size_t> CountOfSubject(std::string_view subject);

  // Cards whose expiry month ended before `now` become evidences; evidences
  // whose retention ended are deleted. `on_event` is called after each
  // change is durable (the caller audits it); its failure stops the sweep.
  // Memory: the ids of all cards (16 bytes each).
  Result<SweepStats> Sweep(int64_t now_s, const std::function<Status(const SweepEvent&)>& on_event);

  // After numbers or keys were replaced or deleted, compacts the cards
  // space so that their old versions leave the files and the write-ahead
  // log (Store::CompactSpace; Vault::CompactDeleted when opened over a
  // vault); does nothing when none was.
  Status CompactIfShredded();
  bool shred_pending() const { return shredded_.load(); }

 private:
  Result<Card> Load(std::string_view id, std::string_view token);
  Status WriteEvidence(const Card& card, storage::WriteBatch& batch);
  // Writes a batch that deletes a card or its number, journalled first.
  Status CommitDeletion(const vault::JournalEntry& entry, storage::WriteBatch& batch);

  storage::SpaceHandle store_;
  std::string vault_id_;
  const crypto::SecretKey& kek_;
  const crypto::SecretKey& hash_key_;
  CardsOptions options_;
  std::mutex mu_;
  std::atomic<bool> shredded_{false};
  vault::Vault* vault_ = nullptr;  // journals deletions; not owned
};

}  // namespace coffre::cards
