// Tables behind the people generator: French first and last names, streets,
// cities with their postal codes, bank codes and INSEE country codes.
//
// Only gen/ may include this. The tables are constant and never change at run
// time, so they are safe to read from any thread. Their order is part of the
// generator's output: reordering or editing an entry changes what a given
// seed produces (the determinism tests pin one person to catch that).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace coffre::gen::internal {

std::span<const std::string_view> FemaleFirstNames();
std::span<const std::string_view> MaleFirstNames();
std::span<const std::string_view> LastNames();

// What follows the street type: "des Lilas" in "rue des Lilas".
std::span<const std::string_view> StreetNames();

struct City {
  std::string_view name;
  uint32_t first_postal_code;  // e.g. 69001
  uint32_t postal_code_count;  // Lyon has 69001..69009: 9
  uint32_t postal_code_step;   // 1 for arrondissements, 100 for 31000, 31100...
  uint32_t weight;             // rough share of the population
};
std::span<const City> Cities();

// Five-digit French bank codes (code banque) of real networks, so IBANs look
// familiar; the account numbers drawn with them are random.
std::span<const uint32_t> BankCodes();

// INSEE codes of countries of birth (the "commune" part of a NIR born abroad).
std::span<const uint32_t> BirthCountryCodes();

}  // namespace coffre::gen::internal
