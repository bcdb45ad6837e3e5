#include "app/json_input.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace coffre::app {
namespace {

boost::json::object Req(std::string_view text) { return boost::json::parse(text).as_object(); }

TEST(RequiredString, TheStringOrAnErrorNamingTheMember) {
  const auto req = Req(R"({"name": "ops-bot", "count": 3})");
  auto name = RequiredString(req, "name");
  ASSERT_TRUE(name);
  EXPECT_EQ(*name, "ops-bot");

  auto absent = RequiredString(req, "role");
  ASSERT_FALSE(absent);
  EXPECT_EQ(absent.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(absent.error().message, "'role' is required (a string)");

  auto number = RequiredString(req, "count");
  ASSERT_FALSE(number);
  EXPECT_EQ(number.error().message, "'count' is required (a string)");
}

TEST(OptionalString, AbsentOrNullIsNoneAnotherTypeIsAnError) {
  const auto req = Req(R"({"out": "/tmp/report.json", "none": null, "flag": true})");
  auto out = OptionalString(req, "out");
  ASSERT_TRUE(out);
  EXPECT_EQ(out->value_or(""), "/tmp/report.json");

  auto absent = OptionalString(req, "recipient");
  ASSERT_TRUE(absent);
  EXPECT_FALSE(absent->has_value());
  auto null = OptionalString(req, "none");
  ASSERT_TRUE(null);
  EXPECT_FALSE(null->has_value());

  auto flag = OptionalString(req, "flag");
  ASSERT_FALSE(flag);
  EXPECT_EQ(flag.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(flag.error().message, "'flag' must be a string");
}

}  // namespace
}  // namespace coffre::app
