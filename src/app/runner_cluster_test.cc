// Two nodes of a cluster (two Runtimes on one shared MemoryData, ADR 0042):
// a principal the guard suspends on node A is refused by node B's runner
// on its very next request, though B authenticated it a moment before (and
// its directory may still hold it in memory); resumed on A, it works on B
// again.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "app/runner.h"
#include "app/runtime.h"
#include "crypto/crypto.h"
#include "storage/memory_store.h"

namespace coffre::app {
namespace {

namespace fs = std::filesystem;

TEST(RunnerCluster, AGuardSuspensionOnOneNodeRefusesTheNextRequestOnTheOther) {
  ASSERT_TRUE(crypto::Init());
  const fs::path tmp =
      fs::temp_directory_path() / ("coffre-runner-cluster-" + std::to_string(::getpid()));
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  const std::string src = COFFRE_SOURCE_DIR;
  const storage::StoreOpener shared =
      storage::MemoryStoreOpener(storage::NewMemoryData(), /*shared=*/true);
  ASSERT_TRUE(vault::Vault::Init({.dir = (tmp / "v").string(),
                                  .schema_path = src + "/examples/people.toml",
                                  .key_file = tmp / "v.key",
                                  .erasure_journal = "",
                                  .store = shared}));
  FakeClock clock(1'800'000'000);
  auto open = [&](const char* anchor) {
    RuntimeOptions o;
    o.dir = (tmp / "v").string();
    o.key_file = (tmp / "v.key").string();
    o.audit_anchor = (tmp / anchor).string();
    o.clock = &clock;
    o.password_params = crypto::kTestPasswordHashParams;
    o.store = shared;
    return Runtime::Open(o);
  };
  auto a = open("a.anchor");
  ASSERT_TRUE(a) << a.error().ToString();
  auto b = open("b.anchor");
  ASSERT_TRUE(b) << b.error().ToString();
  std::ifstream in(src + "/examples/people-policy.toml");
  std::stringstream text;
  text << in.rdbuf();
  ASSERT_TRUE((*a)->ReplacePolicy(text.str()));
  auto added = (*a)->directory().Add(
      {.name = "agent-app", .kind = auth::Kind::kService, .role = "support_agent"});
  ASSERT_TRUE(added) << added.error().ToString();

  Runtime& node_b = **b;
  Runner runner_b(Services{.vault = node_b.vault(),
                           .directory = node_b.directory(),
                           .audit = node_b.audit(),
                           .policy = [&] { return node_b.policy(); },
                           .clock = clock,
                           .guard = &node_b.guard()});
  Caller first;
  ASSERT_FALSE(runner_b.Authenticate(first, added->api_key));

  // Node A: 100 distinct people, then the 101st crosses the hard limit.
  const auto policy = (*a)->policy();
  const guard::Requester who{{"agent-app", "support_agent"}, std::nullopt};
  for (uint64_t i = 1; i <= 101; ++i) {
    std::vector<std::string> subject = {std::string(8, 'p') +
                                        std::string(reinterpret_cast<const char*>(&i), 8)};
    guard::Verdict v = (*a)->guard().Expose(*policy, who, subject);
    ASSERT_EQ(v.allowed(), i <= 100) << i;
  }
  Caller next;
  auto refused = runner_b.Authenticate(next, added->api_key);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->name, "suspended");
  EXPECT_EQ(refused->code, ErrorCode::kPermissionDenied);

  // `principal resume` on A: the marker and the directory's flag go.
  ASSERT_TRUE((*a)->guard().quotas().Forget("agent-app"));
  ASSERT_TRUE((*a)->directory().Resume("agent-app"));
  Caller again;
  auto after = runner_b.Authenticate(again, added->api_key);
  EXPECT_FALSE(after) << after->name;
  EXPECT_FALSE(*node_b.guard().IsSuspended("agent-app"));
  a->reset();
  b->reset();
  fs::remove_all(tmp);
}

}  // namespace
}  // namespace coffre::app
