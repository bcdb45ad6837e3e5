// Legal holds and the archive (docs/api.md, docs/retention.md):
//
//   retention.hold.get      GET    /v1/subjects/{s}/hold          resource retention, action read
//   retention.hold.set      PUT    /v1/subjects/{s}/hold          resource retention, action manage
//   retention.hold.release  DELETE /v1/subjects/{s}/hold          resource retention, action manage
//   archive.get             GET    /v1/archive/{collection}/{id}  resource archive, action read
//
// A hold is set by a principal acting for itself (a legal decision has one
// accountable author, never an end user behind a service). An archived
// record is shown in clear to whoever the policy grants `archive` read
// (examples/people-policy.toml: the archivist, purpose legal_claim); the
// read counts against the reader's quotas like any record read, and is
// audited with the fields returned.
#include "app/internal/input.h"
#include "app/operations.h"
#include "app/runner.h"
#include "common/bytes.h"
#include "common/time_text.h"
#include "retention/retention.h"
#include "schema/mask.h"
#include "vault/record_json.h"

namespace coffre::app {
namespace {

namespace json = boost::json;

Failure RetentionError(const Error& e) {
  if (e.code == ErrorCode::kInvalidArgument) return InvalidRequest(e.message);
  return FailureFrom(e);
}

json::object HoldToJson(std::string_view subject, const std::optional<retention::Hold>& h) {
  json::object o{{"subject", ToHex(subject)}, {"held", h.has_value()}};
  if (h) {
    o["since"] = FormatRfc3339(h->since);
    o["by"] = h->by;
  }
  return o;
}

enum class HoldChange { kNone, kSet, kRelease };

Outcome Hold(Context& ctx, const OpInput& in, HoldChange change) {
  if (change != HoldChange::kNone && ctx.caller().user) {
    return ctx.Deny(
        "legal holds are set and released by principals acting for themselves, not on behalf of a "
        "user");
  }
  auto subject = internal::ParseHexId(in.id, "subject");
  if (!subject) return ctx.Fail(std::move(subject.error()));
  ctx.entry().subjects = {*subject};
  retention::Retention* r = ctx.services().retention;
  if (r == nullptr) return ctx.Fail(Unavailable("retention is not available on this server"));
  if (change == HoldChange::kSet) {
    if (auto s = r->SetHold(*subject, ctx.caller().principal.name); !s)
      return ctx.Fail(RetentionError(s.error()));
  } else if (change == HoldChange::kRelease) {
    if (auto s = r->ReleaseHold(*subject); !s) return ctx.Fail(RetentionError(s.error()));
  }
  auto hold = r->GetHold(*subject);
  if (!hold) return ctx.Fail(RetentionError(hold.error()));
  return ctx.Allowed(HoldToJson(*subject, *hold));
}

Outcome GetHold(Context& ctx, const OpInput& in) { return Hold(ctx, in, HoldChange::kNone); }
Outcome SetHold(Context& ctx, const OpInput& in) { return Hold(ctx, in, HoldChange::kSet); }
Outcome ReleaseHold(Context& ctx, const OpInput& in) { return Hold(ctx, in, HoldChange::kRelease); }

Outcome GetArchived(Context& ctx, const OpInput& in) {
  const Services& s = ctx.services();
  const schema::Collection* coll = s.vault.schema().Find(in.collection);
  if (coll == nullptr) return ctx.Fail(NotFound("no such collection"));
  audit::Entry& e = ctx.entry();
  e.collection = coll->name;
  auto id = internal::ParseHexId(in.id, "record id");
  if (!id) return ctx.Fail(std::move(id.error()));
  e.record_id = *id;
  auto rec = s.vault.GetArchived(coll->name, *id);
  if (!rec) return ctx.Fail(FailureFrom(rec.error()));
  e.subjects = {rec->subject};
  if (auto refused = ctx.Guard()) return std::move(*refused);
  // Card numbers stay masked unless the same reader would see them in clear
  // through the cards resource (role payment, purpose payment: ADR 0010).
  const policy::Decision cards = ctx.DecideResource(policy::kResourceCards, "read");
  const bool pan_clear =
      cards.allowed && !cards.views.empty() && cards.views[0] == policy::View::kClear;
  for (vault::FieldValue& f : rec->fields) {
    const schema::FieldDef* def = coll->Find(f.name);
    const bool masked = def != nullptr && def->type == schema::FieldType::kPan && !pan_clear;
    if (masked) f.value = schema::Mask(*def, f.value);
    e.fields.push_back({f.name, masked ? audit::kViewMasked : audit::kViewClear});
  }
  json::object out = vault::RecordToJson(*coll, *rec);
  out["archived"] = true;
  return ctx.Allowed(std::move(out));
}

constexpr Operation kOps[] = {
    {.name = "archive.get",
     .audit_action = "archive.read",
     .target = Target::kResource,
     .resource = policy::kResourceArchive,
     .resource_action = "read",
     .exposes_subjects = true,
     .run = GetArchived},
    {.name = "retention.hold.get",
     .audit_action = "retention.hold.read",
     .target = Target::kResource,
     .resource = policy::kResourceRetention,
     .resource_action = "read",
     .run = GetHold},
    {.name = "retention.hold.release",
     .audit_action = "retention.release",
     .target = Target::kResource,
     .resource = policy::kResourceRetention,
     .resource_action = "manage",
     .writes = true,
     .run = ReleaseHold},
    {.name = "retention.hold.set",
     .audit_action = "retention.hold",
     .target = Target::kResource,
     .resource = policy::kResourceRetention,
     .resource_action = "manage",
     .writes = true,
     .run = SetHold},
};

}  // namespace

std::span<const Operation> RetentionOperations() { return kOps; }

}  // namespace coffre::app
