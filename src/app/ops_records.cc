// Records, searches and subjects (docs/api.md):
//
//   record.create    POST   /v1/collections/{c}/records        collection, create
//   record.get       GET    /v1/collections/{c}/records/{id}   collection, read (I/O thread)
//   record.update    PATCH  /v1/collections/{c}/records/{id}   collection, update
//   record.delete    DELETE /v1/collections/{c}/records/{id}   collection, delete
//   record.search    POST   /v1/collections/{c}/search         collection, search
//   subject.export   GET    /v1/subjects/{s}                   export on every collection held
//   subject.erase    DELETE /v1/subjects/{s}                   delete on every collection held (+
//   cards)
//
// Every answer shows fields as the decision's views allow (clear, masked,
// none) and names them in the audit entry; the subjects exposed count in
// the guard's quotas before anything is returned.
#include <algorithm>
#include <deque>
#include <map>

#include "app/internal/input.h"
#include "app/limits.h"
#include "app/operations.h"
#include "app/runner.h"
#include "cards/card_eraser.h"
#include "cards/cards.h"
#include "common/bytes.h"
#include "common/time_text.h"
#include "schema/mask.h"
#include "vault/record_json.h"

namespace coffre::app {
namespace {

namespace json = boost::json;
using internal::CheckKeys;
using internal::ParseHexId;
using internal::ParseObjectBody;
using internal::StringMember;
using policy::Action;
using policy::View;
using vault::FieldsFromObject;
using vault::FieldToJson;
using vault::RefToJson;

// The record as the decision's views show it; `shown` lists the fields
// returned, for the audit entry. `sp`: where the object's memory comes from.
json::object Show(const schema::Collection& c, const vault::Record& r,
                  const std::vector<View>& views, std::vector<audit::FieldView>& shown,
                  std::string_view field_prefix = {}, const json::storage_ptr& sp = {}) {
  json::object fields(sp);
  for (const vault::FieldValue& f : r.fields) {
    const schema::FieldDef* def = c.Find(f.name);
    if (def == nullptr) continue;
    size_t i = static_cast<size_t>(def - c.fields.data());
    View v = i < views.size() ? views[i] : View::kNone;
    if (v == View::kNone) continue;
    std::string audit_name = std::string(field_prefix) + f.name;
    if (v == View::kMasked) {
      fields[f.name] = schema::Mask(*def, f.value);
      shown.push_back({std::move(audit_name), audit::kViewMasked});
    } else {
      fields[f.name] = FieldToJson(def, f.value);
      shown.push_back({std::move(audit_name), audit::kViewClear});
    }
  }
  json::object out(sp);
  out["id"] = ToHex(r.id);
  out["subject"] = ToHex(r.subject);
  out["fields"] = std::move(fields);
  return out;
}

// The record `id` (raw) of the call's collection, loaded and checked
// against the decision's row scope. Sets the entry's record id. On
// failure, the outcome (the error or denial already audited).
tl::expected<vault::Record, Outcome> LoadInScope(Context& ctx, std::string_view collection,
                                                 const std::string& id) {
  ctx.entry().record_id = id;
  auto rec = ctx.services().vault.Get(collection, id);
  if (!rec) return tl::unexpected(ctx.Fail(FailureFrom(rec.error())));
  if (const policy::RowScope* out = policy::FirstViolatedScope(ctx.decision(), rec->fields)) {
    return tl::unexpected(ctx.Deny(policy::OutOfScopeReason(*out)));
  }
  return std::move(*rec);
}

std::vector<const vault::NamedInput*> UniqueInputs(const schema::Collection& coll,
                                                   const std::vector<vault::NamedInput>& inputs) {
  std::vector<const vault::NamedInput*> out;
  for (const vault::NamedInput& in : inputs) {
    const schema::FieldDef* def = coll.Find(in.first);
    if (def != nullptr && def->unique && in.second.kind != schema::Input::Kind::kNull)
      out.push_back(&in);
  }
  return out;
}

// A value for a unique field asks "is this value in the vault?": a clash
// answers yes (issue 13, membership test). Such writes are charged to the
// search cap, matching or not, as searches are.
std::optional<Outcome> GuardUniqueProbe(Context& ctx, const schema::Collection& coll,
                                        const std::vector<vault::NamedInput>& inputs) {
  if (UniqueInputs(coll, inputs).empty()) return std::nullopt;
  return ctx.GuardSearch();
}

// A write refused for a unique clash tells the caller that someone holds
// the value: the holder's subject is exposed, counted in quotas like a
// read (a hard limit refuses the answer and suspends) and named in the
// audit entry, which records the clash as an error.
Outcome Clash(Context& ctx, const schema::Collection& coll,
              const std::vector<vault::NamedInput>& inputs, Failure error) {
  std::vector<std::string> holders;
  for (const vault::NamedInput* in : UniqueInputs(coll, inputs)) {
    auto refs = ctx.services().vault.Find(coll.name, in->first, in->second, 1);
    if (!refs || refs->empty()) continue;  // not this field, or gone meanwhile
    if (std::find(holders.begin(), holders.end(), refs->front().subject) == holders.end()) {
      holders.push_back(refs->front().subject);
    }
  }
  audit::Entry& e = ctx.entry();
  e.subjects = holders;
  e.fields.clear();
  if (auto refused = ctx.Guard()) return std::move(*refused);
  e.outcome = "error";
  e.reason = std::string(error.name);
  if (auto failed = ctx.Audit(std::move(e))) return Outcome::Failed(std::move(*failed));
  Outcome o = Outcome::Failed(std::move(error));
  o.audited = "error";
  return o;
}

// {"fields": {...}} of a record body, as vault inputs pointing into `body`.
tl::expected<std::vector<vault::NamedInput>, Failure> FieldsOf(const json::object& body) {
  const json::value& fields_value = body.at("fields");
  if (!fields_value.is_object())
    return tl::unexpected(InvalidRequest("'fields' must be an object"));
  auto inputs = FieldsFromObject(fields_value.get_object());
  if (!inputs) return tl::unexpected(InvalidRequest(inputs.error().message));
  return std::move(*inputs);
}

Outcome GetRecord(Context& ctx, const OpInput& in) {
  const policy::Decision& d = ctx.decision();
  auto id = ParseHexId(in.id, "record id");
  if (!id) return ctx.Fail(std::move(id.error()));
  auto rec = LoadInScope(ctx, in.collection, *id);
  if (!rec) return std::move(rec.error());
  const schema::Collection* coll = ctx.services().vault.schema().Find(in.collection);
  audit::Entry& e = ctx.entry();
  json::value shown(Show(*coll, *rec, d.views, e.fields, {}, ctx.storage()), ctx.storage());
  e.subjects = {rec->subject};
  if (auto refused = ctx.Guard()) return std::move(*refused);
  return ctx.Allowed(std::move(shown));
}

Outcome CreateRecord(Context& ctx, const OpInput& in) {
  const Services& s = ctx.services();
  const policy::Decision& d = ctx.decision();
  auto body = ParseObjectBody(in.body);
  if (!body) return ctx.Fail(std::move(body.error()));
  if (auto k = CheckKeys(*body, {"fields", "subject"}, {"fields"}); !k)
    return ctx.Fail(std::move(k.error()));
  auto inputs = FieldsOf(*body);
  if (!inputs) return ctx.Fail(std::move(inputs.error()));
  std::optional<std::string> subject;
  auto subject_text = StringMember(*body, "subject");
  if (!subject_text) return ctx.Fail(std::move(subject_text.error()));
  if (*subject_text) {
    auto sid = ParseHexId(**subject_text, "subject");
    if (!sid) return ctx.Fail(std::move(sid.error()));
    subject = *sid;
  }
  const schema::Collection* coll = s.vault.schema().Find(in.collection);
  if (!d.scopes.empty()) {
    auto fields = s.vault.Validate(*coll, *inputs);
    if (!fields) return ctx.Fail(FailureFrom(fields.error()));
    if (const policy::RowScope* out = policy::FirstViolatedScope(d, *fields)) {
      return ctx.Deny(policy::OutOfScopeReason(*out));
    }
  }
  if (coll != nullptr) {
    if (auto refused = GuardUniqueProbe(ctx, *coll, *inputs)) return std::move(*refused);
  }
  auto ref = s.vault.Put(in.collection, *inputs, subject);
  if (!ref) {
    Failure err = FailureFrom(ref.error());
    if (IsNotFound(ref)) err = InvalidValue("unknown subject");
    if (ref.error().code == ErrorCode::kAlreadyExists && coll != nullptr) {
      return Clash(ctx, *coll, *inputs, std::move(err));
    }
    return ctx.Fail(std::move(err));
  }
  ctx.entry().record_id = ref->id;
  ctx.entry().subjects = {ref->subject};
  return ctx.Allowed(RefToJson(*ref), Outcome::Kind::kCreated);
}

Outcome UpdateRecord(Context& ctx, const OpInput& in) {
  const Services& s = ctx.services();
  const policy::Decision& d = ctx.decision();
  auto id = ParseHexId(in.id, "record id");
  if (!id) return ctx.Fail(std::move(id.error()));
  ctx.entry().record_id = *id;  // also on the entries of a bad body
  auto body = ParseObjectBody(in.body);
  if (!body) return ctx.Fail(std::move(body.error()));
  if (auto k = CheckKeys(*body, {"fields"}, {"fields"}); !k) return ctx.Fail(std::move(k.error()));
  auto inputs = FieldsOf(*body);
  if (!inputs) return ctx.Fail(std::move(inputs.error()));
  auto old = LoadInScope(ctx, in.collection, *id);
  if (!old) return std::move(old.error());
  // The record as it would be written must stay in scope too.
  const schema::Collection* coll = s.vault.schema().Find(in.collection);
  for (const policy::RowScope& scope : d.scopes) {
    for (const auto& [name, input] : *inputs) {
      if (name != scope.field) continue;
      const schema::FieldDef* def = coll->Find(name);
      bool removes = input.kind == schema::Input::Kind::kNull ||
                     (input.kind == schema::Input::Kind::kString && input.text.empty());
      if (removes) return ctx.Deny(policy::OutOfScopeReason(scope));
      auto canonical = schema::Normalize(*def, input);
      if (!canonical) return ctx.Fail(FailureFrom(canonical.error()));
      if (*canonical != scope.value) return ctx.Deny(policy::OutOfScopeReason(scope));
    }
  }
  // A PATCH answers with the record: it exposes its subject, counted
  // before anything is written (ADR 0008).
  audit::Entry& e = ctx.entry();
  e.subjects = {old->subject};
  if (auto refused = ctx.Guard()) return std::move(*refused);
  if (auto refused = GuardUniqueProbe(ctx, *coll, *inputs)) return std::move(*refused);
  auto updated = s.vault.Update(in.collection, *id, *inputs);
  if (!updated) {
    if (updated.error().code == ErrorCode::kAlreadyExists) {
      return Clash(ctx, *coll, *inputs, FailureFrom(updated.error()));
    }
    return ctx.Fail(FailureFrom(updated.error()));
  }
  json::value shown(Show(*coll, *updated, d.views, e.fields));
  e.subjects = {updated->subject};
  return ctx.Allowed(std::move(shown));
}

Outcome DeleteRecord(Context& ctx, const OpInput& in) {
  auto id = ParseHexId(in.id, "record id");
  if (!id) return ctx.Fail(std::move(id.error()));
  auto old = LoadInScope(ctx, in.collection, *id);
  if (!old) return std::move(old.error());
  if (auto done = ctx.services().vault.DeleteRecord(in.collection, *id); !done) {
    return ctx.Fail(FailureFrom(done.error()));
  }
  ctx.entry().subjects = {old->subject};
  return ctx.Allowed(nullptr, Outcome::Kind::kEmpty);
}

Outcome Search(Context& ctx, const OpInput& in) {
  const Services& s = ctx.services();
  const policy::Decision& d = ctx.decision();
  auto body = ParseObjectBody(in.body);
  if (!body) return ctx.Fail(std::move(body.error()));
  if (auto k = CheckKeys(*body, {"field", "value", "limit"}, {"field", "value"}); !k) {
    return ctx.Fail(std::move(k.error()));
  }
  auto field = StringMember(*body, "field");
  if (!field) return ctx.Fail(std::move(field.error()));
  size_t limit = kDefaultSearchLimit;
  if (auto it = body->find("limit"); it != body->end()) {
    if (!it->value().is_int64() || it->value().get_int64() < 1 ||
        it->value().get_int64() > static_cast<int64_t>(kDefaultSearchLimit)) {
      return ctx.Fail(InvalidRequest("'limit' must be an integer from 1 to 100"));
    }
    limit = static_cast<size_t>(it->value().get_int64());
  }
  const json::value& value = body->at("value");
  schema::Input input;
  if (value.is_string()) {
    input = schema::Input::String(value.get_string());
  } else if (value.is_int64()) {
    input = schema::Input::Integer(value.get_int64());
  } else if (value.is_bool()) {
    input = schema::Input::Boolean(value.get_bool());
  } else {
    return ctx.Fail(InvalidRequest("'value' must be a string, integer or boolean"));
  }
  const schema::Collection* coll = s.vault.schema().Find(in.collection);
  const schema::FieldDef* def = coll ? coll->Find(**field) : nullptr;
  if (def == nullptr) {
    return ctx.Fail(InvalidValue("no such field in collection '" +
                                 (coll ? coll->name : std::string(in.collection)) + "'"));
  }
  // Searching by a field one cannot see would answer "is this value
  // here?" about it.
  size_t fi = static_cast<size_t>(def - coll->fields.data());
  if (fi >= d.views.size() || d.views[fi] == View::kNone) {
    return ctx.Deny("role '" + ctx.caller().principal.role + "' may not search by field '" +
                    def->name + "', which it cannot see");
  }
  audit::Entry& e = ctx.entry();
  e.fields = {{def->name, d.views[fi] == View::kClear ? audit::kViewClear : audit::kViewMasked}};
  if (auto refused = ctx.GuardSearch()) return std::move(*refused);
  // Under a row scope, the limit applies to the hits in scope: candidates
  // are filtered first, up to a bound on the records opened per search.
  const bool scoped = !d.scopes.empty();
  auto refs = s.vault.Find(coll->name, def->name, input,
                           scoped ? kMaxScopedSearchCandidates + 1 : limit + 1);
  if (!refs) return ctx.Fail(FailureFrom(refs.error()));
  bool truncated = refs->size() > (scoped ? kMaxScopedSearchCandidates : limit);
  if (scoped && truncated) refs->resize(kMaxScopedSearchCandidates);
  json::array results;
  for (const vault::RecordRef& ref : *refs) {
    if (scoped) {
      auto rec = s.vault.Get(coll->name, ref.id);
      if (!rec) continue;  // erased meanwhile
      if (!policy::InScope(d, rec->fields)) continue;
    }
    if (results.size() == limit) {
      truncated = true;
      break;
    }
    results.push_back(RefToJson(ref));
    e.subjects.push_back(ref.subject);
  }
  if (auto refused = ctx.Guard()) return std::move(*refused);
  return ctx.Allowed(json::object{{"results", std::move(results)}, {"truncated", truncated}});
}

Outcome ExportSubject(Context& ctx, const OpInput& in) {
  const Services& s = ctx.services();
  auto subject = ParseHexId(in.id, "subject");
  if (!subject) return ctx.Fail(std::move(subject.error()));
  auto records = s.vault.ExportSubject(*subject);
  if (!records) return ctx.Fail(FailureFrom(records.error()));
  if (records->empty()) return ctx.Fail(NotFound("no such subject"));
  std::map<std::string, policy::Decision, std::less<>> decisions;
  json::array out;
  std::vector<audit::FieldView> shown;
  for (const vault::Record& rec : *records) {
    auto it = decisions.find(rec.collection);
    if (it == decisions.end()) {
      it = decisions.emplace(rec.collection, ctx.DecideCollection(rec.collection, Action::kExport))
               .first;
    }
    const policy::Decision& d = it->second;
    if (!d.allowed) return ctx.Deny(d.reason);
    if (const policy::RowScope* o = policy::FirstViolatedScope(d, rec.fields)) {
      return ctx.Deny(policy::OutOfScopeReason(*o));
    }
    const schema::Collection* coll = s.vault.schema().Find(rec.collection);
    json::object o = Show(*coll, rec, d.views, shown, rec.collection + ".");
    o["collection"] = rec.collection;
    o.erase("subject");
    out.push_back(std::move(o));
  }
  // GDPR art. 15(1)(c): to whom the data were disclosed. From the audit
  // log's by-subject index: every allowed request that returned some of
  // the person's data, most recent kMaxExportAccesses.
  std::deque<json::object> accesses;
  bool accesses_truncated = false;
  audit::Filter filter;
  filter.subject = *subject;
  auto status = s.audit.Query(filter, [&](const audit::Entry& entry) {
    if (entry.outcome != "allowed" || entry.fields.empty()) return true;
    json::object a;
    a["time"] = FormatRfc3339(entry.time_ms / 1000);
    a["principal"] = entry.principal;
    a["on_behalf_of"] =
        entry.on_behalf_of.empty() ? json::value(nullptr) : json::value(entry.on_behalf_of);
    a["purpose"] = entry.purpose;
    a["action"] = entry.action;
    json::array fields;
    for (const audit::FieldView& f : entry.fields) fields.push_back(json::string(f.field));
    a["fields"] = std::move(fields);
    accesses.push_back(std::move(a));
    if (accesses.size() > kMaxExportAccesses) {
      accesses.pop_front();
      accesses_truncated = true;
    }
    return true;
  });
  if (!status) return ctx.Fail(FailureFrom(status.error()));
  json::array access_list;
  for (json::object& a : accesses) access_list.push_back(std::move(a));
  audit::Entry& e = ctx.entry();
  e.subjects = {*subject};
  e.fields = std::move(shown);
  if (auto refused = ctx.Guard()) return std::move(*refused);
  return ctx.Allowed(json::object{{"subject", ToHex(*subject)},
                                  {"records", std::move(out)},
                                  {"accesses", std::move(access_list)},
                                  {"accesses_truncated", accesses_truncated}});
}

Outcome EraseSubject(Context& ctx, const OpInput& in) {
  const Services& s = ctx.services();
  auto subject = ParseHexId(in.id, "subject");
  if (!subject) return ctx.Fail(std::move(subject.error()));
  // Online and archived records go alike (Vault::EraseSubject), so the
  // caller must be allowed to delete each of them.
  auto records = s.vault.ArchivedOfSubject(*subject);
  if (!records) return ctx.Fail(FailureFrom(records.error()));
  if (auto online = s.vault.ExportSubject(*subject)) {
    records->insert(records->end(), std::make_move_iterator(online->begin()),
                    std::make_move_iterator(online->end()));
  } else if (!IsNotFound(online)) {
    return ctx.Fail(FailureFrom(online.error()));
  }
  // The subject's payment cards go with it: erasing them takes the right
  // to delete cards too.
  size_t cards = 0;
  if (s.cards != nullptr) {
    auto n = s.cards->CountOfSubject(*subject);
    if (!n) return ctx.Fail(FailureFrom(n.error()));
    cards = *n;
  }
  if (records->empty() && cards == 0) return ctx.Fail(NotFound("no such subject"));
  for (const vault::Record& rec : *records) {
    policy::Decision d = ctx.DecideCollection(rec.collection, Action::kDelete);
    if (!d.allowed) return ctx.Deny(d.reason);
    if (const policy::RowScope* o = policy::FirstViolatedScope(d, rec.fields)) {
      return ctx.Deny(policy::OutOfScopeReason(*o));
    }
  }
  if (cards > 0) {
    policy::Decision d = ctx.DecideResource(policy::kResourceCards, "delete");
    if (!d.allowed) return ctx.Deny("the subject has payment cards: " + d.reason);
  }
  ctx.entry().subjects = {*subject};
  auto erased = s.vault.EraseSubject(*subject);
  if (!erased) return ctx.Fail(FailureFrom(erased.error()));
  return ctx.Allowed(json::object{{"subject", ToHex(*subject)},
                                  {"erased_records", erased->records},
                                  {"erased_cards", erased->Count(cards::kCardEraserName)}});
}

constexpr Operation kOps[] = {
    {.name = "record.create",
     .audit_action = "create",
     .target = Target::kCollection,
     .collection_action = Action::kCreate,
     .writes = true,
     .exposes_subjects = true,
     .input = InputShape::kBody,
     .typed_body = true,
     .run = CreateRecord},
    {.name = "record.get",
     .audit_action = "read",
     .target = Target::kCollection,
     .collection_action = Action::kRead,
     .may_block = false,
     .exposes_subjects = true,
     .run = GetRecord},
    {.name = "record.update",
     .audit_action = "update",
     .target = Target::kCollection,
     .collection_action = Action::kUpdate,
     .writes = true,
     .exposes_subjects = true,
     .input = InputShape::kBody,
     .typed_body = true,
     .run = UpdateRecord},
    {.name = "record.delete",
     .audit_action = "delete",
     .target = Target::kCollection,
     .collection_action = Action::kDelete,
     .writes = true,
     .typed_body = true,
     .run = DeleteRecord},
    {.name = "record.search",
     .audit_action = "search",
     .target = Target::kCollection,
     .collection_action = Action::kSearch,
     .exposes_subjects = true,
     .input = InputShape::kBody,
     .run = Search},
    {.name = "subject.export",
     .audit_action = "export",
     .target = Target::kAnyCollection,
     .collection_action = Action::kExport,
     .exposes_subjects = true,
     .run = ExportSubject},
    {.name = "subject.erase",
     .audit_action = "erase",
     .target = Target::kAnyCollection,
     .collection_action = Action::kDelete,
     .writes = true,
     .run = EraseSubject},
};

}  // namespace

std::span<const Operation> RecordOperations() { return kOps; }

}  // namespace coffre::app
