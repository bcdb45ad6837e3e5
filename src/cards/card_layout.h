// The keys of the cards space (Space::kCards; docs/cards.md, "Storage";
// docs/storage-layout.md). Owned by src/cards; its eraser (card_eraser.h)
// deletes a subject's cards by these keys in the vault's batch when the
// vault erases one (Vault::EraseSubject, and the replay of the erasure
// journal on restore), without opening them.
//
//   "c/" + id                version || state || Seal(data key, payload, aad)
//   "k/" + id                WrapKey(kek, data key, aad)
//   "h/" + hash + id         (empty)   recognition index
//   "s/" + subject + id      hash      the cards of a subject (cards given one)
//
// id: the card id (16 random bytes); hash: the card number's keyed
// BLAKE2b-256 (32 bytes); subject: a subject id (16 bytes).
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace coffre::cards::layout {

inline constexpr std::string_view kCardPrefix = "c/";
inline constexpr std::string_view kKeyPrefix = "k/";
inline constexpr std::string_view kHashPrefix = "h/";
inline constexpr std::string_view kSubjectPrefix = "s/";
inline constexpr size_t kIdBytes = 16;
inline constexpr size_t kHashBytes = 32;
// The sealed card's second byte (in clear): the state of a card whose
// number is gone. The erasure journal's replay reads it (ADR 0016).
inline constexpr char kEvidenceStateByte = 'e';

inline std::string CardKey(std::string_view id) {
  return std::string(kCardPrefix) + std::string(id);
}
inline std::string DataKeyKey(std::string_view id) {
  return std::string(kKeyPrefix) + std::string(id);
}
inline std::string HashKey(std::string_view hash, std::string_view id) {
  return std::string(kHashPrefix) + std::string(hash) + std::string(id);
}
inline std::string SubjectPrefix(std::string_view subject) {
  return std::string(kSubjectPrefix) + std::string(subject);
}
inline std::string SubjectKey(std::string_view subject, std::string_view id) {
  return SubjectPrefix(subject) + std::string(id);
}

}  // namespace coffre::cards::layout
