#include "server/process_limits.h"

#include <sys/prctl.h>
#include <sys/resource.h>

#include <algorithm>

namespace coffre::server {

Status DisableCoreDumps() {
  const rlimit none{0, 0};
  if (::setrlimit(RLIMIT_CORE, &none) != 0)
    return Fail(ErrorCode::kInternal, "cannot set RLIMIT_CORE to 0");
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    return Fail(ErrorCode::kInternal, "cannot make the process non-dumpable");
  }
  return Ok();
}

size_t RaiseDescriptorLimit() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return 1024;
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit raised{lim.rlim_max, lim.rlim_max};
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
  }
  if (lim.rlim_cur == RLIM_INFINITY) return static_cast<size_t>(1) << 20;
  return static_cast<size_t>(lim.rlim_cur);
}

size_t ConnectionCapFor(size_t descriptors, size_t wanted) {
  const size_t reserved = std::max<size_t>(256, descriptors / 4);
  const size_t allowed = descriptors > reserved ? descriptors - reserved : 0;
  return std::max<size_t>(16, std::min(wanted, allowed));
}

}  // namespace coffre::server
