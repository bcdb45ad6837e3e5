// End users' passwords over HTTP (docs/credentials.md, ADR 0011):
//
//   PUT  /v1/credentials/{user}          {password}               action set
//   PUT  /v1/credentials/{user}          {password, reset_token}  action set
//   POST /v1/credentials/{user}/verify   {password}               action verify
//   POST /v1/credentials/{user}/reset    {}                       action reset
//   GET  /v1/credentials/{user}          metadata only            action read
//
// all on the resource `credentials`. {user} is the application's opaque id
// (credentials::ValidateUserId). Every call is audited with the user id in
// the reason and never a password, a hash or a token. Refusals: 422 naming
// the rule; 429 throttled with Retry-After during the exponential delay or
// the lockout; 503 busy with Retry-After when the Argon2id slots are taken.
#include <boost/json.hpp>

#include "api/internal/audited.h"
#include "api/internal/extra_routes.h"
#include "api/internal/http_util.h"
#include "auth/password_policy.h"
#include "common/clock.h"
#include "credentials/credentials.h"

namespace coffre::api::internal {
namespace {

namespace json = boost::json;

enum class Kind { kCredential, kVerify, kReset };

struct Match {
  Kind kind;
  std::string_view user;
};

std::optional<Match> MatchCredential(std::string_view path) {
  auto segments = PathSegments(path);
  if (!segments) return std::nullopt;
  const auto& s = *segments;
  if (s.size() < 3 || s[0] != "v1" || s[1] != "credentials") return std::nullopt;
  if (s.size() == 3) return Match{Kind::kCredential, s[2]};
  if (s.size() == 4 && s[3] == "verify") return Match{Kind::kVerify, s[2]};
  if (s.size() == 4 && s[3] == "reset") return Match{Kind::kReset, s[2]};
  return std::nullopt;
}

json::value Time(int64_t seconds) {
  return seconds == 0 ? json::value(nullptr) : json::value(FormatRfc3339(seconds));
}

json::object MetadataJson(std::string_view user, const credentials::Metadata& m) {
  return json::object{{"user", user},
                      {"created_at", Time(m.created)},
                      {"changed_at", Time(m.changed)},
                      {"locked_until", Time(m.locked_until)}};
}

// A core error of the credentials module as the client sees it.
Response Refused(RouteCall& call, const Error& e, const credentials::Wait& w) {
  switch (w.reason) {
    case credentials::Wait::kBusy:
      return call.Failed({503, "busy", e.message}, w.retry_after_seconds);
    case credentials::Wait::kDelayed:
    case credentials::Wait::kLocked:
      return call.Failed({429, "throttled", e.message}, w.retry_after_seconds);
    case credentials::Wait::kNone: break;
  }
  return call.Failed(FromError(e));
}

// {"password": string} (+ "reset_token" when allowed), password present.
struct Body {
  std::string password;
  std::optional<std::string> reset_token;
};

HttpResult<Body> ReadBody(const Request& request, bool allow_token) {
  auto body = ParseObjectBody(request, kMaxBodyBytes);
  if (!body) return tl::unexpected(body.error());
  auto keys = allow_token ? CheckKeys(*body, {"password", "reset_token"}, {"password"})
                          : CheckKeys(*body, {"password"}, {"password"});
  if (!keys) return tl::unexpected(keys.error());
  auto password = StringMember(*body, "password");
  if (!password) return tl::unexpected(password.error());
  Body out;
  out.password = std::string(**password);
  if (allow_token) {
    auto token = StringMember(*body, "reset_token");
    if (!token) return tl::unexpected(token.error());
    if (*token) out.reset_token = std::string(**token);
  }
  return out;
}

Response Handle(ExtraCall& c, const Match& m) {
  const bool get = c.request.method == "GET";
  const char* policy_action = "read";
  const char* audit_action = "credential.read";
  std::optional<Body> body;
  if (m.kind == Kind::kVerify) {
    policy_action = "verify";
    audit_action = "credential.verify";
  } else if (m.kind == Kind::kReset) {
    policy_action = "reset";
    audit_action = "credential.reset";
  } else if (!get) {
    // PUT: a reset token makes it a redemption, else a set; both set a
    // password, so both need `set`. `reset` only issues tokens: a role that
    // may send reset links must not be able to spend them (it would take
    // over any account).
    policy_action = "set";
    audit_action = "credential.set";
    auto b = ReadBody(c.request, true);
    if (b && b->reset_token) audit_action = "credential.redeem";
    if (b) body = std::move(*b);
    else {
      RouteCall call(c, audit_action);
      policy::Decision d = DecideResource(c, policy::kResourceCredentials, policy_action);
      if (!d.allowed) return call.Deny(d.reason);
      return call.Failed(b.error());
    }
  }
  RouteCall call(c, audit_action);
  policy::Decision d = DecideResource(c, policy::kResourceCredentials, policy_action);
  if (!d.allowed) return call.Deny(d.reason);
  if (auto s = credentials::ValidateUserId(m.user); !s) {
    return call.Failed({400, "invalid_request", s.error().message});
  }
  call.SetReasonPrefix("user " + std::string(m.user));
  credentials::Credentials* creds = c.services.credentials;
  if (creds == nullptr) {
    return call.Failed({503, "unavailable", "credentials are not kept by this server"});
  }
  credentials::Wait wait;

  if (m.kind == Kind::kVerify) {
    auto b = ReadBody(c.request, false);
    if (!b) return call.Failed(b.error());
    if (b->password.size() > auth::kMaxPasswordBytes) {
      return call.Failed({422, "invalid_value", "password refused (rule max-length): at most 1024 bytes"});
    }
    auto ok = creds->Verify(m.user, b->password, &wait);
    if (!ok) return Refused(call, ok.error(), wait);
    return call.Allowed(JsonResponse(200, json::object{{"valid", *ok}}), *ok ? "valid" : "not valid");
  }
  if (m.kind == Kind::kReset) {
    // An empty body or an empty object: nothing else is taken.
    if (!c.request.body.empty()) {
      auto b = ParseObjectBody(c.request, kMaxBodyBytes);
      if (!b) return call.Failed(b.error());
      if (auto k = CheckKeys(*b, {}, {}); !k) return call.Failed(k.error());
    }
    auto issued = creds->IssueReset(m.user, &wait);
    if (!issued) return Refused(call, issued.error(), wait);
    return call.Allowed(JsonResponse(201, json::object{{"user", m.user},
                                                       {"reset_token", issued->token},
                                                       {"expires_at", Time(issued->expires_at)}}),
                        "reset token issued");
  }
  if (get) {
    auto meta = creds->Get(m.user);
    if (!meta) return call.Failed(FromError(meta.error()));
    return call.Allowed(JsonResponse(200, MetadataJson(m.user, *meta)));
  }
  auto meta = body->reset_token ? creds->Redeem(m.user, body->password, *body->reset_token, &wait)
                                : creds->Set(m.user, body->password, &wait);
  if (!meta) return Refused(call, meta.error(), wait);
  return call.Allowed(JsonResponse(meta->created_now ? 201 : 200, MetadataJson(m.user, *meta)),
                      meta->created_now ? "created" : "changed");
}

}  // namespace

std::optional<std::string_view> CredentialRouteMethods(std::string_view path) {
  auto m = MatchCredential(path);
  if (!m) return std::nullopt;
  if (m->kind == Kind::kCredential) return "GET, PUT";
  return "POST";
}

Response HandleCredentialRoute(ExtraCall& c) {
  auto m = MatchCredential(c.path);
  if (!m) return ErrorResponse({404, "not_found", "no such route"});
  return Handle(c, *m);
}

}  // namespace coffre::api::internal
