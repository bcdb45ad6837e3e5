// Reads the rows of an NDJSON import (one JSON object per line, its members
// the fields) into named inputs for validation (docs/import.md):
//
//   NdjsonReader reader;
//   std::vector<NamedInput> fields;
//   // `line` is followed by NdjsonReader::kPadding readable bytes.
//   Status row = reader.ReadRow(line, fields);
//   // {"email":"ana@example.org","age":41} -> {"email", "ana@..."}, {"age", 41}
//
// Values are strings, integers (int64), booleans or null; a row holding any
// other value (a fraction, an integer beyond int64, an array, an object) is
// rejected, naming the rule, never the value.
//
// Thread-safety: none; one reader per thread. The views of `fields` point
// into the reader's parser (strings are unescaped there) and stay valid
// until its next ReadRow. It keeps its parser's buffers from row to row.
#pragma once

#include <simdjson.h>

#include <string_view>
#include <vector>

#include "common/status.h"
#include "vault/csv_reader.h"  // NamedInput

namespace coffre::vault {

class NdjsonReader {
 public:
  // The rows are parsed in place: each is followed by this many readable
  // bytes (the importer's chunks end with them).
  static constexpr size_t kPadding = simdjson::SIMDJSON_PADDING;

  // One line into `fields` (cleared first). kInvalidArgument, naming the
  // problem, if it is not a JSON object of such values.
  Status ReadRow(std::string_view line, std::vector<NamedInput>& fields);

  // The parser, for a reader of a format wrapped around the same lines
  // (ExportLineReader).
  simdjson::dom::parser& parser() { return parser_; }

 private:
  simdjson::dom::parser parser_;
};

// The members of `object` into `fields` (appended): the values NdjsonReader
// accepts, else kInvalidArgument naming the rule.
Status AppendJsonFields(simdjson::dom::object object, std::vector<NamedInput>& fields);

}  // namespace coffre::vault
