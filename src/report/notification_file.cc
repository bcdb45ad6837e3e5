#include "report/notification_file.h"

#include <algorithm>
#include <boost/json.hpp>

#include "common/bytes.h"
#include "common/clock.h"
#include "common/time_text.h"
#include "crypto/sealed_file.h"

namespace coffre::report {
namespace {

namespace json = boost::json;

void Wipe(std::string& s) {
  if (!s.empty()) crypto::RandomBytes(s.data(), s.size());
  s.clear();
}

}  // namespace

approval::Params NotificationParams(const BreachQuery& q) {
  approval::Params p;
  if (q.principal) p.emplace("principal", *q.principal);
  if (q.user) p.emplace("user", *q.user);
  p.emplace("from", FormatTimeBound(q.from_ms, TimeBound::kFrom));
  p.emplace("to", FormatTimeBound(q.to_ms, TimeBound::kTo));
  return p;
}

Result<NotificationResult> WriteNotificationFile(vault::Vault& vault, audit::AuditLog& log,
                                                 approval::Approvals& approvals,
                                                 const BreachReport& report,
                                                 const NotificationOptions& o) {
  if (!report.verification.ok) {
    return Fail(ErrorCode::kDataLoss,
                "the audit log fails verification: " + report.verification.problem);
  }
  if (o.approval_id.size() != kIdBytes)
    return Fail(ErrorCode::kInvalidArgument, "an approval id is 16 bytes");
  if (o.page_people == 0)
    return Fail(ErrorCode::kInvalidArgument, "pages hold at least one person");
  COFFRE_ASSIGN_OR_RETURN(auto writer,
                          crypto::SealedFileWriter::Create(o.out_path, o.recipient_public_key));
  COFFRE_ASSIGN_OR_RETURN(approval::Approval a,
                          approvals.Consume(o.approval_id, approval::kBreachNotification,
                                            NotificationParams(report.query)));
  const std::string approval = "approval " + ToHex(a.id);
  auto local_entry = [&](std::string action) {
    audit::Entry e;
    e.principal = "local";
    e.action = std::move(action);
    e.outcome = "allowed";
    e.source = o.source;
    return e;
  };
  {
    audit::Entry e = local_entry("approval.consume");
    e.reason = approval + " (breach_notification, requested by " + a.requester + ", approved by " +
               a.approver + ")";
    COFFRE_TRY(log.Append(std::move(e)));
  }

  NotificationResult result;
  json::object header{
      {"notification", "coffre art. 34 list v1"},
      {"principal",
       report.query.principal ? json::value(*report.query.principal) : json::value(nullptr)},
      {"user", report.query.user ? json::value(*report.query.user) : json::value(nullptr)},
      {"from", FormatTimeBound(report.query.from_ms, TimeBound::kFrom)},
      {"to", FormatTimeBound(report.query.to_ms, TimeBound::kTo)},
      {"people", report.subjects.size()}};
  COFFRE_TRY(writer->Write(json::serialize(header) + "\n"));

  const schema::Schema& schema = vault.schema();
  size_t part = 0;
  for (size_t begin = 0; begin < report.subjects.size(); begin += o.page_people) {
    ++part;
    const size_t end = std::min(report.subjects.size(), begin + o.page_people);
    std::vector<std::string> lines;
    audit::Entry e = local_entry("read");
    e.reason = "breach notification, " + approval + ", part " + std::to_string(part);
    std::vector<std::string> decrypted_fields;  // "collection.field", for the entry
    for (size_t i = begin; i < end; ++i) {
      const SubjectExposure& x = report.subjects[i];
      json::object out{{"subject", ToHex(x.id())}};
      auto records = vault.ExportSubject(x.id());
      if (!records && !IsNotFound(records)) return Fail(records.error());
      json::object contact;
      if (records) {
        e.subjects.emplace_back(x.id());
        for (vault::Record& r : *records) {
          const schema::Collection* c = schema.Find(r.collection);
          for (vault::FieldValue& f : r.fields) {
            const schema::FieldDef* d = c ? c->Find(f.name) : nullptr;
            if (d != nullptr && CategoryOf(d->type) == Category::kContact) {
              std::string name = r.collection + "." + f.name;
              contact[name] = f.value;
              decrypted_fields.push_back(std::move(name));
            }
            Wipe(f.value);
          }
        }
        ++(contact.empty() ? result.unreachable : result.reachable);
        out["contact"] = std::move(contact);
      } else {
        out["erased"] = true;
        ++result.erased;
      }
      json::object exposed;
      std::vector<std::string> categories;
      for (const FieldExposure& f : x.fields) {
        const ReportField& def = report.fields[f.field];
        exposed[def.Name()] = f.view == audit::kViewClear ? "clear" : "masked";
        categories.emplace_back(CategoryName(def.category));
      }
      std::sort(categories.begin(), categories.end());
      categories.erase(std::unique(categories.begin(), categories.end()), categories.end());
      json::array cats;
      for (auto& c : categories) cats.emplace_back(c);
      out["exposed"] = std::move(exposed);
      out["categories"] = std::move(cats);
      lines.push_back(json::serialize(out) + "\n");
      ++result.people;
    }
    std::sort(decrypted_fields.begin(), decrypted_fields.end());
    decrypted_fields.erase(std::unique(decrypted_fields.begin(), decrypted_fields.end()),
                           decrypted_fields.end());
    for (auto& f : decrypted_fields) e.fields.push_back({std::move(f), audit::kViewClear});
    // The decryptions are recorded before anything of the page is written.
    if (!e.subjects.empty()) COFFRE_TRY(log.Append(std::move(e)));
    for (std::string& l : lines) {
      Status written = writer->Write(l);
      Wipe(l);
      COFFRE_TRY(written);
    }
  }
  COFFRE_TRY(writer->Finish());
  result.bytes = writer->bytes_written();
  return result;
}

}  // namespace coffre::report
