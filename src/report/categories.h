// Data categories of a breach report (GDPR art. 33(3)(a) asks for "the
// categories ... of personal data records concerned"), derived from the
// schema's field types, never from field names, so a renamed field keeps its
// category:
//
//   identity     name, date (birth dates), enum (sex and the like)
//   contact      email, phone, postal_address
//   national_id  nir
//   financial    iban, pan
//   other        text, integer, boolean, and fields the schema no longer has
//
//   report::Category c = report::CategoryOf(schema::FieldType::kIban);  // kFinancial
//   std::string_view n = report::CategoryName(c);                        // "financial"
//
// Thread-safety: pure functions.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

#include "schema/schema.h"

namespace coffre::report {

enum class Category : uint8_t { kIdentity, kContact, kNationalId, kFinancial, kOther };
inline constexpr size_t kCategoryCount = 5;
inline constexpr std::array<Category, kCategoryCount> kAllCategories = {
    Category::kIdentity, Category::kContact, Category::kNationalId, Category::kFinancial,
    Category::kOther};

Category CategoryOf(schema::FieldType type);
// "identity", "contact", "national_id", "financial", "other".
std::string_view CategoryName(Category c);
// A plain-language name for the notification draft ("contact details").
std::string_view CategoryTitle(Category c);
// The likely consequences of its exposure, for the art. 33(3)(c) draft.
std::string_view CategoryConsequences(Category c);

}  // namespace coffre::report
