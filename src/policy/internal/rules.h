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

#include "common/names.h"
#include "policy/policy.h"
#include "schema/schema.h"

namespace coffre::policy {

struct ScopeRule {
  schema::FieldDef field;  // a copy: the attribute is normalised with its type
  std::string attribute;
};

struct CollectionGrant {
  uint32_t actions = 0;  // bit (1 << Action)
  std::set<std::string, std::less<>> purposes;
  std::vector<View> views;         // one per schema field
  std::vector<bool> card_numbers;  // one per schema field: a `pan` field
  std::vector<ScopeRule> scopes;
};

struct ResourceGrant {
  std::set<std::string, std::less<>> actions;
  std::set<std::string, std::less<>> purposes;
  std::optional<View> view;  // cards only
};

// Whether a role's principals act on behalf of end users (delegation =
// false | true | "required").
enum class Delegation { kNone, kAllowed, kRequired };

struct Role {
  std::string name;
  Delegation delegation = Delegation::kNone;
  std::map<std::string, CollectionGrant, std::less<>> collections;
  std::map<std::string, ResourceGrant, std::less<>> resources;
  std::optional<Limits> limits;  // [roles.NAME.limits]
};

struct Policy::Rules {
  std::string text;
  std::map<std::string, std::string, std::less<>> purposes;  // name -> description
  std::map<std::string, Role, std::less<>> roles;
};

using coffre::IsIdentifier;
using coffre::QuotedName;

inline constexpr uint32_t ActionBit(Action a) { return 1u << static_cast<unsigned>(a); }

// Parses the TOML of a policy into `out` (reader.cc).
Status ReadPolicy(std::string_view toml, const schema::Schema& schema, std::string_view origin,
                  Policy::Rules& out);

}  // namespace coffre::policy
