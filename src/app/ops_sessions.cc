// Logging in (docs/api.md, "Sessions"):
//
//   session.create   POST /v1/sessions   {name, password, totp} -> a session token
//
// No caller yet: nothing larger than a login is parsed, a card security
// code is refused before anything else reads the body, and failures are
// counted per source (never audited one by one: a name field may hold a
// password typed in the wrong place). Success is audited as `login`.
#include "app/internal/input.h"
#include "app/limits.h"
#include "app/operations.h"
#include "app/runner.h"
#include "cards/card_rules.h"
#include "common/log.h"
#include "common/time_text.h"

namespace coffre::app {
namespace {

namespace json = boost::json;

// One line per failed login (event auth.login_failed). People type
// passwords into name fields: a name is written only when it is a staff or
// service principal's; an end user's name is personal data ("user").
void LogFailedLogin(const Services& s, const auth::LoginNote& note, std::string_view name,
                    std::string_view source, const Error& error) {
  const std::string_view who = !note.registered ? "-" : note.end_user ? "user" : name;
  const std::string_view why = note.refusal.empty() ? ErrorCodeName(error.code) : note.refusal;
  std::string line = "failed login: ";
  line += !note.registered ? std::string("unregistered name")
          : note.end_user  ? std::string("an end user's name")
                           : "principal " + std::string(name);
  line += " from ";
  line += source;
  line += ": ";
  line += why;
  if (s.log) {
    s.log("coffre: " + line);
  } else {
    log::Warn("auth.login_failed", line, {{"principal", who}, {"source", source}, {"reason", why}});
  }
}

Failure Unauthenticated(const Services& s, const Caller& c) {
  s.audit.CountUnauthenticated(c.address);
  return {ErrorCode::kUnauthenticated, "unauthenticated", "invalid credentials"};
}

Outcome Login(Context& ctx, const OpInput& in) {
  const Services& s = ctx.services();
  const Caller& c = ctx.caller();
  // 64 workers parsing 1 MiB bodies at once took 1 GiB (issue 13).
  if (in.body.size() > kMaxLoginBodyBytes) {
    s.audit.CountUnauthenticated(c.address);
    return Outcome::Failed(PayloadTooLarge("a login body is at most 4 KiB"));
  }
  if (auto why = cards::FindSecurityCodeInBody(in.body)) {
    s.audit.CountUnauthenticated(c.address);  // no principal yet: counted, as failed logins are
    return Outcome::Failed(InvalidValue(std::move(*why)));
  }
  auto body = internal::ParseObjectBody(in.body);
  if (!body) return Outcome::Failed(std::move(body.error()));
  if (auto k =
          internal::CheckKeys(*body, {"name", "password", "totp"}, {"name", "password", "totp"});
      !k) {
    return Outcome::Failed(std::move(k.error()));
  }
  auto name = internal::StringMember(*body, "name");
  auto password = internal::StringMember(*body, "password");
  auto totp = internal::StringMember(*body, "totp");
  if (!name) return Outcome::Failed(std::move(name.error()));
  if (!password) return Outcome::Failed(std::move(password.error()));
  if (!totp) return Outcome::Failed(std::move(totp.error()));
  int64_t retry_after = 0;
  auth::LoginNote note;
  const std::string& throttled_as = c.limit_key.empty() ? c.address : c.limit_key;
  auto login = s.directory.Login({**name, **password, **totp, throttled_as}, &retry_after, &note);
  if (!login) {
    LogFailedLogin(s, note, **name, c.address, login.error());
    switch (login.error().code) {
      case ErrorCode::kUnauthenticated:
      case ErrorCode::kInvalidArgument:
        return Outcome::Failed(Unauthenticated(s, c));
      case ErrorCode::kResourceExhausted:
        s.audit.CountUnauthenticated(c.address);
        return Outcome::Failed(
            Throttled("too many failed logins; retry later", std::max<int64_t>(1, retry_after)));
      case ErrorCode::kPermissionDenied:
        return Outcome::Failed(Suspended("this principal is suspended"));
      default:
        return Outcome::Failed(FailureFrom(login.error()));
    }
  }
  ctx.entry().principal = login->principal.name;
  return ctx.Allowed(json::object{{"token", login->session_token},
                                  {"expires_at", FormatRfc3339(login->expires_at)}},
                     Outcome::Kind::kCreated);
}

constexpr Operation kOps[] = {
    {.name = "session.create",
     .audit_action = "login",
     .authenticated = false,
     .writes = true,
     .input = InputShape::kBody,
     .run = Login},
};

}  // namespace

std::span<const Operation> SessionOperations() { return kOps; }

}  // namespace coffre::app
