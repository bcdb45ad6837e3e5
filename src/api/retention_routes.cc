// Legal holds and the archive over HTTP (docs/api.md, docs/retention.md):
//
//   GET    /v1/subjects/{s}/hold                 resource retention, action read
//   PUT    /v1/subjects/{s}/hold                 resource retention, action manage
//   DELETE /v1/subjects/{s}/hold                 resource retention, action manage
//   GET    /v1/archive/{collection}/{id}         resource archive, action read
//
// A hold is set by a principal acting for itself (a legal decision has one
// accountable author, never an end user behind a service). An archived
// record is shown in clear to whoever the policy grants `archive` read
// (examples/people-policy.toml: the archivist, purpose legal_claim); the
// read counts against the reader's quotas like any record read, and is
// audited with the fields returned.
#include <boost/json.hpp>

#include "api/internal/audited.h"
#include "api/internal/extra_routes.h"
#include "api/internal/http_util.h"
#include "api/record_json.h"
#include "common/bytes.h"
#include "common/clock.h"
#include "guard/guard.h"
#include "retention/retention.h"
#include "schema/mask.h"

namespace coffre::api::internal {
namespace {

namespace json = boost::json;

enum class Kind { kHold, kArchived };

struct Match {
  Kind kind;
  std::string_view collection;
  std::string_view id;
};

std::optional<Match> MatchRetention(std::string_view path) {
  auto segments = PathSegments(path);
  if (!segments) return std::nullopt;
  const auto& s = *segments;
  if (s.size() == 4 && s[0] == "v1" && s[1] == "subjects" && s[3] == "hold") return Match{Kind::kHold, {}, s[2]};
  if (s.size() == 4 && s[0] == "v1" && s[1] == "archive") return Match{Kind::kArchived, s[2], s[3]};
  return std::nullopt;
}

HttpError RetentionError(const Error& e) {
  if (e.code == ErrorCode::kInvalidArgument) return {400, "invalid_request", e.message};
  return FromError(e);
}

json::object HoldToJson(std::string_view subject, const std::optional<retention::Hold>& h) {
  json::object o{{"subject", ToHex(subject)}, {"held", h.has_value()}};
  if (h) {
    o["since"] = FormatRfc3339(h->since);
    o["by"] = h->by;
  }
  return o;
}

Response HoldRoute(ExtraCall& c, const Match& m) {
  const std::string_view method = c.request.method;
  RouteCall call(c, method == "GET" ? "retention.hold.read" : method == "PUT" ? "retention.hold" : "retention.release");
  policy::Decision d = DecideResource(c, policy::kResourceRetention, method == "GET" ? "read" : "manage");
  if (!d.allowed) return call.Deny(d.reason);
  if (method != "GET" && c.user != nullptr) {
    return call.Deny("legal holds are set and released by principals acting for themselves, not on behalf of a user");
  }
  auto subject = ParseId(m.id, "subject");
  if (!subject) return call.Failed({400, "invalid_request", subject.error().message});
  call.entry().subjects = {*subject};
  if (c.services.retention == nullptr) {
    return call.Failed({503, "unavailable", "retention is not available on this server"});
  }
  retention::Retention& r = *c.services.retention;
  if (method == "PUT") {
    if (auto s = r.SetHold(*subject, c.principal.name); !s) return call.Failed(RetentionError(s.error()));
  } else if (method == "DELETE") {
    if (auto s = r.ReleaseHold(*subject); !s) return call.Failed(RetentionError(s.error()));
  }
  auto hold = r.GetHold(*subject);
  if (!hold) return call.Failed(RetentionError(hold.error()));
  return call.Allowed(JsonResponse(200, HoldToJson(*subject, *hold)));
}

Response ArchivedRoute(ExtraCall& c, const Match& m) {
  RouteCall call(c, "archive.read");
  policy::Decision d = DecideResource(c, policy::kResourceArchive, "read");
  if (!d.allowed) return call.Deny(d.reason);
  const schema::Collection* coll = c.services.vault.schema().Find(m.collection);
  if (coll == nullptr) return call.Failed({404, "not_found", "no such collection"});
  call.entry().collection = coll->name;
  auto id = ParseId(m.id, "record id");
  if (!id) return call.Failed({400, "invalid_request", id.error().message});
  call.entry().record_id = *id;
  auto rec = c.services.vault.GetArchived(coll->name, *id);
  if (!rec) return call.Failed(FromError(rec.error()));
  call.entry().subjects = {rec->subject};
  if (auto refused = call.Guard()) return *refused;
  // Card numbers stay masked unless the same reader would see them in clear
  // through the cards resource (role payment, purpose payment: ADR 0010).
  const policy::Decision cards = DecideResource(c, policy::kResourceCards, "read");
  const bool pan_clear = cards.allowed && !cards.views.empty() && cards.views[0] == policy::View::kClear;
  for (vault::FieldValue& f : rec->fields) {
    const schema::FieldDef* def = coll->Find(f.name);
    const bool masked = def != nullptr && def->type == schema::FieldType::kPan && !pan_clear;
    if (masked) f.value = schema::Mask(*def, f.value);
    call.entry().fields.push_back({f.name, masked ? audit::kViewMasked : audit::kViewClear});
  }
  json::object out = RecordToJson(*coll, *rec);
  out["archived"] = true;
  return call.Allowed(JsonResponse(200, out));
}

}  // namespace

std::optional<std::string_view> RetentionRouteMethods(std::string_view path) {
  auto m = MatchRetention(path);
  if (!m) return std::nullopt;
  return m->kind == Kind::kHold ? "GET, PUT, DELETE" : "GET";
}

Response HandleRetentionRoute(ExtraCall& c) {
  auto m = MatchRetention(c.path);
  if (!m) return ErrorResponse({404, "not_found", "no such route"});
  if (m->kind == Kind::kHold) return HoldRoute(c, *m);
  return ArchivedRoute(c, *m);
}

}  // namespace coffre::api::internal
