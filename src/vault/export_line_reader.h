// Reads the lines of `coffre bulk-export`'s plaintext (import --format
// export, docs/import.md "Migrating a vault"), one per record:
//
//   {"collection":"people","id":"<32 hex>","subject":"<32 hex>",
//    "fields":{...}[,"canary":true]}
//
//   ExportLineReader reader("people");
//   ExportLine line;
//   std::vector<NamedInput> fields;
//   Status row = reader.ReadRow(text, line, fields);  // text padded as for NdjsonReader
//   // line.record_id, line.subject: 16 raw bytes each; fields: the "fields" members
//
// The fields take the values NdjsonReader takes. A line of another
// collection, ids that are not 32 hex digits, a canary flag that is not a
// boolean, or a member of the line given twice (which copy counts depends on
// the parser) are rejected, naming the rule, never a value.
//
// Thread-safety: none; one reader per thread. The views of `fields` stay
// valid until the next ReadRow.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"
#include "vault/ndjson_reader.h"

namespace coffre::vault {

struct ExportLine {
  char record_id[kIdBytes];  // raw
  char subject[kIdBytes];    // raw
  bool canary = false;
};

class ExportLineReader {
 public:
  explicit ExportLineReader(std::string collection) : collection_(std::move(collection)) {}

  // One line into `line` and `fields` (cleared first); kInvalidArgument,
  // naming the problem, if it is not an export line of the collection.
  Status ReadRow(std::string_view text, ExportLine& line, std::vector<NamedInput>& fields);

 private:
  std::string collection_;
  NdjsonReader json_;
};

// 32 hex digits (either case) into 16 bytes at `out`; false if `hex` is not that.
bool HexToId(std::string_view hex, char* out);

}  // namespace coffre::vault
