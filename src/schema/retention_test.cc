// Retention rules in schemas ([collections.NAME.retention]) and the
// calendar arithmetic of their periods.
#include <gtest/gtest.h>

#include <string>

#include "common/clock.h"
#include "schema/schema.h"

namespace coffre::schema {
namespace {

std::string With(std::string_view retention) {
  std::string t = R"(
[collections.prospects]
fields = [
  { name = "email", type = "email" },
  { name = "last_contact", type = "date" },
  { name = "relationship_end", type = "date" },
  { name = "city", type = "text" },
]
)";
  t += "[collections.prospects.retention]\n";
  t += retention;
  t += "\n";
  return t;
}

std::string ErrorOf(std::string_view retention) {
  auto r = Schema::Parse(With(retention), "t.toml");
  EXPECT_FALSE(r) << "accepted: " << retention;
  if (r) return "";
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  return r.error().message;
}

void ExpectError(std::string_view retention, std::string_view part) {
  std::string msg = ErrorOf(retention);
  EXPECT_NE(msg.find("collection 'prospects': retention"), std::string::npos) << msg;
  EXPECT_NE(msg.find(part), std::string::npos) << msg;
  EXPECT_EQ(msg.rfind("t.toml:", 0), 0u) << msg;
}

RetentionRule RuleOf(std::string_view retention) {
  auto r = Schema::Parse(With(retention), "t.toml");
  EXPECT_TRUE(r) << r.error().message;
  if (!r) return {};
  const Collection* c = r->Find("prospects");
  EXPECT_TRUE(c->retention.has_value());
  return c->retention.value_or(RetentionRule{});
}

TEST(RetentionRuleTest, CollectionWithoutRuleHasNone) {
  auto r = Schema::Parse("[collections.a]\nfields = [{ name = \"x\", type = \"text\" }]\n");
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->Find("a")->retention.has_value());
}

TEST(RetentionRuleTest, ExplicitRule) {
  RetentionRule r = RuleOf(R"(archive_after = "1y"
delete_after = "3y"
from = "last_contact")");
  EXPECT_EQ(r.category, RetentionRule::Category::kNone);
  EXPECT_EQ(r.from, "last_contact");
  EXPECT_FALSE(r.FromLastActivity());
  ASSERT_TRUE(r.archive_after);
  EXPECT_EQ(*r.archive_after, (Duration{1, Duration::Unit::kYears}));
  EXPECT_EQ(r.delete_after, (Duration{3, Duration::Unit::kYears}));
}

TEST(RetentionRuleTest, DefaultsToLastActivity) {
  RetentionRule r = RuleOf(R"(delete_after = "90d")");
  EXPECT_TRUE(r.FromLastActivity());
  EXPECT_EQ(r.delete_after, (Duration{90, Duration::Unit::kDays}));
  EXPECT_FALSE(r.archive_after);
}

TEST(RetentionRuleTest, ProspectDefaultsToThreeYearsAfterLastContact) {
  RetentionRule r = RuleOf(R"(category = "prospect")");
  EXPECT_EQ(r.category, RetentionRule::Category::kProspect);
  EXPECT_EQ(r.delete_after, (Duration{3, Duration::Unit::kYears}));
  EXPECT_TRUE(r.FromLastActivity());
  RetentionRule named = RuleOf(R"(category = "prospect"
from = "last_contact")");
  EXPECT_EQ(named.from, "last_contact");
}

TEST(RetentionRuleTest, ClientDefaultsToThreeYearsAfterTheEndOfTheRelationship) {
  RetentionRule r = RuleOf(R"(category = "client"
from = "relationship_end"
archive_after = "6m")");
  EXPECT_EQ(r.category, RetentionRule::Category::kClient);
  EXPECT_EQ(r.from, "relationship_end");
  EXPECT_EQ(r.delete_after, (Duration{3, Duration::Unit::kYears}));
  EXPECT_EQ(*r.archive_after, (Duration{6, Duration::Unit::kMonths}));
  // An explicit delete_after overrides the default.
  EXPECT_EQ(RuleOf(R"(category = "client"
from = "relationship_end"
delete_after = "5y")")
                .delete_after,
            (Duration{5, Duration::Unit::kYears}));
}

TEST(RetentionRuleTest, RefusalsNameTheCollectionAndTheRule) {
  ExpectError(R"(delete_after = "3y"
keep = "forever")",
              "unknown key 'keep' (allowed: category, from, archive_after, delete_after)");
  ExpectError(R"(from = "last_contact")", "needs 'delete_after'");
  ExpectError(R"(archive_after = "1y")", "needs 'delete_after'");
  ExpectError(R"(category = "customer")", "'category' must be \"prospect\" or \"client\"");
  ExpectError(R"(category = "client")",
              "category 'client' counts from the end of the relationship");
  ExpectError(R"(category = "client"
from = "last_activity")",
              "must name a date field, not last_activity");
  for (std::string_view bad :
       {"3", "y", "3x", "-3y", "0y", "03y", "101y", "1.5y", "3 y", "1201m", ""}) {
    ExpectError("delete_after = \"" + std::string(bad) + "\"", "'delete_after' must be a duration");
  }
  ExpectError(R"(delete_after = 3)", "'delete_after' must be a string");
  ExpectError(R"(delete_after = "3y"
archive_after = "4y")",
              "'archive_after' (4y) must come before 'delete_after' (3y)");
  ExpectError(R"(delete_after = "3y"
archive_after = "36m")",
              "must come before");
  ExpectError(R"(delete_after = "3y"
from = "birthday")",
              "'from' names no field of the collection");
  ExpectError(R"(delete_after = "3y"
from = "city")",
              "'from' field 'city' is not a date field");
  auto r = Schema::Parse(
      "[collections.a]\nfields = [{ name = \"x\", type = \"text\" }]\nretention = 3\n", "t.toml");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("collection 'a': retention: must be a table"), std::string::npos)
      << r.error().message;
}

TEST(DurationTest, CalendarArithmetic) {
  auto at = [](const char* t) { return ParseRfc3339(t).value(); };
  auto plus = [&](const char* t, const char* d) {
    return FormatRfc3339(AddDuration(at(t), *ParseDuration(d)));
  };
  EXPECT_EQ(plus("2026-02-28T10:00:00Z", "1y"), "2027-02-28T10:00:00Z");
  EXPECT_EQ(plus("2024-02-29T00:00:00Z", "1y"), "2025-02-28T00:00:00Z");
  EXPECT_EQ(plus("2024-02-29T00:00:00Z", "4y"), "2028-02-29T00:00:00Z");
  EXPECT_EQ(plus("2026-01-31T23:59:59Z", "1m"), "2026-02-28T23:59:59Z");
  EXPECT_EQ(plus("2026-11-15T00:00:00Z", "3m"), "2027-02-15T00:00:00Z");
  EXPECT_EQ(plus("2026-12-31T00:00:00Z", "1d"), "2027-01-01T00:00:00Z");
  EXPECT_EQ(plus("2026-12-01T00:00:00Z", "2w"), "2026-12-15T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(AddDuration(-86400, *ParseDuration("1m"))), "1970-01-31T00:00:00Z");
  EXPECT_EQ(FormatDuration(*ParseDuration("18m")), "18m");
}

TEST(DurationTest, DateFieldsAreReadByTheOneTimeParser) {
  EXPECT_EQ(DateToUnixSeconds("2024-02-29"), 1'709'164'800);
  EXPECT_EQ(DateToUnixSeconds("1969-12-31"), -86'400);
  for (const char* bad :
       {"2026-02-29", "2026-02-30", "2026-13-01", "2026-12-01T00:00:00Z", "01/12/2026", ""}) {
    EXPECT_FALSE(DateToUnixSeconds(bad)) << bad;
  }
}

}  // namespace
}  // namespace coffre::schema
