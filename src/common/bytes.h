// Byte helpers shared by every module: hex, big-endian integers, ids.
//
// Ids (records, subjects, vaults) are 16 bytes, shown as 32 lower-case hex
// characters. They are opaque and carry no personal data; record and subject
// ids start with a time-ordered sequence (vault/id_source.h).
//
//   std::string shown = ToHex(id);          // 32 hex chars
//   auto raw = FromHex(shown);              // Result<std::string>
//
// Thread-safety: free functions, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace coffre {

inline constexpr size_t kIdBytes = 16;

std::string ToHex(std::string_view bytes);
Result<std::string> FromHex(std::string_view hex);

// Parses a shown id (32 hex chars) back to its 16 raw bytes; names `what`
// ("record id", "subject") in the error.
Result<std::string> ParseId(std::string_view shown, std::string_view what);

void AppendBigEndian32(std::string& out, uint32_t v);
void AppendBigEndian64(std::string& out, uint64_t v);
uint32_t ReadBigEndian32(std::string_view in);
uint64_t ReadBigEndian64(std::string_view in);

// Length-prefixed (varint) string, for building unambiguous associated data
// and record encodings.
void AppendLengthPrefixed(std::string& out, std::string_view s);
// Reads one length-prefixed string from the front of `in` and advances it.
bool ReadLengthPrefixed(std::string_view& in, std::string_view& out);
void AppendVarint(std::string& out, uint64_t v);

// Appends `s` escaped for the inside of a JSON string: quote and backslash
// escaped, control characters as \u00XX; other bytes as they are. No
// allocation beyond `out`'s growth (the import's ids file and the breach
// report write them by the hundred thousand).
void AppendJsonEscaped(std::string& out, std::string_view s);
bool ReadVarint(std::string_view& in, uint64_t& v);

}  // namespace coffre
