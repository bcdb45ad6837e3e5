// libFuzzer target for the policy reader, against a fixed schema. Policies
// that load are then evaluated for every role, so the evaluator runs on
// whatever rules the reader let through. Built with -DCOFFRE_FUZZ=ON (clang).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "policy/policy.h"
#include "schema/schema.h"

namespace {

constexpr std::string_view kSchema = R"(
[collections.people]
fields = [
  { name = "name",   type = "name" },
  { name = "email",  type = "email" },
  { name = "agency", type = "text" },
]
[collections.wallet]
fields = [ { name = "pan", type = "pan" } ]
)";

const coffre::schema::Schema& TheSchema() {
  static const coffre::schema::Schema schema =
      *coffre::schema::Schema::Parse(kSchema, "fuzz-schema");
  return schema;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace coffre::policy;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto policy = Policy::Parse(text, TheSchema(), "fuzz");
  if (!policy) return 0;
  if (policy->text() != text) __builtin_trap();
  const Attributes attrs = {{"agency", "A001"}, {"region", "R1"}};
  const std::vector<std::string> roles = policy->RoleNames();
  const std::vector<std::string> purposes = policy->PurposeNames();
  if (roles.empty() || purposes.empty()) __builtin_trap();  // the reader requires both
  for (const std::string& role : roles) {
    const Actor who{"fuzz", role, &attrs};
    for (const std::string& purpose : purposes) {
      for (Action a : {Action::kCreate, Action::kRead, Action::kSearch, Action::kExport}) {
        const Decision d = policy->Decide(who, "people", a, purpose);
        if (d.allowed != d.reason.empty()) __builtin_trap();
        if (d.allowed && d.views.size() != 3) __builtin_trap();
        const Decision o = policy->DecideOnBehalf(who, who, "people", a, purpose);
        if (o.allowed && !policy->AllowsDelegation(role)) __builtin_trap();
        if (o.allowed && o.views != d.views) __builtin_trap();  // min(v, v) == v
      }
      const Decision r = policy->DecideResource(who, kResourceCards, "read", purpose);
      if (r.allowed && r.views.size() != 1) __builtin_trap();
    }
  }
  return 0;
}
