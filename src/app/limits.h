// The bounds every front end applies to operations' inputs and answers
// (docs/api.md); src/api re-exports them for HTTP.
#pragma once

#include <cstddef>

namespace coffre::app {

// A JSON body (a record, a search, a report request).
inline constexpr size_t kMaxBodyBytes = 1u << 20;
// session.create, read before any credential: a name, a password of at
// most 1 KiB (auth::kMaxPasswordBytes) and a code fit with room to spare.
inline constexpr size_t kMaxLoginBodyBytes = 4096;
inline constexpr size_t kDefaultSearchLimit = 100;
// A search under a row scope opens at most this many matching records to
// find those in scope; past it the answer says `truncated`.
inline constexpr size_t kMaxScopedSearchCandidates = 10000;
inline constexpr size_t kDefaultAuditLimit = 100;
inline constexpr size_t kMaxAuditLimit = 1000;
// A subject's export lists at most this many accesses to their data (the
// most recent; `accesses_truncated` says when older ones were left out).
inline constexpr size_t kMaxExportAccesses = 1000;

}  // namespace coffre::app
