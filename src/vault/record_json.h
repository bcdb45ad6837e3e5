// JSON conversions shared by the CLI and the HTTP API: request objects to
// vault inputs, records to response objects.
//
//   boost::json::value storage;
//   auto inputs = FieldsFromJson(R"({"email":"a@b.fr"})", storage);
//   boost::json::object shown = RecordToJson(*collection, record);
//
// Thread-safety: free functions, thread-safe.
#pragma once

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"
#include "schema/schema.h"
#include "vault/vault.h"

namespace coffre::vault {

// Parses a JSON object of field values. The inputs point into `storage`,
// which must outlive them.
Result<std::vector<vault::NamedInput>> FieldsFromJson(std::string_view text,
                                                      boost::json::value& storage);
// Same, from an already parsed object; the inputs point into `object`.
Result<std::vector<vault::NamedInput>> FieldsFromObject(const boost::json::object& object);

// One canonical value as JSON: integers and booleans typed, the rest strings.
boost::json::value FieldToJson(const schema::FieldDef* def, const std::string& canonical);

boost::json::object RecordToJson(const schema::Collection& collection, const vault::Record& record);
boost::json::object RefToJson(const vault::RecordRef& ref);

}  // namespace coffre::vault
