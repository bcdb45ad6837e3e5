#include "app/admin_data_ops.h"

#include "app/internal/input.h"
#include "audit/entry_json.h"
#include "common/bytes.h"

namespace coffre::app {
namespace {

namespace json = boost::json;
using internal::OptionalString;
using internal::RequiredString;

Result<std::string> RequiredId(const json::object& o, std::string_view key, std::string_view what) {
  COFFRE_ASSIGN_OR_RETURN(std::string hex, RequiredString(o, key));
  return ParseId(hex, what);
}

Result<int64_t> OptionalMs(const json::object& req, std::string_view key, int64_t absent) {
  auto it = req.find(key);
  if (it == req.end()) return absent;
  if (!it->value().is_int64())
    return Fail(ErrorCode::kInvalidArgument,
                "'" + std::string(key) + "' must be ms since the epoch");
  return it->value().get_int64();
}

}  // namespace

Result<json::object> ScanAudit(Runtime& rt, std::string_view, const json::object& req,
                               audit::Entry&) {
  audit::Filter f;
  COFFRE_ASSIGN_OR_RETURN(f.principal, OptionalString(req, "principal"));
  if (req.contains("subject")) {
    COFFRE_ASSIGN_OR_RETURN(f.subject, RequiredId(req, "subject", "subject"));
  }
  COFFRE_ASSIGN_OR_RETURN(f.from_ms, OptionalMs(req, "from_ms", 0));
  COFFRE_ASSIGN_OR_RETURN(f.to_ms, OptionalMs(req, "to_ms", INT64_MAX));
  json::array entries;
  COFFRE_TRY(rt.audit().Query(f, [&](const audit::Entry& entry) {
    entries.push_back(json::value(audit::EntryToJsonText(entry)));
    return true;
  }));
  return json::object{{"entries", std::move(entries)}};
}

Result<json::object> RotateMasterKey(Runtime& rt, std::string_view, const json::object& req,
                                     audit::Entry&) {
  COFFRE_ASSIGN_OR_RETURN(std::optional<std::string> next, OptionalString(req, "new_key_file"));
  if (next && !next->starts_with('/')) {
    return Fail(ErrorCode::kInvalidArgument, "'new_key_file' must be an absolute path");
  }
  COFFRE_ASSIGN_OR_RETURN(std::optional<std::string> token, OptionalString(req, "new_key_pkcs11"));
  if (next && token) {
    return Fail(ErrorCode::kInvalidArgument, "give 'new_key_file' or 'new_key_pkcs11', not both");
  }
  std::string retired;
  size_t n = 0;
  if (token) {
    COFFRE_ASSIGN_OR_RETURN(n, rt.vault().RotateMasterKeyToToken(*token, &retired));
  } else {
    COFFRE_ASSIGN_OR_RETURN(n, rt.vault().RotateMasterKey(next.value_or(""), &retired));
  }
  json::object out{{"rewrapped", n}, {"key_source", rt.vault().key_source()}};
  if (!token) out["key_file"] = next.value_or(rt.options().key_file);
  if (!retired.empty()) out["retired_key_file"] = retired;
  return out;
}

}  // namespace coffre::app
