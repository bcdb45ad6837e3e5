// Policy loading and evaluation: the example policy's full matrix (roles x
// actions x purposes), field views, row scopes, delegation, resources, and
// every load error. Attribute values are made-up agency codes.
#include "policy/policy.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "schema/schema.h"

namespace coffre::policy {
namespace {

const std::string kSource = COFFRE_SOURCE_DIR;

struct FieldValue {
  std::string name;
  std::string value;
};
using Fields = std::vector<FieldValue>;

schema::Schema PeopleSchema() {
  auto s = schema::Schema::LoadFile(kSource + "/examples/people.toml");
  EXPECT_TRUE(s) << s.error().message;
  return *s;
}

Policy ExamplePolicy() {
  static const schema::Schema schema = PeopleSchema();
  auto p = Policy::LoadFile(kSource + "/examples/people-policy.toml", schema);
  EXPECT_TRUE(p) << p.error().message;
  return *p;
}

// The views of a decision by field name, for readable expectations.
std::map<std::string, View> ViewsByName(const Decision& d, const schema::Schema& schema,
                                        std::string_view collection) {
  std::map<std::string, View> out;
  const schema::Collection* c = schema.Find(collection);
  EXPECT_NE(c, nullptr);
  EXPECT_EQ(d.views.size(), c->fields.size());
  for (size_t i = 0; i < c->fields.size() && i < d.views.size(); ++i)
    out[c->fields[i].name] = d.views[i];
  return out;
}

constexpr Action kAllActions[] = {Action::kCreate, Action::kRead,   Action::kUpdate,
                                  Action::kDelete, Action::kSearch, Action::kExport};

// ---------------------------------------------------------------- deny all

TEST(DenyAllPolicy, DeniesEveryActionResourceAndDelegation) {
  const Policy p = Policy::DenyAll();
  EXPECT_TRUE(p.RoleNames().empty());
  EXPECT_TRUE(p.PurposeNames().empty());
  EXPECT_TRUE(p.text().empty());
  const Actor admin{.name = "a", .role = "admin"};
  for (Action a : kAllActions) {
    EXPECT_FALSE(p.Decide(admin, "people", a, "admin").allowed);
  }
  EXPECT_FALSE(p.DecideResource(admin, kResourceAudit, "read", "investigation").allowed);
  EXPECT_FALSE(p.AllowsDelegation("admin"));
}

// ---------------------------------------------------------------- example

TEST(ExamplePolicy, ParsesAgainstTheExampleSchema) {
  const Policy p = ExamplePolicy();
  EXPECT_EQ(p.RoleNames(),
            (std::vector<std::string>{"admin", "adviser", "archivist", "auditor", "crm_backend",
                                      "dpo", "login_service", "payment", "support_agent"}));
  EXPECT_EQ(p.PurposeNames(),
            (std::vector<std::string>{"admin", "authentication", "follow_up", "investigation",
                                      "legal_claim", "payment", "subject_access", "support"}));
  EXPECT_TRUE(p.AllowsDelegation("crm_backend"));
  EXPECT_TRUE(p.RequiresDelegation("crm_backend"));
  for (const char* role : {"admin", "adviser", "auditor", "payment", "support_agent", "nobody"}) {
    EXPECT_FALSE(p.AllowsDelegation(role)) << role;
  }
  EXPECT_TRUE(p.HasRole("adviser"));
  EXPECT_FALSE(p.HasRole("Adviser"));
  EXPECT_TRUE(p.KnowsPurpose("follow_up"));
  EXPECT_FALSE(p.KnowsPurpose("marketing"));
  EXPECT_NE(p.text().find("[roles.adviser]"), std::string::npos);
}

// The archive (docs/retention.md) is read by the archivist for a legal
// claim, and by nobody else for any purpose.
TEST(ExamplePolicy, OnlyTheArchivistReadsTheArchiveForALegalClaim) {
  const Policy p = ExamplePolicy();
  for (const std::string& role : p.RoleNames()) {
    for (const std::string& purpose : p.PurposeNames()) {
      const bool want = role == "archivist" && purpose == "legal_claim";
      EXPECT_EQ(p.DecideResource({"x", role, nullptr}, kResourceArchive, "read", purpose).allowed,
                want)
          << role << " / " << purpose;
      EXPECT_EQ(
          p.DecideResource({"x", role, nullptr}, kResourceRetention, "manage", purpose).allowed,
          want)
          << role << " / " << purpose;
    }
  }
}

// Every examples/NAME-policy.toml loads against examples/NAME.toml.
TEST(ExamplePolicy, EveryExamplePolicyParsesAgainstItsSchema) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kSource + "/examples")) {
    const std::string stem = entry.path().stem().string();
    if (entry.path().extension() != ".toml" || stem.size() <= 7 ||
        stem.compare(stem.size() - 7, 7, "-policy") != 0) {
      continue;
    }
    ++count;
    auto schema = schema::Schema::LoadFile(kSource + "/examples/" +
                                           stem.substr(0, stem.size() - 7) + ".toml");
    ASSERT_TRUE(schema) << stem << ": " << schema.error().message;
    auto policy = Policy::LoadFile(entry.path().string(), *schema);
    EXPECT_TRUE(policy) << policy.error().message;
  }
  EXPECT_GE(count, 1);
}

// Every role x action x purpose on `people`, against a table written from
// the issue rather than read back from the file.
TEST(ExamplePolicy, FullMatrixOnPeople) {
  const Policy p = ExamplePolicy();
  struct Expected {
    std::set<Action> actions;
    std::string purpose;
  };
  const std::map<std::string, Expected> expected = {
      {"support_agent", {{Action::kRead, Action::kSearch}, "support"}},
      {"adviser", {{Action::kRead}, "follow_up"}},
      {"auditor", {{}, ""}},
      {"admin", {{Action::kCreate, Action::kRead, Action::kUpdate, Action::kDelete}, "admin"}},
      {"payment", {{}, ""}},
      // Only on behalf of an adviser (delegation = "required"): nothing alone.
      {"crm_backend", {{}, ""}},
      // Subject access requests (GDPR art. 15): find the person, export them.
      {"dpo", {{Action::kSearch, Action::kExport}, "subject_access"}},
  };
  const Attributes attrs = {{"agency", "A042"}};
  int allowed = 0;
  for (const auto& [role, want] : expected) {
    for (Action action : kAllActions) {
      for (const std::string& purpose : p.PurposeNames()) {
        const Decision d = p.Decide({"someone", role, &attrs}, "people", action, purpose);
        const bool should = want.actions.count(action) == 1 && purpose == want.purpose;
        EXPECT_EQ(d.allowed, should)
            << role << " " << ActionName(action) << " " << purpose << ": " << d.reason;
        EXPECT_EQ(d.reason.empty(), d.allowed);
        if (!d.allowed) {
          EXPECT_TRUE(d.views.empty());
          EXPECT_TRUE(d.scopes.empty());
          EXPECT_NE(d.reason.find("'" + role + "'"), std::string::npos) << d.reason;
        }
        allowed += d.allowed;
      }
    }
  }
  EXPECT_EQ(allowed, 2 + 1 + 4 + 2);
  // The only roles that may answer a subject access request alone.
  std::vector<std::string> exporters;
  for (const std::string& role : p.RoleNames()) {
    for (const std::string& purpose : p.PurposeNames()) {
      if (p.Decide({"someone", role, &attrs}, "people", Action::kExport, purpose).allowed)
        exporters.push_back(role);
    }
  }
  EXPECT_EQ(exporters, std::vector<std::string>{"dpo"});
  EXPECT_NE(p.LimitsOf("dpo"), nullptr) << "the dpo has quotas";
}

TEST(ExamplePolicy, SupportAgentSeesContactDetailsMasked) {
  const schema::Schema schema = PeopleSchema();
  const Decision d = ExamplePolicy().Decide({"s1", "support_agent", nullptr}, "people",
                                            Action::kSearch, "support");
  ASSERT_TRUE(d.allowed) << d.reason;
  EXPECT_TRUE(d.scopes.empty());
  const std::map<std::string, View> want = {{"first_name", View::kClear},
                                            {"last_name", View::kClear},
                                            {"sex", View::kClear},
                                            {"birth_date", View::kClear},
                                            {"nir", View::kMasked},
                                            {"email", View::kMasked},
                                            {"phone", View::kMasked},
                                            {"postal_address", View::kClear},
                                            {"iban", View::kNone},
                                            {"agency", View::kClear},
                                            {"relationship_end", View::kClear}};
  EXPECT_EQ(ViewsByName(d, schema, "people"), want);
}

TEST(ExamplePolicy, AdviserReadsOnlyItsAgencyInClear) {
  const schema::Schema schema = PeopleSchema();
  const Policy p = ExamplePolicy();
  const Attributes attrs = {{"agency", "A042"}, {"team", "north"}};
  const Decision d = p.Decide({"alice", "adviser", &attrs}, "people", Action::kRead, "follow_up");
  ASSERT_TRUE(d.allowed) << d.reason;
  for (const auto& [field, view] : ViewsByName(d, schema, "people"))
    EXPECT_EQ(view, View::kClear) << field;
  ASSERT_EQ(d.scopes.size(), 1u);
  EXPECT_EQ(d.scopes[0].field, "agency");
  EXPECT_EQ(d.scopes[0].attribute, "agency");
  EXPECT_EQ(d.scopes[0].value, "A042");
  EXPECT_EQ(d.scopes[0].role, "adviser");

  const Fields mine = {{"first_name", "Jean"}, {"agency", "A042"}};
  const Fields other = {{"first_name", "Jean"}, {"agency", "A043"}};
  const Fields prefix = {{"agency", "A04"}};
  const Fields none = {{"first_name", "Jean"}};
  EXPECT_TRUE(InScope(d, mine));
  EXPECT_FALSE(InScope(d, other));
  EXPECT_FALSE(InScope(d, prefix));
  EXPECT_FALSE(InScope(d, none)) << "a record without the scoped field is outside the scope";
  EXPECT_EQ(OutOfScopeReason(d, mine), "");
  const std::string why = OutOfScopeReason(d, other);
  EXPECT_EQ(why, "record outside the row scope agency = principal.agency of role 'adviser'");
  EXPECT_EQ(why.find("A04"), std::string::npos) << "the reason echoes an attribute value";
}

TEST(ExamplePolicy, APrincipalLackingTheScopeAttributeIsDenied) {
  const Policy p = ExamplePolicy();
  const Attributes other = {{"team", "north"}};
  for (const Attributes* attrs : {static_cast<const Attributes*>(nullptr), &other}) {
    const Decision d = p.Decide({"bob", "adviser", attrs}, "people", Action::kRead, "follow_up");
    EXPECT_FALSE(d.allowed);
    EXPECT_NE(d.reason.find("lacks attribute 'agency'"), std::string::npos) << d.reason;
  }
  // An attribute that the field's type refuses (text forbids control
  // characters) denies, and the reason does not echo it.
  const Attributes bad = {{"agency", "A0\x01secret"}};
  const Decision d = p.Decide({"bob", "adviser", &bad}, "people", Action::kRead, "follow_up");
  EXPECT_FALSE(d.allowed);
  EXPECT_NE(d.reason.find("attribute 'agency' is not a valid value"), std::string::npos)
      << d.reason;
  EXPECT_EQ(d.reason.find("secret"), std::string::npos);
}

TEST(ExamplePolicy, ScopeValuesOutliveTheActor) {
  const Policy p = ExamplePolicy();
  Decision d;
  {
    auto attrs = std::make_unique<Attributes>(Attributes{{"agency", std::string("A007")}});
    const std::string role = "adviser";
    d = p.Decide({"carol", role, attrs.get()}, "people", Action::kRead, "follow_up");
  }
  ASSERT_TRUE(d.allowed);
  EXPECT_TRUE(InScope(d, Fields{{"agency", "A007"}}));
}

TEST(ExamplePolicy, PaymentReadsCardsInClearAdminMasked) {
  const Policy p = ExamplePolicy();
  Decision d = p.DecideResource({"pay", "payment", nullptr}, kResourceCards, "read", "payment");
  ASSERT_TRUE(d.allowed) << d.reason;
  EXPECT_EQ(d.views, std::vector<View>{View::kClear});
  d = p.DecideResource({"root", "admin", nullptr}, kResourceCards, "read", "admin");
  ASSERT_TRUE(d.allowed) << d.reason;
  EXPECT_EQ(d.views, std::vector<View>{View::kMasked});
  EXPECT_TRUE(
      p.DecideResource({"root", "admin", nullptr}, kResourceCards, "create", "admin").allowed);
  EXPECT_TRUE(
      p.DecideResource({"root", "admin", nullptr}, kResourceCards, "delete", "admin").allowed);
  EXPECT_FALSE(
      p.DecideResource({"pay", "payment", nullptr}, kResourceCards, "delete", "payment").allowed);
  EXPECT_FALSE(
      p.DecideResource({"pay", "payment", nullptr}, kResourceCards, "read", "admin").allowed);
  EXPECT_FALSE(p.DecideResource({"s1", "support_agent", nullptr}, kResourceCards, "read", "support")
                   .allowed);
}

TEST(ExamplePolicy, ResourcesMatrix) {
  const Policy p = ExamplePolicy();
  // (role, resource, action, purpose) that are allowed; everything else is not.
  const std::set<std::tuple<std::string, std::string, std::string, std::string>> allowed = {
      {"auditor", "audit", "read", "investigation"}, {"auditor", "alerts", "read", "investigation"},
      {"admin", "principals", "read", "admin"},      {"admin", "principals", "manage", "admin"},
      {"admin", "cards", "create", "admin"},         {"admin", "cards", "read", "admin"},
      {"admin", "cards", "delete", "admin"},         {"payment", "cards", "create", "payment"},
      {"payment", "cards", "read", "payment"},       {"payment", "cards", "complete", "payment"},
      {"admin", "approvals", "manage", "admin"},
  };
  const std::vector<std::pair<std::string, std::string>> resource_actions = {
      {"audit", "read"},   {"alerts", "read"},  {"principals", "read"},  {"principals", "manage"},
      {"cards", "create"}, {"cards", "read"},   {"cards", "delete"},     {"cards", "complete"},
      {"audit", "manage"}, {"records", "read"}, {"approvals", "manage"}, {"approvals", "read"}};
  int n = 0;
  for (const std::string& role : p.RoleNames()) {
    for (const auto& [resource, action] : resource_actions) {
      for (const std::string& purpose : p.PurposeNames()) {
        const Decision d = p.DecideResource({"x", role, nullptr}, resource, action, purpose);
        EXPECT_EQ(d.allowed, allowed.count({role, resource, action, purpose}) == 1)
            << role << " " << resource << " " << action << " " << purpose << ": " << d.reason;
        n += d.allowed;
      }
    }
  }
  EXPECT_EQ(n, static_cast<int>(allowed.size()));
}

// ---------------------------------------------------------------- purposes

TEST(Purpose, MissingAndUnknownAreDistinctDenials) {
  const Policy p = ExamplePolicy();
  const Actor admin{"root", "admin", nullptr};
  const Decision missing = p.Decide(admin, "people", Action::kRead, "");
  const Decision unknown = p.Decide(admin, "people", Action::kRead, "jean.dupont@example.fr");
  EXPECT_FALSE(missing.allowed);
  EXPECT_FALSE(unknown.allowed);
  EXPECT_NE(missing.reason, unknown.reason);
  EXPECT_NE(missing.reason.find("no purpose"), std::string::npos) << missing.reason;
  EXPECT_NE(unknown.reason.find("unknown purpose"), std::string::npos) << unknown.reason;
  EXPECT_EQ(unknown.reason.find("dupont"), std::string::npos) << "a client's purpose is echoed";
  // Case matters: purposes are identifiers.
  EXPECT_FALSE(p.Decide(admin, "people", Action::kRead, "Admin").allowed);
  // The same on resources and on behalf of a user.
  EXPECT_EQ(p.DecideResource({"a", "auditor", nullptr}, "audit", "read", "").reason,
            missing.reason);
  EXPECT_EQ(p.DecideResource({"a", "auditor", nullptr}, "audit", "read", "fishing").reason,
            unknown.reason);
  const Attributes attrs = {{"agency", "A001"}};
  EXPECT_EQ(p.DecideOnBehalf({"crm", "crm_backend", nullptr}, {"u", "adviser", &attrs}, "people",
                             Action::kRead, "")
                .reason,
            missing.reason);
}

TEST(Decide, UnknownRoleAndCollectionAreDenied) {
  const Policy p = ExamplePolicy();
  Decision d = p.Decide({"x", "root", nullptr}, "people", Action::kRead, "admin");
  EXPECT_FALSE(d.allowed);
  EXPECT_NE(d.reason.find("unknown role 'root'"), std::string::npos) << d.reason;
  d = p.Decide({"x", "", nullptr}, "people", Action::kRead, "admin");
  EXPECT_FALSE(d.allowed);
  d = p.Decide({"x", "admin", nullptr}, "cards", Action::kRead, "admin");
  EXPECT_FALSE(d.allowed);
  EXPECT_NE(d.reason.find("has no access to collection 'cards'"), std::string::npos) << d.reason;
  // A collection name that is not an identifier is described, not echoed.
  d = p.Decide({"x", "admin", nullptr}, "Jean Dupont", Action::kRead, "admin");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason.find("Dupont"), std::string::npos) << d.reason;
}

TEST(Decide, ReasonsNameRoleActionCollectionAndPurpose) {
  const Policy p = ExamplePolicy();
  const Actor agent{"s1", "support_agent", nullptr};
  EXPECT_EQ(p.Decide(agent, "people", Action::kExport, "support").reason,
            "role 'support_agent' may not export collection 'people'");
  EXPECT_EQ(p.Decide(agent, "people", Action::kRead, "admin").reason,
            "role 'support_agent' may not use collection 'people' for purpose 'admin'");
  EXPECT_EQ(p.Decide({"a", "auditor", nullptr}, "people", Action::kRead, "investigation").reason,
            "role 'auditor' has no access to collection 'people'");
}

// ---------------------------------------------------------------- delegation

TEST(Delegation, ExampleCrmBackendForAnAdviser) {
  const schema::Schema schema = PeopleSchema();
  const Policy p = ExamplePolicy();
  const Actor crm{"crm", "crm_backend", nullptr};
  const Attributes attrs = {{"agency", "A042"}};
  const Actor alice{"alice", "adviser", &attrs};

  Decision d = p.DecideOnBehalf(crm, alice, "people", Action::kRead, "follow_up");
  ASSERT_TRUE(d.allowed) << d.reason;
  auto views = ViewsByName(d, schema, "people");
  EXPECT_EQ(views["nir"], View::kMasked) << "weaker of clear (user) and masked (service)";
  EXPECT_EQ(views["iban"], View::kMasked);
  EXPECT_EQ(views["email"], View::kClear);
  ASSERT_EQ(d.scopes.size(), 1u) << "the user's scope applies";
  EXPECT_EQ(d.scopes[0].value, "A042");
  EXPECT_FALSE(InScope(d, Fields{{"agency", "A041"}}));

  // The service may search, the adviser may not: the intersection may not.
  d = p.DecideOnBehalf(crm, alice, "people", Action::kSearch, "follow_up");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "on behalf of a user: role 'adviser' may not search collection 'people'");

  // The user lacks its scope attribute: denied, even though the service is unscoped.
  d = p.DecideOnBehalf(crm, {"bob", "adviser", nullptr}, "people", Action::kRead, "follow_up");
  EXPECT_FALSE(d.allowed);
  EXPECT_NE(d.reason.find("on behalf of a user: principal lacks attribute 'agency'"),
            std::string::npos)
      << d.reason;

  // The admin may update with purpose admin, the service may not.
  d = p.DecideOnBehalf(crm, {"root", "admin", nullptr}, "people", Action::kUpdate, "admin");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason.rfind("service: role 'crm_backend'", 0), 0u) << d.reason;

  // Both allow read, but for different purposes.
  d = p.DecideOnBehalf(crm, {"s1", "support_agent", nullptr}, "people", Action::kRead, "support");
  EXPECT_FALSE(d.allowed);
  d = p.DecideOnBehalf(crm, {"s1", "support_agent", nullptr}, "people", Action::kRead, "follow_up");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason.rfind("on behalf of a user: role 'support_agent'", 0), 0u) << d.reason;
}

TEST(Delegation, OnlyDelegationRolesMayActForUsers) {
  const Policy p = ExamplePolicy();
  const Attributes attrs = {{"agency", "A042"}};
  const Actor alice{"alice", "adviser", &attrs};
  for (const char* role : {"admin", "adviser", "support_agent", "auditor", "payment"}) {
    const Decision d =
        p.DecideOnBehalf({"svc", role, &attrs}, alice, "people", Action::kRead, "follow_up");
    EXPECT_FALSE(d.allowed) << role;
    EXPECT_EQ(d.reason, "role '" + std::string(role) + "' may not act on behalf of users");
  }
  const Decision d =
      p.DecideOnBehalf({"svc", "ghost", nullptr}, alice, "people", Action::kRead, "follow_up");
  EXPECT_FALSE(d.allowed);
  EXPECT_NE(d.reason.find("unknown role 'ghost'"), std::string::npos);
  // On resources too: the auditor's rights do not pass through a non-delegating service.
  EXPECT_FALSE(
      p.DecideResource({"pay", "payment", nullptr}, "audit", "read", "investigation", &alice)
          .allowed);
}

// Issue 13: crm_backend without X-Coffre-On-Behalf-Of read every agency.
// With delegation = "required", a request for itself is denied, on
// collections and resources, while on behalf of an adviser works as before.
TEST(Delegation, RequiredDeniesEveryRequestWithoutAUser) {
  const Policy p = ExamplePolicy();
  const Actor crm{"crm", "crm_backend", nullptr};
  const Attributes attrs = {{"agency", "A042"}};
  const Actor alice{"alice", "adviser", &attrs};
  for (Action action : {Action::kRead, Action::kSearch}) {
    const Decision d = p.Decide(crm, "people", action, "follow_up");
    EXPECT_FALSE(d.allowed) << ActionName(action);
    EXPECT_EQ(
        d.reason,
        "role 'crm_backend' acts only on behalf of a user (X-Coffre-On-Behalf-Of is required)");
    EXPECT_TRUE(d.views.empty());
  }
  EXPECT_TRUE(p.DecideOnBehalf(crm, alice, "people", Action::kRead, "follow_up").allowed);
  EXPECT_FALSE(p.RequiresDelegation("adviser"));
  EXPECT_FALSE(p.RequiresDelegation("ghost"));

  constexpr std::string_view kRequired = R"(
[purposes]
care = "Care"
[roles.gw]
delegation = "required"
[roles.gw.collections.clients]
actions = ["read"]
purposes = ["care"]
fields = { "*" = "clear" }
[roles.gw.resources.audit]
actions = ["read"]
purposes = ["care"]
[roles.nurse.collections.clients]
actions = ["read"]
purposes = ["care"]
fields = { "*" = "clear" }
[roles.nurse.resources.audit]
actions = ["read"]
purposes = ["care"]
)";
  auto schema = schema::Schema::Parse(R"(
[collections.clients]
fields = [ { name = "name", type = "name" } ]
)",
                                      "clients.toml");
  ASSERT_TRUE(schema) << schema.error().message;
  auto q = Policy::Parse(kRequired, *schema, "required.toml");
  ASSERT_TRUE(q) << q.error().message;
  const Actor gw{"gw", "gw", nullptr};
  const Actor nurse{"n", "nurse", nullptr};
  EXPECT_TRUE(q->AllowsDelegation("gw"));
  EXPECT_FALSE(q->Decide(gw, "clients", Action::kRead, "care").allowed);
  EXPECT_FALSE(q->DecideResource(gw, kResourceAudit, "read", "care").allowed);
  EXPECT_TRUE(q->DecideOnBehalf(gw, nurse, "clients", Action::kRead, "care").allowed);
  EXPECT_TRUE(q->DecideResource(gw, kResourceAudit, "read", "care", &nurse).allowed);
  // `true` keeps today's meaning: alone or on behalf of a user.
  std::string optional(kRequired);
  optional.replace(optional.find("\"required\""), 10, "true");
  auto r = Policy::Parse(optional, *schema, "optional.toml");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->Decide(gw, "clients", Action::kRead, "care").allowed);
  EXPECT_FALSE(r->RequiresDelegation("gw"));
}

// A schema and policy written for the intersection rules.
constexpr std::string_view kClientsSchema = R"(
[collections.clients]
fields = [
  { name = "name",   type = "name" },
  { name = "email",  type = "email" },
  { name = "nir",    type = "nir" },
  { name = "agency", type = "text" },
  { name = "region", type = "text" },
]
)";

constexpr std::string_view kDelegationPolicy = R"(
[purposes]
care = "Care"
other = "Other"

[roles.gateway]
delegation = true
[roles.gateway.collections.clients]
actions = ["read", "search", "export"]
purposes = ["care", "other"]
fields = { name = "clear", email = "masked", nir = "none", agency = "clear", region = "masked" }
where = "region = principal.region"
[roles.gateway.resources.cards]
actions = ["read"]
purposes = ["care"]
view = "masked"
[roles.gateway.resources.audit]
actions = ["read"]
purposes = ["care"]

[roles.nurse]
[roles.nurse.collections.clients]
actions = ["read", "export"]
purposes = ["care"]
fields = { "*" = "masked", name = "clear", email = "clear", region = "none" }
where = ["agency = principal.agency"]
[roles.nurse.resources.cards]
actions = ["read"]
purposes = ["care"]
view = "masked"
)";

schema::Schema ClientsSchema() {
  auto s = schema::Schema::Parse(kClientsSchema, "clients.toml");
  EXPECT_TRUE(s) << s.error().message;
  return *s;
}

TEST(Delegation, IntersectionOfViewsPurposesAndBothScopes) {
  const schema::Schema schema = ClientsSchema();
  auto p = Policy::Parse(kDelegationPolicy, schema, "delegation.toml");
  ASSERT_TRUE(p) << p.error().message;
  const Attributes service_attrs = {{"region", "R1"}, {"agency", "A999"}};
  const Attributes user_attrs = {{"region", "R9"}, {"agency", "A001"}};
  const Actor gateway{"gw", "gateway", &service_attrs};
  const Actor nurse{"n", "nurse", &user_attrs};

  Decision d = p->DecideOnBehalf(gateway, nurse, "clients", Action::kExport, "care");
  ASSERT_TRUE(d.allowed) << d.reason;
  const std::map<std::string, View> want = {{"name", View::kClear},     // clear & clear
                                            {"email", View::kMasked},   // masked & clear
                                            {"nir", View::kNone},       // none & masked
                                            {"agency", View::kMasked},  // clear & masked ("*")
                                            {"region", View::kNone}};   // masked & none
  EXPECT_EQ(ViewsByName(d, schema, "clients"), want);

  // The service's scope with the service's attribute, the user's with the user's.
  ASSERT_EQ(d.scopes.size(), 2u);
  std::map<std::string, std::string> scope_values;
  for (const RowScope& s : d.scopes) scope_values[s.field] = s.value;
  EXPECT_EQ(scope_values,
            (std::map<std::string, std::string>{{"region", "R1"}, {"agency", "A001"}}));
  EXPECT_TRUE(InScope(d, Fields{{"agency", "A001"}, {"region", "R1"}}));
  EXPECT_FALSE(InScope(d, Fields{{"agency", "A001"}, {"region", "R9"}}));
  EXPECT_FALSE(InScope(d, Fields{{"agency", "A999"}, {"region", "R1"}}));
  EXPECT_EQ(OutOfScopeReason(d, Fields{{"agency", "A001"}, {"region", "R9"}}),
            "record outside the row scope region = principal.region of role 'gateway'");
  EXPECT_EQ(OutOfScopeReason(d, Fields{{"agency", "A999"}, {"region", "R1"}}),
            "record outside the row scope agency = principal.agency of role 'nurse'");

  // Purposes: the service allows `other`, the nurse does not.
  EXPECT_FALSE(p->DecideOnBehalf(gateway, nurse, "clients", Action::kRead, "other").allowed);
  // Actions: the service allows search, the nurse does not.
  EXPECT_FALSE(p->DecideOnBehalf(gateway, nurse, "clients", Action::kSearch, "care").allowed);
  // The nurse alone, directly: its own views.
  d = p->Decide(nurse, "clients", Action::kRead, "care");
  ASSERT_TRUE(d.allowed);
  EXPECT_EQ(d.views, (std::vector<View>{View::kClear, View::kClear, View::kMasked, View::kMasked,
                                        View::kNone}));

  // Resources: the card view (masked on both sides), and a resource only the service has is denied.
  d = p->DecideResource(gateway, kResourceCards, "read", "care", &nurse);
  ASSERT_TRUE(d.allowed) << d.reason;
  EXPECT_EQ(d.views, std::vector<View>{View::kMasked});
  d = p->DecideResource(gateway, kResourceAudit, "read", "care", &nurse);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "on behalf of a user: role 'nurse' has no access to resource 'audit'");
  // The service's scope attribute is the service's: a gateway without a region is denied.
  const Actor bare{"gw2", "gateway", nullptr};
  d = p->DecideOnBehalf(bare, nurse, "clients", Action::kRead, "care");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason.rfind("service: principal lacks attribute 'region'", 0), 0u) << d.reason;
}

// ---------------------------------------------------------------- deny by default

TEST(DenyByDefault, UnlistedFieldsAreNoneAndUngrantedThingsDenied) {
  const schema::Schema schema = ClientsSchema();
  auto p = Policy::Parse(R"(
[purposes]
care = "Care"
[roles.clerk.collections.clients]
actions = ["read"]
purposes = ["care"]
fields = { name = "masked" }
[roles.idle]
description = "can do nothing"
)",
                         schema);
  ASSERT_TRUE(p) << p.error().message;
  Decision d = p->Decide({"c", "clerk", nullptr}, "clients", Action::kRead, "care");
  ASSERT_TRUE(d.allowed);
  EXPECT_EQ(d.views,
            (std::vector<View>{View::kMasked, View::kNone, View::kNone, View::kNone, View::kNone}));
  for (Action a : kAllActions) {
    if (a != Action::kRead) {
      EXPECT_FALSE(p->Decide({"c", "clerk", nullptr}, "clients", a, "care").allowed);
    }
    EXPECT_FALSE(p->Decide({"i", "idle", nullptr}, "clients", a, "care").allowed);
  }
  for (std::string_view r :
       {kResourceAudit, kResourceAlerts, kResourcePrincipals, kResourceCards, kResourceApprovals}) {
    EXPECT_FALSE(p->DecideResource({"c", "clerk", nullptr}, r, "read", "care").allowed) << r;
  }

  // No fields table at all: every field none.
  p = Policy::Parse(R"(
[purposes]
care = "Care"
[roles.counter.collections.clients]
actions = ["search"]
purposes = ["care"]
)",
                    schema);
  ASSERT_TRUE(p) << p.error().message;
  d = p->Decide({"c", "counter", nullptr}, "clients", Action::kSearch, "care");
  ASSERT_TRUE(d.allowed);
  EXPECT_EQ(d.views, std::vector<View>(5, View::kNone));
}

TEST(Policy, CopiesShareRulesAndKeepTheText) {
  const schema::Schema schema = ClientsSchema();
  auto p = Policy::Parse(kDelegationPolicy, schema);
  ASSERT_TRUE(p);
  const Policy copy = *p;
  *p = *Policy::Parse("[purposes]\nx = \"x\"\n[roles.r]\n", schema);
  EXPECT_EQ(copy.text(), kDelegationPolicy);
  EXPECT_TRUE(copy.HasRole("nurse"));
  EXPECT_FALSE(p->HasRole("nurse"));
}

// ---------------------------------------------------------------- load errors

struct LoadError {
  std::string toml;
  std::string want;  // a substring of the error message
};

// Prints the case's TOML when a case fails, rather than its bytes.
void PrintTo(const LoadError& e, std::ostream* os) { *os << "want \"" << e.want << "\""; }

class LoadErrors : public ::testing::TestWithParam<LoadError> {};

constexpr std::string_view kPurposes = "[purposes]\ncare = \"Care\"\nother = \"Other\"\n";

std::string WithPurposes(std::string_view rest) {
  return std::string(kPurposes) + std::string(rest);
}

TEST_P(LoadErrors, AreRefusedWithAMessageNamingTheProblem) {
  const schema::Schema schema = ClientsSchema();
  auto p = Policy::Parse(GetParam().toml, schema, "bad.toml");
  ASSERT_FALSE(p) << "accepted:\n" << GetParam().toml;
  EXPECT_EQ(p.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(p.error().message.rfind("bad.toml:", 0), 0u) << p.error().message;
  EXPECT_NE(p.error().message.find(GetParam().want), std::string::npos)
      << "got: " << p.error().message << "\nwant: " << GetParam().want;
}

const std::string kGrant =
    "[roles.r.collections.clients]\nactions = [\"read\"]\npurposes = [\"care\"]\n";

INSTANTIATE_TEST_SUITE_P(
    Policy, LoadErrors,
    ::testing::Values(
        LoadError{"[purposes\n", "TOML syntax error"},
        LoadError{"version = 1\n" + WithPurposes("[roles.r]\n"),
                  "unknown top-level key 'version' (allowed: purposes, roles)"},
        LoadError{"[roles.r]\n", "no purposes declared"},
        LoadError{"purposes = []\n[roles.r]\n", "'purposes' must be a table"},
        LoadError{"[purposes]\n[roles.r]\n", "no purposes declared"},
        LoadError{"[purposes]\ncare = 1\n[roles.r]\n",
                  "purpose 'care': must be a description string"},
        LoadError{"[purposes]\nCare = \"x\"\n[roles.r]\n", "name must match"},
        LoadError{std::string(kPurposes), "no roles declared"},
        LoadError{"roles = 3\n" + WithPurposes(""), "'roles' must be a table"},
        LoadError{"roles = {}\n" + WithPurposes(""), "no roles declared"},
        LoadError{WithPurposes("[roles.Admin]\n"), "name must match"},
        LoadError{WithPurposes("[roles]\nr = 1\n"), "role 'r': must be a table"},
        LoadError{WithPurposes("[roles.r.limit]\nsubjects = 10\n"),
                  "role 'r': unknown key 'limit' (allowed: description, delegation, collections, "
                  "resources, limits)"},
        // Limits: every key and value checked, the role and key named.
        LoadError{WithPurposes("[roles.r]\nlimits = 3\n"), "role 'r': limits: must be a table"},
        LoadError{WithPurposes("[roles.r.limits]\nsubject = []\n"),
                  "role 'r': limits: unknown key 'subject' (allowed: subjects, searches, denials, "
                  "on_canary)"},
        LoadError{
            WithPurposes("[roles.r.limits]\nsubjects = 10\n"),
            "role 'r': limits: 'subjects' must be a non-empty array of { window, soft, hard }"},
        LoadError{WithPurposes("[roles.r.limits]\nsubjects = []\n"),
                  "'subjects' must be a non-empty array"},
        LoadError{WithPurposes("[roles.r.limits]\nsubjects = [1]\n"),
                  "role 'r': limits: subjects[0]: must be a table { window, soft, hard }"},
        LoadError{WithPurposes("[roles.r.limits]\nsubjects = [{ soft = 1, hard = 2 }]\n"),
                  "role 'r': limits: subjects[0]: has no 'window'"},
        LoadError{WithPurposes("[roles.r.limits]\nsubjects = [{ window = \"1h\", hard = 2 }]\n"),
                  "role 'r': limits: subjects[0]: has no 'soft'"},
        LoadError{WithPurposes("[roles.r.limits]\nsubjects = [{ window = \"1h\", soft = 2 }]\n"),
                  "role 'r': limits: subjects[0]: has no 'hard'"},
        LoadError{WithPurposes("[roles.r.limits]\nsubjects = [{ window = \"1h\", soft = 1, hard = "
                               "2, max = 3 }]\n"),
                  "subjects[0]: unknown key 'max' (allowed: window, soft, hard)"},
        LoadError{WithPurposes(
                      "[roles.r.limits]\nsubjects = [{ window = \"1 h\", soft = 1, hard = 2 }]\n"),
                  "subjects[0]: 'window' must be a duration like \"10m\", \"1h\" or \"24h\""},
        LoadError{
            WithPurposes("[roles.r.limits]\nsubjects = [{ window = 3600, soft = 1, hard = 2 }]\n"),
            "subjects[0]: 'window' must be a duration"},
        LoadError{WithPurposes(
                      "[roles.r.limits]\nsubjects = [{ window = \"30s\", soft = 1, hard = 2 }]\n"),
                  "'window' must be a duration"},
        LoadError{WithPurposes(
                      "[roles.r.limits]\nsubjects = [{ window = \"0h\", soft = 1, hard = 2 }]\n"),
                  "'window' must be a duration"},
        LoadError{WithPurposes(
                      "[roles.r.limits]\nsubjects = [{ window = \"01h\", soft = 1, hard = 2 }]\n"),
                  "'window' must be a duration"},
        LoadError{WithPurposes(
                      "[roles.r.limits]\nsubjects = [{ window = \"8d\", soft = 1, hard = 2 }]\n"),
                  "subjects[0]: 'window' must be at most 168h"},
        LoadError{WithPurposes(
                      "[roles.r.limits]\nsubjects = [{ window = \"1h\", soft = 0, hard = 2 }]\n"),
                  "subjects[0]: 'soft' must be an integer from 1 to 1000000"},
        LoadError{
            WithPurposes(
                "[roles.r.limits]\nsubjects = [{ window = \"1h\", soft = 1, hard = 1000001 }]\n"),
            "subjects[0]: 'hard' must be an integer from 1 to 1000000"},
        LoadError{
            WithPurposes(
                "[roles.r.limits]\nsubjects = [{ window = \"1h\", soft = 1, hard = \"2\" }]\n"),
            "'hard' must be an integer"},
        LoadError{WithPurposes(
                      "[roles.r.limits]\nsubjects = [{ window = \"1h\", soft = 2, hard = 2 }]\n"),
                  "subjects[0]: 'soft' must be below 'hard'"},
        LoadError{
            WithPurposes("[roles.r.limits]\nsubjects = [{ window = \"1h\", soft = 1, hard = 2 },"
                         " { window = \"60m\", soft = 3, hard = 4 }]\n"),
            "role 'r': limits: subjects[1]: a second limit for the window 60m"},
        LoadError{WithPurposes("[roles.r.limits]\nsearches = 300\n"),
                  "role 'r': limits: searches: must be a table { window, max }"},
        LoadError{WithPurposes("[roles.r.limits]\nsearches = { window = \"1h\" }\n"),
                  "role 'r': limits: searches: has no 'max'"},
        LoadError{
            WithPurposes("[roles.r.limits]\nsearches = { window = \"1h\", max = 5, alert = 1 }\n"),
            "limits: searches: unknown key 'alert' (allowed: window, max)"},
        LoadError{WithPurposes("[roles.r.limits]\nsearches = { window = \"2d\", max = 5 }\n"),
                  "limits: searches: 'window' must be at most 24h"},
        LoadError{WithPurposes("[roles.r.limits]\ndenials = { window = \"10m\", max = 5 }\n"),
                  "limits: denials: unknown key 'max' (allowed: window, alert)"},
        LoadError{WithPurposes("[roles.r.limits]\ndenials = { alert = 5 }\n"),
                  "limits: denials: has no 'window'"},
        LoadError{WithPurposes("[roles.r.limits]\ndenials = { window = \"10m\", alert = -1 }\n"),
                  "limits: denials: 'alert' must be an integer from 1"},
        LoadError{WithPurposes("[roles.r.limits]\non_canary = \"ignore\"\n"),
                  "role 'r': limits: 'on_canary' must be \"suspend\" or \"alert\""},
        LoadError{WithPurposes("[roles.r.limits]\non_canary = true\n"), "'on_canary' must be"},
        LoadError{WithPurposes("[roles.r]\ndelegaton = true\n"), "unknown key 'delegaton'"},
        LoadError{WithPurposes("[roles.r]\ndelegation = \"yes\"\n"),
                  "'delegation' must be true, false or \"required\""},
        LoadError{WithPurposes("[roles.r]\ndelegation = 1\n"),
                  "'delegation' must be true, false or \"required\""},
        LoadError{WithPurposes("[roles.r]\ndescription = 1\n"), "'description' must be a string"},
        LoadError{WithPurposes("[roles.r]\ncollections = 1\n"), "'collections' must be a table"},
        LoadError{WithPurposes("[roles.r]\nresources = 1\n"), "'resources' must be a table"},
        LoadError{
            WithPurposes(
                "[roles.r.collections.client]\nactions = [\"read\"]\npurposes = [\"care\"]\n"),
            "role 'r': unknown collection 'client' (not in the schema)"},
        LoadError{WithPurposes("[roles.r.collections]\nclients = 1\n"),
                  "collection 'clients': must be a table"},
        LoadError{
            WithPurposes(kGrant + "view = \"clear\"\n"),
            "collection 'clients': unknown key 'view' (allowed: actions, purposes, fields, where)"},
        LoadError{WithPurposes("[roles.r.collections.clients]\npurposes = [\"care\"]\n"),
                  "has no 'actions'"},
        LoadError{WithPurposes("[roles.r.collections.clients]\nactions = [\"read\"]\n"),
                  "has no 'purposes'"},
        LoadError{
            WithPurposes("[roles.r.collections.clients]\nactions = []\npurposes = [\"care\"]\n"),
            "'actions' must be a non-empty array of strings"},
        LoadError{WithPurposes(
                      "[roles.r.collections.clients]\nactions = \"read\"\npurposes = [\"care\"]\n"),
                  "'actions' must be a non-empty array of strings"},
        LoadError{
            WithPurposes(
                "[roles.r.collections.clients]\nactions = [\"raed\"]\npurposes = [\"care\"]\n"),
            "unknown action 'raed' (known: create, read, update, delete, search, export)"},
        LoadError{WithPurposes("[roles.r.collections.clients]\nactions = [\"read\", "
                               "\"read\"]\npurposes = [\"care\"]\n"),
                  "duplicate actions 'read'"},
        LoadError{
            WithPurposes(
                "[roles.r.collections.clients]\nactions = [\"read\"]\npurposes = [\"cure\"]\n"),
            "unknown purpose 'cure' (declared: care, other)"},
        LoadError{
            WithPurposes("[roles.r.collections.clients]\nactions = [\"read\"]\npurposes = []\n"),
            "'purposes' must be a non-empty array of strings"},
        LoadError{WithPurposes("[roles.r.collections.clients]\nactions = [\"read\"]\npurposes = "
                               "[\"care\", \"care\"]\n"),
                  "duplicate purposes 'care'"},
        LoadError{WithPurposes(kGrant + "fields = { emial = \"clear\" }\n"),
                  "unknown field 'emial' (not in collection 'clients')"},
        LoadError{WithPurposes(kGrant + "fields = { email = \"visible\" }\n"),
                  "field 'email': view must be \"clear\", \"masked\" or \"none\""},
        LoadError{WithPurposes(kGrant + "fields = { \"*\" = \"all\" }\n"),
                  "field '*': view must be"},
        LoadError{WithPurposes(kGrant + "fields = { email = true }\n"),
                  "field 'email': view must be"},
        LoadError{WithPurposes(kGrant + "fields = [\"email\"]\n"),
                  "'fields' must be a table of FIELD = VIEW"},
        LoadError{WithPurposes(kGrant + "where = \"agency == principal.agency\"\n"),
                  "'where' must read FIELD = principal.ATTRIBUTE"},
        LoadError{WithPurposes(kGrant + "where = \"agency = user.agency\"\n"), "'where' must read"},
        LoadError{WithPurposes(kGrant + "where = \"agency = 'A001'\"\n"), "'where' must read"},
        LoadError{WithPurposes(kGrant + "where = \"agency\"\n"), "'where' must read"},
        LoadError{WithPurposes(kGrant + "where = \"agency = principal.\"\n"), "'where' must read"},
        LoadError{WithPurposes(kGrant + "where = \"agence = principal.agency\"\n"),
                  "'where' names unknown field 'agence'"},
        LoadError{WithPurposes(
                      kGrant +
                      "where = [\"agency = principal.agency\", \"agency = principal.agency\"]\n"),
                  "duplicate 'where' agency = principal.agency"},
        LoadError{WithPurposes(kGrant + "where = []\n"),
                  "'where' must be a string or a non-empty array"},
        LoadError{WithPurposes(kGrant + "where = [1]\n"), "'where' entries must be strings"},
        LoadError{WithPurposes(
                      "[roles.r.resources.audits]\nactions = [\"read\"]\npurposes = [\"care\"]\n"),
                  "unknown resource 'audits' (known: audit, alerts, principals, cards, approvals, "
                  "credentials, retention, archive)"},
        LoadError{WithPurposes("[roles.r.resources]\naudit = 1\n"),
                  "resource 'audit': must be a table"},
        LoadError{WithPurposes(
                      "[roles.r.resources.audit]\nactions = [\"delete\"]\npurposes = [\"care\"]\n"),
                  "resource 'audit': unknown action 'delete' (known: read)"},
        LoadError{
            WithPurposes(
                "[roles.r.resources.principals]\nactions = [\"write\"]\npurposes = [\"care\"]\n"),
            "unknown action 'write' (known: read, manage)"},
        LoadError{WithPurposes("[roles.r.resources.audit]\npurposes = [\"care\"]\n"),
                  "has no 'actions'"},
        LoadError{WithPurposes("[roles.r.resources.audit]\nactions = [\"read\"]\n"),
                  "has no 'purposes'"},
        LoadError{WithPurposes(
                      "[roles.r.resources.audit]\nactions = [\"read\"]\npurposes = [\"spying\"]\n"),
                  "unknown purpose 'spying'"},
        LoadError{WithPurposes("[roles.r.resources.audit]\nactions = [\"read\"]\npurposes = "
                               "[\"care\"]\nview = \"clear\"\n"),
                  "resource 'audit': unknown key 'view' (allowed: actions, purposes)"},
        LoadError{WithPurposes("[roles.r.resources.cards]\nactions = [\"read\"]\npurposes = "
                               "[\"care\"]\nview = \"none\"\n"),
                  "'view' must be \"clear\" or \"masked\""},
        LoadError{WithPurposes("[roles.r.resources.cards]\nactions = [\"read\"]\npurposes = "
                               "[\"care\"]\nfields = {}\n"),
                  "unknown key 'fields' (allowed: actions, purposes, view)"}));

// ---------------------------------------------------------------- card numbers

constexpr std::string_view kCardSchema = R"(version = 1
[collections.orders]
fields = [ { name = "label", type = "text" }, { name = "pan", type = "pan" } ]
)";

constexpr std::string_view kCardPurposes = "[purposes]\npayment = \"Pay\"\nadmin = \"Admin\"\n";

TEST(CardNumbers, ClearOnlyForThePaymentRoleAndPurpose) {
  auto schema = schema::Schema::Parse(kCardSchema, "orders.toml");
  ASSERT_TRUE(schema);
  // Refused at load: an explicit clear card view outside role payment with purposes ["payment"].
  for (std::string body : {"[roles.admin.resources.cards]\nactions = [\"read\"]\npurposes = "
                           "[\"admin\"]\nview = \"clear\"\n",
                           "[roles.payment.resources.cards]\nactions = [\"read\"]\npurposes = "
                           "[\"payment\", \"admin\"]\nview = \"clear\"\n",
                           "[roles.cashier.resources.cards]\nactions = [\"read\"]\npurposes = "
                           "[\"payment\"]\nview = \"clear\"\n",
                           "[roles.admin.collections.orders]\nactions = [\"read\"]\npurposes = "
                           "[\"admin\"]\nfields = { pan = \"clear\" }\n",
                           "[roles.cashier.collections.orders]\nactions = [\"read\"]\npurposes = "
                           "[\"payment\"]\nfields = { \"*\" = \"masked\", pan = \"clear\" }\n"}) {
    auto p = Policy::Parse(std::string(kCardPurposes) + body, *schema, "p.toml");
    ASSERT_FALSE(p) << body;
    EXPECT_NE(p.error().message.find("card numbers are shown in clear only to role 'payment'"),
              std::string::npos)
        << p.error().message;
  }
  auto p = Policy::Parse(std::string(kCardPurposes) + R"(
[roles.payment]
delegation = true
[roles.payment.resources.cards]
actions = ["read"]
purposes = ["payment"]
view = "clear"
[roles.payment.collections.orders]
actions = ["read"]
purposes = ["payment"]
fields = { "*" = "clear" }
[roles.admin.resources.cards]
actions = ["read"]
purposes = ["admin"]
[roles.admin.collections.orders]
actions = ["read"]
purposes = ["admin"]
fields = { "*" = "clear" }
)",
                         *schema, "p.toml");
  ASSERT_TRUE(p) << p.error().message;
  const Actor pay{"pay", "payment", nullptr};
  const Actor admin{"adm", "admin", nullptr};
  Decision d = p->DecideResource(pay, kResourceCards, "read", "payment");
  ASSERT_TRUE(d.allowed);
  EXPECT_EQ(d.views, std::vector<View>{View::kClear});
  d = p->Decide(pay, "orders", Action::kRead, "payment");
  ASSERT_TRUE(d.allowed);
  EXPECT_EQ(d.views, (std::vector<View>{View::kClear, View::kClear}));
  // "*" = "clear" gives pan fields masked to anyone else; the view of cards defaults to masked.
  d = p->Decide(admin, "orders", Action::kRead, "admin");
  ASSERT_TRUE(d.allowed);
  EXPECT_EQ(d.views, (std::vector<View>{View::kClear, View::kMasked}));
  d = p->DecideResource(admin, kResourceCards, "read", "admin");
  ASSERT_TRUE(d.allowed);
  EXPECT_EQ(d.views, std::vector<View>{View::kMasked});
  // A payment service acting for a user of the payment role: still clear.
  d = p->DecideResource(pay, kResourceCards, "read", "payment", &pay);
  ASSERT_TRUE(d.allowed) << d.reason;
  EXPECT_EQ(d.views, std::vector<View>{View::kClear});
}

// ---------------------------------------------------------------- limits

TEST(Limits, ExamplePolicyGivesSupportAgentsFiftyAndAHundredAnHour) {
  Policy p = ExamplePolicy();
  const Limits* l = p.LimitsOf("support_agent");
  ASSERT_NE(l, nullptr);
  ASSERT_EQ(l->subjects.size(), 2u);
  EXPECT_EQ(l->subjects[0].window_seconds, 3600);
  EXPECT_EQ(l->subjects[0].window, "1h");
  EXPECT_EQ(l->subjects[0].soft, 50u);
  EXPECT_EQ(l->subjects[0].hard, 100u);
  EXPECT_EQ(l->subjects[1].window_seconds, 86400);
  ASSERT_TRUE(l->searches);
  EXPECT_GT(l->searches->max, 0u);
  ASSERT_TRUE(l->denials);
  EXPECT_EQ(l->on_canary, OnCanary::kSuspend);
}

TEST(Limits, ExamplePolicyLimitsEveryRoleThatReadsPeople) {
  Policy p = ExamplePolicy();
  EXPECT_TRUE(p.RolesReadingWithoutLimits().empty());
  for (const char* role : {"adviser", "crm_backend", "admin"}) {
    const Limits* l = p.LimitsOf(role);
    ASSERT_NE(l, nullptr) << role;
    EXPECT_FALSE(l->subjects.empty()) << role;
    ASSERT_TRUE(l->denials) << role;
  }
  // The service serves many advisers: its budget is larger than one's.
  EXPECT_GT(p.LimitsOf("crm_backend")->subjects[0].hard, p.LimitsOf("adviser")->subjects[0].hard);
  // Roles that read no records carry none; unknown roles none either.
  EXPECT_EQ(p.LimitsOf("auditor"), nullptr);
  EXPECT_EQ(p.LimitsOf("payment"), nullptr);
  EXPECT_EQ(p.LimitsOf("nobody"), nullptr);
  EXPECT_EQ(p.OnCanaryOf("auditor"), OnCanary::kSuspend);
  EXPECT_EQ(p.OnCanaryOf("nobody"), OnCanary::kSuspend);
}

TEST(Limits, ExamplePolicyLetsTheAuditorReadAlertsForInvestigationOnly) {
  Policy p = ExamplePolicy();
  Actor auditor{"dpo", "auditor", nullptr};
  EXPECT_TRUE(p.DecideResource(auditor, kResourceAlerts, "read", "investigation").allowed);
  EXPECT_FALSE(p.DecideResource(auditor, kResourceAlerts, "read", "support").allowed);
  Actor agent{"agent", "support_agent", nullptr};
  EXPECT_FALSE(p.DecideResource(agent, kResourceAlerts, "read", "support").allowed);
}

TEST(Limits, AreParsedSortedAndDefaulted) {
  const schema::Schema schema = ClientsSchema();
  auto p = Policy::Parse(
      WithPurposes(kGrant + "[roles.r.limits]\n"
                            "subjects = [ { window = \"24h\", soft = 10, hard = 20 },\n"
                            "             { window = \"10m\", soft = 1, hard = 2 },\n"
                            "             { window = \"2d\", soft = 30, hard = 40 } ]\n"
                            "denials = { window = \"5m\", alert = 3 }\n"
                            "on_canary = \"alert\"\n"
                            "[roles.quiet.limits]\n"),
      schema, "p.toml");
  ASSERT_TRUE(p) << p.error().message;
  const Limits* l = p->LimitsOf("r");
  ASSERT_NE(l, nullptr);
  ASSERT_EQ(l->subjects.size(), 3u);
  EXPECT_EQ(l->subjects[0].window_seconds, 600);
  EXPECT_EQ(l->subjects[0].window, "10m");
  EXPECT_EQ(l->subjects[1].window_seconds, 86400);
  EXPECT_EQ(l->subjects[2].window_seconds, 2 * 86400);
  EXPECT_EQ(l->subjects[2].hard, 40u);
  EXPECT_FALSE(l->searches);
  ASSERT_TRUE(l->denials);
  EXPECT_EQ(l->denials->window_seconds, 300);
  EXPECT_EQ(l->denials->alert, 3u);
  EXPECT_EQ(l->on_canary, OnCanary::kAlert);
  EXPECT_EQ(p->OnCanaryOf("r"), OnCanary::kAlert);
  // An empty limits table: no quota, canaries suspend.
  const Limits* quiet = p->LimitsOf("quiet");
  ASSERT_NE(quiet, nullptr);
  EXPECT_TRUE(quiet->subjects.empty());
  EXPECT_EQ(quiet->on_canary, OnCanary::kSuspend);
  // r reads with subject limits; quiet reads nothing.
  EXPECT_TRUE(p->RolesReadingWithoutLimits().empty());
}

TEST(Limits, RolesReadingWithoutLimitsAreListed) {
  const schema::Schema schema = ClientsSchema();
  auto p = Policy::Parse(
      WithPurposes(kGrant + "[roles.writer.collections.clients]\nactions = [\"create\"]\n"
                            "purposes = [\"care\"]\n"
                            "[roles.alerted.collections.clients]\nactions = [\"search\"]\n"
                            "purposes = [\"care\"]\n"
                            "[roles.alerted.limits]\non_canary = \"alert\"\n"),
      schema, "p.toml");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->RolesReadingWithoutLimits(), (std::vector<std::string>{"alerted", "r"}));
}

TEST(Limits, ParseWindow) {
  EXPECT_EQ(*ParseWindow("1m"), 60);
  EXPECT_EQ(*ParseWindow("10m"), 600);
  EXPECT_EQ(*ParseWindow("1h"), 3600);
  EXPECT_EQ(*ParseWindow("24h"), 86400);
  EXPECT_EQ(*ParseWindow("7d"), 604800);
  EXPECT_EQ(*ParseWindow("99999m"), 99999 * 60);
  for (const char* bad : {"", "h", "1", "0m", "01h", "1H", "1s", "1w", "-1h", "1.5h", " 1h", "1h ",
                          "999999m", "1hh"}) {
    auto w = ParseWindow(bad);
    ASSERT_FALSE(w) << bad;
    EXPECT_EQ(w.error().code, ErrorCode::kInvalidArgument);
    if (std::string_view(bad).size() >= 2) {
      EXPECT_EQ(w.error().message.find(bad), std::string::npos) << "echoes " << bad;
    }
  }
}

TEST(LoadErrorsPosition, NamesLineAndColumn) {
  const schema::Schema schema = ClientsSchema();
  auto p =
      Policy::Parse(WithPurposes(kGrant + "fields = { emial = \"clear\" }\n"), schema, "p.toml");
  ASSERT_FALSE(p);
  // Line 7 of the file: three purpose lines, three grant lines, then fields.
  EXPECT_EQ(p.error().message.rfind("p.toml:7:", 0), 0u) << p.error().message;
}

TEST(LoadFile, MissingFileIsAnIoError) {
  auto p = Policy::LoadFile(kSource + "/examples/no-such-policy.toml", ClientsSchema());
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code, ErrorCode::kIoError);
  EXPECT_NE(p.error().message.find("no-such-policy.toml"), std::string::npos);
}

TEST(LoadFile, ExamplePolicyDoesNotFitAnotherSchema) {
  auto p = Policy::LoadFile(kSource + "/examples/people-policy.toml", ClientsSchema());
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("unknown collection 'people'"), std::string::npos)
      << p.error().message;
}

}  // namespace
}  // namespace coffre::policy
