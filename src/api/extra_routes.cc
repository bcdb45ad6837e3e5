// The families of routes kept outside api.cc (internal/extra_routes.h).
#include "api/internal/extra_routes.h"

#include "api/internal/http_util.h"

namespace coffre::api::internal {
namespace {

constexpr RouteFamily kFamilies[] = {
    {ReportRouteMethods, HandleReportRoute},
    {CardRouteMethods, HandleCardRoute},
    {CredentialRouteMethods, HandleCredentialRoute},
    {RetentionRouteMethods, HandleRetentionRoute},
};

}  // namespace

std::optional<std::string_view> ExtraRouteMethods(std::string_view path) {
  for (const RouteFamily& f : kFamilies) {
    if (auto m = f.methods(path)) return m;
  }
  return std::nullopt;
}

Response HandleExtraRoute(ExtraCall& call) {
  for (const RouteFamily& f : kFamilies) {
    if (f.methods(call.path)) return f.handle(call);
  }
  return ErrorResponse({404, "not_found", "no such route"});
}

}  // namespace coffre::api::internal
