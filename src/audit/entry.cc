#include "audit/entry.h"

#include "common/bytes.h"

namespace coffre::audit {
namespace {

constexpr unsigned char kVersion = 1;

Error Malformed(std::string_view what) {
  return Error{ErrorCode::kDataLoss, "audit entry is malformed: " + std::string(what)};
}

bool IsView(char v) { return v == kViewClear || v == kViewMasked; }

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
  return Ok();
}

std::string EncodeEntry(const Entry& e) {
  std::string out;
  out.reserve(64 + e.principal.size() + e.on_behalf_of.size() + e.collection.size() +
              e.subjects.size() * kIdBytes + e.fields.size() * 16);
  out.push_back(static_cast<char>(kVersion));
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
  return out;
}

Result<Entry> DecodeEntry(std::string_view in) {
  if (in.empty()) return Fail(Malformed("empty"));
  if (static_cast<unsigned char>(in[0]) != kVersion) return Fail(Malformed("unknown version"));
  in.remove_prefix(1);
  Entry e;
  uint64_t time = 0;
  if (!ReadVarint(in, e.seq) || !ReadVarint(in, time)) return Fail(Malformed("header"));
  if (time > static_cast<uint64_t>(INT64_MAX)) return Fail(Malformed("time"));
  e.time_ms = static_cast<int64_t>(time);
  auto read = [&in](std::string& out) {
    std::string_view v;
    if (!ReadLengthPrefixed(in, v)) return false;
    out.assign(v);
    return true;
  };
  if (!read(e.principal) || !read(e.on_behalf_of) || !read(e.action) || !read(e.collection) ||
      !read(e.record_id)) {
    return Fail(Malformed("truncated"));
  }
  if (!e.record_id.empty() && e.record_id.size() != kIdBytes) return Fail(Malformed("record id"));
  uint64_t n = 0;
  if (!ReadVarint(in, n) || n > in.size() / kIdBytes) return Fail(Malformed("subjects"));
  e.subjects.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    e.subjects.emplace_back(in.substr(0, kIdBytes));
    in.remove_prefix(kIdBytes);
  }
  // Each field takes at least two bytes (length and view).
  if (!ReadVarint(in, n) || n > in.size() / 2) return Fail(Malformed("fields"));
  e.fields.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    FieldView f;
    if (!read(f.field) || in.empty()) return Fail(Malformed("fields"));
    f.view = in[0];
    in.remove_prefix(1);
    if (!IsView(f.view)) return Fail(Malformed("field view"));
    e.fields.push_back(std::move(f));
  }
  if (!read(e.purpose) || !read(e.outcome) || !read(e.reason) || !read(e.source)) {
    return Fail(Malformed("truncated"));
  }
  if (!in.empty()) return Fail(Malformed("trailing bytes"));
  return e;
}

}  // namespace coffre::audit
