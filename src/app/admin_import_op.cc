#include "app/admin_import_op.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>

#include "app/internal/input.h"
#include "guard/canary_set.h"

namespace coffre::app {
namespace {

namespace json = boost::json;

// A string member of the request (app/internal/input.h checks its type).
Result<std::string> Text(const json::object& o, std::string_view key, bool required) {
  auto member = internal::StringMember(o, key);
  if (!member) return Fail(ErrorCode::kInvalidArgument, std::move(member.error().message));
  if (!*member) {
    if (required)
      return Fail(ErrorCode::kInvalidArgument, "'" + std::string(key) + "' is required (a string)");
    return std::string();
  }
  return std::string(**member);
}

template <typename T>
Status Count(const json::object& o, std::string_view key, T& out) {
  auto it = o.find(key);
  if (it == o.end()) return Ok();
  if (!it->value().is_int64() || it->value().get_int64() < 0)
    return Fail(ErrorCode::kInvalidArgument,
                "'" + std::string(key) + "' must be a non-negative integer");
  out = static_cast<T>(it->value().get_int64());
  return Ok();
}

void WriteAll(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::write(fd, s.data(), s.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the caller went away: the import goes on, as with a closed stdout
    s.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace

std::string ImportAuditReason(const vault::ImportOptions& o, const vault::ImportStats& stats) {
  std::string reason =
      std::to_string(stats.imported) + " imported, " + std::to_string(stats.rejected) + " rejected";
  if (!o.subject_key.empty()) reason += ", attached to existing subjects by " + o.subject_key;
  if (o.format == vault::ImportFormat::kExport) {
    reason += ", ids kept from a bulk export, " + std::to_string(stats.canaries) + " canaries";
  }
  return reason;
}

Result<json::object> ImportFromDescriptors(Runtime& rt, const json::object& req,
                                           std::span<const int> fds, audit::Entry& e) {
  vault::ImportOptions o;
  COFFRE_ASSIGN_OR_RETURN(o.collection, Text(req, "collection", true));
  e.collection = o.collection;  // the runner drops an unknown one
  COFFRE_ASSIGN_OR_RETURN(o.path, Text(req, "path", true));
  COFFRE_ASSIGN_OR_RETURN(o.rejects_path, Text(req, "rejects_path", true));
  COFFRE_ASSIGN_OR_RETURN(o.ids_out_path, Text(req, "ids_out_path", false));
  COFFRE_ASSIGN_OR_RETURN(o.key_field, Text(req, "key_field", false));
  COFFRE_ASSIGN_OR_RETURN(o.subject_key, Text(req, "subject_key", false));
  COFFRE_ASSIGN_OR_RETURN(std::string format, Text(req, "format", false));
  if (format.empty() || format == "auto") {
    o.format = vault::ImportFormat::kAuto;
  } else if (format == "csv") {
    o.format = vault::ImportFormat::kCsv;
  } else if (format == "ndjson") {
    o.format = vault::ImportFormat::kNdjson;
  } else if (format == "export") {
    o.format = vault::ImportFormat::kExport;
  } else {
    return Fail(ErrorCode::kInvalidArgument, "'format' must be auto, csv, ndjson or export");
  }
  COFFRE_TRY(Count(req, "threads", o.threads));
  COFFRE_TRY(Count(req, "chunk_rows", o.chunk_rows));
  COFFRE_TRY(Count(req, "commit_rows", o.commit_rows));
  bool report = false;
  if (auto it = req.find("report_commits"); it != req.end()) {
    if (!it->value().is_bool())
      return Fail(ErrorCode::kInvalidArgument, "'report_commits' must be a boolean");
    report = it->value().get_bool();
  }
  // The server opens no path: the caller passes its files.
  const size_t needed = 2 + (o.ids_out_path.empty() ? 0 : 1) + (report ? 1 : 0);
  if (fds.size() != needed) {
    return Fail(
        ErrorCode::kInvalidArgument,
        "records.import needs its files passed as descriptors with the request (input, rejects" +
            std::string(o.ids_out_path.empty() ? "" : ", ids-out") +
            (report ? ", commit reports" : "") + "): " + std::to_string(needed) + " expected, " +
            std::to_string(fds.size()) + " received");
  }
  o.input_fd = fds[0];
  o.rejects_fd = fds[1];
  size_t next = 2;
  if (!o.ids_out_path.empty()) o.ids_out_fd = fds[next++];
  if (report) {
    const int out = fds[next];
    o.on_commit = [out](const vault::ImportProgress& p) {
      char line[160];
      int n = std::snprintf(
          line, sizeof line,
          "{\"committed_through_line\":%llu,\"imported\":%llu,\"rejected\":%llu}\n",
          static_cast<unsigned long long>(p.committed_through_line),
          static_cast<unsigned long long>(p.imported), static_cast<unsigned long long>(p.rejected));
      if (n > 0) WriteAll(out, std::string_view(line, static_cast<size_t>(n)));
    };
  }
  vault::Vault* v = &rt.vault();
  o.on_canaries = [v](const std::vector<std::string>& subjects) {
    return guard::RegisterCanaries(*v, subjects);
  };
  COFFRE_ASSIGN_OR_RETURN(vault::ImportStats stats, vault::Import(*v, o));
  e.reason = ImportAuditReason(o, stats);
  return json::object{{"imported", stats.imported},         {"rejected", stats.rejected},
                      {"seconds", stats.seconds},           {"read", stats.read},
                      {"rejects_path", stats.rejects_path}, {"canaries", stats.canaries}};
}

}  // namespace coffre::app
