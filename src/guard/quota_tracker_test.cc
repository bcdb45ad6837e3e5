// QuotaTracker: distinct subjects per sliding window (edges, re-reads,
// several windows, two names at once), search caps, denial thresholds, the
// memory bound, and exactness under concurrent requests.
#include "guard/quota_tracker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <thread>

namespace coffre::guard {
namespace {

constexpr int64_t kStart = 1'800'000'000;  // a whole minute (divisible by 60)

std::string Subject(uint64_t n) {
  std::string id(16, '\0');
  std::memcpy(id.data(), &n, 8);
  id[15] = 's';
  return id;
}

policy::Limits SubjectLimits(std::vector<policy::SubjectLimit> subjects) {
  policy::Limits l;
  l.subjects = std::move(subjects);
  return l;
}

policy::SubjectLimit Hourly(uint64_t soft, uint64_t hard) { return {3600, "1h", soft, hard}; }

ExposureOutcome Expose(QuotaTracker& q, std::string_view name, const policy::Limits& l,
                       std::vector<std::string> subjects) {
  Counted who[] = {{name, &l}};
  return q.ChargeSubjects(who, subjects);
}

TEST(QuotaTracker, DistinctSubjectsCountOnceAndRereadsAreFree) {
  FakeClock clock(kStart);
  QuotaTracker q(clock);
  const policy::Limits l = SubjectLimits({Hourly(2, 3)});
  EXPECT_FALSE(Expose(q, "app", l, {Subject(1)}).refused());
  for (int i = 0; i < 50; ++i) EXPECT_FALSE(Expose(q, "app", l, {Subject(1)}).refused());
  EXPECT_EQ(q.ExposedCounts("app", l), std::vector<size_t>{1});
  EXPECT_FALSE(Expose(q, "app", l, {Subject(2)}).refused());
  EXPECT_FALSE(Expose(q, "app", l, {Subject(3)}).refused());
  EXPECT_EQ(q.ExposedCounts("app", l), std::vector<size_t>{3});
  // Re-reads at the hard limit still pass; a new subject does not.
  EXPECT_FALSE(Expose(q, "app", l, {Subject(2), Subject(1)}).refused());
  ExposureOutcome over = Expose(q, "app", l, {Subject(4)});
  ASSERT_TRUE(over.refused());
  ASSERT_EQ(over.hard.size(), 1u);
  EXPECT_EQ(over.hard[0].who, 0u);
  EXPECT_EQ(over.hard[0].count, 4u);
  EXPECT_EQ(over.hard[0].limit, 3u);
  EXPECT_EQ(over.hard[0].window, "1h");
  // Nothing was counted for the refused request.
  EXPECT_EQ(q.ExposedCounts("app", l), std::vector<size_t>{3});
}

TEST(QuotaTracker, SoftLimitAlertsAtSoftPlusOneOncePerCrossing) {
  FakeClock clock(kStart);
  QuotaTracker q(clock);
  const policy::Limits l = SubjectLimits({Hourly(3, 10)});
  for (uint64_t i = 1; i <= 3; ++i)
    EXPECT_TRUE(Expose(q, "app", l, {Subject(i)}).soft.empty()) << i;
  ExposureOutcome fourth = Expose(q, "app", l, {Subject(4)});
  ASSERT_EQ(fourth.soft.size(), 1u);
  EXPECT_EQ(fourth.soft[0].count, 4u);
  EXPECT_EQ(fourth.soft[0].limit, 3u);
  EXPECT_TRUE(Expose(q, "app", l, {Subject(5)}).soft.empty());
  EXPECT_TRUE(Expose(q, "app", l, {Subject(4)}).soft.empty());
  // The window empties; crossing again alerts again.
  clock.Advance(3600);
  for (uint64_t i = 11; i <= 13; ++i)
    EXPECT_TRUE(Expose(q, "app", l, {Subject(i)}).soft.empty()) << i;
  EXPECT_EQ(Expose(q, "app", l, {Subject(14)}).soft.size(), 1u);
}

TEST(QuotaTracker, WindowEdgesAreFirstExposurePlusWindowExclusive) {
  FakeClock clock(kStart);
  QuotaTracker q(clock);
  const policy::Limits l = SubjectLimits({{600, "10m", 1, 2}});
  EXPECT_FALSE(Expose(q, "app", l, {Subject(1)}).refused());  // t = 0
  clock.Advance(300);
  EXPECT_FALSE(Expose(q, "app", l, {Subject(2)}).refused());  // t = 300
  clock.Advance(299);                                         // t = 599: both still in
  EXPECT_TRUE(Expose(q, "app", l, {Subject(3)}).refused());
  EXPECT_FALSE(Expose(q, "app", l, {Subject(1)}).refused());  // a re-read, free
  clock.Advance(1);                                           // t = 600: subject 1 left
  EXPECT_EQ(q.ExposedCounts("app", l), std::vector<size_t>{1});
  EXPECT_FALSE(Expose(q, "app", l, {Subject(3)}).refused());
  // The re-read at t = 599 did not extend subject 1's window: it counts anew.
  EXPECT_TRUE(Expose(q, "app", l, {Subject(1)}).refused());
  clock.Advance(300);  // t = 900: subject 2 left
  EXPECT_FALSE(Expose(q, "app", l, {Subject(1)}).refused());
}

TEST(QuotaTracker, EveryWindowIsCheckedTheLongestHolds) {
  FakeClock clock(kStart);
  QuotaTracker q(clock);
  const policy::Limits l = SubjectLimits({Hourly(2, 3), {86400, "24h", 4, 5}});
  for (uint64_t i = 1; i <= 3; ++i) EXPECT_FALSE(Expose(q, "app", l, {Subject(i)}).refused());
  clock.Advance(3600);
  EXPECT_EQ(q.ExposedCounts("app", l), (std::vector<size_t>{0, 3}));
  EXPECT_FALSE(Expose(q, "app", l, {Subject(4)}).refused());
  EXPECT_FALSE(Expose(q, "app", l, {Subject(5)}).refused());
  ExposureOutcome over = Expose(q, "app", l, {Subject(6)});
  ASSERT_TRUE(over.refused());
  ASSERT_EQ(over.hard.size(), 1u);
  EXPECT_EQ(over.hard[0].window, "24h");
  EXPECT_EQ(over.hard[0].count, 6u);
}

TEST(QuotaTracker, ARequestOverTheLimitIsRefusedWhole) {
  FakeClock clock(kStart);
  QuotaTracker q(clock);
  const policy::Limits l = SubjectLimits({Hourly(5, 10)});
  std::vector<std::string> hits;
  for (uint64_t i = 1; i <= 8; ++i) hits.push_back(Subject(i));
  EXPECT_FALSE(Expose(q, "app", l, hits).refused());
  hits.clear();
  // Two of these are known, three new: 11 > 10.
  for (uint64_t i = 7; i <= 11; ++i) hits.push_back(Subject(i));
  EXPECT_TRUE(Expose(q, "app", l, hits).refused());
  EXPECT_EQ(q.ExposedCounts("app", l), std::vector<size_t>{8});
  // Repeats within a request count once: two new subjects, each twice.
  hits = {Subject(20), Subject(21), Subject(20), Subject(21), Subject(1)};
  EXPECT_FALSE(Expose(q, "app", l, hits).refused());
  EXPECT_EQ(q.ExposedCounts("app", l), std::vector<size_t>{10});
  // Many repeats (the hash-set path) of known subjects: free.
  hits.assign(40, Subject(20));
  EXPECT_FALSE(Expose(q, "app", l, hits).refused());
}

TEST(QuotaTracker, PrincipalAndUserAreChargedTogetherOrNotAtAll) {
  FakeClock clock(kStart);
  QuotaTracker q(clock);
  const policy::Limits service = SubjectLimits({Hourly(50, 100)});
  const policy::Limits user = SubjectLimits({Hourly(1, 2)});
  Counted alice[] = {{"crm", &service}, {"alice", &user}};
  Counted bob[] = {{"crm", &service}, {"bob", &user}};
  std::vector<std::string> one = {Subject(1)}, two = {Subject(2)}, three = {Subject(3)};
  EXPECT_FALSE(q.ChargeSubjects(alice, one).refused());
  EXPECT_FALSE(q.ChargeSubjects(alice, two).refused());
  ExposureOutcome over = q.ChargeSubjects(alice, three);
  ASSERT_TRUE(over.refused());
  ASSERT_EQ(over.hard.size(), 1u);
  EXPECT_EQ(over.hard[0].who, 1u);  // the user's limit, not the service's
  EXPECT_EQ(q.ExposedCounts("crm", service), std::vector<size_t>{2});
  // Another user of the same service has its own count.
  EXPECT_FALSE(q.ChargeSubjects(bob, three).refused());
  EXPECT_EQ(q.ExposedCounts("crm", service), std::vector<size_t>{3});
  EXPECT_EQ(q.ExposedCounts("bob", user), std::vector<size_t>{1});
  // A name without limits is not counted at all.
  Counted unlimited[] = {{"batch", nullptr}};
  EXPECT_FALSE(q.ChargeSubjects(unlimited, three).refused());
  EXPECT_EQ(q.TrackedNames(), 3u);
}

TEST(QuotaTracker, MemoryStaysBoundedByTheHardLimit) {
  FakeClock clock(kStart);
  QuotaTracker q(clock);
  const policy::Limits l = SubjectLimits({{600, "10m", 50, 100}, Hourly(200, 300)});
  uint64_t next = 1;
  size_t refused = 0;
  // Twenty windows' worth of a scraper that never stops.
  for (int minute = 0; minute < 200; ++minute) {
    for (int i = 0; i < 100; ++i) {
      refused += Expose(q, "scraper", l, {Subject(next++)}).refused();
      std::vector<size_t> counts = q.ExposedCounts("scraper", l);
      ASSERT_LE(counts[0], 100u);
      ASSERT_LE(counts[1], 300u);
    }
    clock.Advance(60);
  }
  EXPECT_GT(refused, 0u);
  EXPECT_EQ(q.TrackedNames(), 1u);
}

TEST(QuotaTracker, ConcurrentRequestsNeverExposeMoreThanHard) {
  FakeClock clock(kStart);
  QuotaTracker q(clock);
  const policy::Limits l = SubjectLimits({Hourly(50, 100)});
  std::atomic<int> allowed{0}, soft_alerts{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t i = 0; i < 200; ++i) {
        // Half of the subjects are shared between threads.
        uint64_t n = i % 2 == 0 ? i : 1000 * (t + 1) + i;
        ExposureOutcome out = Expose(q, "stolen", l, {Subject(n)});
        allowed += !out.refused();
        soft_alerts += static_cast<int>(out.soft.size());
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(q.ExposedCounts("stolen", l), std::vector<size_t>{100});
  EXPECT_EQ(soft_alerts.load(), 1);
  EXPECT_GE(allowed.load(), 100);
}

policy::Limits SearchLimits(int64_t window_seconds, uint64_t max) {
  policy::Limits l;
  l.searches = policy::SearchCap{window_seconds, std::to_string(window_seconds / 60) + "m", max};
  return l;
}

TEST(QuotaTracker, SearchCapRefusesWithRetryAfterAndAlertsOncePerWindow) {
  FakeClock clock(kStart);
  QuotaTracker q(clock);
  const policy::Limits l = SearchLimits(600, 3);
  Counted who[] = {{"app", &l}};
  EXPECT_FALSE(q.ChargeSearch(who).refused());  // minute 0
  clock.Advance(120);
  EXPECT_FALSE(q.ChargeSearch(who).refused());  // minute 2
  EXPECT_FALSE(q.ChargeSearch(who).refused());
  clock.Advance(30);  // 150 s
  SearchOutcome over = q.ChargeSearch(who);
  ASSERT_TRUE(over.refused());
  EXPECT_EQ(over.over[0].limit, 3u);
  EXPECT_EQ(over.alerts.size(), 1u);
  // Minute 0's search leaves the window at 600 s: 450 s from now.
  EXPECT_EQ(over.retry_after_seconds, 450);
  SearchOutcome again = q.ChargeSearch(who);
  EXPECT_TRUE(again.refused());
  EXPECT_TRUE(again.alerts.empty());  // one alert per window
  clock.Advance(449);
  EXPECT_TRUE(q.ChargeSearch(who).refused());
  clock.Advance(1);  // 600 s
  EXPECT_FALSE(q.ChargeSearch(who).refused());
  // Refusals were not counted: the window holds minutes 2 (two) and 10 (one).
  SearchOutcome full = q.ChargeSearch(who);
  ASSERT_TRUE(full.refused());
  EXPECT_EQ(full.retry_after_seconds, 120);  // minute 2 leaves at 720 s
  // A window later, a new refusal alerts again.
  clock.Advance(600);
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(q.ChargeSearch(who).refused());
  EXPECT_EQ(q.ChargeSearch(who).alerts.size(), 1u);
}

TEST(QuotaTracker, SearchCapOfTheUserRefusesWithoutChargingTheService) {
  FakeClock clock(kStart);
  QuotaTracker q(clock);
  const policy::Limits service = SearchLimits(3600, 5);
  const policy::Limits user = SearchLimits(3600, 1);
  Counted both[] = {{"crm", &service}, {"alice", &user}};
  Counted service_only[] = {{"crm", &service}};
  EXPECT_FALSE(q.ChargeSearch(both).refused());
  SearchOutcome over = q.ChargeSearch(both);
  ASSERT_TRUE(over.refused());
  EXPECT_EQ(over.over[0].who, 1u);
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(q.ChargeSearch(service_only).refused()) << i;
  EXPECT_TRUE(q.ChargeSearch(service_only).refused());
}

TEST(QuotaTracker, DenialsAlertAtTheThresholdOncePerCrossing) {
  FakeClock clock(kStart);
  QuotaTracker q(clock);
  policy::Limits l;
  l.denials = policy::DenialAlert{600, "10m", 3};
  Counted who[] = {{"adviser", &l}};
  EXPECT_TRUE(q.CountDenial(who).empty());
  EXPECT_TRUE(q.CountDenial(who).empty());
  auto third = q.CountDenial(who);
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(third[0].count, 3u);
  EXPECT_EQ(third[0].limit, 3u);
  EXPECT_EQ(third[0].window, "10m");
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(q.CountDenial(who).empty());
  clock.Advance(600);
  EXPECT_TRUE(q.CountDenial(who).empty());
  EXPECT_TRUE(q.CountDenial(who).empty());
  EXPECT_EQ(q.CountDenial(who).size(), 1u);
  // A name without a threshold is not counted.
  Counted none[] = {{"other", nullptr}};
  EXPECT_TRUE(q.CountDenial(none).empty());
}

TEST(QuotaTracker, ALongPauseEmptiesTheRingsWithoutWalkingEveryMinute) {
  FakeClock clock(kStart);
  QuotaTracker q(clock);
  const policy::Limits l = SearchLimits(86400, 2);
  Counted who[] = {{"app", &l}};
  EXPECT_FALSE(q.ChargeSearch(who).refused());
  EXPECT_FALSE(q.ChargeSearch(who).refused());
  EXPECT_TRUE(q.ChargeSearch(who).refused());
  clock.Advance(int64_t{10} * 365 * 86400);
  EXPECT_FALSE(q.ChargeSearch(who).refused());
}

TEST(QuotaTracker, ANewPolicyKeepsTheWindowsItKeeps) {
  FakeClock clock(kStart);
  QuotaTracker q(clock);
  const policy::Limits before = SubjectLimits({Hourly(5, 10)});
  for (uint64_t i = 1; i <= 4; ++i) EXPECT_FALSE(Expose(q, "app", before, {Subject(i)}).refused());
  const policy::Limits after = SubjectLimits({{600, "10m", 1, 2}, Hourly(2, 4)});
  EXPECT_EQ(q.ExposedCounts("app", after), (std::vector<size_t>{0, 4}));
  EXPECT_TRUE(Expose(q, "app", after, {Subject(5)}).refused());
  EXPECT_FALSE(Expose(q, "app", after, {Subject(1)}).refused());
}

// `principal usage` reads the counts without creating state; `principal
// resume` forgets them, so the next new subject does not refuse at once.
TEST(QuotaTracker, UsageReadsAndForgetEmptiesTheWindows) {
  FakeClock clock(kStart);
  QuotaTracker q(clock);
  policy::Limits l = SubjectLimits({Hourly(1, 2), {24 * 3600, "24h", 5, 10}});
  l.searches = policy::SearchCap{3600, "1h", 10};
  l.denials = policy::DenialAlert{3600, "1h", 10};
  QuotaTracker::Usage none = q.UsageOf("app", l);
  EXPECT_EQ(none.subjects, (std::vector<uint64_t>{0, 0}));
  EXPECT_EQ(q.TrackedNames(), 0u);

  EXPECT_FALSE(Expose(q, "app", l, {Subject(1), Subject(2)}).refused());
  Counted who[] = {{"app", &l}};
  EXPECT_FALSE(q.ChargeSearch(who).refused());
  q.CountDenial(who);
  q.CountDenial(who);
  QuotaTracker::Usage used = q.UsageOf("app", l);
  EXPECT_EQ(used.subjects, (std::vector<uint64_t>{2, 2}));
  EXPECT_EQ(used.searches, 1u);
  EXPECT_EQ(used.denials, 2u);
  EXPECT_TRUE(Expose(q, "app", l, {Subject(3)}).refused());

  ASSERT_TRUE(q.Forget("app"));
  EXPECT_EQ(q.UsageOf("app", l).subjects, (std::vector<uint64_t>{0, 0}));
  EXPECT_FALSE(Expose(q, "app", l, {Subject(3)}).refused());
  EXPECT_EQ(q.UsageOf("app", l).subjects, (std::vector<uint64_t>{1, 1}));
  ASSERT_TRUE(q.Forget("nobody"));  // no state: nothing happens
}

}  // namespace
}  // namespace coffre::guard
