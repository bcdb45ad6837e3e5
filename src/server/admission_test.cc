#include "server/admission.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace coffre::server {
namespace {

TEST(Admission, CapsEachSourceAndTheTotal) {
  Admission a({.max_connections = 5, .per_source = 2, .max_pending = 5});
  auto s1 = a.Admit("192.0.2.1", false), s2 = a.Admit("192.0.2.1", false);
  ASSERT_TRUE(s1 && s2);
  EXPECT_FALSE(a.Admit("192.0.2.1", false));  // third from the same source
  auto s3 = a.Admit("192.0.2.2", false), s4 = a.Admit("192.0.2.3", false);
  auto s5 = a.Admit("192.0.2.4", false);
  ASSERT_TRUE(s3 && s4 && s5);
  EXPECT_FALSE(a.Admit("192.0.2.5", false));  // the total
  EXPECT_FALSE(a.Admit("10.0.0.1", true));    // even for a trusted proxy
  a.Release(*s1);
  auto again = a.Admit("192.0.2.1", false);
  EXPECT_TRUE(again);
  EXPECT_EQ(a.connections(), 5u);
}

// Connections still in their handshake may take only part of the slots;
// past that, only sources that completed a handshake recently get in.
TEST(Admission, PendingHandshakesAreCappedButKnownSourcesPass) {
  Admission a({.max_connections = 10, .per_source = 4, .max_pending = 2});
  auto known = a.Admit("192.0.2.9", false);
  ASSERT_TRUE(known);
  a.HandshakeDone(*known);
  auto p1 = a.Admit("198.51.100.1", false), p2 = a.Admit("198.51.100.2", false);
  ASSERT_TRUE(p1 && p2);
  EXPECT_FALSE(a.Admit("198.51.100.3", false));  // unknown, pending cap reached
  auto k2 = a.Admit("192.0.2.9", false);         // known: admitted
  ASSERT_TRUE(k2);
  EXPECT_TRUE(a.Admit("10.0.0.1", true));  // a trusted proxy is known
  a.HandshakeDone(*p1);                    // frees a pending slot
  EXPECT_TRUE(a.Admit("198.51.100.3", false));
}

// 16,384 sources are remembered; past that the oldest is forgotten first,
// never an arbitrary one.
TEST(Admission, AFullTableOfKnownSourcesForgetsTheOldestFirst) {
  Admission a({.max_connections = 100000, .per_source = 4, .max_pending = 1});
  auto source = [](int i) {
    return "10." + std::to_string(i >> 8) + "." + std::to_string(i & 255) + ".1";
  };
  constexpr int kSources = 16384 + 1;
  for (int i = 0; i < kSources; ++i) {
    auto s = a.Admit(source(i), false);
    ASSERT_TRUE(s) << i;
    a.HandshakeDone(*s);
    a.Release(*s);
  }
  auto pending = a.Admit("198.51.100.1", false);  // the pending cap is now reached
  ASSERT_TRUE(pending);
  EXPECT_FALSE(a.Admit(source(0), false)) << "the oldest source is still known";
  for (int i : {1, kSources / 2, kSources - 1}) {
    auto s = a.Admit(source(i), false);
    EXPECT_TRUE(s) << "source " << i << " was forgotten";
    if (s) a.Release(*s);
  }
}

TEST(Admission, RekeyMovesAConnectionToItsClient) {
  Admission a({.max_connections = 10, .per_source = 1, .max_pending = 10});
  auto proxy1 = a.Admit("10.0.0.1", true), proxy2 = a.Admit("10.0.0.1", true);
  ASSERT_TRUE(proxy1 && proxy2);  // exempt from the per-source cap
  EXPECT_TRUE(a.Rekey(*proxy1, "198.51.100.7"));
  EXPECT_FALSE(a.Rekey(*proxy2, "198.51.100.7"));  // that client's one slot is taken
  EXPECT_FALSE(a.Admit("198.51.100.7", false));
  EXPECT_TRUE(a.Rekey(*proxy1, "198.51.100.8"));  // the next request of the connection
  EXPECT_TRUE(a.Rekey(*proxy2, "198.51.100.7"));
  a.Release(*proxy1);
  a.Release(*proxy2);
  EXPECT_EQ(a.connections(), 0u);
  EXPECT_TRUE(a.Admit("198.51.100.7", false));
}

}  // namespace
}  // namespace coffre::server
