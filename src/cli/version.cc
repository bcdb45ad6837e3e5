#include "cli/version.h"

#include <openssl/crypto.h>
#include <rocksdb/version.h>
#include <sodium.h>

#include <boost/version.hpp>

#include "audit/format_version.h"
#include "vault/format_version.h"

#ifndef COFFRE_VERSION
#error "COFFRE_VERSION is set by src/cli/CMakeLists.txt from project(VERSION)"
#endif

namespace coffre::cli {

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
         std::to_string(BOOST_VERSION / 100 % 1000) + "." + std::to_string(BOOST_VERSION % 100);
  return out;
}

}  // namespace coffre::cli
