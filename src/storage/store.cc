#include "storage/store.h"

#include <chrono>

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

Result<bool> Transaction::Exists(Space space, std::string_view prefix) {
  bool found = false;
  COFFRE_TRY(Scan(space, prefix, [&](std::string_view, std::string_view) {
    found = true;
    return false;
  }));
  return found;
}

namespace {

// The embedded stores' transaction: reads straight from the store, under
// the store's one transaction mutex, which Transact holds.
class LocalTransaction final : public Transaction {
 public:
  explicit LocalTransaction(Store& store) : store_(store), batch_(store.NewBatch()) {}
  Status Lock(std::string_view /*name*/) override { return Ok(); }
  Result<std::optional<std::string>> Get(Space space, std::string_view key) override {
    return store_.Get(space, key);
  }
  Status Scan(Space space, std::string_view prefix, const ScanVisitor& visit) override {
    return store_.Scan(space, prefix, visit);
  }
  WriteBatch& batch() override { return *batch_; }

 private:
  Store& store_;
  std::unique_ptr<WriteBatch> batch_;
};

}  // namespace

Status Store::Transact(const TransactionBody& body) { return TransactUnder(transact_mu_, body); }

Status Store::TransactUnder(std::mutex& mu, const TransactionBody& body) {
  std::lock_guard lock(mu);
  LocalTransaction t(*this);
  COFFRE_TRY(body(t));
  if (t.batch().Count() == 0) return Ok();
  return Write(t.batch());
}

Result<int64_t> Store::NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace coffre::storage
