// Routes kept in their own translation units, one family each (issue 4:
// breach reports and two-person approvals, report_routes.cc), so api.cc
// stays small. api.cc authenticates, checks the method, the purpose and the
// on-behalf-of user as for every route, then hands the request over with
// what it established. A new family declares its two functions below and
// adds one line to kFamilies in extra_routes.cc.
// Internal to the api module.
#pragma once

#include <functional>
#include <optional>
#include <string_view>

#include "api/api.h"
#include "api/http.h"
#include "audit/entry.h"

namespace coffre::api::internal {

// The methods an extra route answers ("POST", "GET"), or nullopt when the
// path is not one of them (any family).
std::optional<std::string_view> ExtraRouteMethods(std::string_view path);

struct ExtraCall {
  const Request& request;
  std::string_view path;
  const auth::Principal& principal;
  const auth::Principal* user;  // X-Coffre-On-Behalf-Of, resolved; null if none
  std::string_view purpose;
  const policy::Policy& policy;
  Services& services;
  // The request's entry so far: principal, user, purpose, source.
  audit::Entry entry;
  // Appends an entry as api.cc does (names a client chose are kept only
  // when declared); the response to send instead when it is not durable.
  std::function<std::optional<Response>(audit::Entry)> audit;
};

// Hands the call to the family whose path it is.
Response HandleExtraRoute(ExtraCall& call);

// One family of routes: the methods of a path (nullopt: not this family's)
// and its handler, called only for paths it claimed.
struct RouteFamily {
  std::optional<std::string_view> (*methods)(std::string_view path);
  Response (*handle)(ExtraCall& call);
};

// report_routes.cc: /v1/breach-reports, /v1/approvals.
std::optional<std::string_view> ReportRouteMethods(std::string_view path);
Response HandleReportRoute(ExtraCall& call);

// card_routes.cc: /v1/cards (payment cards, docs/cards.md).
std::optional<std::string_view> CardRouteMethods(std::string_view path);
Response HandleCardRoute(ExtraCall& call);
// credential_routes.cc: /v1/credentials/{user}[/verify|/reset].
std::optional<std::string_view> CredentialRouteMethods(std::string_view path);
Response HandleCredentialRoute(ExtraCall& call);
// retention_routes.cc: /v1/subjects/{s}/hold, /v1/archive/{collection}/{id}.
std::optional<std::string_view> RetentionRouteMethods(std::string_view path);
Response HandleRetentionRoute(ExtraCall& call);

}  // namespace coffre::api::internal
