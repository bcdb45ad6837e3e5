// Evaluation of a parsed policy: deny by default, then the intersection
// rules of delegation. The TOML reader is in reader.cc.
#include "policy/policy.h"

#include <algorithm>

#include "common/file_text.h"
#include "policy/internal/rules.h"

namespace coffre::policy {

std::string_view ActionName(Action a) {
  switch (a) {
    case Action::kCreate:
      return "create";
    case Action::kRead:
      return "read";
    case Action::kUpdate:
      return "update";
    case Action::kDelete:
      return "delete";
    case Action::kSearch:
      return "search";
    case Action::kExport:
      return "export";
  }
  return "unknown";
}

std::string_view ViewName(View v) {
  switch (v) {
    case View::kNone:
      return "none";
    case View::kMasked:
      return "masked";
    case View::kClear:
      return "clear";
  }
  return "none";
}

namespace {

Decision Deny(std::string reason) {
  Decision d;
  d.reason = std::move(reason);
  return d;
}

Decision Allow(std::vector<View> views, std::vector<RowScope> scopes) {
  Decision d;
  d.allowed = true;
  d.views = std::move(views);
  d.scopes = std::move(scopes);
  return d;
}

// Whose rights a check is about, for the reason: a direct request, the
// service of a delegated one, or the user it acts for.
enum class Side { kDirect, kService, kUser };

std::string Prefix(Side side) {
  switch (side) {
    case Side::kDirect:
      return "";
    case Side::kService:
      return "service: ";
    case Side::kUser:
      return "on behalf of a user: ";
  }
  return "";
}

// The weaker view of each field; both vectors come from the same collection.
std::vector<View> Weaker(const std::vector<View>& a, const std::vector<View>& b) {
  std::vector<View> out(a.size(), View::kNone);
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) out[i] = std::min(a[i], b[i]);
  return out;
}

Decision Combine(Decision service, Decision user) {
  if (!service.allowed) return service;
  if (!user.allowed) return user;
  std::vector<RowScope> scopes = std::move(service.scopes);
  scopes.insert(scopes.end(), std::make_move_iterator(user.scopes.begin()),
                std::make_move_iterator(user.scopes.end()));
  return Allow(Weaker(service.views, user.views), std::move(scopes));
}

// Incident 1, at run time too (the reader refuses such policies already):
// only the payment role, for the payment purpose, sees card numbers in
// clear. A delegated decision intersects both sides, so it holds there too.
bool ClearCardNumbers(std::string_view role, std::string_view purpose) {
  return role == kPaymentRole && purpose == kPaymentPurpose;
}

// The checks shared by every Decide*; it only reads the rules.
class Evaluator {
 public:
  explicit Evaluator(const Policy::Rules& rules) : rules_(rules) {}

  // Empty when the purpose is given and declared.
  std::string CheckPurpose(std::string_view purpose) const {
    if (purpose.empty()) return "no purpose given (X-Coffre-Purpose is required)";
    if (rules_.purposes.find(purpose) == rules_.purposes.end()) {
      return "unknown purpose (not declared in the policy)";
    }
    return {};
  }

  const Role* FindRole(std::string_view role) const {
    auto it = rules_.roles.find(role);
    return it == rules_.roles.end() ? nullptr : &it->second;
  }

  Decision Collection(const Actor& who, Side side, std::string_view collection, Action action,
                      std::string_view purpose) const {
    const std::string prefix = Prefix(side);
    const Role* role = FindRole(who.role);
    if (role == nullptr) return Deny(prefix + "unknown role " + QuotedName(who.role));
    const std::string r = "role '" + role->name + "'";
    auto it = role->collections.find(collection);
    if (it == role->collections.end()) {
      return Deny(prefix + r + " has no access to collection " + QuotedName(collection));
    }
    const CollectionGrant& grant = it->second;
    const std::string c = "collection '" + it->first + "'";
    if ((grant.actions & ActionBit(action)) == 0) {
      return Deny(prefix + r + " may not " + std::string(ActionName(action)) + " " + c);
    }
    if (grant.purposes.find(purpose) == grant.purposes.end()) {
      return Deny(prefix + r + " may not use " + c + " for purpose '" + std::string(purpose) + "'");
    }
    std::vector<RowScope> scopes;
    for (const ScopeRule& rule : grant.scopes) {
      // Only denials name the scope: no string built for an allowed request.
      auto scope_text = [&] {
        return rule.field.name + " = principal." + rule.attribute + " of " + r + " on " + c;
      };
      const std::string* raw = nullptr;
      if (who.attrs != nullptr) {
        auto a = who.attrs->find(rule.attribute);
        if (a != who.attrs->end()) raw = &a->second;
      }
      if (raw == nullptr) {
        return Deny(prefix + "principal lacks attribute '" + rule.attribute +
                    "' required by the row scope " + scope_text());
      }
      // Compared with records' canonical values, so normalised the same way.
      auto canonical = schema::Normalize(rule.field, schema::Input::String(*raw));
      if (!canonical) {
        return Deny(prefix + "principal attribute '" + rule.attribute +
                    "' is not a valid value of field '" + rule.field.name + "' (row scope " +
                    scope_text() + ")");
      }
      scopes.push_back(
          RowScope{role->name, rule.field.name, rule.attribute, std::move(*canonical)});
    }
    std::vector<View> views = grant.views;
    if (!ClearCardNumbers(role->name, purpose)) {
      for (size_t i = 0; i < views.size() && i < grant.card_numbers.size(); ++i) {
        if (grant.card_numbers[i]) views[i] = std::min(views[i], View::kMasked);
      }
    }
    return Allow(std::move(views), std::move(scopes));
  }

  Decision Resource(const Actor& who, Side side, std::string_view resource, std::string_view action,
                    std::string_view purpose) const {
    const std::string prefix = Prefix(side);
    const Role* role = FindRole(who.role);
    if (role == nullptr) return Deny(prefix + "unknown role " + QuotedName(who.role));
    const std::string r = "role '" + role->name + "'";
    auto it = role->resources.find(resource);
    if (it == role->resources.end()) {
      return Deny(prefix + r + " has no access to resource " + QuotedName(resource));
    }
    const ResourceGrant& grant = it->second;
    const std::string res = "resource '" + it->first + "'";
    if (grant.actions.find(action) == grant.actions.end()) {
      return Deny(prefix + r + " may not " +
                  (IsIdentifier(action) ? std::string(action) : "do that") + " " + res);
    }
    if (grant.purposes.find(purpose) == grant.purposes.end()) {
      return Deny(prefix + r + " may not use " + res + " for purpose '" + std::string(purpose) +
                  "'");
    }
    std::vector<View> views;
    if (grant.view) {
      views.push_back(*grant.view);
      if (resource == kResourceCards && !ClearCardNumbers(role->name, purpose)) {
        views[0] = std::min(views[0], View::kMasked);
      }
    }
    return Allow(std::move(views), {});
  }

  // Empty when `service` may act on behalf of users.
  std::string CheckDelegation(const Actor& service) const {
    const Role* role = FindRole(service.role);
    if (role == nullptr) return Prefix(Side::kService) + "unknown role " + QuotedName(service.role);
    if (role->delegation == Delegation::kNone)
      return "role '" + role->name + "' may not act on behalf of users";
    return {};
  }

  // Empty unless `who`'s role may act only on behalf of a user (delegation
  // = "required") and no user is named.
  std::string CheckDirect(const Actor& who) const {
    const Role* role = FindRole(who.role);
    if (role == nullptr || role->delegation != Delegation::kRequired) return {};
    return "role '" + role->name +
           "' acts only on behalf of a user (X-Coffre-On-Behalf-Of is required)";
  }

 private:
  const Policy::Rules& rules_;
};

}  // namespace

Result<Policy> Policy::Parse(std::string_view toml, const schema::Schema& schema,
                             std::string_view origin) {
  auto rules = std::make_shared<Rules>();
  COFFRE_TRY(ReadPolicy(toml, schema, origin, *rules));
  return Policy(std::move(rules));
}

Result<Policy> Policy::LoadFile(const std::string& path, const schema::Schema& schema) {
  auto text = ReadWholeFile(path, "policy file");
  // Any failure to read the policy, a missing file included, is kIoError
  // (exit 1), as it has always been for `coffre init --policy`.
  if (!text) return Fail(ErrorCode::kIoError, std::move(text.error().message));
  return Parse(*text, schema, path);
}

Policy Policy::DenyAll() { return Policy(std::make_shared<Rules>()); }

const std::string& Policy::text() const { return rules_->text; }

bool Policy::HasRole(std::string_view role) const { return rules_->roles.count(role) != 0; }

bool Policy::AllowsDelegation(std::string_view role) const {
  auto it = rules_->roles.find(role);
  return it != rules_->roles.end() && it->second.delegation != Delegation::kNone;
}

bool Policy::RequiresDelegation(std::string_view role) const {
  auto it = rules_->roles.find(role);
  return it != rules_->roles.end() && it->second.delegation == Delegation::kRequired;
}

bool Policy::KnowsPurpose(std::string_view purpose) const {
  return rules_->purposes.count(purpose) != 0;
}

std::vector<std::string> Policy::RoleNames() const {
  std::vector<std::string> out;
  for (const auto& [name, role] : rules_->roles) out.push_back(name);
  return out;
}

std::vector<std::string> Policy::PurposeNames() const {
  std::vector<std::string> out;
  for (const auto& [name, description] : rules_->purposes) out.push_back(name);
  return out;
}

const Limits* Policy::LimitsOf(std::string_view role) const {
  auto it = rules_->roles.find(role);
  if (it == rules_->roles.end() || !it->second.limits) return nullptr;
  return &*it->second.limits;
}

OnCanary Policy::OnCanaryOf(std::string_view role) const {
  const Limits* limits = LimitsOf(role);
  return limits == nullptr ? OnCanary::kSuspend : limits->on_canary;
}

std::vector<std::string> Policy::RolesReadingWithoutLimits() const {
  constexpr uint32_t kReading =
      ActionBit(Action::kRead) | ActionBit(Action::kSearch) | ActionBit(Action::kExport);
  std::vector<std::string> out;
  for (const auto& [name, role] : rules_->roles) {
    if (role.limits && !role.limits->subjects.empty()) continue;
    bool reads = false;
    for (const auto& [collection, grant] : role.collections)
      reads = reads || (grant.actions & kReading) != 0;
    if (reads) out.push_back(name);
  }
  return out;
}

Decision Policy::Decide(const Actor& who, std::string_view collection, Action action,
                        std::string_view purpose) const {
  const Evaluator eval(*rules_);
  if (std::string why = eval.CheckPurpose(purpose); !why.empty()) return Deny(std::move(why));
  if (std::string why = eval.CheckDirect(who); !why.empty()) return Deny(std::move(why));
  return eval.Collection(who, Side::kDirect, collection, action, purpose);
}

Decision Policy::DecideOnBehalf(const Actor& service, const Actor& user,
                                std::string_view collection, Action action,
                                std::string_view purpose) const {
  const Evaluator eval(*rules_);
  if (std::string why = eval.CheckPurpose(purpose); !why.empty()) return Deny(std::move(why));
  if (std::string why = eval.CheckDelegation(service); !why.empty()) return Deny(std::move(why));
  return Combine(eval.Collection(service, Side::kService, collection, action, purpose),
                 eval.Collection(user, Side::kUser, collection, action, purpose));
}

Decision Policy::DecideResource(const Actor& who, std::string_view resource,
                                std::string_view action, std::string_view purpose,
                                const Actor* on_behalf_of) const {
  const Evaluator eval(*rules_);
  if (std::string why = eval.CheckPurpose(purpose); !why.empty()) return Deny(std::move(why));
  if (on_behalf_of == nullptr) {
    if (std::string why = eval.CheckDirect(who); !why.empty()) return Deny(std::move(why));
    return eval.Resource(who, Side::kDirect, resource, action, purpose);
  }
  if (std::string why = eval.CheckDelegation(who); !why.empty()) return Deny(std::move(why));
  return Combine(eval.Resource(who, Side::kService, resource, action, purpose),
                 eval.Resource(*on_behalf_of, Side::kUser, resource, action, purpose));
}

std::string OutOfScopeReason(const RowScope& scope) {
  return "record outside the row scope " + scope.field + " = principal." + scope.attribute +
         " of role '" + scope.role + "'";
}

}  // namespace coffre::policy
