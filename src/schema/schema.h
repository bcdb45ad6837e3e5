// Schemas: collections of typed fields, declared in TOML, and the validation
// and normalisation of every value before it is sealed or indexed.
//
// A value is normalised to one canonical string per type, so that equal
// things compare equal byte for byte (blind indexes depend on it):
//   email  " Jean.Dupont@Example.FR " -> "jean.dupont@example.fr"
//   phone  "06 39 98 00 01"           -> "+33639980001"
//   nir    "2 84 12 2A 004 019 77"     -> "284122A00401977"
//
//   auto schema = Schema::LoadFile("examples/people.toml");
//   if (!schema) { report(schema.error()); }
//   const Collection* people = schema->Find("people");
//   const FieldDef* email = people->Find("email");
//   Result<std::string> v = Normalize(*email, Input::String(" A@B.FR"));
//
// Errors name the field and the rule ("field 'nir': control key does not
// match"), never the value.
//
// docs/schema.md describes the TOML format, every type's accepted inputs and
// canonical form; examples/*.toml are schemas that parse.
//
// Thread-safety: a Schema is immutable after loading; share it freely.
// Normalize and NormalizeInto are pure functions, safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "schema/card_names.h"

namespace coffre::schema {

// Every vault has a built-in collection of payment cards (src/cards,
// docs/cards.md) under this name; a schema may not declare one.
inline constexpr std::string_view kReservedCardsCollection = "cards";

enum class FieldType {
  kText,
  kName,
  kEnum,
  kInteger,
  kBoolean,
  kPostalAddress,
  kEmail,
  kPhone,
  kDate,
  kNir,
  kIban,
  kPan,
};

// The type's spelling in TOML schemas ("postal_address"), and back.
std::string_view FieldTypeName(FieldType t);
std::optional<FieldType> FieldTypeFromName(std::string_view name);

struct FieldDef {
  std::string name;
  FieldType type = FieldType::kText;
  bool required = false;
  bool searchable = false;               // equality lookup through a blind index
  bool unique = false;                   // implies searchable
  std::vector<std::string> enum_values;  // kEnum only
  // What the name says of a card (schema/card_names.h), set by the loader:
  // the security-code check reads it for every field of every row.
  KeyClass name_class;
};

// A retention period: a count of calendar units (docs/retention.md).
// "3y" is three calendar years: 2026-02-28 + 1y = 2027-02-28, and a day
// past the end of a month clamps to its last day (2024-02-29 + 1y =
// 2025-02-28).
struct Duration {
  enum class Unit { kDays, kWeeks, kMonths, kYears };
  uint32_t count = 0;
  Unit unit = Unit::kDays;
  bool operator==(const Duration&) const = default;
};

// Parses "90d", "6w", "18m", "3y" (count 1 .. 36500 days' worth). nullopt
// when malformed.
std::optional<Duration> ParseDuration(std::string_view text);
std::string FormatDuration(const Duration& d);  // "3y"
// `unix_seconds` + `d`, in UTC calendar arithmetic.
int64_t AddDuration(int64_t unix_seconds, const Duration& d);

// Midnight UTC of a canonical `date` value ("2026-11-22"), unix seconds;
// nullopt when malformed.
std::optional<int64_t> DateToUnixSeconds(std::string_view date);

// The name `from` takes to count from the record's last write.
inline constexpr std::string_view kFromLastActivity = "last_activity";

// How long a collection's records are kept ([collections.NAME.retention]).
// After parsing, delete_after is always set (a category supplies it) and
// archive_after, when set, comes strictly before it.
struct RetentionRule {
  enum class Category { kNone, kProspect, kClient };
  Category category = Category::kNone;
  // kFromLastActivity, or the name of a `date` field of the collection.
  std::string from = std::string(kFromLastActivity);
  std::optional<Duration> archive_after;
  Duration delete_after;

  bool FromLastActivity() const { return from == kFromLastActivity; }
};
std::string_view CategoryName(RetentionRule::Category c);  // "", "prospect", "client"

struct Collection {
  std::string name;
  std::vector<FieldDef> fields;            // in declaration order
  std::optional<RetentionRule> retention;  // none: kept until erased

  const FieldDef* Find(std::string_view field) const;
  // The same, trying fields[hint] first: rows usually name their fields in
  // schema order, so a caller passes the position after the last field found
  // (names are unique in a collection). Any hint, even past the end, is fine.
  const FieldDef* Find(std::string_view field, size_t hint) const;
  // Position of `def`, which must be one of `fields`.
  size_t PositionOf(const FieldDef& def) const { return static_cast<size_t>(&def - fields.data()); }
};

class Schema {
 public:
  // Parses TOML text. `origin` names the file in error messages.
  static Result<Schema> Parse(std::string_view toml_text, std::string_view origin = "schema");
  static Result<Schema> LoadFile(const std::string& path);

  const Collection* Find(std::string_view collection) const;
  const std::vector<Collection>& collections() const { return collections_; }
  uint32_t version() const { return version_; }
  // The TOML text it was parsed from, kept so a vault can store its schema.
  const std::string& source() const { return source_; }

 private:
  std::vector<Collection> collections_;
  uint32_t version_ = 1;
  std::string source_;
};

// One raw input value, as it came from JSON or CSV. CSV gives only strings;
// JSON may give numbers and booleans. Integer and boolean fields accept both
// their native form and a string spelling ("42", "true"/"false").
struct Input {
  enum class Kind { kString, kInteger, kBoolean, kNull };
  Kind kind = Kind::kNull;
  std::string_view text;  // kString
  int64_t integer = 0;    // kInteger
  bool boolean = false;   // kBoolean

  static Input String(std::string_view s) { return {Kind::kString, s, 0, false}; }
  static Input Integer(int64_t v) { return {Kind::kInteger, {}, v, false}; }
  static Input Boolean(bool v) { return {Kind::kBoolean, {}, 0, v}; }
  static Input Null() { return {}; }
};

// Validates `in` against `field` and returns its canonical string.
// A null or empty input is an error here; callers handle optional fields.
Result<std::string> Normalize(const FieldDef& field, const Input& in);

// Same, but appends the canonical form to `out` (the import hot path avoids
// allocations with it). On error `out` is left unchanged.
Status NormalizeInto(const FieldDef& field, const Input& in, std::string& out);

}  // namespace coffre::schema
