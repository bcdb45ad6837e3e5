// Synthetic French people, for demos, tests and benchmarks. Never real data.
//
// The same seed gives the same people, on every machine (own PRNG, no
// std:: distributions). Every person is valid for examples/people.toml:
// the NIR matches sex and birth date and has a correct key (some born in
// Corsica, 2A/2B, and some abroad, department 99); the IBAN is a valid French
// IBAN; the phone is a realistic French number; the email is unique within
// one generator's run; the agency is one of kAgencyCount codes, uniformly.
//
//   PeopleGenerator gen(/*seed=*/42);
//   std::string line;
//   for (int i = 0; i < 10; ++i) { line.clear(); gen.NextNdjson(line); std::cout << line; }
//
// Birth dates put everyone between 18 and 95 years old on 2026-01-01, a fixed
// reference so the output never depends on the clock. Emails use reserved
// domains (example.fr, exemple.test...) and phones ARCEP's ranges reserved for
// fiction, so nothing generated reaches a real mailbox or line.
//
// Thread-safety: a generator is not thread-safe; use one per thread.
// WriteNdjson builds its own generator, so concurrent calls on distinct
// streams are fine.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

namespace coffre::gen {

// Agencies are "A001" .. "A100": enough for row scopes to matter (an
// adviser sees about 1% of people), few enough for every one to be used.
inline constexpr int kAgencyCount = 100;

struct Person {
  std::string first_name;
  std::string last_name;
  std::string sex;         // "F" or "M"
  std::string birth_date;  // YYYY-MM-DD
  std::string nir;         // 15 characters, no spaces
  std::string email;
  std::string phone;  // as people write it, e.g. "06 39 98 00 01" or "+33 6 ..."
  std::string postal_address;
  std::string iban;    // as printed, e.g. "FR76 3000 ..." or compact
  std::string agency;  // the branch following the person, "A001" .. "A100"
};

class PeopleGenerator {
 public:
  explicit PeopleGenerator(uint64_t seed);
  void Next(Person& out);
  // Appends one JSON object and a '\n'.
  void NextNdjson(std::string& out);

 private:
  uint64_t state_[4];
  uint64_t count_ = 0;
  uint64_t Rand();
  uint64_t Below(uint64_t n);  // uniform in [0, n), n > 0, unbiased

  // Field builders: each clears `out` and writes one field.
  void BuildNir(std::string& out, bool female, int year, int month);
  void BuildEmail(std::string& out, std::string_view first, std::string_view last);
  void BuildPhone(std::string& out);
  void BuildPostalAddress(std::string& out);
  void BuildIban(std::string& out);

  Person scratch_;  // reused by NextNdjson so its strings keep their capacity

  friend struct PeopleGeneratorTestPeer;  // known-answer tests of Rand and Below
};

// Writes `count` people as NDJSON to `out`.
void WriteNdjson(std::ostream& out, uint64_t count, uint64_t seed);

}  // namespace coffre::gen
