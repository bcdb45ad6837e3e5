#include "audit/entry.h"

#include "audit/format_version.h"
#include "common/bytes.h"

namespace coffre::audit {
namespace {

constexpr unsigned char kVersion1 = 1;
constexpr unsigned char kVersion2 = 2;  // + request_id
static_assert(kEntryFormatVersion == kVersion2);

constexpr size_t kMaxRequestIdBytes = 64;

bool IsRequestId(std::string_view id) {
  if (id.empty() || id.size() > kMaxRequestIdBytes) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

Error Malformed(std::string_view what) {
  return Error{ErrorCode::kDataLoss, "audit entry is malformed: " + std::string(what)};
}

bool IsView(char v) { return v == kViewClear || v == kViewMasked; }

// The common/bytes.h readers with the one-byte case inline: entries are
// decoded by the million, and almost every length and count is below 128.
// Same results as ReadVarint / ReadLengthPrefixed, which take the rest.
inline bool Varint(std::string_view& in, uint64_t& v) {
  if (!in.empty() && static_cast<unsigned char>(in.front()) < 0x80) {
    v = static_cast<unsigned char>(in.front());
    in.remove_prefix(1);
    return true;
  }
  return ReadVarint(in, v);
}

inline bool LengthPrefixed(std::string_view& in, std::string_view& out) {
  uint64_t n = 0;
  if (!Varint(in, n) || n > in.size()) return false;
  out = in.substr(0, n);
  in.remove_prefix(n);
  return true;
}

}  // namespace

Status ValidateEntry(const Entry& e) {
  if (e.action.empty()) return Fail(ErrorCode::kInvalidArgument, "audit entry has no action");
  if (!e.record_id.empty() && e.record_id.size() != kIdBytes) {
    return Fail(ErrorCode::kInvalidArgument, "audit entry record id is not 16 bytes");
  }
  for (const auto& s : e.subjects) {
    if (s.size() != kIdBytes) {
      return Fail(ErrorCode::kInvalidArgument, "audit entry subject id is not 16 bytes");
    }
  }
  for (const auto& f : e.fields) {
    if (!IsView(f.view)) {
      return Fail(ErrorCode::kInvalidArgument,
                  "audit entry field " + f.field + " has a view other than 'c' or 'm'");
    }
  }
  if (e.time_ms < 0) return Fail(ErrorCode::kInvalidArgument, "audit entry time is negative");
  if (!e.request_id.empty() && !IsRequestId(e.request_id)) {
    return Fail(ErrorCode::kInvalidArgument,
                "audit entry request id is not 1 to 64 characters of [A-Za-z0-9_-]");
  }
  return Ok();
}

std::string EncodeEntry(const Entry& e) {
  std::string out;
  out.reserve(64 + e.principal.size() + e.on_behalf_of.size() + e.collection.size() +
              e.subjects.size() * kIdBytes + e.fields.size() * 16);
  out.push_back(static_cast<char>(e.request_id.empty() ? kVersion1 : kVersion2));
  AppendVarint(out, e.seq);
  AppendVarint(out, static_cast<uint64_t>(e.time_ms));
  AppendLengthPrefixed(out, e.principal);
  AppendLengthPrefixed(out, e.on_behalf_of);
  AppendLengthPrefixed(out, e.action);
  AppendLengthPrefixed(out, e.collection);
  AppendLengthPrefixed(out, e.record_id);
  AppendVarint(out, e.subjects.size());
  for (const auto& s : e.subjects) out += s;
  AppendVarint(out, e.fields.size());
  for (const auto& f : e.fields) {
    AppendLengthPrefixed(out, f.field);
    out.push_back(f.view);
  }
  AppendLengthPrefixed(out, e.purpose);
  AppendLengthPrefixed(out, e.outcome);
  AppendLengthPrefixed(out, e.reason);
  AppendLengthPrefixed(out, e.source);
  if (!e.request_id.empty()) AppendLengthPrefixed(out, e.request_id);
  return out;
}

bool FieldCursor::Next(std::string_view& field, char& view) {
  // The bytes were checked by DecodeEntryView: these reads cannot fail.
  if (left_ == 0 || !LengthPrefixed(in_, field) || in_.empty()) return false;
  view = in_[0];
  in_.remove_prefix(1);
  --left_;
  return true;
}

Result<EntryView> DecodeEntryView(std::string_view in) {
  if (in.empty()) return Fail(Malformed("empty"));
  const auto version = static_cast<unsigned char>(in[0]);
  if (version != kVersion1 && version != kVersion2) return Fail(Malformed("unknown version"));
  in.remove_prefix(1);
  EntryView e;
  uint64_t time = 0;
  if (!Varint(in, e.seq) || !Varint(in, time)) return Fail(Malformed("header"));
  if (time > static_cast<uint64_t>(INT64_MAX)) return Fail(Malformed("time"));
  e.time_ms = static_cast<int64_t>(time);
  if (!LengthPrefixed(in, e.principal) || !LengthPrefixed(in, e.on_behalf_of) ||
      !LengthPrefixed(in, e.action) || !LengthPrefixed(in, e.collection) ||
      !LengthPrefixed(in, e.record_id)) {
    return Fail(Malformed("truncated"));
  }
  if (!e.record_id.empty() && e.record_id.size() != kIdBytes) return Fail(Malformed("record id"));
  uint64_t n = 0;
  if (!Varint(in, n) || n > in.size() / kIdBytes) return Fail(Malformed("subjects"));
  e.subjects = in.substr(0, n * kIdBytes);
  in.remove_prefix(n * kIdBytes);
  // Each field takes at least two bytes (length and view).
  if (!Varint(in, n) || n > in.size() / 2) return Fail(Malformed("fields"));
  const char* fields_begin = in.data();
  for (uint64_t i = 0; i < n; ++i) {
    std::string_view name;
    if (!LengthPrefixed(in, name) || in.empty()) return Fail(Malformed("fields"));
    if (!IsView(in[0])) return Fail(Malformed("field view"));
    in.remove_prefix(1);
  }
  e.fields = std::string_view(fields_begin, static_cast<size_t>(in.data() - fields_begin));
  e.field_count = static_cast<size_t>(n);
  if (!LengthPrefixed(in, e.purpose) || !LengthPrefixed(in, e.outcome) ||
      !LengthPrefixed(in, e.reason) || !LengthPrefixed(in, e.source)) {
    return Fail(Malformed("truncated"));
  }
  // Version 2 always has one (version 1 is how an entry without one is
  // written: one encoding per entry).
  if (version == kVersion2 && (!LengthPrefixed(in, e.request_id) || !IsRequestId(e.request_id))) {
    return Fail(Malformed("request id"));
  }
  if (!in.empty()) return Fail(Malformed("trailing bytes"));
  return e;
}

Result<Entry> DecodeEntry(std::string_view in) {
  COFFRE_ASSIGN_OR_RETURN(EntryView v, DecodeEntryView(in));
  Entry e;
  e.seq = v.seq;
  e.time_ms = v.time_ms;
  e.principal.assign(v.principal);
  e.on_behalf_of.assign(v.on_behalf_of);
  e.action.assign(v.action);
  e.collection.assign(v.collection);
  e.record_id.assign(v.record_id);
  e.subjects.reserve(v.subject_count());
  for (size_t i = 0; i < v.subject_count(); ++i) e.subjects.emplace_back(v.subject(i));
  e.fields.reserve(v.field_count);
  FieldCursor cursor = v.field_cursor();
  std::string_view name;
  char view = 0;
  while (cursor.Next(name, view)) e.fields.push_back(FieldView{std::string(name), view});
  e.purpose.assign(v.purpose);
  e.outcome.assign(v.outcome);
  e.reason.assign(v.reason);
  e.source.assign(v.source);
  e.request_id.assign(v.request_id);
  return e;
}

}  // namespace coffre::audit
