// The TOML schema format: what it accepts, what it refuses and how it says so.
#include "schema/schema.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

namespace coffre::schema {
namespace {

constexpr std::string_view kPeople = R"(
version = 3

[collections.people]
fields = [
  { name = "first_name", type = "name", required = true },
  { name = "email", type = "email", required = true, searchable = true, unique = true },
  { name = "sex", type = "enum", values = ["F", "M"], required = true },
  { name = "zip", type = "text" },
  { name = "age", type = "integer" },
]

[collections.accounts]
fields = [{ name = "iban", type = "iban", unique = true }]
)";

std::string ParseError(std::string_view toml, std::string_view origin = "test.toml") {
  auto r = Schema::Parse(toml, origin);
  EXPECT_FALSE(r) << "accepted:\n" << toml;
  if (r) return "";
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().message.rfind(std::string(origin), 0), 0u) << r.error().message;
  return r.error().message;
}

void ExpectError(std::string_view toml, std::vector<std::string_view> parts) {
  const std::string msg = ParseError(toml);
  for (std::string_view part : parts) {
    EXPECT_NE(msg.find(part), std::string::npos) << "message: " << msg << "\nmissing: " << part;
  }
}

std::string OneField(std::string_view field) {
  return "[collections.people]\nfields = [\n  " + std::string(field) + ",\n]\n";
}

TEST(SchemaParse, ReadsCollectionsInDeclarationOrder) {
  auto schema = Schema::Parse(kPeople, "people.toml");
  ASSERT_TRUE(schema) << schema.error().message;
  EXPECT_EQ(schema->version(), 3u);
  EXPECT_EQ(schema->source(), kPeople);
  ASSERT_EQ(schema->collections().size(), 2u);
  EXPECT_EQ(schema->collections()[0].name, "people");  // not alphabetical
  EXPECT_EQ(schema->collections()[1].name, "accounts");

  const Collection* people = schema->Find("people");
  ASSERT_NE(people, nullptr);
  std::vector<std::string> names;
  for (const FieldDef& f : people->fields) names.push_back(f.name);
  EXPECT_EQ(names, (std::vector<std::string>{"first_name", "email", "sex", "zip", "age"}));

  const FieldDef* email = people->Find("email");
  ASSERT_NE(email, nullptr);
  EXPECT_EQ(email->type, FieldType::kEmail);
  EXPECT_TRUE(email->required && email->searchable && email->unique);
  const FieldDef* sex = people->Find("sex");
  ASSERT_NE(sex, nullptr);
  EXPECT_EQ(sex->enum_values, (std::vector<std::string>{"F", "M"}));
  const FieldDef* zip = people->Find("zip");
  ASSERT_NE(zip, nullptr);
  EXPECT_FALSE(zip->required || zip->searchable || zip->unique);
  EXPECT_EQ(people->Find("nope"), nullptr);
  EXPECT_EQ(schema->Find("nope"), nullptr);

  const FieldDef* iban = schema->Find("accounts")->Find("iban");
  ASSERT_NE(iban, nullptr);
  EXPECT_TRUE(iban->searchable) << "unique implies searchable";
}

TEST(SchemaParse, VersionDefaultsToOne) {
  auto schema = Schema::Parse(OneField(R"({ name = "a", type = "text" })"));
  ASSERT_TRUE(schema) << schema.error().message;
  EXPECT_EQ(schema->version(), 1u);
}

TEST(SchemaParse, ArrayOfTablesSyntaxAlsoWorks) {
  auto schema = Schema::Parse(R"(
[[collections.people.fields]]
name = "b"
type = "text"
[[collections.people.fields]]
name = "a"
type = "date"
)");
  ASSERT_TRUE(schema) << schema.error().message;
  ASSERT_EQ(schema->collections()[0].fields.size(), 2u);
  EXPECT_EQ(schema->collections()[0].fields[0].name, "b");
}

TEST(SchemaParse, TomlSyntaxErrorHasLine) {
  ExpectError("version = 1\n\n[collections.people\nfields = []\n",
              {"test.toml:3:", "TOML syntax error"});
}

TEST(SchemaParse, RejectsUnknownType) {
  ExpectError(OneField(R"({ name = "email", type = "emial" })"),
              {"test.toml:3:", "collection 'people'", "field 'email'", "unknown type 'emial'",
               "known: text"});
}

TEST(SchemaParse, RejectsUnknownFieldKey) {
  ExpectError(OneField(R"({ name = "email", type = "email", searchabel = true })"),
              {"collection 'people'", "field 'email'", "unknown key 'searchabel'", "allowed:"});
}

TEST(SchemaParse, RejectsDuplicateField) {
  ExpectError(OneField(R"({ name = "a", type = "text" }, { name = "a", type = "date" })"),
              {"collection 'people'", "duplicate field 'a'"});
}

TEST(SchemaParse, RejectsDuplicateCollection) {
  ExpectError(R"(
[collections.people]
fields = [{ name = "a", type = "text" }]
[collections.people]
fields = [{ name = "b", type = "text" }]
)",
              {"test.toml:4:", "people"});
}

TEST(SchemaParse, RejectsEnumWithoutValues) {
  ExpectError(OneField(R"({ name = "sex", type = "enum" })"),
              {"field 'sex'", "non-empty 'values'"});
  ExpectError(OneField(R"({ name = "sex", type = "enum", values = [] })"),
              {"field 'sex'", "non-empty 'values'"});
  ExpectError(OneField(R"({ name = "sex", type = "enum", values = ["F", 2] })"),
              {"non-empty strings"});
  ExpectError(OneField(R"({ name = "sex", type = "enum", values = ["F", "F"] })"),
              {"duplicate enum value 'F'"});
}

TEST(SchemaParse, RejectsValuesOnNonEnum) {
  ExpectError(OneField(R"({ name = "sex", type = "text", values = ["F"] })"),
              {"field 'sex'", "'values' is only allowed on enum fields"});
}

TEST(SchemaParse, RejectsEmptyCollection) {
  ExpectError("[collections.people]\nfields = []\n", {"collection 'people'", "has no fields"});
  ExpectError("[collections.people]\n", {"collection 'people'", "has no fields"});
  ExpectError("version = 1\n", {"no collections"});
  ExpectError("version = 1\n[collections]\n", {"no collections"});
}

TEST(SchemaParse, RejectsBadNames) {
  ExpectError("[collections.People]\nfields = [{ name = \"a\", type = \"text\" }]\n",
              {"collection 'People'", "[a-z][a-z0-9_]{0,62}"});
  ExpectError("[collections.1people]\nfields = [{ name = \"a\", type = \"text\" }]\n",
              {"[a-z][a-z0-9_]{0,62}"});
  ExpectError(OneField(R"({ name = "first-name", type = "text" })"),
              {"field 'first-name'", "[a-z][a-z0-9_]{0,62}"});
  ExpectError(OneField(R"({ name = "", type = "text" })"), {"[a-z][a-z0-9_]{0,62}"});
  ExpectError(OneField("{ name = \"" + std::string(64, 'a') + "\", type = \"text\" }"),
              {"[a-z][a-z0-9_]{0,62}"});
  EXPECT_TRUE(
      Schema::Parse(OneField("{ name = \"" + std::string(63, 'a') + "\", type = \"text\" }")));
}

TEST(SchemaParse, RejectsMalformedEntries) {
  ExpectError(OneField(R"({ type = "text" })"), {"collection 'people'", "no 'name'"});
  ExpectError(OneField(R"({ name = "a" })"), {"field 'a'", "no 'type'"});
  ExpectError(OneField(R"({ name = "a", type = "text", required = "yes" })"),
              {"'required' must be true or false"});
  ExpectError(OneField(R"("a")"), {"must be a table"});
  ExpectError("[collections.people]\nfields = \"a\"\n", {"array of tables"});
  ExpectError("[collections.people]\nfields = [{ name = \"a\", type = \"text\" }]\nindex = 1\n",
              {"collection 'people'", "unknown key 'index'"});
  ExpectError("versoin = 1\n", {"unknown top-level key 'versoin'"});
  ExpectError("version = 0\n", {"'version'"});
  ExpectError("version = \"1\"\n", {"'version'"});
  ExpectError("collections = 3\n", {"'collections' must be a table"});
}

TEST(SchemaParse, RefusesCardSecurityCodesAndPasswords) {
  for (std::string_view name : {"cvv", "card_cvv2", "cvc", "card_security_code", "cryptogramme",
                                "pin", "cid", "cvvx_ok", "code_securite"}) {
    ExpectError(OneField("{ name = \"" + std::string(name) + "\", type = \"text\" }"),
                {"card security code"});
  }
  for (std::string_view name :
       {"password", "user_password", "passwd", "mot_de_passe", "pwd_hash"}) {
    ExpectError(OneField("{ name = \"" + std::string(name) + "\", type = \"text\" }"),
                {"password"});
  }
  // Names that merely contain the letters are fine.
  for (std::string_view name : {"pinned", "spinach", "client", "cidre", "passwords_changed_at"}) {
    EXPECT_TRUE(
        Schema::Parse(OneField("{ name = \"" + std::string(name) + "\", type = \"text\" }")))
        << name;
  }
}

// The loader reads each field's name once for the security-code check
// (schema/card_names.h), which then reads it on every row.
TEST(SchemaParse, FieldsKnowWhatTheirNamesSayOfCards) {
  auto s = Schema::Parse(R"(version = 1
[collections.c]
fields = [
  { name = "card_number", type = "text" },
  { name = "expiry_year", type = "integer" },
  { name = "customer_phone", type = "phone" },
  { name = "note", type = "text" },
]
)");
  ASSERT_TRUE(s) << s.error().message;
  const Collection& c = *s->Find("c");
  EXPECT_TRUE(c.Find("card_number")->name_class.pan);
  EXPECT_FALSE(c.Find("card_number")->name_class.date);
  EXPECT_TRUE(c.Find("expiry_year")->name_class.date);
  EXPECT_TRUE(c.Find("customer_phone")->name_class.other_number);
  const KeyClass note = c.Find("note")->name_class;
  EXPECT_FALSE(note.pan || note.date || note.other_number || note.security_code);
}

// Find with a hint (the importer's per-row lookups) finds what Find finds,
// whatever the hint: right, wrong or past the end.
TEST(SchemaTest, FindWithAHintAgreesWithFind) {
  auto s = Schema::LoadFile(std::string(COFFRE_SOURCE_DIR) + "/examples/people.toml");
  ASSERT_TRUE(s) << s.error().message;
  const Collection& c = *s->Find("people");
  for (const FieldDef& f : c.fields) {
    for (size_t hint = 0; hint <= c.fields.size() + 1; ++hint) {
      EXPECT_EQ(c.Find(f.name, hint), c.Find(f.name)) << f.name << " " << hint;
    }
    EXPECT_EQ(c.PositionOf(*c.Find(f.name)), static_cast<size_t>(&f - c.fields.data()));
  }
  EXPECT_EQ(c.Find("no_such_field", 0), nullptr);
  EXPECT_EQ(c.Find("no_such_field", 99), nullptr);
}

TEST(SchemaParse, ErrorNamesTheOrigin) {
  auto r = Schema::Parse("[collections.x]\n", "/etc/coffre/schema.toml");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message.rfind("/etc/coffre/schema.toml", 0), 0u) << r.error().message;
}

TEST(SchemaLoadFile, MissingFile) {
  auto r = Schema::LoadFile("/nonexistent/coffre/schema.toml");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_NE(r.error().message.find("/nonexistent/coffre/schema.toml"), std::string::npos);
}

TEST(Examples, EveryExampleParses) {
  const std::filesystem::path dir = std::filesystem::path(COFFRE_SOURCE_DIR) / "examples";
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".toml") continue;
    // Policies (NAME-policy.toml) are tested by src/policy against NAME.toml.
    const std::string stem = entry.path().stem().string();
    if (stem.size() > 7 && stem.compare(stem.size() - 7, 7, "-policy") == 0) continue;
    ++count;
    auto schema = Schema::LoadFile(entry.path().string());
    EXPECT_TRUE(schema) << schema.error().message;
  }
  EXPECT_GE(count, 6);
}

TEST(Examples, PeopleMatchesTheGenerator) {
  auto schema = Schema::LoadFile(std::string(COFFRE_SOURCE_DIR) + "/examples/people.toml");
  ASSERT_TRUE(schema) << schema.error().message;
  const Collection* people = schema->Find("people");
  ASSERT_NE(people, nullptr);
  struct Want {
    std::string_view name;
    FieldType type;
    bool searchable;
    bool unique;
  };
  const std::vector<Want> want = {
      {"first_name", FieldType::kName, false, false},
      {"last_name", FieldType::kName, false, false},
      {"sex", FieldType::kEnum, false, false},
      {"birth_date", FieldType::kDate, false, false},
      {"nir", FieldType::kNir, true, false},
      {"email", FieldType::kEmail, true, true},
      {"phone", FieldType::kPhone, true, false},
      {"postal_address", FieldType::kPostalAddress, false, false},
      {"iban", FieldType::kIban, false, false},
      {"agency", FieldType::kText, false, false},
      // Not generated: the organisation's own, optional (retention).
      {"relationship_end", FieldType::kDate, false, false},
  };
  ASSERT_EQ(people->fields.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    const FieldDef& f = people->fields[i];
    EXPECT_EQ(f.name, want[i].name);
    EXPECT_EQ(f.type, want[i].type) << f.name;
    EXPECT_EQ(f.required, f.name != "relationship_end") << f.name;
    EXPECT_EQ(f.searchable, want[i].searchable) << f.name;
    EXPECT_EQ(f.unique, want[i].unique) << f.name;
  }
  EXPECT_EQ(people->Find("sex")->enum_values, (std::vector<std::string>{"F", "M"}));
}

// The examples of issue 5 carry the CNIL's periods (docs/retention.md):
// clients 3 years after the end of the relationship, prospects 3 years
// after their last contact, archives for the legal periods.
TEST(Examples, CarryRealisticRetentionRules) {
  struct Want {
    std::string file, collection;
    RetentionRule::Category category;
    std::string from, archive_after, delete_after;
  };
  using C = RetentionRule::Category;
  const std::vector<Want> want = {
      {"people.toml", "people", C::kClient, "relationship_end", "3y", "5y"},
      {"psychics.toml", "clients", C::kClient, "last_consultation", "", "3y"},
      {"psychics.toml", "prospects", C::kProspect, "last_activity", "", "3y"},
      {"psychics.toml", "rdv", C::kNone, "rdv_date", "1y", "3y"},
      {"card-site.toml", "customers", C::kClient, "last_order", "", "3y"},
      {"card-site.toml", "orders", C::kNone, "order_date", "3y", "10y"},
  };
  for (const Want& w : want) {
    auto schema = Schema::LoadFile(std::string(COFFRE_SOURCE_DIR) + "/examples/" + w.file);
    ASSERT_TRUE(schema) << schema.error().message;
    const Collection* c = schema->Find(w.collection);
    ASSERT_NE(c, nullptr) << w.file << " " << w.collection;
    ASSERT_TRUE(c->retention) << w.file << " " << w.collection;
    EXPECT_EQ(c->retention->category, w.category) << w.collection;
    EXPECT_EQ(c->retention->from, w.from) << w.collection;
    EXPECT_EQ(c->retention->archive_after ? FormatDuration(*c->retention->archive_after) : "",
              w.archive_after)
        << w.collection;
    EXPECT_EQ(FormatDuration(c->retention->delete_after), w.delete_after) << w.collection;
  }
}

TEST(Examples, CardSiteLeavesCardsToTheBuiltInCollection) {
  auto schema = Schema::LoadFile(std::string(COFFRE_SOURCE_DIR) + "/examples/card-site.toml");
  ASSERT_TRUE(schema) << schema.error().message;
  EXPECT_NE(schema->Find("customers"), nullptr);
  EXPECT_EQ(schema->Find("cards"), nullptr);
  for (const Collection& c : schema->collections()) {
    for (const FieldDef& f : c.fields)
      EXPECT_NE(f.type, FieldType::kPan) << c.name << "." << f.name;
  }
}

TEST(Schema, CardsIsAReservedCollectionName) {
  auto s = Schema::Parse(
      "version = 1\n[collections.cards]\nfields = [ { name = \"holder\", type = \"name\" } ]\n",
      "x.toml");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(s.error().message.find("collection 'cards': the name is reserved"), std::string::npos)
      << s.error().message;
  // Only the exact name: a collection that merely mentions cards is fine.
  EXPECT_TRUE(Schema::Parse(
      "version = 1\n[collections.gift_cards]\nfields = [ { name = \"label\", type = \"text\" } ]\n",
      "x.toml"));
}

}  // namespace
}  // namespace coffre::schema
