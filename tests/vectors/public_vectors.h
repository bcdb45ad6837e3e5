// Public test vectors shared by unit tests: values published as examples,
// which belong to no one, kept under tests/ so that no test card number or
// IBAN appears among the sources of the product.
#pragma once

namespace coffre::test_vectors {

// The example French IBAN found throughout IBAN documentation and validator
// test suites (check digits 76, valid mod 97); no account of anyone.
inline constexpr const char* kFrenchIban = "FR7630006000011234567890189";
inline constexpr const char* kFrenchIbanGrouped = "FR76 3000 6000 0112 3456 7890 189";

}  // namespace coffre::test_vectors
