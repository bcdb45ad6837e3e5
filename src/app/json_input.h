// Reading the members of an operation's JSON input (the admin socket's
// requests, an operation's parsed body): one message for a missing or
// mistyped member, whoever reads it.
//
//   COFFRE_ASSIGN_OR_RETURN(std::string name, app::RequiredString(req, "name"));
//   COFFRE_ASSIGN_OR_RETURN(auto out, app::OptionalString(req, "out"));  // nullopt if absent
//
// Messages name the member, never its value. Thread-safety: pure functions.
// Callers link Boost::json.
#pragma once

#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace coffre::app {

// The string member `key` of `o`; kInvalidArgument when absent or not a string.
inline Result<std::string> RequiredString(const boost::json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_string()) {
    return Fail(ErrorCode::kInvalidArgument, "'" + std::string(key) + "' is required (a string)");
  }
  return std::string(it->value().get_string());
}

// The string member `key` of `o`, nullopt when absent or null;
// kInvalidArgument when it is another type.
inline Result<std::optional<std::string>> OptionalString(const boost::json::object& o,
                                                         std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return std::optional<std::string>();
  if (!it->value().is_string()) {
    return Fail(ErrorCode::kInvalidArgument, "'" + std::string(key) + "' must be a string");
  }
  return std::optional<std::string>(std::string(it->value().get_string()));
}

}  // namespace coffre::app
