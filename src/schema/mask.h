// Masking: the `masked` view of a field, per type, for people who need to
// recognise a value without reading it (a support agent confirming "is your
// address j***@example.fr?").
//
//   const FieldDef* email = people->Find("email");
//   Mask(*email, "jean.dupont@example.fr");      // "j***@example.fr"
//
// Per type (the input is the canonical form Normalize produced):
//   email           first character of the local part, "***", "@domain"
//                   "jean.dupont@example.fr"   -> "j***@example.fr"
//   phone           French numbers: the digit after +33 and the last two
//                   "+33639980001"             -> "+33 6 ** ** ** 01"
//                   others: the country code (ITU E.164 prefix table) and
//                   the last two digits
//                   "+442079460001"            -> "+44 *** 01"
//   nir             sex digit and the two digits of the birth year, in the
//                   printed shape of a NIR
//                   "184127645108946"          -> "1 84 ** ** *** *** **"
//   iban            the last four characters
//                   an IBAN ending in 0189     -> "**** 0189"
//   pan             the first six and last four digits (PCI DSS limit), one
//                   '*' per hidden digit; below 13 digits the last four only
//                   16 digits, 497010…0001     -> "497010******0001"
//   name            first letter (with its combining marks) and '.'
//                   "Émilie"                   -> "É."
//   text, postal_address, date, integer, enum, boolean
//                   the fixed string "***"
//
// The hidden part of an email, a phone, a NIR, an IBAN or a name is a fixed
// run of stars, so a masked value does not reveal the length of what it
// hides (a PAN's length is public: it follows from its network). A value
// that is not in canonical form for its type masks to "***": masking never
// fails and never falls back to showing the value.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "schema/schema.h"

namespace coffre::schema {

// The fixed mask of the types that reveal nothing, and of malformed values.
inline constexpr std::string_view kOpaqueMask = "***";

std::string Mask(const FieldDef& field, std::string_view canonical);

}  // namespace coffre::schema
