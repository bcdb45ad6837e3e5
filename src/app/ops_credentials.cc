// End users' passwords (docs/credentials.md, ADR 0011):
//
//   credential.set     PUT  /v1/credentials/{user}  {password[, reset_token]}  action set
//   credential.verify  POST /v1/credentials/{user}/verify  {password}      action verify
//   credential.reset   POST /v1/credentials/{user}/reset   {}              action reset
//   credential.get     GET  /v1/credentials/{user}  metadata only          action read
//
// all on the resource `credentials`. {user} is the application's opaque id
// (credentials::ValidateUserId). Every call is audited with the user id in
// the reason and never a password, a hash or a token. Refusals: invalid_value
// naming the rule; throttled with a retry delay during the exponential delay
// or the lockout; busy with a retry delay when the Argon2id slots are taken.
#include "app/internal/input.h"
#include "app/operations.h"
#include "app/runner.h"
#include "auth/password_policy.h"
#include "common/time_text.h"
#include "credentials/credentials.h"

namespace coffre::app {
namespace {

namespace json = boost::json;
using internal::CheckKeys;
using internal::OpResult;
using internal::ParseObjectBody;
using internal::StringMember;

json::value Time(int64_t seconds) {
  return seconds == 0 ? json::value(nullptr) : json::value(FormatRfc3339(seconds));
}

json::object MetadataJson(std::string_view user, const credentials::Metadata& m) {
  return json::object{{"user", user},
                      {"created_at", Time(m.created)},
                      {"changed_at", Time(m.changed)},
                      {"locked_until", Time(m.locked_until)}};
}

// A core error of the credentials module as the caller sees it.
Outcome Refused(Context& ctx, const Error& e, const credentials::Wait& w) {
  switch (w.reason) {
    case credentials::Wait::kBusy:
      return ctx.Fail(Busy(e.message, w.retry_after_seconds));
    case credentials::Wait::kDelayed:
    case credentials::Wait::kLocked:
      return ctx.Fail(Throttled(e.message, w.retry_after_seconds));
    case credentials::Wait::kNone:
      break;
  }
  return ctx.Fail(FailureFrom(e));
}

// {"password": string} (+ "reset_token" when allowed), password present.
struct Body {
  std::string password;
  std::optional<std::string> reset_token;
};

OpResult<Body> ReadBody(std::string_view text, bool allow_token) {
  auto body = ParseObjectBody(text);
  if (!body) return tl::unexpected(std::move(body.error()));
  auto keys = allow_token ? CheckKeys(*body, {"password", "reset_token"}, {"password"})
                          : CheckKeys(*body, {"password"}, {"password"});
  if (!keys) return tl::unexpected(std::move(keys.error()));
  auto password = StringMember(*body, "password");
  if (!password) return tl::unexpected(std::move(password.error()));
  Body out;
  out.password = std::string(**password);
  if (allow_token) {
    auto token = StringMember(*body, "reset_token");
    if (!token) return tl::unexpected(std::move(token.error()));
    if (*token) out.reset_token = std::string(**token);
  }
  return out;
}

// The user id checked and named in every reason; the store, or the
// failure already audited.
tl::expected<credentials::Credentials*, Outcome> Prepare(Context& ctx, std::string_view user) {
  if (auto s = credentials::ValidateUserId(user); !s) {
    return tl::unexpected(ctx.Fail(InvalidRequest(s.error().message)));
  }
  ctx.SetReasonPrefix("user " + std::string(user));
  credentials::Credentials* creds = ctx.services().credentials;
  if (creds == nullptr)
    return tl::unexpected(ctx.Fail(Unavailable("credentials are not kept by this server")));
  return creds;
}

Outcome Get(Context& ctx, const OpInput& in) {
  auto creds = Prepare(ctx, in.id);
  if (!creds) return std::move(creds.error());
  auto meta = (*creds)->Get(in.id);
  if (!meta) return ctx.Fail(FailureFrom(meta.error()));
  return ctx.Allowed(MetadataJson(in.id, *meta));
}

Outcome Verify(Context& ctx, const OpInput& in) {
  auto creds = Prepare(ctx, in.id);
  if (!creds) return std::move(creds.error());
  auto b = ReadBody(in.body, false);
  if (!b) return ctx.Fail(std::move(b.error()));
  if (b->password.size() > auth::kMaxPasswordBytes) {
    return ctx.Fail(InvalidValue("password refused (rule max-length): at most 1024 bytes"));
  }
  credentials::Wait wait;
  auto ok = (*creds)->Verify(in.id, b->password, &wait);
  if (!ok) return Refused(ctx, ok.error(), wait);
  ctx.entry().reason = *ok ? "valid" : "not valid";
  return ctx.Allowed(json::object{{"valid", *ok}});
}

Outcome Reset(Context& ctx, const OpInput& in) {
  auto creds = Prepare(ctx, in.id);
  if (!creds) return std::move(creds.error());
  // An empty body or an empty object: nothing else is taken.
  if (!in.body.empty()) {
    auto b = ParseObjectBody(in.body);
    if (!b) return ctx.Fail(std::move(b.error()));
    if (auto k = CheckKeys(*b, {}, {}); !k) return ctx.Fail(std::move(k.error()));
  }
  credentials::Wait wait;
  auto issued = (*creds)->IssueReset(in.id, &wait);
  if (!issued) return Refused(ctx, issued.error(), wait);
  ctx.entry().reason = "reset token issued";
  return ctx.Allowed(json::object{{"user", in.id},
                                  {"reset_token", issued->token},
                                  {"expires_at", Time(issued->expires_at)}},
                     Outcome::Kind::kCreated);
}

// PUT: a reset token makes it a redemption, else a set; both set a
// password, so both need `set`. `reset` only issues tokens: a role that
// may send reset links must not be able to spend them (it would take over
// any account). The body is read first: it names the audit action.
Outcome Set(Context& ctx, const OpInput& in) {
  auto b = ReadBody(in.body, true);
  if (b && b->reset_token) ctx.entry().action = "credential.redeem";
  if (auto denied = ctx.Decide()) return std::move(*denied);
  if (!b) return ctx.Fail(std::move(b.error()));
  auto creds = Prepare(ctx, in.id);
  if (!creds) return std::move(creds.error());
  credentials::Wait wait;
  auto meta = b->reset_token ? (*creds)->Redeem(in.id, b->password, *b->reset_token, &wait)
                             : (*creds)->Set(in.id, b->password, &wait);
  if (!meta) return Refused(ctx, meta.error(), wait);
  ctx.entry().reason = meta->created_now ? "created" : "changed";
  return ctx.Allowed(MetadataJson(in.id, *meta),
                     meta->created_now ? Outcome::Kind::kCreated : Outcome::Kind::kOk);
}

constexpr Operation kOps[] = {
    {.name = "credential.get",
     .audit_action = "credential.read",
     .target = Target::kResource,
     .resource = policy::kResourceCredentials,
     .resource_action = "read",
     .run = Get},
    {.name = "credential.reset",
     .audit_action = "credential.reset",
     .target = Target::kResource,
     .resource = policy::kResourceCredentials,
     .resource_action = "reset",
     .writes = true,
     .input = InputShape::kOptionalBody,
     .run = Reset},
    {.name = "credential.set",
     .audit_action = "credential.set",
     .target = Target::kResource,
     .resource = policy::kResourceCredentials,
     .resource_action = "set",
     .decide_in_run = true,
     .writes = true,
     .input = InputShape::kBody,
     .run = Set},
    {.name = "credential.verify",
     .audit_action = "credential.verify",
     .target = Target::kResource,
     .resource = policy::kResourceCredentials,
     .resource_action = "verify",
     .input = InputShape::kBody,
     .run = Verify},
};

}  // namespace

std::span<const Operation> CredentialOperations() { return kOps; }

}  // namespace coffre::app
