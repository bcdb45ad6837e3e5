#include "vault/ndjson_reader.h"

namespace coffre::vault {

Status AppendJsonFields(simdjson::dom::object obj, std::vector<NamedInput>& fields) {
  for (auto [key, value] : obj) {
    switch (value.type()) {
      case simdjson::dom::element_type::STRING:
        fields.emplace_back(key, schema::Input::String(value.get_string().value_unsafe()));
        break;
      case simdjson::dom::element_type::INT64:
        fields.emplace_back(key, schema::Input::Integer(value.get_int64().value_unsafe()));
        break;
      case simdjson::dom::element_type::BOOL:
        fields.emplace_back(key, schema::Input::Boolean(value.get_bool().value_unsafe()));
        break;
      case simdjson::dom::element_type::NULL_VALUE:
        fields.emplace_back(key, schema::Input::Null());
        break;
      case simdjson::dom::element_type::UINT64:
      case simdjson::dom::element_type::DOUBLE:
        return Fail(ErrorCode::kInvalidArgument, "a number is not an integer in range");
      default:
        return Fail(ErrorCode::kInvalidArgument,
                    "values must be strings, numbers, booleans or null");
    }
  }
  return Ok();
}

Status NdjsonReader::ReadRow(std::string_view line, std::vector<NamedInput>& fields) {
  fields.clear();
  simdjson::dom::element doc;
  simdjson::dom::object obj;
  // realloc_if_needed = false: the padding after the line is the caller's.
  if (parser_.parse(line.data(), line.size(), false).get(doc) || doc.get(obj)) {
    return Fail(ErrorCode::kInvalidArgument, "not a JSON object");
  }
  return AppendJsonFields(obj, fields);
}

}  // namespace coffre::vault
