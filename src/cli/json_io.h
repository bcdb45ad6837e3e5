// JSON conversions shared by the CLI (and later the HTTP API): request
// objects to vault inputs, records to response objects.
//
// Thread-safety: free functions, thread-safe.
#pragma once

#include <string>
#include <vector>

#include <boost/json.hpp>

#include "common/status.h"
#include "schema/schema.h"
#include "vault/vault.h"

namespace coffre::cli {

// Parses a JSON object of field values. The inputs point into `storage`,
// which must outlive them.
Result<std::vector<vault::NamedInput>> FieldsFromJson(std::string_view text, boost::json::value& storage);

boost::json::object RecordToJson(const schema::Collection& collection, const vault::Record& record);
boost::json::object RefToJson(const vault::RecordRef& ref);

}  // namespace coffre::cli
