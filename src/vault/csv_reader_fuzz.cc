// libFuzzer target for the CSV side of the importer: RecordSplitter (kCsv)
// cutting the input into records, CsvReader reading the first as the header
// and the others as rows. Built with -DCOFFRE_FUZZ=ON (clang only).
//
// Invariants: the records do not depend on how the input is cut into
// blocks; they lie in order inside the input; a row the reader accepts has
// the header's number of fields; and writing those fields back as CSV
// (every field quoted) reads back to the same fields.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "vault/csv_reader.h"
#include "vault/record_splitter.h"

namespace {

using coffre::vault::CsvReader;
using coffre::vault::InputRecord;
using coffre::vault::NamedInput;
using coffre::vault::RecordSplitter;

struct Cut {
  std::string text;
  uint64_t first_line, last_line;
  bool operator==(const Cut&) const = default;
};

// The records of `input` fed in blocks of `block` bytes, checked as they come.
std::vector<Cut> Split(std::string_view input, size_t block) {
  RecordSplitter splitter(RecordSplitter::Mode::kCsv);
  std::vector<Cut> cuts;
  size_t consumed = 0;  // input bytes discarded from the splitter
  uint64_t last_line = 0;
  auto take = [&] {
    InputRecord rec;
    size_t next = 0;
    while (splitter.Next(rec)) {
      if (!(rec.begin <= rec.end && rec.end <= rec.next && rec.next <= splitter.buffer().size()))
        __builtin_trap();
      if (rec.first_line > rec.last_line || rec.first_line <= last_line) __builtin_trap();
      last_line = rec.last_line;
      std::string_view text = splitter.buffer().substr(rec.begin, rec.end - rec.begin);
      // The record is the input's bytes at the same place.
      if (input.substr(consumed + rec.begin, text.size()) != text) __builtin_trap();
      cuts.push_back({std::string(text), rec.first_line, rec.last_line});
      next = rec.next;
    }
    splitter.Discard(next);
    consumed += next;
  };
  for (size_t at = 0; at < input.size(); at += block) {
    splitter.Append(input.substr(at, block));
    take();
  }
  splitter.Finish();
  take();
  return cuts;
}

std::string Quoted(const std::vector<NamedInput>& fields) {
  std::string out;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : fields[i].second.text) {
      if (c == '"') out += '"';
      out += c;
    }
    out += '"';
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::vector<Cut> whole = Split(input, input.size() + 1);
  const size_t block = size > 0 ? 1 + data[0] % 7 : 1;
  if (Split(input, block) != whole) __builtin_trap();

  CsvReader csv;
  CsvReader::Scratch scratch;
  std::vector<NamedInput> fields, again;
  bool header = false;
  for (const Cut& cut : whole) {
    if (!header) {
      if (!csv.ReadHeader(cut.text)) return 0;
      header = true;
      continue;
    }
    coffre::Status row = csv.ReadRow(cut.text, scratch, fields);
    if (!row) continue;
    if (fields.size() != csv.header().size()) __builtin_trap();
    std::vector<std::string> values;
    for (const auto& f : fields) values.emplace_back(f.second.text);
    CsvReader::Scratch scratch2;
    if (!csv.ReadRow(Quoted(fields), scratch2, again) || again.size() != values.size())
      __builtin_trap();
    for (size_t i = 0; i < values.size(); ++i) {
      if (again[i].second.text != values[i] || again[i].first != fields[i].first) __builtin_trap();
    }
  }
  return 0;
}
