// The conformance suite every Store backend must pass (DESIGN.md: one suite,
// run against every backend). It checks the Store contract only: values,
// ordering, atomicity, durability across reopen, concurrency and erasure by
// compaction. Backend-specific behaviour (options, locking, read-only
// opening) is tested beside each backend.
//
// To run it against a backend, compile store_conformance.cc into the
// backend's test binary and instantiate the suite once:
//
//   StoreBackend RocksBackend() {
//     return {.name = "RocksDB",
//             .open = [](const std::string& dir, bool reopen) -> std::unique_ptr<Store> {
//               auto s = OpenRocksStore({.path = dir + "/db", .create_if_missing = !reopen});
//               return s ? std::move(*s) : nullptr;
//             }};
//   }
//   INSTANTIATE_TEST_SUITE_P(RocksDB, StoreConformanceTest,
//                            testing::Values(RocksBackend()), StoreBackendName);
//
// Thread-safety: the factory is called from the test thread only.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "storage/store.h"

namespace coffre::storage {

// Opens a store whose files (if any) live under `dir`, a fresh empty
// directory owned by the test. reopen=false: create a new, empty store.
// reopen=true: open the store an earlier call left in `dir`, after that
// instance was destroyed. Returns null on failure.
using StoreFactory = std::function<std::unique_ptr<Store>(const std::string& dir, bool reopen)>;

struct StoreBackend {
  std::string name;  // a GoogleTest name: letters, digits, underscores
  StoreFactory open;
  // True when the backend keeps its bytes in files under `dir`: enables the
  // test that searches those files for erased values.
  bool data_in_dir = true;
};

inline void PrintTo(const StoreBackend& b, std::ostream* os) { *os << b.name; }
inline std::string StoreBackendName(const testing::TestParamInfo<StoreBackend>& info) {
  return info.param.name;
}

class StoreConformanceTest : public testing::TestWithParam<StoreBackend> {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Opens through the backend's factory; fails the test on null.
  std::unique_ptr<Store> Open(bool reopen);

  std::string dir_;  // fresh per test, removed afterwards
};

}  // namespace coffre::storage
