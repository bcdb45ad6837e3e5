#include "storage/store.h"

namespace coffre::storage {

std::string_view SpaceName(Space s) {
  // These strings name on-disk column families: never change them.
  switch (s) {
    case Space::kMeta:
      return "meta";
    case Space::kKeys:
      return "keys";
    case Space::kRecords:
      return "records";
    case Space::kIndex:
      return "index";
    case Space::kSubjects:
      return "subjects";
    case Space::kAudit:
      return "audit";
    case Space::kAuditByPrincipal:
      return "audit_by_principal";
    case Space::kAuditBySubject:
      return "audit_by_subject";
    case Space::kPrincipals:
      return "principals";
    case Space::kCounters:
      return "counters";
    case Space::kAlerts:
      return "alerts";
    case Space::kCards:
      return "cards";
    case Space::kCredentials:
      return "credentials";
    case Space::kArchive:
      return "archive";
    case Space::kRetention:
      return "retention";
  }
  return "unknown";
}

Result<std::vector<std::optional<std::string>>> Store::MultiGet(
    Space space, const std::vector<std::string_view>& keys) {
  std::vector<std::optional<std::string>> out;
  out.reserve(keys.size());
  for (std::string_view k : keys) {
    COFFRE_ASSIGN_OR_RETURN(auto v, Get(space, k));
    out.push_back(std::move(v));
  }
  return out;
}

Status Store::ScanRange(Space space, std::string_view begin, std::string_view end,
                        const ScanVisitor& visit) {
  size_t common = 0;
  if (!end.empty()) {
    while (common < begin.size() && common < end.size() && begin[common] == end[common]) ++common;
  }
  return Scan(space, begin.substr(0, common), [&](std::string_view k, std::string_view v) {
    if (k < begin) return true;
    if (!end.empty() && k >= end) return false;
    return visit(k, v);
  });
}

Status Store::IngestAtomically(const std::vector<IngestSet>& /*sets*/) {
  return Fail(ErrorCode::kFailedPrecondition, "this storage backend cannot ingest sorted files");
}

Status Store::CopyLiveFiles(const LiveFileVisitor& /*copy*/) {
  return Fail(ErrorCode::kFailedPrecondition,
              "this storage backend has no files to copy: it cannot be backed up online");
}

}  // namespace coffre::storage
