#include "cli/version.h"

#include <fmt/core.h>
#include <openssl/crypto.h>
#include <rocksdb/version.h>
#include <sodium.h>
#include <spdlog/version.h>
#include <toml++/impl/version.h>

#include <boost/version.hpp>

#include "audit/format_version.h"
#include "vault/format_version.h"

#ifndef COFFRE_VERSION
#error "COFFRE_VERSION is set by src/cli/CMakeLists.txt from project(VERSION)"
#endif

namespace coffre::cli {
namespace {

std::string Dotted(int major, int minor, int patch) {
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

}  // namespace

std::string VersionText() {
  std::string out = "coffre " COFFRE_VERSION "\n";
  out += "vault format " + std::to_string(vault::kFormatVersion) + "\n";
  out += "audit log format " + std::to_string(audit::kEntryFormatVersion) + "\n";
  out += "erasure journal format " + std::to_string(vault::kErasureJournalFormatVersion) + "\n";
  // The libraries actually loaded (a security update of a shared library
  // shows here without a rebuild); RocksDB and Boost are as built.
  out += std::string(OpenSSL_version(OPENSSL_VERSION)) + "\n";
  out += std::string("libsodium ") + sodium_version_string() + "\n";
  out += "RocksDB " + rocksdb::GetRocksVersionAsString() + "\n";
  out += "Boost " + std::to_string(BOOST_VERSION / 100000) + "." +
         std::to_string(BOOST_VERSION / 100 % 1000) + "." + std::to_string(BOOST_VERSION % 100) +
         "\n";
  // Header-only or without a version call: as built.
  out += "spdlog " + Dotted(SPDLOG_VER_MAJOR, SPDLOG_VER_MINOR, SPDLOG_VER_PATCH) + "\n";
  out += "fmt " + Dotted(FMT_VERSION / 10000, FMT_VERSION / 100 % 100, FMT_VERSION % 100) + "\n";
  out += "toml++ " + Dotted(TOML_LIB_MAJOR, TOML_LIB_MINOR, TOML_LIB_PATCH);
  return out;
}

}  // namespace coffre::cli
