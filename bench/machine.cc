#include "bench/machine.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <ctime>
#include <fstream>
#include <thread>

namespace coffre::bench {

static std::string FirstLineWith(const char* path, const std::string& prefix) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return line;
  }
  return "";
}

std::string MachineDescription() {
  std::string cpu = FirstLineWith("/proc/cpuinfo", "model name");
  if (auto colon = cpu.find(':'); colon != std::string::npos) cpu = cpu.substr(colon + 2);
  std::string mem = FirstLineWith("/proc/meminfo", "MemTotal:");
  long kb = 0;
  if (!mem.empty()) kb = std::stol(mem.substr(9));
  std::string load;
  std::ifstream("/proc/loadavg") >> load;
  struct utsname u {};
  uname(&u);
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "Machine: %s, %u cores, %.0f GB RAM, Linux %s, load average %s at start.",
                cpu.c_str(), std::thread::hardware_concurrency(), kb / 1024.0 / 1024.0, u.release,
                load.c_str());
  return buf;
}

std::string Today() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

}  // namespace coffre::bench
