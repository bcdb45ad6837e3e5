#include "common/clock.h"

#include <gtest/gtest.h>

namespace coffre {
namespace {

TEST(Rfc3339, RoundTripsAndRefusesOtherShapes) {
  for (int64_t t : {int64_t{0}, int64_t{951782400} /* 2000-02-29 */, int64_t{1795328157},
                    int64_t{4102444799}}) {
    auto back = ParseRfc3339(FormatRfc3339(t));
    ASSERT_TRUE(back) << FormatRfc3339(t);
    EXPECT_EQ(*back, t);
  }
  EXPECT_EQ(*ParseRfc3339("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(*ParseRfc3339("2026-11-22T08:00:00.123456Z"), *ParseRfc3339("2026-11-22T08:00:00Z"));
  EXPECT_EQ(*ParseRfc3339("2026-11-22T08:00:00+00:00"), *ParseRfc3339("2026-11-22T08:00:00Z"));
  // One parser (common/time_text.h): any offset names its instant.
  EXPECT_EQ(*ParseRfc3339("2026-11-22T09:00:00+01:00"), *ParseRfc3339("2026-11-22T08:00:00Z"));
  EXPECT_EQ(*ParseRfc3339("1969-12-31T23:59:59.5Z"), -1);  // the second it falls in
  for (const char* bad :
       {"", "2026-11-22", "2026-11-22T08:00:00", "2026-11-22T08:00:00+1:00", "2026-13-01T00:00:00Z",
        "2026-02-29T00:00:00Z", "2026-11-22T24:00:00Z", "2026-11-22T08:00:00.Z",
        "2026-11-22 08:00:00Z", "x026-11-22T08:00:00Z", "2026-11-22T08:00:00Zjunk"}) {
    auto r = ParseRfc3339(bad, "from");
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(r.error().message.rfind("from:", 0), 0u);
  }
}

}  // namespace
}  // namespace coffre
