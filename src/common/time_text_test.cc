#include "common/time_text.h"

#include <gtest/gtest.h>

#include "common/clock.h"

namespace coffre {
namespace {

constexpr int64_t kDec1 = 1'796'083'200'000;  // 2026-12-01T00:00:00Z
constexpr int64_t kHour = 3'600'000;

int64_t From(std::string_view t) {
  auto r = ParseTime(t, TimeBound::kFrom, "from");
  EXPECT_TRUE(r) << t << ": " << r.error().message;
  return r ? *r : -1;
}
int64_t To(std::string_view t) {
  auto r = ParseTime(t, TimeBound::kTo, "to");
  EXPECT_TRUE(r) << t << ": " << r.error().message;
  return r ? *r : -1;
}
std::string Refusal(std::string_view t, TimeBound b = TimeBound::kFrom) {
  auto r = ParseTime(t, b, "--from");
  EXPECT_FALSE(r) << t;
  if (r) return "";
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << t;
  EXPECT_EQ(r.error().message.rfind("--from: ", 0), 0u) << r.error().message;
  return r.error().message;
}

TEST(ParseTime, AnyOffsetNamesTheSameInstant) {
  EXPECT_EQ(From("2026-12-01T00:00:00Z"), kDec1);
  EXPECT_EQ(From("2026-12-01T10:00:00+01:00"), kDec1 + 9 * kHour);
  EXPECT_EQ(From("2026-12-01T09:00:00Z"), kDec1 + 9 * kHour);
  EXPECT_EQ(From("2026-12-01t09:00:00z"), kDec1 + 9 * kHour);
  EXPECT_EQ(From("2026-12-01T09:00:00+00:00"), kDec1 + 9 * kHour);
  EXPECT_EQ(From("2026-12-01T09:00:00-00:00"), kDec1 + 9 * kHour);
  EXPECT_EQ(From("2026-12-01T03:30:00-05:30"), kDec1 + 9 * kHour);
  EXPECT_EQ(From("2026-12-01T23:59:00+23:59"), kDec1);
  EXPECT_EQ(From("2026-11-30T00:01:00-23:59"), kDec1);
  // Across a year's end: 2027-01-01T00:30+01:00 is still 2026 in UTC.
  EXPECT_EQ(From("2027-01-01T00:30:00+01:00"), kDec1 + 31LL * 24 * kHour - 30 * 60'000);
  EXPECT_EQ(From("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(From("1970-01-01T00:00:00+01:00"), -kHour);
}

TEST(ParseTime, ADateIsAUtcDayWholeAsFromAndTo) {
  EXPECT_EQ(From("2026-12-01"), kDec1);
  EXPECT_EQ(To("2026-12-01"), kDec1 + 24 * kHour - 1);
  // A window of one day, both ends inclusive.
  EXPECT_EQ(To("2026-12-01") - From("2026-12-01") + 1, 24 * kHour);
  auto r = ParseTime("2026-12-01", TimeBound::kInstant, "time");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("date alone"), std::string::npos);
}

TEST(ParseTime, ToCoversTheLastUnitItNames) {
  EXPECT_EQ(To("2026-12-01T09:00:00Z"), kDec1 + 9 * kHour + 999);
  EXPECT_EQ(To("2026-12-01T09:00:00.5Z"), kDec1 + 9 * kHour + 599);
  EXPECT_EQ(To("2026-12-01T09:00:00.25Z"), kDec1 + 9 * kHour + 259);
  EXPECT_EQ(To("2026-12-01T09:00:00.250Z"), kDec1 + 9 * kHour + 250);
  EXPECT_EQ(To("2026-12-01T09:00:00.123456789Z"), kDec1 + 9 * kHour + 123);
  EXPECT_EQ(From("2026-12-01T09:00:00.5Z"), kDec1 + 9 * kHour + 500);
  EXPECT_EQ(From("2026-12-01T09:00:00.123999Z"), kDec1 + 9 * kHour + 123);
  auto instant = ParseTime("2026-12-01T09:00:00.5Z", TimeBound::kInstant, "t");
  ASSERT_TRUE(instant);
  EXPECT_EQ(*instant, kDec1 + 9 * kHour + 500);
}

TEST(ParseTime, LeapYearsAndMonthLengths) {
  EXPECT_EQ(From("2024-02-29"), From("2024-03-01") - 24 * kHour);
  EXPECT_EQ(From("2000-02-29"), 951'782'400'000);  // divisible by 400: leap
  EXPECT_NE(Refusal("1900-02-29").find("1900-02 has no day 29 (it has 28)"), std::string::npos);
  EXPECT_NE(Refusal("2026-02-29T00:00:00Z").find("2026-02 has no day 29"), std::string::npos);
  EXPECT_NE(Refusal("2026-02-30").find("2026-02 has no day 30 (it has 28)"), std::string::npos);
  EXPECT_NE(Refusal("2026-04-31").find("2026-04 has no day 31 (it has 30)"), std::string::npos);
  EXPECT_EQ(From("2026-12-31"), kDec1 + 30 * 24 * kHour);
  EXPECT_NE(Refusal("2026-12-00").find("has no day 00"), std::string::npos);
  EXPECT_NE(Refusal("2026-13-01").find("month 13 does not exist"), std::string::npos);
  EXPECT_NE(Refusal("2026-00-10").find("month 00 does not exist"), std::string::npos);
  EXPECT_EQ(From("0000-01-01"), -62'167'219'200'000);
  EXPECT_EQ(To("9999-12-31"), 253'402'300'799'999);
}

TEST(ParseTime, OutOfRangeFieldsAreNamed) {
  EXPECT_NE(Refusal("2026-12-01T24:00:00Z").find("hour 24 is out of range"), std::string::npos);
  EXPECT_NE(Refusal("2026-12-01T10:60:00Z").find("minute 60 is out of range"), std::string::npos);
  EXPECT_NE(Refusal("2026-12-01T10:00:61Z").find("second 61 is out of range"), std::string::npos);
  EXPECT_NE(Refusal("2026-12-01T10:00:00+24:00").find("offset hours 24"), std::string::npos);
  EXPECT_NE(Refusal("2026-12-01T10:00:00-01:60").find("offset minutes 60"), std::string::npos);
  // A leap second reads as the second before it.
  EXPECT_EQ(From("2016-12-31T23:59:60Z"), From("2016-12-31T23:59:59Z"));
}

TEST(ParseTime, OtherShapesAreRefusedWithTheRuleNotTheText) {
  EXPECT_NE(Refusal("2026-12-01T10:00:00").find("needs an offset"), std::string::npos);
  EXPECT_NE(Refusal("2026-12-01 10:00:00Z").find("not a space"), std::string::npos);
  EXPECT_NE(Refusal("2026-12-01T10:00:00.Z").find("digits of a fraction"), std::string::npos);
  EXPECT_NE(Refusal("2026-12-01T10:00:00+0100").find("+hh:mm"), std::string::npos);
  EXPECT_NE(Refusal("2026-12-01T10:00:00+1:00").find("+hh:mm"), std::string::npos);
  EXPECT_NE(Refusal("2026-12-01T10:00:00Zjunk").find("unexpected characters"), std::string::npos);
  for (const char* bad :
       {"", "2026", "2026-12", "26-12-01", "2026-1-01", "2026/12/01", "2026-12-01T",
        "2026-12-01T10:00Z", "2026-12-01T1:00:00Z", "x026-12-01", "2026-12-01Tab:00:00Z",
        "2026-12-01T10:00:00 01:00", "+2026-12-01", "2026-12-01\n"}) {
    EXPECT_FALSE(Refusal(bad).empty()) << bad;
  }
  // The message names the rule, never the text (which could be anything pasted).
  for (const char* bad : {"2031-07-19T10:00:00+0100", "2031-07-19T10:00:00", "2031-07-19Tjunk"}) {
    EXPECT_EQ(Refusal(bad).find("2031-07-19"), std::string::npos) << bad;
  }
}

TEST(FormatTimeBound, ReadsBackToTheSameMillisecond) {
  for (int64_t ms :
       {int64_t{0}, int64_t{-1}, int64_t{-1000}, int64_t{999}, int64_t{1000}, int64_t{1001}, kDec1,
        kDec1 + 250, kDec1 + 999, kDec1 - 1, int64_t{253'402'300'799'999}}) {
    for (TimeBound b : {TimeBound::kFrom, TimeBound::kTo}) {
      std::string text = FormatTimeBound(ms, b);
      auto back = ParseTime(text, b, "t");
      ASSERT_TRUE(back) << text;
      EXPECT_EQ(*back, ms) << text;
    }
  }
  EXPECT_EQ(FormatTimeBound(kDec1, TimeBound::kFrom), "2026-12-01T00:00:00Z");
  EXPECT_EQ(FormatTimeBound(kDec1 + 999, TimeBound::kTo), "2026-12-01T00:00:00Z");
  EXPECT_EQ(FormatTimeBound(kDec1 + 250, TimeBound::kFrom), "2026-12-01T00:00:00.250Z");
  EXPECT_EQ(FormatTimeBound(kDec1, TimeBound::kTo), "2026-12-01T00:00:00.000Z");
}

}  // namespace
}  // namespace coffre
