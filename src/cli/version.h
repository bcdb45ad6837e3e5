// What `coffre --version` prints: coffre's version, the on-disk formats this
// binary writes and the libraries it runs with, one per line, e.g.
//
//   coffre 0.1.0
//   vault format 1
//   audit log format 1
//   erasure journal format 1
//   OpenSSL 3.0.11 19 Sep 2023
//   libsodium 1.0.18
//   RocksDB 7.8.3
//   Boost 1.81.0
//   spdlog 1.10.0
//   fmt 9.1.0
//   toml++ 3.3.0
//
// The first line stays `coffre VERSION`: scripts parse it.
//
// Thread-safety: a pure function.
#pragma once

#include <string>

namespace coffre::cli {

std::string VersionText();

}  // namespace coffre::cli
