// bench/credentials reference: raw Argon2id verification throughput
// (crypto::VerifyPassword, i.e. libsodium's crypto_pwhash_str_verify) with
// given parameters on N threads, no server, no TLS, no storage. Prints one
// JSON line: {"ops":..,"mem_mib":..,"threads":..,"verifies":..,"seconds":..,"verifies_per_s":..}.
//
//   credentials_ref --ops 2 --mem-mib 19 --threads 2 --seconds 10
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "crypto/crypto.h"

namespace {

// A positive number, or exit 2 naming the flag (atof/atoi would take "x" as 0).
double Number(const std::string& flag, const char* v) {
  char* end = nullptr;
  const double n = std::strtod(v, &end);
  if (end == v || *end != '\0' || !(n > 0)) {
    std::fprintf(stderr, "%s wants a positive number\n", flag.c_str());
    std::exit(2);
  }
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t ops = 2;
  double mem_mib = 19;
  int threads = 2;
  double seconds = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const char* v = argv[i + 1];
    if (flag == "--ops")
      ops = std::strtoull(v, nullptr, 10);
    else if (flag == "--mem-mib")
      mem_mib = Number(flag, v);
    else if (flag == "--threads")
      threads = static_cast<int>(Number(flag, v));
    else if (flag == "--seconds")
      seconds = Number(flag, v);
    else {
      std::fprintf(stderr, "unknown flag %s\n", argv[i]);
      return 2;
    }
  }
  if (!coffre::crypto::Init()) return 1;
  const coffre::crypto::PasswordHashParams params{ops, static_cast<size_t>(mem_mib * (1u << 20))};
  // A random password: nothing of it is printed.
  const std::string password = "Bq7!" + coffre::crypto::RandomString(12) + "x#Z3";
  auto hash = coffre::crypto::HashPassword(password, params);
  if (!hash) return 1;
  std::atomic<long> done{0};
  std::atomic<bool> stop{false};
  std::atomic<bool> bad{false};
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      while (!stop.load()) {
        if (!coffre::crypto::VerifyPassword(*hash, password)) bad = true;
        ++done;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : pool) t.join();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (bad) return 1;
  std::printf(
      "{\"ops\":%llu,\"mem_mib\":%.1f,\"threads\":%d,\"verifies\":%ld,\"seconds\":%.3f,"
      "\"verifies_per_s\":%.2f}\n",
      static_cast<unsigned long long>(ops), mem_mib, threads, done.load(), elapsed,
      done.load() / elapsed);
  return 0;
}
