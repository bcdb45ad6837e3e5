#include "server/process_limits.h"

#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace coffre::server {
namespace {

// In a child, so that this test binary keeps its own limits.
TEST(ProcessLimits, CoreDumpsAreDisabled) {
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    rlimit some{1u << 20, RLIM_INFINITY};
    (void)::setrlimit(RLIMIT_CORE, &some);
    (void)::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    if (!DisableCoreDumps()) ::_exit(1);
    rlimit core{};
    if (::getrlimit(RLIMIT_CORE, &core) != 0 || core.rlim_cur != 0 || core.rlim_max != 0)
      ::_exit(2);
    if (::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) ::_exit(3);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: failed, 2: RLIMIT_CORE not 0, 3: still dumpable";
}

TEST(ProcessLimits, DescriptorLimitIsRaisedToTheHardLimit) {
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_max < 64) ::_exit(0);
    rlimit low{64, lim.rlim_max};
    if (::setrlimit(RLIMIT_NOFILE, &low) != 0) ::_exit(1);
    const size_t raised = RaiseDescriptorLimit();
    rlimit now{};
    (void)::getrlimit(RLIMIT_NOFILE, &now);
    ::_exit(now.rlim_cur == lim.rlim_max &&
                    (lim.rlim_max == RLIM_INFINITY || raised == lim.rlim_max)
                ? 0
                : 2);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(ProcessLimits, ConnectionCapLeavesDescriptorsForTheRest) {
  EXPECT_EQ(ConnectionCapFor(1048576, 4096), 4096u);
  EXPECT_EQ(ConnectionCapFor(20000, 100000), 15000u);  // a quarter kept
  EXPECT_EQ(ConnectionCapFor(1024, 4096), 768u);       // at least 256 kept
  EXPECT_EQ(ConnectionCapFor(100, 4096), 16u);         // never below 16
}

}  // namespace
}  // namespace coffre::server
