// How operations read their input (OpInput): JSON bodies, query strings,
// hex ids. Failures are `invalid_request` / `invalid_json` /
// `payload_too_large` naming the problem, never echoing a value.
// Internal to the app module.
#pragma once

#include <boost/json.hpp>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "app/limits.h"
#include "app/operation.h"
#include "common/status.h"

namespace coffre::app::internal {

template <typename T>
using OpResult = tl::expected<T, Failure>;

// The body as a JSON object (invalid_json otherwise; payload_too_large
// over kMaxBodyBytes).
OpResult<boost::json::object> ParseObjectBody(std::string_view body);

// invalid_request unless every key of `object` is in `allowed` and every
// key of `required` is present.
OpResult<void> CheckKeys(const boost::json::object& object,
                         std::initializer_list<std::string_view> allowed,
                         std::initializer_list<std::string_view> required);

// The string member `key` (invalid_request if present with another type).
OpResult<std::optional<std::string_view>> StringMember(const boost::json::object& object,
                                                       std::string_view key);

// The members of a local request (admin socket, app/admin.h): the string
// `key`, kInvalidArgument naming it when absent or of another type.
Result<std::string> RequiredString(const boost::json::object& object, std::string_view key);
// Absent or null: nullopt; kInvalidArgument naming `key` for another type.
Result<std::optional<std::string>> OptionalString(const boost::json::object& object,
                                                  std::string_view key);

// Decoded key/value pairs of a query string; kInvalidArgument for a bad
// escape or a repeated key.
Result<std::vector<std::pair<std::string, std::string>>> ParseQuery(std::string_view query);

// A hex id (record, subject) in raw bytes; invalid_request naming `what`.
OpResult<std::string> ParseHexId(std::string_view hex, std::string_view what);

// A `from` or `to` query parameter, in ms (common/time_text.h).
Result<int64_t> ParseQueryTime(std::string value, std::string_view key);

}  // namespace coffre::app::internal
