// The TOML policy format (docs/policy.md), read strictly: every table
// accepts only its known keys and every name must exist (in the schema, in
// [purposes], in the action and view sets), so that a typo can neither
// grant nor silently drop a right. toml++ exceptions are caught here.
#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <utility>

#include "policy/internal/rules.h"

namespace coffre::policy {

namespace {

constexpr std::array<std::string_view, 2> kTopKeys = {"purposes", "roles"};
constexpr std::array<std::string_view, 5> kRoleKeys = {"description", "delegation", "collections",
                                                       "resources", "limits"};
constexpr std::array<std::string_view, 4> kLimitsKeys = {"subjects", "searches", "denials",
                                                         "on_canary"};
constexpr std::array<std::string_view, 3> kSubjectLimitKeys = {"window", "soft", "hard"};
constexpr std::array<std::string_view, 2> kSearchesKeys = {"window", "max"};
constexpr std::array<std::string_view, 2> kDenialsKeys = {"window", "alert"};
constexpr std::array<std::string_view, 4> kCollectionKeys = {"actions", "purposes", "fields",
                                                             "where"};
constexpr std::array<std::string_view, 3> kResourceKeys = {"actions", "purposes", "view"};
constexpr std::array<Action, 6> kActions = {Action::kCreate, Action::kRead,   Action::kUpdate,
                                            Action::kDelete, Action::kSearch, Action::kExport};
constexpr std::string_view kDefaultField = "*";

struct ResourceSpec {
  std::string_view name;
  std::vector<std::string_view> actions;
  bool has_view;
};

const std::vector<ResourceSpec>& Resources() {
  static const std::vector<ResourceSpec> specs = {
      {kResourceAudit, {"read"}, false},
      {kResourceAlerts, {"read"}, false},
      {kResourcePrincipals, {"read", "manage"}, false},
      {kResourceCards, {"create", "read", "complete", "delete"}, true},
      {kResourceApprovals, {"manage"}, false},
      {kResourceCredentials, {"set", "verify", "reset", "read"}, false},
      {kResourceRetention, {"read", "manage"}, false},
      {kResourceArchive, {"read"}, false},
  };
  return specs;
}

template <typename Names>
std::string Join(const Names& names) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

template <typename Names>
bool Contains(const Names& names, std::string_view s) {
  return std::find(std::begin(names), std::end(names), s) != std::end(names);
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Names from the file are echoed in errors only after they were checked to
// be identifiers, or as keys of a table the operator wrote; anything else is
// described, not quoted, so an error cannot carry arbitrary bytes.
std::string Quoted(std::string_view s) {
  if (s == kDefaultField) return "'*'";
  return QuotedName(s);
}

std::optional<View> ViewFromName(std::string_view s) {
  if (s == "none") return View::kNone;
  if (s == "masked") return View::kMasked;
  if (s == "clear") return View::kClear;
  return std::nullopt;
}

std::optional<Action> ActionFromName(std::string_view s) {
  for (Action a : kActions) {
    if (ActionName(a) == s) return a;
  }
  return std::nullopt;
}

// Tables iterate in key order; declaration order (for the first error) comes
// from source positions.
std::vector<std::pair<std::string_view, const toml::node*>> InFileOrder(const toml::table& t) {
  std::vector<std::pair<std::string_view, const toml::node*>> out;
  for (auto&& [key, node] : t) out.emplace_back(key.str(), &node);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    const auto& pa = a.second->source().begin;
    const auto& pb = b.second->source().begin;
    return std::pair(pa.line, pa.column) < std::pair(pb.line, pb.column);
  });
  return out;
}

class Reader {
 public:
  Reader(const schema::Schema& schema, std::string_view origin)
      : schema_(schema), origin_(origin) {}

  Status Read(const toml::table& root, Policy::Rules& out) {
    for (auto&& [key, node] : InFileOrder(root)) {
      if (!Contains(kTopKeys, key)) {
        return Err(node,
                   "unknown top-level key " + Quoted(key) + " (allowed: " + Join(kTopKeys) + ")");
      }
    }
    const toml::node* purposes = root.get("purposes");
    if (purposes == nullptr) return Err(nullptr, "no purposes declared ([purposes])");
    COFFRE_TRY(ReadPurposes(*purposes, out));
    const toml::node* roles = root.get("roles");
    if (roles == nullptr) return Err(nullptr, "no roles declared ([roles.NAME])");
    const toml::table* table = roles->as_table();
    if (table == nullptr) return Err(roles, "'roles' must be a table");
    if (table->empty()) return Err(roles, "no roles declared ([roles.NAME])");
    for (auto&& [name, node] : InFileOrder(*table)) {
      Role role;
      COFFRE_TRY(ReadRole(*node, name, out, role));
      out.roles.emplace(role.name, std::move(role));
    }
    return Ok();
  }

 private:
  tl::unexpected<Error> Err(const toml::node* at, std::string_view msg) const {
    std::string out(origin_);
    if (at != nullptr && at->source().begin.line > 0) {
      out += ':' + std::to_string(at->source().begin.line) + ':' +
             std::to_string(at->source().begin.column);
    }
    out += ": ";
    out += msg;
    return Fail(ErrorCode::kInvalidArgument, std::move(out));
  }

  Status ReadPurposes(const toml::node& node, Policy::Rules& out) const {
    const toml::table* table = node.as_table();
    if (table == nullptr) return Err(&node, "'purposes' must be a table of NAME = \"description\"");
    if (table->empty()) return Err(&node, "no purposes declared ([purposes])");
    for (auto&& [name, value] : InFileOrder(*table)) {
      if (!IsIdentifier(name)) {
        return Err(value, "purpose " + Quoted(name) + ": name must match [a-z][a-z0-9_]{0,62}");
      }
      const auto* description = value->as_string();
      if (description == nullptr) {
        return Err(value, "purpose '" + std::string(name) + "': must be a description string");
      }
      out.purposes.emplace(std::string(name), description->get());
    }
    return Ok();
  }

  // Reads a non-empty array of distinct strings, each accepted by `check`
  // (which returns an error message or an empty string).
  template <typename Check>
  Status ReadNames(const toml::node& node, const std::string& where, std::string_view key,
                   Check check, std::vector<std::string>& out) const {
    const toml::array* array = node.as_array();
    if (array == nullptr || array->empty()) {
      return Err(&node,
                 where + ": '" + std::string(key) + "' must be a non-empty array of strings");
    }
    for (const toml::node& item : *array) {
      const auto* s = item.as_string();
      if (s == nullptr) {
        return Err(&item,
                   where + ": '" + std::string(key) + "' must be a non-empty array of strings");
      }
      const std::string& name = s->get();
      if (std::string problem = check(name); !problem.empty())
        return Err(&item, where + ": " + problem);
      if (Contains(out, name))
        return Err(&item, where + ": duplicate " + std::string(key) + " " + Quoted(name));
      out.push_back(name);
    }
    return Ok();
  }

  Status ReadPurposeList(const toml::node& node, const std::string& where,
                         const Policy::Rules& rules,
                         std::set<std::string, std::less<>>& out) const {
    std::vector<std::string> names;
    COFFRE_TRY(ReadNames(
        node, where, "purposes",
        [&](const std::string& p) -> std::string {
          if (rules.purposes.count(p) == 0) {
            return "unknown purpose " + Quoted(p) + " (declared: " + Join(PurposeNames(rules)) +
                   ")";
          }
          return {};
        },
        names));
    out.insert(names.begin(), names.end());
    return Ok();
  }

  static std::vector<std::string> PurposeNames(const Policy::Rules& rules) {
    std::vector<std::string> names;
    for (const auto& [name, description] : rules.purposes) names.push_back(name);
    return names;
  }

  Status ReadRole(const toml::node& node, std::string_view name, const Policy::Rules& rules,
                  Role& role) const {
    if (!IsIdentifier(name))
      return Err(&node, "role " + Quoted(name) + ": name must match [a-z][a-z0-9_]{0,62}");
    role.name = std::string(name);
    const std::string where = "role '" + role.name + "'";
    const toml::table* table = node.as_table();
    if (table == nullptr) return Err(&node, where + ": must be a table");
    for (auto&& [key, value] : InFileOrder(*table)) {
      if (!Contains(kRoleKeys, key)) {
        return Err(value,
                   where + ": unknown key " + Quoted(key) + " (allowed: " + Join(kRoleKeys) + ")");
      }
    }
    if (const toml::node* d = table->get("description"); d != nullptr && !d->is_string()) {
      return Err(d, where + ": 'description' must be a string");
    }
    if (const toml::node* d = table->get("delegation")) {
      // true: may act on behalf of users; "required": only on behalf of
      // users (a request without X-Coffre-On-Behalf-Of is denied).
      if (const auto* b = d->as_boolean()) {
        role.delegation = b->get() ? Delegation::kAllowed : Delegation::kNone;
      } else if (const auto* t = d->as_string(); t != nullptr && t->get() == "required") {
        role.delegation = Delegation::kRequired;
      } else {
        return Err(d, where + ": 'delegation' must be true, false or \"required\"");
      }
    }
    if (const toml::node* c = table->get("collections")) {
      const toml::table* collections = c->as_table();
      if (collections == nullptr) return Err(c, where + ": 'collections' must be a table");
      for (auto&& [cname, cnode] : InFileOrder(*collections)) {
        const schema::Collection* collection = schema_.Find(cname);
        if (collection == nullptr) {
          return Err(cnode,
                     where + ": unknown collection " + Quoted(cname) + " (not in the schema)");
        }
        CollectionGrant grant;
        COFFRE_TRY(ReadCollectionGrant(*cnode, where + ": collection '" + std::string(cname) + "'",
                                       *collection, rules, grant));
        COFFRE_TRY(CheckCardNumberViews(*cnode, where + ": collection '" + std::string(cname) + "'",
                                        role.name, *collection, grant));
        role.collections.emplace(std::string(cname), std::move(grant));
      }
    }
    if (const toml::node* l = table->get("limits")) {
      role.limits.emplace();
      COFFRE_TRY(ReadLimits(*l, where + ": limits", *role.limits));
    }
    if (const toml::node* r = table->get("resources")) {
      const toml::table* resources = r->as_table();
      if (resources == nullptr) return Err(r, where + ": 'resources' must be a table");
      for (auto&& [rname, rnode] : InFileOrder(*resources)) {
        const auto& specs = Resources();
        auto spec = std::find_if(specs.begin(), specs.end(),
                                 [name = rname](const ResourceSpec& s) { return s.name == name; });
        if (spec == specs.end()) {
          std::vector<std::string_view> known;
          known.reserve(specs.size());
          for (const ResourceSpec& s : specs) known.push_back(s.name);
          return Err(rnode, where + ": unknown resource " + Quoted(rname) +
                                " (known: " + Join(known) + ")");
        }
        ResourceGrant grant;
        COFFRE_TRY(ReadResourceGrant(*rnode, where + ": resource '" + std::string(rname) + "'",
                                     *spec, rules, grant));
        if (grant.view == View::kClear && !ClearCardsAllowed(role.name, grant.purposes)) {
          return Err(rnode->as_table()->get("view"), where + ": resource '" + std::string(rname) +
                                                         "': " + std::string(kClearCardsRule));
        }
        role.resources.emplace(std::string(rname), std::move(grant));
      }
    }
    return Ok();
  }

  // Incident 1: card numbers in clear only for the payment role and purpose.
  static constexpr std::string_view kClearCardsRule =
      "card numbers are shown in clear only to role 'payment' with purposes = [\"payment\"] "
      "(incident 1); "
      "use \"masked\"";

  static bool ClearCardsAllowed(std::string_view role,
                                const std::set<std::string, std::less<>>& purposes) {
    return role == kPaymentRole && purposes.size() == 1 && *purposes.begin() == kPaymentPurpose;
  }

  // Marks the grant's pan fields; an explicit clear view of one is an error
  // outside the payment role and purpose, a "*" default one is masked.
  Status CheckCardNumberViews(const toml::node& node, const std::string& where,
                              std::string_view role, const schema::Collection& collection,
                              CollectionGrant& grant) const {
    grant.card_numbers.assign(collection.fields.size(), false);
    const bool allowed = ClearCardsAllowed(role, grant.purposes);
    const toml::table* fields =
        node.as_table() ? node.as_table()->get_as<toml::table>("fields") : nullptr;
    for (size_t i = 0; i < collection.fields.size(); ++i) {
      if (collection.fields[i].type != schema::FieldType::kPan) continue;
      grant.card_numbers[i] = true;
      if (grant.views[i] != View::kClear || allowed) continue;
      const toml::node* explicit_view = fields ? fields->get(collection.fields[i].name) : nullptr;
      if (explicit_view != nullptr) {
        return Err(explicit_view, where + ": field '" + collection.fields[i].name +
                                      "': " + std::string(kClearCardsRule));
      }
      grant.views[i] = View::kMasked;
    }
    return Ok();
  }

  // [roles.NAME.limits] (docs/policy.md, "Limits").
  Status ReadLimits(const toml::node& node, const std::string& where, Limits& limits) const {
    const toml::table* table = node.as_table();
    if (table == nullptr) return Err(&node, where + ": must be a table");
    COFFRE_TRY(CheckKeys(*table, where, kLimitsKeys));
    if (const toml::node* subjects = table->get("subjects")) {
      const toml::array* array = subjects->as_array();
      if (array == nullptr || array->empty()) {
        return Err(subjects,
                   where + ": 'subjects' must be a non-empty array of { window, soft, hard }");
      }
      for (size_t i = 0; i < array->size(); ++i) {
        const toml::node& item = *array->get(i);
        const std::string at = where + ": subjects[" + std::to_string(i) + "]";
        const toml::table* entry = item.as_table();
        if (entry == nullptr) return Err(&item, at + ": must be a table { window, soft, hard }");
        COFFRE_TRY(CheckKeys(*entry, at, kSubjectLimitKeys));
        SubjectLimit limit;
        COFFRE_TRY(ReadWindow(*entry, item, at, kMaxSubjectWindowSeconds, limit.window_seconds,
                              limit.window));
        COFFRE_ASSIGN_OR_RETURN(limit.soft, ReadCount(*entry, item, at, "soft"));
        COFFRE_ASSIGN_OR_RETURN(limit.hard, ReadCount(*entry, item, at, "hard"));
        if (limit.soft >= limit.hard) {
          return Err(entry->get("soft"), at + ": 'soft' must be below 'hard'");
        }
        for (const SubjectLimit& other : limits.subjects) {
          if (other.window_seconds == limit.window_seconds) {
            return Err(entry->get("window"),
                       at + ": a second limit for the window " + limit.window);
          }
        }
        limits.subjects.push_back(std::move(limit));
      }
      std::sort(limits.subjects.begin(), limits.subjects.end(),
                [](const SubjectLimit& a, const SubjectLimit& b) {
                  return a.window_seconds < b.window_seconds;
                });
    }
    if (const toml::node* searches = table->get("searches")) {
      const std::string at = where + ": searches";
      const toml::table* entry = searches->as_table();
      if (entry == nullptr) return Err(searches, at + ": must be a table { window, max }");
      COFFRE_TRY(CheckKeys(*entry, at, kSearchesKeys));
      SearchCap cap;
      COFFRE_TRY(ReadWindow(*entry, *searches, at, kMaxCounterWindowSeconds, cap.window_seconds,
                            cap.window));
      COFFRE_ASSIGN_OR_RETURN(cap.max, ReadCount(*entry, *searches, at, "max"));
      limits.searches = std::move(cap);
    }
    if (const toml::node* denials = table->get("denials")) {
      const std::string at = where + ": denials";
      const toml::table* entry = denials->as_table();
      if (entry == nullptr) return Err(denials, at + ": must be a table { window, alert }");
      COFFRE_TRY(CheckKeys(*entry, at, kDenialsKeys));
      DenialAlert alert;
      COFFRE_TRY(ReadWindow(*entry, *denials, at, kMaxCounterWindowSeconds, alert.window_seconds,
                            alert.window));
      COFFRE_ASSIGN_OR_RETURN(alert.alert, ReadCount(*entry, *denials, at, "alert"));
      limits.denials = std::move(alert);
    }
    if (const toml::node* on_canary = table->get("on_canary")) {
      const auto* s = on_canary->as_string();
      if (s != nullptr && s->get() == "suspend") {
        limits.on_canary = OnCanary::kSuspend;
      } else if (s != nullptr && s->get() == "alert") {
        limits.on_canary = OnCanary::kAlert;
      } else {
        return Err(on_canary, where + ": 'on_canary' must be \"suspend\" or \"alert\"");
      }
    }
    return Ok();
  }

  template <typename Keys>
  Status CheckKeys(const toml::table& table, const std::string& where, const Keys& allowed) const {
    for (auto&& [key, value] : InFileOrder(table)) {
      if (!Contains(allowed, key)) {
        return Err(value,
                   where + ": unknown key " + Quoted(key) + " (allowed: " + Join(allowed) + ")");
      }
    }
    return Ok();
  }

  Status ReadWindow(const toml::table& entry, const toml::node& at, const std::string& where,
                    int64_t max_seconds, int64_t& seconds, std::string& text) const {
    const toml::node* window = entry.get("window");
    if (window == nullptr) return Err(&at, where + ": has no 'window'");
    const auto* s = window->as_string();
    auto parsed = s != nullptr ? ParseWindow(s->get())
                               : Result<int64_t>(Fail(ErrorCode::kInvalidArgument, ""));
    if (!parsed) {
      return Err(window, where + ": 'window' must be a duration like \"10m\", \"1h\" or \"24h\"");
    }
    if (*parsed > max_seconds) {
      return Err(window,
                 where + ": 'window' must be at most " + std::to_string(max_seconds / 3600) + "h");
    }
    seconds = *parsed;
    text = s->get();
    return Ok();
  }

  Result<uint64_t> ReadCount(const toml::table& entry, const toml::node& at,
                             const std::string& where, std::string_view key) const {
    const toml::node* node = entry.get(key);
    if (node == nullptr) return Err(&at, where + ": has no '" + std::string(key) + "'");
    const auto* n = node->as_integer();
    if (n == nullptr || n->get() < 1 || static_cast<uint64_t>(n->get()) > kMaxHardLimit) {
      return Err(node, where + ": '" + std::string(key) + "' must be an integer from 1 to " +
                           std::to_string(kMaxHardLimit));
    }
    return static_cast<uint64_t>(n->get());
  }

  Status ReadCollectionGrant(const toml::node& node, const std::string& where,
                             const schema::Collection& collection, const Policy::Rules& rules,
                             CollectionGrant& grant) const {
    const toml::table* table = node.as_table();
    if (table == nullptr) return Err(&node, where + ": must be a table");
    for (auto&& [key, value] : InFileOrder(*table)) {
      if (!Contains(kCollectionKeys, key)) {
        return Err(value, where + ": unknown key " + Quoted(key) +
                              " (allowed: " + Join(kCollectionKeys) + ")");
      }
    }
    const toml::node* actions = table->get("actions");
    if (actions == nullptr) return Err(&node, where + ": has no 'actions'");
    std::vector<std::string> action_names;
    COFFRE_TRY(ReadNames(
        *actions, where, "actions",
        [](const std::string& a) -> std::string {
          if (ActionFromName(a)) return {};
          std::vector<std::string_view> known;
          known.reserve(kActions.size());
          for (Action k : kActions) known.push_back(ActionName(k));
          return "unknown action " + Quoted(a) + " (known: " + Join(known) + ")";
        },
        action_names));
    for (const std::string& a : action_names) grant.actions |= ActionBit(*ActionFromName(a));

    const toml::node* purposes = table->get("purposes");
    if (purposes == nullptr) return Err(&node, where + ": has no 'purposes'");
    COFFRE_TRY(ReadPurposeList(*purposes, where, rules, grant.purposes));

    grant.views.assign(collection.fields.size(), View::kNone);
    if (const toml::node* fields = table->get("fields"))
      COFFRE_TRY(ReadViews(*fields, where, collection, grant));

    if (const toml::node* w = table->get("where")) {
      if (const auto* s = w->as_string()) {
        COFFRE_TRY(ReadScope(*w, s->get(), where, collection, grant));
      } else if (const toml::array* array = w->as_array(); array != nullptr && !array->empty()) {
        for (const toml::node& item : *array) {
          const auto* one = item.as_string();
          if (one == nullptr) return Err(&item, where + ": 'where' entries must be strings");
          COFFRE_TRY(ReadScope(item, one->get(), where, collection, grant));
        }
      } else {
        return Err(w, where + ": 'where' must be a string or a non-empty array of strings");
      }
    }
    return Ok();
  }

  Status ReadViews(const toml::node& node, const std::string& where,
                   const schema::Collection& collection, CollectionGrant& grant) const {
    const toml::table* table = node.as_table();
    if (table == nullptr) return Err(&node, where + ": 'fields' must be a table of FIELD = VIEW");
    auto view_of = [&](const toml::node& v, std::string_view field) -> Result<View> {
      const auto* s = v.as_string();
      std::optional<View> view = s != nullptr ? ViewFromName(s->get()) : std::nullopt;
      if (!view) {
        return Err(&v, where + ": field " + Quoted(field) +
                           ": view must be \"clear\", \"masked\" or \"none\"");
      }
      return *view;
    };
    // The "*" default first, then the named fields override it.
    if (const toml::node* d = table->get(kDefaultField)) {
      COFFRE_ASSIGN_OR_RETURN(View v, view_of(*d, kDefaultField));
      grant.views.assign(collection.fields.size(), v);
    }
    for (auto&& [field, value] : InFileOrder(*table)) {
      if (field == kDefaultField) continue;
      size_t index = 0;
      while (index < collection.fields.size() && collection.fields[index].name != field) ++index;
      if (index == collection.fields.size()) {
        return Err(value, where + ": unknown field " + Quoted(field) + " (not in collection '" +
                              collection.name + "')");
      }
      COFFRE_ASSIGN_OR_RETURN(View v, view_of(*value, field));
      grant.views[index] = v;
    }
    return Ok();
  }

  // "FIELD = principal.ATTRIBUTE"
  Status ReadScope(const toml::node& at, std::string_view text, const std::string& where,
                   const schema::Collection& collection, CollectionGrant& grant) const {
    constexpr std::string_view kShape = "'where' must read FIELD = principal.ATTRIBUTE";
    const size_t eq = text.find('=');
    if (eq == std::string_view::npos) return Err(&at, where + ": " + std::string(kShape));
    const std::string_view field = Trim(text.substr(0, eq));
    std::string_view rhs = Trim(text.substr(eq + 1));
    constexpr std::string_view kPrincipal = "principal.";
    if (!IsIdentifier(field) || rhs.substr(0, kPrincipal.size()) != kPrincipal ||
        !IsIdentifier(rhs.substr(kPrincipal.size()))) {
      return Err(&at, where + ": " + std::string(kShape));
    }
    const std::string_view attribute = rhs.substr(kPrincipal.size());
    const schema::FieldDef* def = collection.Find(field);
    if (def == nullptr) {
      return Err(&at, where + ": 'where' names unknown field " + Quoted(field) +
                          " (not in collection '" + collection.name + "')");
    }
    for (const ScopeRule& s : grant.scopes) {
      if (s.field.name == field && s.attribute == attribute) {
        return Err(&at, where + ": duplicate 'where' " + std::string(field) + " = principal." +
                            std::string(attribute));
      }
    }
    grant.scopes.push_back(ScopeRule{*def, std::string(attribute)});
    return Ok();
  }

  Status ReadResourceGrant(const toml::node& node, const std::string& where,
                           const ResourceSpec& spec, const Policy::Rules& rules,
                           ResourceGrant& grant) const {
    const toml::table* table = node.as_table();
    if (table == nullptr) return Err(&node, where + ": must be a table");
    for (auto&& [key, value] : InFileOrder(*table)) {
      if (!Contains(kResourceKeys, key) || (key == "view" && !spec.has_view)) {
        std::vector<std::string_view> allowed = {"actions", "purposes"};
        if (spec.has_view) allowed.push_back("view");
        return Err(value,
                   where + ": unknown key " + Quoted(key) + " (allowed: " + Join(allowed) + ")");
      }
    }
    const toml::node* actions = table->get("actions");
    if (actions == nullptr) return Err(&node, where + ": has no 'actions'");
    std::vector<std::string> names;
    COFFRE_TRY(ReadNames(
        *actions, where, "actions",
        [&](const std::string& a) -> std::string {
          if (Contains(spec.actions, a)) return {};
          return "unknown action " + Quoted(a) + " (known: " + Join(spec.actions) + ")";
        },
        names));
    grant.actions.insert(names.begin(), names.end());

    const toml::node* purposes = table->get("purposes");
    if (purposes == nullptr) return Err(&node, where + ": has no 'purposes'");
    COFFRE_TRY(ReadPurposeList(*purposes, where, rules, grant.purposes));

    if (spec.has_view) {
      grant.view = View::kMasked;  // the safe default
      if (const toml::node* v = table->get("view")) {
        const auto* s = v->as_string();
        std::optional<View> view = s != nullptr ? ViewFromName(s->get()) : std::nullopt;
        if (!view || *view == View::kNone)
          return Err(v, where + ": 'view' must be \"clear\" or \"masked\"");
        grant.view = *view;
      }
    }
    return Ok();
  }

  const schema::Schema& schema_;
  std::string_view origin_;
};

Result<toml::table> ParseToml(std::string_view text, std::string_view origin) {
  auto syntax_error = [&](const toml::parse_error& e) {
    return Fail(ErrorCode::kInvalidArgument,
                std::string(origin) + ":" + std::to_string(e.source().begin.line) + ":" +
                    std::to_string(e.source().begin.column) +
                    ": TOML syntax error: " + std::string(e.description()));
  };
#if TOML_EXCEPTIONS
  try {
    return toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    return syntax_error(e);
  }
#else
  toml::parse_result parsed = toml::parse(text, origin);
  if (!parsed) return syntax_error(parsed.error());
  return std::move(parsed).table();
#endif
}

}  // namespace

Result<int64_t> ParseWindow(std::string_view text) {
  auto bad = [] {
    return Fail(ErrorCode::kInvalidArgument,
                "a window is a positive whole number of minutes (m), hours (h) or days (d)");
  };
  if (text.size() < 2 || text.size() > 6 || text[0] < '1' || text[0] > '9') return bad();
  int64_t n = 0;
  for (char c : text.substr(0, text.size() - 1)) {
    if (c < '0' || c > '9') return bad();
    n = n * 10 + (c - '0');
  }
  switch (text.back()) {
    case 'm':
      return n * 60;
    case 'h':
      return n * 3600;
    case 'd':
      return n * 86400;
    default:
      return bad();
  }
}

Status ReadPolicy(std::string_view toml, const schema::Schema& schema, std::string_view origin,
                  Policy::Rules& out) {
  COFFRE_ASSIGN_OR_RETURN(toml::table root, ParseToml(toml, origin));
  Reader reader(schema, origin);
  COFFRE_TRY(reader.Read(root, out));
  out.text = std::string(toml);
  return Ok();
}

}  // namespace coffre::policy
