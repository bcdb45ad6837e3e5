#include <array>
#include <optional>
#include <utility>

#include "schema/schema.h"

namespace coffre::schema {

namespace {

// The spelling of each type in TOML schemas. Part of the schema format:
// never rename an entry, only add.
constexpr std::array<std::pair<FieldType, std::string_view>, 12> kTypeNames{{
    {FieldType::kText, "text"},
    {FieldType::kName, "name"},
    {FieldType::kEnum, "enum"},
    {FieldType::kInteger, "integer"},
    {FieldType::kBoolean, "boolean"},
    {FieldType::kPostalAddress, "postal_address"},
    {FieldType::kEmail, "email"},
    {FieldType::kPhone, "phone"},
    {FieldType::kDate, "date"},
    {FieldType::kNir, "nir"},
    {FieldType::kIban, "iban"},
    {FieldType::kPan, "pan"},
}};

}  // namespace

std::string_view FieldTypeName(FieldType t) {
  for (const auto& [type, name] : kTypeNames) {
    if (type == t) return name;
  }
  return "unknown";
}

std::optional<FieldType> FieldTypeFromName(std::string_view name) {
  for (const auto& [type, spelled] : kTypeNames) {
    if (spelled == name) return type;
  }
  return std::nullopt;
}

}  // namespace coffre::schema
