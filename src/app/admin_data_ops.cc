#include "app/admin_data_ops.h"

#include <span>

#include "api/record_json.h"
#include "audit/entry_json.h"
#include "cards/card_rules.h"
#include "common/bytes.h"
#include "guard/guard.h"

namespace coffre::app {
namespace {

namespace json = boost::json;

Result<std::string> RequiredString(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_string()) {
    return Fail(ErrorCode::kInvalidArgument, "'" + std::string(key) + "' is required (a string)");
  }
  return std::string(it->value().get_string());
}

Result<std::optional<std::string>> OptionalString(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end()) return std::optional<std::string>();
  if (!it->value().is_string())
    return Fail(ErrorCode::kInvalidArgument, "'" + std::string(key) + "' must be a string");
  return std::optional<std::string>(std::string(it->value().get_string()));
}

Result<std::string> RequiredId(const json::object& o, std::string_view key, std::string_view what) {
  COFFRE_ASSIGN_OR_RETURN(std::string hex, RequiredString(o, key));
  return ParseId(hex, what);
}

// The collection a request names (null if the schema has none of that
// name: the vault then refuses it with its own error). Only a collection of
// the schema goes into the audit entry (a name typed by mistake is not
// written).
Result<const schema::Collection*> CollectionOf(Runtime& rt, const json::object& req,
                                               std::string& name, audit::Entry& e) {
  COFFRE_ASSIGN_OR_RETURN(name, RequiredString(req, "collection"));
  const schema::Collection* c = rt.vault().schema().Find(name);
  if (c != nullptr) e.collection = name;
  return c;
}

std::vector<audit::FieldView> AllClear(const vault::Record& r, std::string_view prefix = {}) {
  std::vector<audit::FieldView> out;
  for (const auto& f : r.fields) out.push_back({std::string(prefix) + f.name, audit::kViewClear});
  return out;
}

// Local callers are counted as principal `local` of role `local`: the
// policy sets their limits by defining that role (ADR 0023ops-local).
guard::Requester Local() { return {{"local", "local"}, std::nullopt}; }

Status Refused(const guard::Verdict& v, audit::Entry& e) {
  e.outcome = "denied";
  e.reason = v.message;
  e.fields.clear();
  return Fail(v.kind == guard::Verdict::kSuspended ? ErrorCode::kPermissionDenied
                                                   : ErrorCode::kResourceExhausted,
              v.message);
}

Status Expose(Runtime& rt, std::span<const std::string> subjects, audit::Entry& e) {
  guard::Verdict v = rt.guard().Expose(*rt.policy(), Local(), subjects);
  return v.allowed() ? Ok() : Refused(v, e);
}

Result<json::object> Put(Runtime& rt, const json::object& req, audit::Entry& e) {
  e.action = "create";
  std::string collection;
  COFFRE_ASSIGN_OR_RETURN(const schema::Collection* c, CollectionOf(rt, req, collection, e));
  COFFRE_ASSIGN_OR_RETURN(std::string text, RequiredString(req, "record"));
  std::optional<std::string> subject;
  if (req.contains("subject")) {
    COFFRE_ASSIGN_OR_RETURN(subject, RequiredId(req, "subject", "subject"));
  }
  // Incident 1: a security code anywhere in the record, nested too, is
  // refused before any other rule (docs/cards.md); Put checks its fields
  // again, as it does for every front end.
  if (auto why = c != nullptr ? cards::FindSecurityCodeInRow(text, *c)
                              : cards::FindSecurityCodeInBody(text)) {
    return Fail(ErrorCode::kInvalidArgument, std::move(*why));
  }
  json::value storage;
  COFFRE_ASSIGN_OR_RETURN(auto inputs, api::FieldsFromJson(text, storage));
  COFFRE_ASSIGN_OR_RETURN(vault::RecordRef ref, rt.vault().Put(collection, inputs, subject));
  e.record_id = ref.id;
  e.subjects = {ref.subject};
  return api::RefToJson(ref);
}

Result<json::object> Get(Runtime& rt, const json::object& req, audit::Entry& e) {
  e.action = "read";
  std::string collection;
  COFFRE_ASSIGN_OR_RETURN(const schema::Collection* c, CollectionOf(rt, req, collection, e));
  COFFRE_ASSIGN_OR_RETURN(std::string id, RequiredId(req, "id", "record id"));
  COFFRE_ASSIGN_OR_RETURN(vault::Record rec, rt.vault().Get(collection, id));
  e.record_id = rec.id;
  e.subjects = {rec.subject};
  e.fields = AllClear(rec);
  COFFRE_TRY(Expose(rt, e.subjects, e));
  return api::RecordToJson(*c, rec);
}

Result<json::object> Find(Runtime& rt, const json::object& req, audit::Entry& e) {
  e.action = "search";
  std::string collection;
  COFFRE_ASSIGN_OR_RETURN(const schema::Collection* c, CollectionOf(rt, req, collection, e));
  (void)c;  // the vault refuses an unknown collection
  COFFRE_ASSIGN_OR_RETURN(std::string field, RequiredString(req, "field"));
  COFFRE_ASSIGN_OR_RETURN(std::string value, RequiredString(req, "value"));
  if (guard::Verdict v = rt.guard().ChargeSearch(*rt.policy(), Local()); !v.allowed())
    return Fail(Refused(v, e).error());
  COFFRE_ASSIGN_OR_RETURN(auto refs,
                          rt.vault().Find(collection, field, schema::Input::String(value)));
  json::array out;
  for (const vault::RecordRef& r : refs) {
    e.subjects.push_back(r.subject);
    out.push_back(api::RefToJson(r));
  }
  e.fields = {{field, audit::kViewClear}};
  COFFRE_TRY(Expose(rt, e.subjects, e));
  return json::object{{"refs", std::move(out)}};
}

Result<json::object> Export(Runtime& rt, const json::object& req, audit::Entry& e) {
  e.action = "export";
  COFFRE_ASSIGN_OR_RETURN(std::string shown, RequiredString(req, "subject"));
  COFFRE_ASSIGN_OR_RETURN(std::string subject, ParseId(shown, "subject"));
  e.subjects = {subject};
  COFFRE_ASSIGN_OR_RETURN(auto records, rt.vault().ExportSubject(subject));
  json::array arr;
  for (const vault::Record& r : records) {
    json::object o = api::RecordToJson(*rt.vault().schema().Find(r.collection), r);
    o["collection"] = r.collection;
    arr.push_back(std::move(o));
    for (auto& f : AllClear(r, r.collection + ".")) e.fields.push_back(std::move(f));
  }
  COFFRE_TRY(Expose(rt, e.subjects, e));
  return json::object{{"subject", shown}, {"records", std::move(arr)}};
}

Result<json::object> Erase(Runtime& rt, const json::object& req, audit::Entry& e) {
  e.action = "erase";
  COFFRE_ASSIGN_OR_RETURN(std::string shown, RequiredString(req, "subject"));
  COFFRE_ASSIGN_OR_RETURN(std::string subject, ParseId(shown, "subject"));
  e.subjects = {subject};
  COFFRE_ASSIGN_OR_RETURN(vault::EraseResult r, rt.vault().EraseSubject(subject));
  return json::object{{"subject", shown},
                      {"erased_records", r.records},
                      {"destroyed_keys", r.keys},
                      {"erased_cards", r.cards}};
}

Result<int64_t> OptionalMs(const json::object& req, std::string_view key, int64_t absent) {
  auto it = req.find(key);
  if (it == req.end()) return absent;
  if (!it->value().is_int64())
    return Fail(ErrorCode::kInvalidArgument,
                "'" + std::string(key) + "' must be ms since the epoch");
  return it->value().get_int64();
}

Result<json::object> AuditList(Runtime& rt, const json::object& req, audit::Entry& e) {
  e.action = "audit.read";
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

Result<json::object> RotateKey(Runtime& rt, const json::object& req, audit::Entry& e) {
  e.action = "keys.rotate";
  COFFRE_ASSIGN_OR_RETURN(std::optional<std::string> next, OptionalString(req, "new_key_file"));
  if (next && !next->starts_with('/')) {
    return Fail(ErrorCode::kInvalidArgument, "'new_key_file' must be an absolute path");
  }
  std::string retired;
  COFFRE_ASSIGN_OR_RETURN(size_t n, rt.vault().RotateMasterKey(next.value_or(""), &retired));
  json::object out{{"rewrapped", n}, {"key_file", next.value_or(rt.options().key_file)}};
  if (!retired.empty()) out["retired_key_file"] = retired;
  return out;
}

using DataOp = Result<json::object> (*)(Runtime&, const json::object&, audit::Entry&);

struct NamedOp {
  std::string_view name;
  DataOp run;
};

constexpr NamedOp kDataOps[] = {
    {"record.put", &Put},        {"record.get", &Get},      {"record.find", &Find},
    {"subject.export", &Export}, {"subject.erase", &Erase}, {"audit.list", &AuditList},
    {"keys.rotate", &RotateKey},
};

}  // namespace

bool IsDataOp(std::string_view op) {
  for (const NamedOp& o : kDataOps) {
    if (o.name == op) return true;
  }
  return false;
}

Result<json::object> ExecuteDataOp(Runtime& rt, std::string_view op, const json::object& request,
                                   audit::Entry& entry) {
  for (const NamedOp& o : kDataOps) {
    if (o.name == op) return o.run(rt, request, entry);
  }
  return Fail(ErrorCode::kInvalidArgument, "unknown operation");
}

}  // namespace coffre::app
