// One audit log entry and its stable binary encoding (docs/audit-log.md,
// "Entry bytes"). An entry names who did what to which records and subjects,
// which fields came back in which view, why and with what outcome. It never
// holds a personal value: ids are opaque, reasons are codes.
//
//   audit::Entry e{.principal = "billing-svc", .action = "read",
//                  .collection = "people", .record_id = rid,
//                  .subjects = {sid}, .fields = {{"iban", 'm'}},
//                  .purpose = "invoice", .outcome = "allowed",
//                  .source = "https:10.0.0.7"};
//   std::string bytes = audit::EncodeEntry(e);   // uses e.seq and e.time_ms
//   Result<audit::Entry> back = audit::DecodeEntry(bytes);
//
// Thread-safety: plain values and free functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace coffre::audit {

inline constexpr char kViewClear = 'c';
inline constexpr char kViewMasked = 'm';

struct FieldView {
  std::string field;
  char view = kViewClear;  // kViewClear or kViewMasked
  bool operator==(const FieldView&) const = default;
};

struct Entry {
  // Set by AuditLog::Append (inputs are ignored): the log numbers entries
  // and stamps times that never go backwards.
  uint64_t seq = 0;
  int64_t time_ms = 0;

  std::string principal;     // authenticated principal ("" if none)
  std::string on_behalf_of;  // end user the principal acts for ("" if none)
  std::string action;        // "read", "search", "create", "update", "delete", "export",
                             // "erase", "login", "audit.read", "principal.add",
                             // "policy.load", "unauthenticated", ...
  std::string collection;
  std::string record_id;              // 16 raw bytes, or empty
  std::vector<std::string> subjects;  // 16 raw bytes each: data returned or touched
  std::vector<FieldView> fields;      // fields returned and their views
  std::string purpose;
  std::string outcome;  // "allowed", "denied", "error"
  std::string reason;   // error code or denial reason; never a personal value
  std::string source;   // "https:127.0.0.1", "cli:uid=1000"
  // The HTTPS request's X-Request-Id ([A-Za-z0-9_-]{1,64}), or empty (CLI,
  // sweeps). Entries with one are written in version 2.
  std::string request_id;

  bool operator==(const Entry&) const = default;
};

// kInvalidArgument naming the offending part when the entry cannot be
// logged as is (empty action, ids that are not 16 bytes, unknown views).
[[nodiscard]] Status ValidateEntry(const Entry& entry);

// The bytes of a valid entry, including entry.seq and entry.time_ms:
// version 1 without a request id, version 2 with one.
std::string EncodeEntry(const Entry& entry);

// Parses entry bytes (untrusted: read back from disk). kDataLoss for any
// malformed input, never a crash.
Result<Entry> DecodeEntry(std::string_view bytes);

// A decoded entry that borrows the bytes it was decoded from: no allocation,
// for walks over millions of entries (verification, breach reports). It
// accepts exactly what DecodeEntry accepts (DecodeEntry is built on it).
// Valid only while the bytes live.
//
//   auto v = audit::DecodeEntryView(bytes);
//   if (!v) return v.error();
//   for (size_t i = 0; i < v->subject_count(); ++i) Use(v->subject(i));
//   audit::FieldCursor fields = v->field_cursor();
//   std::string_view name; char view;
//   while (fields.Next(name, view)) { ... }
class FieldCursor {
 public:
  explicit FieldCursor(std::string_view encoded, size_t count) : in_(encoded), left_(count) {}
  // The next field and its view (kViewClear or kViewMasked); false at the end.
  bool Next(std::string_view& field, char& view);

 private:
  std::string_view in_;
  size_t left_;
};

struct EntryView {
  uint64_t seq = 0;
  int64_t time_ms = 0;
  std::string_view principal;
  std::string_view on_behalf_of;
  std::string_view action;
  std::string_view collection;
  std::string_view record_id;  // 16 raw bytes, or empty
  std::string_view subjects;   // subject_count() x 16 raw bytes
  std::string_view fields;     // encoded; read with field_cursor()
  size_t field_count = 0;
  std::string_view purpose;
  std::string_view outcome;
  std::string_view reason;
  std::string_view source;
  std::string_view request_id;  // empty in version 1

  size_t subject_count() const { return subjects.size() / 16; }
  std::string_view subject(size_t i) const { return subjects.substr(i * 16, 16); }
  FieldCursor field_cursor() const { return FieldCursor(fields, field_count); }
};

Result<EntryView> DecodeEntryView(std::string_view bytes);

}  // namespace coffre::audit
