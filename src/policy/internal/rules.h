// The parsed form of a policy, shared by the reader (reader.cc) and the
// evaluator (policy.cc). Internal to the policy module.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "policy/policy.h"
#include "schema/schema.h"

namespace coffre::policy {

struct ScopeRule {
  schema::FieldDef field;  // a copy: the attribute is normalised with its type
  std::string attribute;
};

struct CollectionGrant {
  uint32_t actions = 0;                 // bit (1 << Action)
  std::set<std::string, std::less<>> purposes;
  std::vector<View> views;              // one per schema field
  std::vector<ScopeRule> scopes;
};

struct ResourceGrant {
  std::set<std::string, std::less<>> actions;
  std::set<std::string, std::less<>> purposes;
  std::optional<View> view;             // cards only
};

struct Role {
  std::string name;
  bool delegation = false;
  std::map<std::string, CollectionGrant, std::less<>> collections;
  std::map<std::string, ResourceGrant, std::less<>> resources;
};

struct Policy::Rules {
  std::string text;
  std::map<std::string, std::string, std::less<>> purposes;  // name -> description
  std::map<std::string, Role, std::less<>> roles;
};

// Same rule as schema names: [a-z][a-z0-9_]{0,62}.
inline bool IsIdentifier(std::string_view s) {
  if (s.empty() || s.size() > 63 || s[0] < 'a' || s[0] > 'z') return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

// 'name' if it is an identifier, else a description: messages quote only
// names that were checked, so they cannot carry arbitrary bytes (a client's
// misspelt purpose could be anything, a personal value included).
inline std::string QuotedName(std::string_view s) {
  if (IsIdentifier(s)) return "'" + std::string(s) + "'";
  return "(a name that is not [a-z][a-z0-9_]*)";
}

inline constexpr uint32_t ActionBit(Action a) { return 1u << static_cast<unsigned>(a); }

// Parses the TOML of a policy into `out` (reader.cc).
Status ReadPolicy(std::string_view toml, const schema::Schema& schema, std::string_view origin,
                  Policy::Rules& out);

}  // namespace coffre::policy
