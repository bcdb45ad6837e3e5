#include "vault/record_splitter.h"

#include <cstring>

namespace coffre::vault {

bool RecordSplitter::FindEnd(size_t& end) {
  const size_t size = pending_.size();
  if (mode_ == Mode::kLines) {
    const void* nl =
        scan_ < size ? std::memchr(pending_.data() + scan_, '\n', size - scan_) : nullptr;
    if (nl == nullptr) {
      scan_ = size;
      return false;
    }
    end = static_cast<size_t>(static_cast<const char*>(nl) - pending_.data());
    scan_ = end + 1;
    return true;
  }
  // The state lives in locals while scanning (one pass per byte).
  const char* data = pending_.data();
  size_t scan = scan_;
  bool in_quotes = in_quotes_, field_start = field_start_, just_closed = just_closed_;
  uint64_t line = line_;
  bool found = false;
  while (scan < size) {
    const char c = data[scan];
    if (in_quotes) {
      if (c == '"') {
        in_quotes = false;
        just_closed = true;
        ++scan;
        continue;
      }
    } else if (c == '"' && (field_start || just_closed)) {
      in_quotes = true;
    }
    just_closed = false;
    field_start = c == ',';
    if (c == '\n') {
      if (!in_quotes) {
        end = scan++;
        field_start = true;
        found = true;
        break;
      }
      ++line;
    }
    ++scan;
  }
  scan_ = scan;
  in_quotes_ = in_quotes;
  field_start_ = field_start;
  just_closed_ = just_closed;
  line_ = line;
  return found;
}

bool RecordSplitter::Next(InputRecord& out) {
  while (true) {
    size_t end = 0;
    const bool complete = FindEnd(end);
    if (!complete) {
      // At the end of the input, what follows the last line break is a record.
      if (!eof_ || rec_start_ >= pending_.size()) return false;
      end = pending_.size();
    }
    size_t stop = end;
    if (stop > rec_start_ && pending_[stop - 1] == '\r') --stop;
    bool blank = true;
    for (size_t i = rec_start_; i < stop && blank; ++i)
      blank = pending_[i] == ' ' || pending_[i] == '\t';
    const size_t next = complete ? end + 1 : end;
    if (!blank) out = {rec_start_, stop, next, rec_line_, line_};
    rec_start_ = next;
    if (complete) rec_line_ = ++line_;
    if (!blank) return true;
  }
}

void RecordSplitter::Discard(size_t n) {
  pending_.erase(0, n);
  scan_ -= n;
  rec_start_ -= n;
}

}  // namespace coffre::vault
