// Payment cards (docs/api.md "Cards", docs/cards.md, ADR 0010):
//
//   card.create    POST   /v1/cards                   resource cards, action create
//   card.get       GET    /v1/cards/{token}           resource cards, action read; the
//                                                     number masked unless the decision's
//                                                     view is clear (role payment, purpose
//                                                     payment only: src/policy)
//   card.delete    DELETE /v1/cards/{token}           resource cards, action delete
//   card.complete  POST   /v1/cards/{token}/complete  resource cards, action complete
//
// There is no operation that lists cards. Security codes never get this
// far: the runner's screen refuses a body holding one. Every answer is
// audited with the card id (the token's random part) as record id and the
// card's subject, never the number nor the token's last 4; reads of a card
// attached to a subject count in the guard's quotas.
#include "app/internal/input.h"
#include "app/operations.h"
#include "app/runner.h"
#include "cards/card_rules.h"
#include "cards/cards.h"
#include "common/bytes.h"
#include "common/time_text.h"
#include "schema/mask.h"

namespace coffre::app {
namespace {

namespace json = boost::json;
using internal::CheckKeys;
using internal::ParseObjectBody;
using internal::StringMember;

Failure CardError(const Error& e) {
  if (e.code == ErrorCode::kNotFound) return NotFound("no such card");
  return FailureFrom(e);
}

json::value Time(int64_t s) {
  return s == 0 ? json::value(nullptr) : json::value(FormatRfc3339(s));
}

// The view of card numbers that `d` gives: clear only for the payment role
// under the payment purpose (src/policy caps every other one at masked).
policy::View NumberView(const policy::Decision& d) {
  return d.views.empty() ? policy::View::kMasked : d.views[0];
}

// The card as `view` shows it. An evidence has no number to show.
json::object CardToJson(const cards::Card& card, policy::View view) {
  const bool clear = view == policy::View::kClear && !card.pan.empty();
  json::object o{
      {"token", card.token},
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
      {"number_until",
       card.state == cards::State::kEvidence ? json::value(nullptr) : Time(card.expires_s)},
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

// The cards store, or nullopt after the failure is audited (the decision
// comes after: a server without cards says so to anyone).
std::optional<Outcome> Unkept(Context& ctx) {
  if (ctx.services().cards != nullptr) return std::nullopt;
  ctx.entry().action = "card.request";
  return ctx.Fail(Unavailable("cards are not kept by this server"));
}

Outcome Create(Context& ctx, const OpInput& in) {
  if (auto unkept = Unkept(ctx)) return std::move(*unkept);
  if (auto denied = ctx.Decide()) return std::move(*denied);
  const Services& s = ctx.services();
  auto body = ParseObjectBody(in.body);
  if (!body) return ctx.Fail(std::move(body.error()));
  if (auto k = CheckKeys(*body, {"pan", "expiry", "holder", "save", "subject"}, {"pan", "expiry"});
      !k) {
    return ctx.Fail(std::move(k.error()));
  }
  cards::NewCard card;
  auto pan = StringMember(*body, "pan");
  auto expiry = StringMember(*body, "expiry");
  auto holder = StringMember(*body, "holder");
  auto subject = StringMember(*body, "subject");
  for (auto* m : {&pan, &expiry, &holder, &subject}) {
    if (!*m) return ctx.Fail(std::move(m->error()));
  }
  card.pan = std::string(**pan);
  card.expiry = std::string(**expiry);
  if (*holder) card.holder = std::string(**holder);
  if (auto it = body->find("save"); it != body->end()) {
    if (!it->value().is_bool()) return ctx.Fail(InvalidRequest("'save' must be true or false"));
    card.save = it->value().get_bool();
  }
  if (*subject) {
    auto sid = ParseId(**subject, "subject");
    if (!sid) return ctx.Fail(InvalidRequest(sid.error().message));
    auto records = s.vault.ExportSubject(*sid);
    if (!records) return ctx.Fail(FailureFrom(records.error()));
    if (records->empty()) return ctx.Fail(InvalidValue("unknown subject"));
    card.subject = std::move(*sid);
  }
  auto made = s.cards->Create(card, s.clock.NowUnixSeconds());
  std::fill(card.pan.begin(), card.pan.end(), '\0');
  if (!made) return ctx.Fail(CardError(made.error()));
  Identify(ctx.entry(), made->card);
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
  if (NumberView(ctx.decision()) == policy::View::kClear) out["known"] = made->known;
  return ctx.Allowed(std::move(out), Outcome::Kind::kCreated);
}

// The token of a call on one card, its id in the entry; nullopt after the
// failure is audited.
tl::expected<std::string, Outcome> TokenOf(Context& ctx, const OpInput& in) {
  auto token = cards::ParseToken(in.id);
  if (!token) return tl::unexpected(ctx.Fail(InvalidRequest(token.error().message)));
  ctx.entry().record_id = token->card_id;
  return std::string(in.id);
}

Outcome Get(Context& ctx, const OpInput& in) {
  if (auto unkept = Unkept(ctx)) return std::move(*unkept);
  if (auto denied = ctx.Decide()) return std::move(*denied);
  auto token = TokenOf(ctx, in);
  if (!token) return std::move(token.error());
  auto card = ctx.services().cards->Get(*token);
  if (!card) return ctx.Fail(CardError(card.error()));
  Identify(ctx.entry(), *card);
  json::object out = CardToJson(*card, NumberView(ctx.decision()));
  const bool clear = out.at("view").as_string() == "clear";
  ctx.entry().fields = {{"pan", clear ? audit::kViewClear : audit::kViewMasked}};
  if (auto refused = ctx.Guard()) return std::move(*refused);
  return ctx.Allowed(std::move(out));
}

Outcome Complete(Context& ctx, const OpInput& in) {
  if (auto unkept = Unkept(ctx)) return std::move(*unkept);
  if (auto denied = ctx.Decide()) return std::move(*denied);
  if (!in.body.empty()) {
    auto body = ParseObjectBody(in.body);
    if (!body) return ctx.Fail(std::move(body.error()));
    if (auto k = CheckKeys(*body, {}, {}); !k) return ctx.Fail(std::move(k.error()));
  }
  auto token = TokenOf(ctx, in);
  if (!token) return std::move(token.error());
  const Services& s = ctx.services();
  auto card = s.cards->Complete(*token, s.clock.NowUnixSeconds());
  if (!card) return ctx.Fail(CardError(card.error()));
  Identify(ctx.entry(), *card);
  ctx.entry().reason = std::string("card ") + std::string(cards::StateName(card->state));
  return ctx.Allowed(CardToJson(*card, policy::View::kMasked));
}

Outcome Delete(Context& ctx, const OpInput& in) {
  if (auto unkept = Unkept(ctx)) return std::move(*unkept);
  if (auto denied = ctx.Decide()) return std::move(*denied);
  auto token = TokenOf(ctx, in);
  if (!token) return std::move(token.error());
  auto card = ctx.services().cards->Delete(*token);
  if (!card) return ctx.Fail(CardError(card.error()));
  Identify(ctx.entry(), *card);
  return ctx.Allowed(nullptr, Outcome::Kind::kEmpty);
}

constexpr Operation kOps[] = {
    {.name = "card.complete",
     .audit_action = "card.complete",
     .target = Target::kResource,
     .resource = policy::kResourceCards,
     .resource_action = "complete",
     .decide_in_run = true,
     .writes = true,
     .input = InputShape::kOptionalBody,
     .run = Complete},
    {.name = "card.create",
     .audit_action = "card.create",
     .target = Target::kResource,
     .resource = policy::kResourceCards,
     .resource_action = "create",
     .decide_in_run = true,
     .writes = true,
     .input = InputShape::kBody,
     .run = Create},
    {.name = "card.delete",
     .audit_action = "card.delete",
     .target = Target::kResource,
     .resource = policy::kResourceCards,
     .resource_action = "delete",
     .decide_in_run = true,
     .writes = true,
     .run = Delete},
    {.name = "card.get",
     .audit_action = "card.read",
     .target = Target::kResource,
     .resource = policy::kResourceCards,
     .resource_action = "read",
     .decide_in_run = true,
     .exposes_subjects = true,
     .run = Get},
};

}  // namespace

std::span<const Operation> CardOperations() { return kOps; }

}  // namespace coffre::app
