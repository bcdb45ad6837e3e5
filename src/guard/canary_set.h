// Canary records (docs/exfiltration.md, "Canary records"): generated people
// written through the normal write path, so the API cannot tell them from
// real ones, whose subject ids are kept in the vault's sealed secret
// "canaries" (16 raw bytes each, concatenated): someone holding the data
// directory without the key cannot list them, and the audit log never names
// them (`canary add` is audited with a count only).
//
//   CanarySet canaries;
//   COFFRE_TRY(canaries.Load(vault));                 // at start
//   auto added = AddCanaries(vault, "people", 5, "canary.example.org", &canaries);
//   if (canaries.Count(response_subjects) > 0) ...    // critical alert, suspend
//
// Thread-safety: CanarySet is safe from many threads: lookups read an
// immutable snapshot (one atomic load, then a hash lookup); Load and Add
// publish a new one. AddCanaries serialises itself (read, append, write of
// the secret) within the process; only one process owns a vault.
// Ownership: nothing borrowed beyond a call.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "common/status.h"
#include "vault/vault.h"

namespace coffre::guard {

// The name of the sealed secret (Vault::GetSecret / PutSecret).
inline constexpr std::string_view kCanariesSecret = "canaries";
inline constexpr uint64_t kMaxCanariesPerCall = 10'000;

class CanarySet {
 public:
  CanarySet();
  ~CanarySet();

  // Replaces the set with the vault's stored canaries (none if the secret is
  // absent). kDataLoss if the secret is not a list of 16-byte ids.
  [[nodiscard]] Status Load(vault::Vault& vault);
  // Adds ids (16 raw bytes each) to the set in memory.
  void Add(std::span<const std::string> subjects);

  bool Contains(std::string_view subject) const;
  // How many of `subjects` are canaries (repeats count each time).
  size_t Count(std::span<const std::string> subjects) const;
  size_t size() const;

 private:
  using Set = std::unordered_set<std::string>;
  std::atomic<std::shared_ptr<const Set>> set_;
};

// Generates `count` people (src/gen, a random seed) and writes them into
// `collection` with Vault::Put, each a new subject; then appends their
// subject ids to the sealed secret, and to `live` if given (the running
// server's set). `email_domain`, if not empty, replaces the generated
// addresses' domain (use one you own, so mail to a canary is seen too).
// Fields of the collection that generated people fill are set (first_name,
// last_name, sex, birth_date, nir, email, phone, postal_address, iban,
// agency); a required field they do not fill is kInvalidArgument.
// `count` is 1..kMaxCanariesPerCall. `seed` (drills only) makes them the
// people `coffre gen --seed` emits, so a drill can find them; a known seed
// makes canaries recognisable, so production omits it (a random seed).
// Returns the new subject ids (raw).
Result<std::vector<std::string>> AddCanaries(vault::Vault& vault, std::string_view collection,
                                             uint64_t count, std::string_view email_domain,
                                             CanarySet* live = nullptr,
                                             std::optional<uint64_t> seed = std::nullopt);

// Adds existing subjects (16 raw bytes each) to the stored canary list, and
// to `live` if given; ids already listed are not repeated. The bulk import
// of a `coffre bulk-export` file recreates its canaries with it
// (docs/import.md).
[[nodiscard]] Status RegisterCanaries(vault::Vault& vault, std::span<const std::string> subjects,
                                      CanarySet* live = nullptr);

}  // namespace coffre::guard
