// Schema::Parse: the TOML schema format (docs/schema.md).
//
// The reader is strict on purpose: a typo such as `searchabel = true` must
// not silently leave a field without its index, so every table only accepts
// its known keys. toml++ throws on syntax errors; the exception is caught
// here and never crosses the module boundary.
#include <toml++/toml.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <utility>

#include "schema/card_names.h"
#include "schema/schema.h"

namespace coffre::schema {

namespace {

constexpr std::string_view kFieldKeys[] = {"name",       "type",   "required",
                                           "searchable", "unique", "values"};
constexpr std::string_view kFieldKeysText = "name, type, required, searchable, unique, values";

// [a-z][a-z0-9_]{0,62}: safe in file names, URLs, metric labels and
// storage keys without quoting.
bool IsIdentifier(std::string_view s) {
  if (s.empty() || s.size() > 63 || s[0] < 'a' || s[0] > 'z') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool HasToken(std::string_view name, std::string_view token) {
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('_', start);
    if (end == std::string_view::npos) end = name.size();
    if (name.substr(start, end - start) == token) return true;
    start = end + 1;
  }
  return false;
}

// Incident 1: a card security code must never be stored (PCI DSS forbids it
// after authorisation, and so does the CNIL). Incident 3: passwords are not
// data fields; they go to the credentials feature, which stores one-way
// hashes only. Refusing such field names makes the mistake hard to make.
std::optional<std::string_view> ForbiddenFieldReason(std::string_view name) {
  // The very rule by which every request is refused (schema/card_names.h):
  // a field named so could never be written.
  if (LooksLikeSecurityCodeName(name)) {
    return "looks like a card security code or PIN, which must never be stored";
  }
  for (std::string_view t : {"password", "passwd", "pwd", "passphrase", "motdepasse", "mdp"}) {
    if (HasToken(name, t)) {
      return "looks like a password: passwords are credentials, not collection fields";
    }
  }
  if (name.find("mot_de_passe") != std::string_view::npos) {
    return "looks like a password: passwords are credentials, not collection fields";
  }
  return std::nullopt;
}

class Reader {
 public:
  explicit Reader(std::string_view origin) : origin_(origin) {}

  Status Read(const toml::table& root, std::vector<Collection>& collections, uint32_t& version) {
    for (auto&& [key, node] : root) {
      if (key.str() == "version") {
        COFFRE_TRY(ReadVersion(node, version));
      } else if (key.str() != "collections") {
        return Err(&node, "unknown top-level key '" + std::string(key.str()) +
                              "' (allowed: version, collections)");
      }
    }
    const toml::node* colls = root.get("collections");
    if (colls == nullptr) return Err(nullptr, "no collections declared ([collections.NAME])");
    const toml::table* table = colls->as_table();
    if (table == nullptr) return Err(colls, "'collections' must be a table");

    // toml++ tables are sorted maps; declaration order comes from positions.
    std::vector<std::pair<const toml::node*, std::string_view>> ordered;
    for (auto&& [key, node] : *table) ordered.emplace_back(&node, key.str());
    std::sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) {
      const auto& pa = a.first->source().begin;
      const auto& pb = b.first->source().begin;
      return std::pair(pa.line, pa.column) < std::pair(pb.line, pb.column);
    });
    if (ordered.empty()) return Err(colls, "no collections declared ([collections.NAME])");
    for (const auto& [node, name] : ordered) {
      Collection c;
      COFFRE_TRY(ReadCollection(*node, name, c));
      collections.push_back(std::move(c));
    }
    return Ok();
  }

 private:
  tl::unexpected<Error> Err(const toml::node* at, std::string_view msg) const {
    std::string out(origin_);
    if (at != nullptr && at->source().begin.line > 0) {
      out += ':';
      out += std::to_string(at->source().begin.line);
      out += ':';
      out += std::to_string(at->source().begin.column);
    }
    out += ": ";
    out += msg;
    return Fail(ErrorCode::kInvalidArgument, std::move(out));
  }

  Status ReadVersion(const toml::node& node, uint32_t& version) const {
    const auto* v = node.as_integer();
    if (v == nullptr || v->get() < 1 || v->get() > std::numeric_limits<uint32_t>::max()) {
      return Err(&node, "'version' must be an integer from 1 to 4294967295");
    }
    version = static_cast<uint32_t>(v->get());
    return Ok();
  }

  Status ReadCollection(const toml::node& node, std::string_view name, Collection& out) const {
    const std::string where = "collection '" + std::string(name) + "'";
    if (!IsIdentifier(name)) {
      return Err(&node, where + ": name must match [a-z][a-z0-9_]{0,62}");
    }
    if (name == kReservedCardsCollection) {
      return Err(&node,
                 where +
                     ": the name is reserved: every vault has a built-in 'cards' collection "
                     "for payment cards (POST /v1/cards, docs/cards.md); name yours otherwise");
    }
    const toml::table* table = node.as_table();
    if (table == nullptr) return Err(&node, where + ": must be a table");
    for (auto&& [key, value] : *table) {
      if (key.str() != "fields" && key.str() != "retention") {
        return Err(&value, where + ": unknown key '" + std::string(key.str()) +
                               "' (allowed: fields, retention)");
      }
    }
    out.name = std::string(name);
    const toml::node* fields_node = table->get("fields");
    if (fields_node == nullptr) return Err(&node, where + ": has no fields");
    const toml::array* fields = fields_node->as_array();
    if (fields == nullptr) {
      return Err(fields_node, where + ": 'fields' must be an array of tables");
    }
    if (fields->empty()) return Err(fields_node, where + ": has no fields");
    for (const toml::node& f : *fields) {
      FieldDef def;
      COFFRE_TRY(ReadField(f, where, def));
      for (const FieldDef& earlier : out.fields) {
        if (earlier.name == def.name) {
          return Err(&f, where + ": duplicate field '" + def.name + "'");
        }
      }
      // Read once here rather than on every row the vault checks.
      def.name_class = ClassifyKey(def.name);
      out.fields.push_back(std::move(def));
    }
    if (const toml::node* r = table->get("retention")) COFFRE_TRY(ReadRetention(*r, where, out));
    return Ok();
  }

  // [collections.NAME.retention] (docs/retention.md). Read after the
  // fields, since `from` names one of them.
  Status ReadRetention(const toml::node& node, const std::string& collection_where,
                       Collection& out) const {
    const std::string where = collection_where + ": retention";
    const toml::table* table = node.as_table();
    if (table == nullptr) return Err(&node, where + ": must be a table");
    for (auto&& [key, value] : *table) {
      std::string_view k = key.str();
      if (k != "category" && k != "from" && k != "archive_after" && k != "delete_after") {
        return Err(&value, where + ": unknown key '" + std::string(k) +
                               "' (allowed: category, from, archive_after, delete_after)");
      }
    }
    RetentionRule rule;
    auto string_of = [&](std::string_view key) -> Result<std::optional<std::string>> {
      const toml::node* n = table->get(key);
      if (n == nullptr) return std::optional<std::string>();
      if (!n->is_string()) return Err(n, where + ": '" + std::string(key) + "' must be a string");
      return std::optional<std::string>(n->as_string()->get());
    };
    COFFRE_ASSIGN_OR_RETURN(auto category, string_of("category"));
    COFFRE_ASSIGN_OR_RETURN(auto from, string_of("from"));
    COFFRE_ASSIGN_OR_RETURN(auto archive, string_of("archive_after"));
    COFFRE_ASSIGN_OR_RETURN(auto del, string_of("delete_after"));
    if (category) {
      if (*category == "prospect") {
        rule.category = RetentionRule::Category::kProspect;
      } else if (*category == "client") {
        rule.category = RetentionRule::Category::kClient;
      } else {
        return Err(table->get("category"),
                   where + ": 'category' must be \"prospect\" or \"client\"");
      }
    }
    auto duration_of = [&](std::string_view key, const std::string& text) -> Result<Duration> {
      auto d = ParseDuration(text);
      if (!d) {
        return Err(table->get(key), where + ": '" + std::string(key) +
                                        "' must be a duration like \"90d\", \"6w\", \"18m\" or "
                                        "\"3y\" (at most 100 years)");
      }
      return *d;
    };
    if (del) {
      COFFRE_ASSIGN_OR_RETURN(rule.delete_after, duration_of("delete_after", *del));
    } else if (rule.category != RetentionRule::Category::kNone) {
      // CNIL: prospects are kept 3 years after the last contact, clients 3
      // years after the end of the relationship.
      rule.delete_after = Duration{3, Duration::Unit::kYears};
    } else {
      return Err(&node, where + ": needs 'delete_after' (or a 'category' that supplies it)");
    }
    if (archive) {
      COFFRE_ASSIGN_OR_RETURN(Duration a, duration_of("archive_after", *archive));
      if (AddDuration(0, a) >= AddDuration(0, rule.delete_after)) {
        return Err(table->get("archive_after"), where + ": 'archive_after' (" + FormatDuration(a) +
                                                    ") must come before 'delete_after' (" +
                                                    FormatDuration(rule.delete_after) + ")");
      }
      rule.archive_after = a;
    }
    if (rule.category == RetentionRule::Category::kClient && !from) {
      return Err(&node, where +
                            ": category 'client' counts from the end of the relationship: "
                            "'from' must name a date field of the collection");
    }
    if (from && *from != kFromLastActivity) {
      const FieldDef* f = out.Find(*from);
      if (f == nullptr) {
        return Err(table->get("from"), where +
                                           ": 'from' names no field of the collection (a date "
                                           "field, or \"last_activity\")");
      }
      if (f->type != FieldType::kDate) {
        return Err(table->get("from"),
                   where + ": 'from' field '" + f->name + "' is not a date field");
      }
    } else if (from && rule.category == RetentionRule::Category::kClient) {
      return Err(table->get("from"),
                 where +
                     ": category 'client' counts from the end of the "
                     "relationship: 'from' must name a date field, not last_activity");
    }
    if (from) rule.from = *from;
    out.retention = std::move(rule);
    return Ok();
  }

  Status ReadBool(const toml::node& node, std::string_view where, std::string_view key,
                  bool& out) const {
    const auto* b = node.as_boolean();
    if (b == nullptr) {
      return Err(&node, std::string(where) + ": '" + std::string(key) + "' must be true or false");
    }
    out = b->get();
    return Ok();
  }

  Status ReadField(const toml::node& node, const std::string& collection_where,
                   FieldDef& out) const {
    const toml::table* table = node.as_table();
    if (table == nullptr) {
      return Err(&node, collection_where +
                            ": each entry of 'fields' must be a table "
                            "{ name = ..., type = ... }");
    }
    const toml::node* name_node = table->get("name");
    if (name_node == nullptr || !name_node->is_string()) {
      return Err(&node, collection_where + ": a field has no 'name' string");
    }
    out.name = name_node->as_string()->get();
    std::string where = collection_where + ": field '" + out.name + "'";
    if (!IsIdentifier(out.name)) {
      return Err(name_node, where + ": name must match [a-z][a-z0-9_]{0,62}");
    }
    if (auto reason = ForbiddenFieldReason(out.name)) {
      return Err(name_node, where + ": " + std::string(*reason));
    }

    for (auto&& [key, value] : *table) {
      if (std::find(std::begin(kFieldKeys), std::end(kFieldKeys), key.str()) ==
          std::end(kFieldKeys)) {
        return Err(&value, where + ": unknown key '" + std::string(key.str()) +
                               "' (allowed: " + std::string(kFieldKeysText) + ")");
      }
    }

    const toml::node* type_node = table->get("type");
    if (type_node == nullptr || !type_node->is_string()) {
      return Err(&node, where + ": has no 'type' string");
    }
    const std::string& type_name = type_node->as_string()->get();
    std::optional<FieldType> type = FieldTypeFromName(type_name);
    if (!type) {
      std::string known;
      for (int t = 0; t <= static_cast<int>(FieldType::kPan); ++t) {
        if (!known.empty()) known += ", ";
        known += FieldTypeName(static_cast<FieldType>(t));
      }
      return Err(type_node, where + ": unknown type '" + type_name + "' (known: " + known + ")");
    }
    out.type = *type;

    if (const toml::node* n = table->get("required"))
      COFFRE_TRY(ReadBool(*n, where, "required", out.required));
    if (const toml::node* n = table->get("searchable"))
      COFFRE_TRY(ReadBool(*n, where, "searchable", out.searchable));
    if (const toml::node* n = table->get("unique"))
      COFFRE_TRY(ReadBool(*n, where, "unique", out.unique));
    if (out.unique) out.searchable = true;  // uniqueness is enforced through the blind index

    const toml::node* values = table->get("values");
    if (out.type != FieldType::kEnum) {
      if (values != nullptr)
        return Err(values, where + ": 'values' is only allowed on enum fields");
      return Ok();
    }
    if (values == nullptr)
      return Err(&node, where + ": enum field needs a non-empty 'values' array");
    const toml::array* array = values->as_array();
    if (array == nullptr || array->empty()) {
      return Err(values, where + ": enum field needs a non-empty 'values' array");
    }
    for (const toml::node& v : *array) {
      const auto* s = v.as_string();
      if (s == nullptr || s->get().empty()) {
        return Err(&v, where + ": enum values must be non-empty strings");
      }
      if (std::find(out.enum_values.begin(), out.enum_values.end(), s->get()) !=
          out.enum_values.end()) {
        return Err(&v, where + ": duplicate enum value '" + s->get() + "'");
      }
      out.enum_values.push_back(s->get());
    }
    return Ok();
  }

  std::string_view origin_;
};

}  // namespace

Result<Schema> Schema::Parse(std::string_view toml_text, std::string_view origin) {
  toml::table root;
#if TOML_EXCEPTIONS
  try {
    root = toml::parse(toml_text, origin);
  } catch (const toml::parse_error& e) {
    return Fail(ErrorCode::kInvalidArgument,
                std::string(origin) + ":" + std::to_string(e.source().begin.line) + ":" +
                    std::to_string(e.source().begin.column) +
                    ": TOML syntax error: " + std::string(e.description()));
  }
#else
  toml::parse_result parsed = toml::parse(toml_text, origin);
  if (!parsed) {
    const toml::parse_error& e = parsed.error();
    return Fail(ErrorCode::kInvalidArgument,
                std::string(origin) + ":" + std::to_string(e.source().begin.line) + ":" +
                    std::to_string(e.source().begin.column) +
                    ": TOML syntax error: " + std::string(e.description()));
  }
  root = std::move(parsed).table();
#endif
  Schema schema;
  Reader reader(origin);
  COFFRE_TRY(reader.Read(root, schema.collections_, schema.version_));
  schema.source_ = std::string(toml_text);
  return schema;
}

}  // namespace coffre::schema
