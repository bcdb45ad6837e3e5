#include "bulk/bulk_export.h"

#include <algorithm>
#include <boost/json.hpp>

#include "common/bytes.h"
#include "crypto/sealed_file.h"
#include "vault/record_json.h"

namespace coffre::bulk {
namespace {

void Wipe(std::string& s) {
  if (!s.empty()) crypto::RandomBytes(s.data(), s.size());
  s.clear();
}

audit::Entry LocalEntry(std::string action, const ExportOptions& o) {
  audit::Entry e;
  e.principal = "local";
  e.action = std::move(action);
  e.collection = o.collection;
  e.outcome = "allowed";
  e.source = o.source;
  return e;
}

}  // namespace

Result<ExportResult> Export(vault::Vault& vault, audit::AuditLog& log,
                            approval::Approvals& approvals, const ExportOptions& o) {
  const schema::Collection* coll = vault.schema().Find(o.collection);
  if (coll == nullptr)
    return Fail(ErrorCode::kNotFound, "unknown collection '" + o.collection + "'");
  if (o.approval_id.size() != kIdBytes)
    return Fail(ErrorCode::kInvalidArgument, "an approval id is 16 bytes");
  if (o.page_records == 0)
    return Fail(ErrorCode::kInvalidArgument, "pages hold at least one record");
  COFFRE_ASSIGN_OR_RETURN(auto writer,
                          crypto::SealedFileWriter::Create(o.out_path, o.recipient_public_key));
  COFFRE_ASSIGN_OR_RETURN(
      approval::Approval a,
      approvals.Consume(o.approval_id, approval::kBulkExport, {{"collection", o.collection}}));
  const std::string approval = "approval " + ToHex(a.id);
  {
    audit::Entry e = LocalEntry("approval.consume", o);
    e.reason = approval + " (bulk_export, requested by " + a.requester + ", approved by " +
               a.approver + ")";
    COFFRE_TRY(log.Append(std::move(e)));
  }

  ExportResult result;
  std::string after;
  std::string lines;
  for (uint64_t part = 1;; ++part) {
    COFFRE_ASSIGN_OR_RETURN(std::vector<vault::Record> page,
                            vault.ListRecords(o.collection, after, o.page_records));
    if (page.empty()) break;
    after = page.back().id;
    audit::Entry e = LocalEntry("bulk_export", o);
    e.reason = approval + ", part " + std::to_string(part);
    std::vector<bool> shown(coll->fields.size(), false);
    for (const vault::Record& r : page) {
      e.subjects.push_back(r.subject);
      for (const vault::FieldValue& f : r.fields) {
        if (const schema::FieldDef* d = coll->Find(f.name))
          shown[static_cast<size_t>(d - coll->fields.data())] = true;
      }
    }
    std::sort(e.subjects.begin(), e.subjects.end());
    e.subjects.erase(std::unique(e.subjects.begin(), e.subjects.end()), e.subjects.end());
    for (size_t i = 0; i < coll->fields.size(); ++i) {
      if (shown[i]) e.fields.push_back({coll->fields[i].name, audit::kViewClear});
    }
    const uint64_t subjects = e.subjects.size();
    // Recorded before anything of the page is written (fail closed).
    COFFRE_TRY(log.Append(std::move(e)));
    ++result.audit_entries;
    result.subjects += subjects;
    for (vault::Record& r : page) {
      boost::json::object line = vault::RecordToJson(*coll, r);
      line["collection"] = o.collection;
      if (o.is_canary && o.is_canary(r.subject)) line["canary"] = true;
      lines = boost::json::serialize(line);
      lines += '\n';
      Status written = writer->Write(lines);
      Wipe(lines);
      for (vault::FieldValue& f : r.fields) Wipe(f.value);
      COFFRE_TRY(written);
      ++result.records;
    }
    if (page.size() < o.page_records) break;
  }
  COFFRE_TRY(writer->Finish());
  result.bytes = writer->bytes_written();
  return result;
}

}  // namespace coffre::bulk
