#include "vault/record_json.h"

#include <charconv>

#include "common/bytes.h"
#include "common/names.h"

namespace coffre::vault {
namespace {

bool ParseInt64(const std::string& s, int64_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace
}  // namespace coffre::vault

namespace coffre::vault {

Result<std::vector<vault::NamedInput>> FieldsFromJson(std::string_view text,
                                                      boost::json::value& storage) {
  boost::system::error_code ec;
  storage = boost::json::parse(text, ec);
  if (ec) return Fail(ErrorCode::kInvalidArgument, "the record is not valid JSON");
  if (!storage.is_object())
    return Fail(ErrorCode::kInvalidArgument, "the record must be a JSON object");
  return FieldsFromObject(storage.as_object());
}

Result<std::vector<vault::NamedInput>> FieldsFromObject(const boost::json::object& object) {
  std::vector<vault::NamedInput> inputs;
  for (const auto& kv : object) {
    std::string_view name = kv.key();
    const boost::json::value& v = kv.value();
    switch (v.kind()) {
      case boost::json::kind::string:
        inputs.emplace_back(name, schema::Input::String(v.get_string()));
        break;
      case boost::json::kind::int64:
        inputs.emplace_back(name, schema::Input::Integer(v.get_int64()));
        break;
      case boost::json::kind::uint64:
        return Fail(ErrorCode::kInvalidArgument,
                    "field " + QuotedName(name) + ": the number is out of the integer range");
      case boost::json::kind::double_:
        return Fail(ErrorCode::kInvalidArgument,
                    "field " + QuotedName(name) + ": the number is not an integer");
      case boost::json::kind::bool_:
        inputs.emplace_back(name, schema::Input::Boolean(v.get_bool()));
        break;
      case boost::json::kind::null:
        inputs.emplace_back(name, schema::Input::Null());
        break;
      default:
        return Fail(
            ErrorCode::kInvalidArgument,
            "field " + QuotedName(name) + ": values must be strings, numbers, booleans or null");
    }
  }
  return inputs;
}

boost::json::value FieldToJson(const schema::FieldDef* def, const std::string& canonical) {
  schema::FieldType type = def ? def->type : schema::FieldType::kText;
  if (type == schema::FieldType::kInteger) {
    int64_t v = 0;
    if (ParseInt64(canonical, v)) return v;
    return boost::json::value(canonical);
  }
  if (type == schema::FieldType::kBoolean) return canonical == "true";
  return boost::json::value(canonical);
}

boost::json::object RecordToJson(const schema::Collection& collection,
                                 const vault::Record& record) {
  boost::json::object fields;
  for (const vault::FieldValue& f : record.fields) {
    fields[f.name] = FieldToJson(collection.Find(f.name), f.value);
  }
  boost::json::object out;
  out["id"] = ToHex(record.id);
  out["subject"] = ToHex(record.subject);
  out["fields"] = std::move(fields);
  return out;
}

boost::json::object RefToJson(const vault::RecordRef& ref) {
  boost::json::object out;
  out["id"] = ToHex(ref.id);
  out["subject"] = ToHex(ref.subject);
  return out;
}

}  // namespace coffre::vault
