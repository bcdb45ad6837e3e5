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
  COFFRE_ASSIGN_OR_RETURN(auto shares, rt.vault().share_set());
  if (shares) {
    return Fail(ErrorCode::kFailedPrecondition,
                "the master key is split into shares: rotate it with --threshold, --recipient and "
                "--out-dir (a new set of shares), not into a key file");
  }
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

Result<json::object> RotateMasterKeyToShares(Runtime& rt, const json::object& req,
                                             std::span<const int> fds, audit::Entry& entry) {
  if (fds.size() != 1) {
    return Fail(ErrorCode::kInvalidArgument,
                "keys.resplit takes the out directory as one descriptor");
  }
  const json::value* k = req.if_contains("threshold");
  if (k == nullptr || !k->is_int64() || k->get_int64() < 2 || k->get_int64() > 255)
    return Fail(ErrorCode::kInvalidArgument, "'threshold' must be a number from 2 to 255");
  const json::value* list = req.if_contains("recipients");
  if (list == nullptr || !list->is_array())
    return Fail(ErrorCode::kInvalidArgument, "'recipients' must be a list of public keys");
  std::vector<std::string> recipients;
  for (const json::value& r : list->get_array()) {
    if (!r.is_string())
      return Fail(ErrorCode::kInvalidArgument, "'recipients' must be a list of public keys");
    recipients.emplace_back(r.get_string());
  }
  COFFRE_ASSIGN_OR_RETURN(std::string out_dir, RequiredString(req, "out_dir"));
  const auto threshold = static_cast<unsigned>(k->get_int64());
  size_t rewrapped = 0;
  COFFRE_ASSIGN_OR_RETURN(
      std::vector<std::string> written,
      rt.vault().RotateMasterKeyToShares(threshold, recipients, fds[0], out_dir, &rewrapped));
  COFFRE_ASSIGN_OR_RETURN(auto set, rt.vault().share_set());
  entry.reason = "new master key split into " + std::to_string(written.size()) +
                 " shares, threshold " + std::to_string(threshold);
  json::array files;
  for (const std::string& f : written) files.emplace_back(f);
  return json::object{{"rewrapped", rewrapped},
                      {"generation", set ? set->generation : 0},
                      {"threshold", threshold},
                      {"shares", std::move(files)}};
}

}  // namespace coffre::app
