// Cuts the bulk importer's input into records, reading it once, front to
// back, in blocks of any size (a pipe delivers what it has):
//
//   RecordSplitter splitter(RecordSplitter::Mode::kCsv);
//   splitter.Append(block);             // as bytes arrive
//   InputRecord rec;
//   while (splitter.Next(rec)) Use(splitter.buffer().substr(rec.begin, rec.end - rec.begin));
//   splitter.Discard(rec.next);         // once the records so far are copied out
//   ...
//   splitter.Finish();                  // end of input: the last line needs no line break
//   while (splitter.Next(rec)) ...
//
// kLines (NDJSON, the bulk-export format): a record is a line. kCsv (RFC 4180,
// as CsvReader reads it): a record ends at a line break outside quotes; a
// quote opens a quoted field only at the start of a field, a doubled quote
// inside is a literal quote, a quote inside an unquoted field is a literal
// character, so a quoted field may span lines. A record's "\r\n" or "\n" is
// not part of it. Blank records (spaces and tabs only) are skipped: they are
// not rows, but their lines count.
//
// Thread-safety: none (the importer's reader thread owns it).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace coffre::vault {

struct InputRecord {
  size_t begin = 0;         // offsets into RecordSplitter::buffer()
  size_t end = 0;           // without the line break
  size_t next = 0;          // where the following record starts (after the line break)
  uint64_t first_line = 0;  // 1-based line where the record starts
  uint64_t last_line = 0;   // and where it ends (CSV: quoted fields may hold line breaks)
};

class RecordSplitter {
 public:
  enum class Mode { kLines, kCsv };

  explicit RecordSplitter(Mode mode = Mode::kLines) : mode_(mode) {}

  // May change until the first call of Next (the importer detects the
  // format from the first bytes it buffered).
  void set_mode(Mode mode) { mode_ = mode; }

  // Buffers bytes read from the input.
  void Append(std::string_view bytes) { pending_.append(bytes); }
  // The input is over: the bytes after the last line break form the last record.
  void Finish() { eof_ = true; }

  // The next complete, non-blank record; false when the buffered bytes hold
  // none (more input is needed, or, after Finish, everything was returned).
  bool Next(InputRecord& out);

  // The bytes buffered and not discarded; offsets of records count from its start.
  std::string_view buffer() const { return pending_; }

  // Drops the first `n` bytes (at most the `next` of the last record
  // returned): later records' offsets count from the new start.
  void Discard(size_t n);

 private:
  // Finds the line break ending the current record, from `scan_` on; false
  // if the buffer holds none yet (the scan resumes there on new bytes).
  bool FindEnd(size_t& end);

  Mode mode_;
  std::string pending_;
  size_t scan_ = 0;       // next byte of `pending_` to scan
  size_t rec_start_ = 0;  // start of the current record
  bool eof_ = false;
  // CSV state at `scan_`.
  bool in_quotes_ = false;
  bool field_start_ = true;   // the next byte starts a field
  bool just_closed_ = false;  // the previous byte closed a quoted field
  uint64_t line_ = 1;         // line number of the byte at `scan_`
  uint64_t rec_line_ = 1;     // line where the current record starts
};

}  // namespace coffre::vault
