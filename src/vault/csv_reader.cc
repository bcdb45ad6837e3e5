#include "vault/csv_reader.h"

namespace coffre::vault {

bool SplitCsvRecord(std::string_view rec, std::vector<std::string_view>& out,
                    std::string& scratch) {
  out.clear();
  scratch.clear();
  scratch.reserve(rec.size());
  size_t i = 0;
  while (true) {
    if (i < rec.size() && rec[i] == '"') {
      size_t start = scratch.size();
      ++i;
      while (true) {
        if (i >= rec.size()) return false;  // unterminated quote
        if (rec[i] == '"') {
          if (i + 1 < rec.size() && rec[i + 1] == '"') {
            scratch.push_back('"');
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        scratch.push_back(rec[i++]);
      }
      out.emplace_back(scratch.data() + start, scratch.size() - start);
      if (i == rec.size()) return true;
      if (rec[i] != ',') return false;
      ++i;
    } else {
      size_t comma = rec.find(',', i);
      if (comma == std::string_view::npos) {
        out.push_back(rec.substr(i));
        return true;
      }
      out.push_back(rec.substr(i, comma - i));
      i = comma + 1;
    }
  }
}

Status CsvReader::ReadHeader(std::string_view record) {
  std::vector<std::string_view> cells;
  std::string scratch;
  if (!SplitCsvRecord(record, cells, scratch)) {
    return Fail(ErrorCode::kInvalidArgument, "CSV header row is malformed");
  }
  header_.assign(cells.begin(), cells.end());
  return Ok();
}

Status CsvReader::ReadRow(std::string_view record, Scratch& sc,
                          std::vector<NamedInput>& fields) const {
  fields.clear();
  if (!SplitCsvRecord(record, sc.cells, sc.unquoted)) {
    return Fail(ErrorCode::kInvalidArgument, "malformed CSV (unbalanced quotes)");
  }
  for (size_t i = 0; i < sc.cells.size(); ++i) {
    fields.emplace_back(i < header_.size() ? std::string_view(header_[i]) : std::string_view(),
                        schema::Input::String(sc.cells[i]));
  }
  if (sc.cells.size() != header_.size()) {
    return Fail(ErrorCode::kInvalidArgument, "has " + std::to_string(sc.cells.size()) +
                                                 " columns, the header has " +
                                                 std::to_string(header_.size()));
  }
  return Ok();
}

}  // namespace coffre::vault
