#include "vault/export_line_reader.h"

#include <iterator>

namespace coffre::vault {

bool HexToId(std::string_view hex, char* out) {
  if (hex.size() != 2 * kIdBytes) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < kIdBytes; ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<char>(hi << 4 | lo);
  }
  return true;
}

Status ExportLineReader::ReadRow(std::string_view text, ExportLine& line,
                                 std::vector<NamedInput>& fields) {
  fields.clear();
  simdjson::dom::element doc;
  simdjson::dom::object obj;
  // realloc_if_needed = false: the padding after the line is the caller's.
  if (json_.parser().parse(text.data(), text.size(), false).get(doc) || doc.get(obj)) {
    return Fail(ErrorCode::kInvalidArgument, "not a JSON object");
  }
  // A member given twice is ambiguous: this parser would take the first
  // copy, jq or PostgreSQL's jsonb the last (found by ndjson_reader_fuzz).
  constexpr std::string_view kMembers[] = {"collection", "id", "subject", "fields", "canary"};
  unsigned seen = 0;
  for (simdjson::dom::key_value_pair member : obj) {
    for (size_t m = 0; m < std::size(kMembers); ++m) {
      if (member.key != kMembers[m]) continue;
      if (seen & (1u << m)) {
        return Fail(ErrorCode::kInvalidArgument,
                    "a bulk-export line names '" + std::string(kMembers[m]) + "' twice");
      }
      seen |= 1u << m;
    }
  }
  std::string_view coll, id_hex, subject_hex;
  simdjson::dom::object members;
  if (obj["collection"].get(coll) || obj["id"].get(id_hex) || obj["subject"].get(subject_hex) ||
      obj["fields"].get(members)) {
    return Fail(ErrorCode::kInvalidArgument,
                "not a bulk-export line (collection, id, subject, fields)");
  }
  if (coll != collection_) {
    return Fail(ErrorCode::kInvalidArgument,
                "the line is of another collection than '" + collection_ + "'");
  }
  if (!HexToId(id_hex, line.record_id) || !HexToId(subject_hex, line.subject)) {
    return Fail(ErrorCode::kInvalidArgument, "id or subject is not 32 hex digits");
  }
  line.canary = false;
  if (auto c = obj["canary"]; !c.error() && c.get(line.canary)) {
    return Fail(ErrorCode::kInvalidArgument, "canary is not a boolean");
  }
  return AppendJsonFields(members, fields);
}

}  // namespace coffre::vault
