// Names that may appear in messages and logs.
//
// Messages quote only names that were checked, so a client's text (a
// misspelt purpose, an unknown key, a personal value typed in the wrong
// place) never travels into an error, a log or the audit log.
#pragma once

#include <string>
#include <string_view>

namespace coffre {

// The rule of schema, policy and field names: [a-z][a-z0-9_]{0,62}.
inline bool IsIdentifier(std::string_view s) {
  if (s.empty() || s.size() > 63 || s[0] < 'a' || s[0] > 'z') return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

// 'name' if it is an identifier, else a description that carries none of it.
inline std::string QuotedName(std::string_view s) {
  if (IsIdentifier(s)) return "'" + std::string(s) + "'";
  return "(a name that is not [a-z][a-z0-9_]*)";
}

}  // namespace coffre
