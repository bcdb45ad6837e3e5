// Reads the rows of a CSV import (RFC 4180, a header row naming the columns)
// into named inputs for validation (docs/import.md):
//
//   CsvReader csv;
//   COFFRE_TRY(csv.ReadHeader("first_name,email"));
//   CsvReader::Scratch scratch;
//   std::vector<NamedInput> fields;
//   Status row = csv.ReadRow("\"Ana\",ana@example.org", scratch, fields);
//   // fields: {"first_name", "Ana"}, {"email", "ana@example.org"}
//
// A record is what RecordSplitter cuts (no line break at its end). Fields are
// separated by commas; a quoted field may hold commas, line breaks and
// doubled quotes ("" is one quote). Every value is a string: validation
// types it by the schema.
//
// Thread-safety: ReadRow is const and may run on many threads at once, each
// with its own Scratch; ReadHeader is not. The views ReadRow returns point
// into the record and the scratch, valid until either changes.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "schema/schema.h"

namespace coffre::vault {

// One named value of a row (the same type as vault.h's).
using NamedInput = std::pair<std::string_view, schema::Input>;

// Splits a CSV record into fields. Unquoted fields are views into `record`;
// quoted ones are unescaped into `scratch`, reserved up front so the views
// stay valid. False if a quote is unbalanced or a closing quote is followed
// by something other than a comma.
bool SplitCsvRecord(std::string_view record, std::vector<std::string_view>& cells,
                    std::string& scratch);

class CsvReader {
 public:
  // Per-thread buffers of ReadRow, kept from row to row.
  struct Scratch {
    std::vector<std::string_view> cells;
    std::string unquoted;
  };

  // The header record: the column names. kInvalidArgument if malformed.
  Status ReadHeader(std::string_view record);
  const std::vector<std::string>& header() const { return header_; }

  // The fields of one row, named by the header, into `fields` (cleared
  // first). kInvalidArgument naming the problem (never a value) when the
  // record is malformed or has another number of columns than the header;
  // for the latter, `fields` still holds the row's cells (those beyond the
  // header unnamed) so the caller can look for a value that must never be
  // kept (a card security code); otherwise it is empty on failure.
  Status ReadRow(std::string_view record, Scratch& scratch, std::vector<NamedInput>& fields) const;

 private:
  std::vector<std::string> header_;
};

}  // namespace coffre::vault
