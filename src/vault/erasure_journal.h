// The erasure journal: an append-only file, kept outside the data directory
// and its backups, listing every deletion of personal data: erased subjects,
// deleted records, and the deletions other modules journal (the payment
// cards' `card` and `card-number`, src/cards/card_eraser.h). A vault
// restored from a backup replays the entries it has not applied, so nothing
// deleted comes back.
//
//   auto j = ErasureJournal::Open(path, vault_id);
//   COFFRE_TRY(j->Append(JournalEntry::Record("people", record_id), now));
//   auto entries = j->ReadAll(kinds);  // kinds: the modules' (Eraser::journal_kinds)
//
// Format (docs/key-hierarchy.md, "Erasure journal"): a header line
// `coffre-erasure-journal v1 <vault id hex>` then one line per deletion:
//   `<unix seconds> <subject hex>`                       a subject (v1)
//   `<unix seconds> record <collection> <record hex>`    one record
//   `<unix seconds> <word> <id hex>`                     a module's entry, its
//                                                        word registered (JournalKind)
// Each append is fsynced before the deletion itself is written, and starts
// on a new line even after a torn write; a malformed line (torn, never
// acknowledged) is skipped. The vault keeps, in its meta space, how many
// entries it has applied and a hash chained over them (Chain), so a journal
// replaced by another copy is noticed.
//
// The journal is created by `init` only: a missing journal is an error, never
// silently a new empty one (which would forget every deletion).
//
// Thread-safety: not thread-safe; the vault serialises writers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace coffre::vault {

// A kind of deletion a module journals besides subjects and records: the
// word naming it on its line (lower-case letters and '-'; not "record") and
// the byte tagging it in the chain (not 'r'). Both are part of the format: a
// module never changes them (the cards: {"card", 'c'}, {"card-number", 'n'}).
struct JournalKind {
  std::string_view word;
  char tag = 0;
};

// One deletion. Ids are raw 16 bytes; `collection` only for a record;
// `word` and `tag` (its JournalKind) only for a module's entry.
struct JournalEntry {
  enum class Kind { kSubject, kRecord, kModule };
  Kind kind = Kind::kSubject;
  std::string collection;
  std::string id;
  std::string word;
  char tag = 0;

  static JournalEntry Subject(std::string_view subject) {
    return {Kind::kSubject, {}, std::string(subject), {}, 0};
  }
  static JournalEntry Record(std::string_view collection, std::string_view record_id) {
    return {Kind::kRecord, std::string(collection), std::string(record_id), {}, 0};
  }
  static JournalEntry Module(const JournalKind& kind, std::string_view id) {
    return {Kind::kModule, {}, std::string(id), std::string(kind.word), kind.tag};
  }
  bool Is(const JournalKind& k) const { return kind == Kind::kModule && word == k.word; }

  // What Chain hashes: the raw subject for a subject (so v1 chains are
  // unchanged), else a kind byte then the fields; no two entries share it.
  std::string ChainBytes() const;
  // The line's text after the time, without the newline.
  std::string LineText() const;
  bool operator==(const JournalEntry&) const = default;
};

class ErasureJournal {
 public:
  // Creates the journal of a new vault (fails if the file exists).
  static Result<ErasureJournal> Create(const std::string& path, std::string_view vault_id);
  // Opens an existing journal; refuses a missing one and one that belongs to
  // another vault.
  static Result<ErasureJournal> Open(const std::string& path, std::string_view vault_id);

  // Hash chained over entries[0..n): H(H(...H(zero || b0)...) || b(n-1)),
  // with b the entries' ChainBytes.
  static std::string Chain(const std::vector<JournalEntry>& entries, size_t n);
  // Extends a chain value by one entry.
  static std::string Extend(const std::string& chain, const JournalEntry& entry);

  // Appends and fsyncs one entry; returns the journal's size afterwards.
  Result<uint64_t> Append(const JournalEntry& entry, int64_t unix_seconds);
  // A subject erasure (the v1 line).
  Status Append(std::string_view subject, int64_t unix_seconds);

  // Entries in journal order; a module's entry is read with its kind among
  // `kinds`. A well-formed line of a word none of `kinds` has is an error
  // (kFailedPrecondition): skipping it would forget a deletion.
  Result<std::vector<JournalEntry>> ReadAll(const std::vector<JournalKind>& kinds = {}) const;
  // The journal's size in bytes (a change means another writer, or a copy).
  Result<uint64_t> Size() const;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::string vault_hex_;
};

}  // namespace coffre::vault
