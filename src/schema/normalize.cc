// Normalize/NormalizeInto: dispatch on the field type, then turn a failed
// rule into an error that names the field and the rule, never the value.
#include "schema/internal/validators.h"
#include "schema/schema.h"

namespace coffre::schema {

namespace {

using internal::Rule;

Error FieldError(const FieldDef& field, std::string_view rule) {
  std::string msg;
  msg.reserve(16 + field.name.size() + rule.size());
  msg.append("field '").append(field.name).append("': ").append(rule);
  return Error{ErrorCode::kInvalidArgument, std::move(msg)};
}

constexpr Rule kNotAllowedValue = "is not one of the allowed values";

Rule NormalizeEnum(const FieldDef& field, std::string_view in, std::string& out) {
  for (const std::string& v : field.enum_values) {
    if (v == in) {
      out.append(v);
      return nullptr;
    }
  }
  return in.empty() ? internal::kEmpty : kNotAllowedValue;
}

Rule NormalizeString(const FieldDef& field, std::string_view in, std::string& out) {
  switch (field.type) {
    case FieldType::kText:
      return internal::NormalizeText(in, out);
    case FieldType::kName:
      return internal::NormalizeName(in, out);
    case FieldType::kEnum:
      return NormalizeEnum(field, in, out);
    case FieldType::kInteger:
      return internal::NormalizeIntegerString(in, out);
    case FieldType::kBoolean:
      return internal::NormalizeBooleanString(in, out);
    case FieldType::kPostalAddress:
      return internal::NormalizePostalAddress(in, out);
    case FieldType::kEmail:
      return internal::NormalizeEmail(in, out);
    case FieldType::kPhone:
      return internal::NormalizePhone(in, out);
    case FieldType::kDate:
      return internal::NormalizeDate(in, out);
    case FieldType::kNir:
      return internal::NormalizeNir(in, out);
    case FieldType::kIban:
      return internal::NormalizeIban(in, out);
    case FieldType::kPan:
      return internal::NormalizePan(in, out);
  }
  return "has an unknown type";
}

Rule NormalizeAny(const FieldDef& field, const Input& in, std::string& out) {
  switch (in.kind) {
    case Input::Kind::kNull:
      return internal::kEmpty;
    case Input::Kind::kString:
      return NormalizeString(field, in.text, out);
    case Input::Kind::kInteger:
      if (field.type == FieldType::kInteger) {
        internal::AppendDecimal(in.integer, out);
        return nullptr;
      }
      // JSON 0/1 for a flag is common enough to accept, like the strings "0"/"1".
      if (field.type == FieldType::kBoolean && (in.integer == 0 || in.integer == 1)) {
        out.append(in.integer == 1 ? "true" : "false");
        return nullptr;
      }
      return field.type == FieldType::kBoolean ? "must be true, false, 1 or 0"
                                               : "must be a string, not a number";
    case Input::Kind::kBoolean:
      if (field.type == FieldType::kBoolean) {
        out.append(in.boolean ? "true" : "false");
        return nullptr;
      }
      return "must not be a boolean";
  }
  return "has an unknown input kind";
}

}  // namespace

Status NormalizeInto(const FieldDef& field, const Input& in, std::string& out) {
  const size_t mark = out.size();
  if (Rule rule = NormalizeAny(field, in, out)) {
    out.resize(mark);
    Error error = FieldError(field, rule);
    if (rule == kNotAllowedValue) {  // the allowed values come from the schema, not from data
      error.message += " (";
      for (size_t i = 0; i < field.enum_values.size(); ++i) {
        if (i > 0) error.message += ", ";
        error.message += field.enum_values[i];
      }
      error.message += ')';
    }
    return tl::unexpected<Error>(std::move(error));
  }
  return Ok();
}

Result<std::string> Normalize(const FieldDef& field, const Input& in) {
  std::string out;
  COFFRE_TRY(NormalizeInto(field, in, out));
  return out;
}

}  // namespace coffre::schema
