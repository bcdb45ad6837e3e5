// Payment cards over HTTP (docs/api.md "Cards", docs/cards.md, ADR 0010):
//
//   POST   /v1/cards                   resource cards, action create
//   GET    /v1/cards/{token}           resource cards, action read; the
//                                      number masked unless the decision's
//                                      view is clear (role payment, purpose
//                                      payment only: src/policy)
//   DELETE /v1/cards/{token}           resource cards, action delete
//   POST   /v1/cards/{token}/complete  resource cards, action complete
//
// There is no route that lists cards. Security codes never get this far:
// api.cc refuses a body holding one (422) before any route runs. Every
// answer is audited with the card id (the token's random part) as record
// id and the card's subject, never the number nor the token's last 4; card
// reads of a card attached to a subject count in the guard's quotas.
#include <boost/json.hpp>

#include "api/internal/audited.h"
#include "api/internal/extra_routes.h"
#include "api/internal/http_util.h"
#include "cards/card_rules.h"
#include "cards/cards.h"
#include "common/bytes.h"
#include "common/clock.h"
#include "guard/guard.h"
#include "schema/mask.h"

namespace coffre::api::internal {
namespace {

namespace json = boost::json;

enum class Kind { kCards, kCard, kComplete };

struct Match {
  Kind kind;
  std::string_view token;
};

std::optional<Match> MatchCards(std::string_view path) {
  auto segments = PathSegments(path);
  if (!segments) return std::nullopt;
  const auto& s = *segments;
  if (s.size() < 2 || s[0] != "v1" || s[1] != "cards") return std::nullopt;
  if (s.size() == 2) return Match{Kind::kCards, {}};
  if (s.size() == 3) return Match{Kind::kCard, s[2]};
  if (s.size() == 4 && s[3] == "complete") return Match{Kind::kComplete, s[2]};
  return std::nullopt;
}

HttpError CardError(const Error& e) {
  if (e.code == ErrorCode::kNotFound) return {404, "not_found", "no such card"};
  return FromError(e);
}

json::value Time(int64_t s) { return s == 0 ? json::value(nullptr) : json::value(FormatRfc3339(s)); }

// The view of card numbers that `d` gives: clear only for the payment role
// under the payment purpose (src/policy caps every other one at masked).
policy::View NumberView(const policy::Decision& d) {
  return d.views.empty() ? policy::View::kMasked : d.views[0];
}

// The card as `view` shows it. An evidence has no number to show.
json::object CardToJson(const cards::Card& card, policy::View view) {
  const bool clear = view == policy::View::kClear && !card.pan.empty();
  json::object o{{"token", card.token},
                 {"id", ToHex(card.id)},
                 {"state", cards::StateName(card.state)},
                 {"view", clear ? "clear" : "masked"},
                 {"pan", clear ? card.pan : card.Masked()},
                 {"last4", card.last4},
                 {"expiry", card.expiry},
                 {"save", card.save},
                 {"subject", card.subject.empty() ? json::value(nullptr) : json::value(ToHex(card.subject))},
                 {"created_at", Time(card.created_s)},
                 {"completed_at", Time(card.completed_s)},
                 {"number_until", card.state == cards::State::kEvidence ? json::value(nullptr)
                                                                        : Time(card.expires_s)},
                 {"evidence_until", Time(card.evidence_until_s)}};
  if (!card.holder.empty()) {
    schema::FieldDef name;
    name.type = schema::FieldType::kName;
    o["holder"] = clear ? card.holder : schema::Mask(name, card.holder);
  }
  return o;
}

void Identify(audit::Entry& e, const cards::Card& card) {
  e.record_id = card.id;
  if (!card.subject.empty()) e.subjects = {card.subject};
}

Response Create(ExtraCall& c, cards::Cards& store) {
  RouteCall call(c, "card.create");
  policy::Decision d = DecideResource(c, policy::kResourceCards, "create");
  if (!d.allowed) return call.Deny(d.reason);
  auto body = ParseObjectBody(c.request, kMaxBodyBytes);
  if (!body) return call.Failed(body.error());
  if (auto k = CheckKeys(*body, {"pan", "expiry", "holder", "save", "subject"}, {"pan", "expiry"}); !k) {
    return call.Failed(k.error());
  }
  cards::NewCard in;
  auto pan = StringMember(*body, "pan");
  auto expiry = StringMember(*body, "expiry");
  auto holder = StringMember(*body, "holder");
  auto subject = StringMember(*body, "subject");
  for (const auto* m : {&pan, &expiry, &holder, &subject}) {
    if (!*m) return call.Failed(m->error());
  }
  in.pan = std::string(**pan);
  in.expiry = std::string(**expiry);
  if (*holder) in.holder = std::string(**holder);
  if (auto it = body->find("save"); it != body->end()) {
    if (!it->value().is_bool()) return call.Failed({400, "invalid_request", "'save' must be true or false"});
    in.save = it->value().get_bool();
  }
  if (*subject) {
    auto sid = ParseId(**subject, "subject");
    if (!sid) return call.Failed({400, "invalid_request", sid.error().message});
    auto records = c.services.vault.ExportSubject(*sid);
    if (!records) return call.Failed(FromError(records.error()));
    if (records->empty()) return call.Failed({422, "invalid_value", "unknown subject"});
    in.subject = std::move(*sid);
  }
  auto made = store.Create(in, c.services.clock.NowUnixSeconds());
  std::fill(in.pan.begin(), in.pan.end(), '\0');
  if (!made) return call.Failed(CardError(made.error()));
  Identify(call.entry(), made->card);
  json::object out{{"token", made->card.token},
                   {"id", ToHex(made->card.id)},
                   {"state", cards::StateName(made->card.state)},
                   {"last4", made->card.last4},
                   {"expiry", made->card.expiry},
                   {"save", made->card.save},
                   {"number_until", Time(made->card.expires_s)},
                   {"evidence_until", Time(made->card.evidence_until_s)}};
  // Whether the vault already knew this number, only to a caller that may
  // see numbers in clear: to one that sees the masked 6 + 4 digits, it would
  // be an oracle over the ~10^5 numbers left (docs/cards.md, ADR 0010).
  if (NumberView(d) == policy::View::kClear) out["known"] = made->known;
  return call.Allowed(JsonResponse(201, out));
}

Response OnCard(ExtraCall& c, cards::Cards& store, const Match& m) {
  const bool read = m.kind == Kind::kCard && c.request.method == "GET";
  const bool complete = m.kind == Kind::kComplete;
  RouteCall call(c, read ? "card.read" : complete ? "card.complete" : "card.delete");
  policy::Decision d = DecideResource(c, policy::kResourceCards, read ? "read" : complete ? "complete" : "delete");
  if (!d.allowed) return call.Deny(d.reason);
  if (complete && !c.request.body.empty()) {
    auto body = ParseObjectBody(c.request, kMaxBodyBytes);
    if (!body) return call.Failed(body.error());
    if (auto k = CheckKeys(*body, {}, {}); !k) return call.Failed(k.error());
  }
  auto token = cards::ParseToken(m.token);
  if (!token) return call.Failed({400, "invalid_request", token.error().message});
  call.entry().record_id = token->card_id;
  const int64_t now = c.services.clock.NowUnixSeconds();
  if (read) {
    auto card = store.Get(m.token);
    if (!card) return call.Failed(CardError(card.error()));
    Identify(call.entry(), *card);
    json::object out = CardToJson(*card, NumberView(d));
    const bool clear = out.at("view").as_string() == "clear";
    call.entry().fields = {{"pan", clear ? audit::kViewClear : audit::kViewMasked}};
    if (auto refused = call.Guard()) return *refused;
    return call.Allowed(JsonResponse(200, out));
  }
  if (complete) {
    auto card = store.Complete(m.token, now);
    if (!card) return call.Failed(CardError(card.error()));
    Identify(call.entry(), *card);
    call.entry().reason = std::string("card ") + std::string(cards::StateName(card->state));
    return call.Allowed(JsonResponse(200, CardToJson(*card, policy::View::kMasked)));
  }
  auto card = store.Delete(m.token);
  if (!card) return call.Failed(CardError(card.error()));
  Identify(call.entry(), *card);
  return call.Allowed(Response{204, "", "application/json", {}});
}

}  // namespace

std::optional<std::string_view> CardRouteMethods(std::string_view path) {
  auto m = MatchCards(path);
  if (!m) return std::nullopt;
  switch (m->kind) {
    case Kind::kCards: return "POST";
    case Kind::kCard: return "GET, DELETE";
    case Kind::kComplete: return "POST";
  }
  return std::nullopt;
}

Response HandleCardRoute(ExtraCall& c) {
  auto m = MatchCards(c.path);
  if (!m) return ErrorResponse({404, "not_found", "no such route"});
  if (c.services.cards == nullptr) {
    RouteCall call(c, "card.request");
    return call.Failed({503, "unavailable", "cards are not kept by this server"});
  }
  if (m->kind == Kind::kCards) return Create(c, *c.services.cards);
  return OnCard(c, *c.services.cards, *m);
}

}  // namespace coffre::api::internal
