#include "api/api.h"

#include <algorithm>
#include <boost/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/internal/http_util.h"
#include "api/routes.h"
#include "app/runner.h"
#include "common/hash_slots.h"

namespace coffre::api {
namespace {

namespace json = boost::json;
using internal::ErrorResponse;
using internal::JsonResponse;

bool IEqualsPrefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

// The one place failure names become statuses (docs/api.md, "Errors").
int StatusOf(std::string_view name) {
  struct Pair {
    std::string_view name;
    int status;
  };
  static constexpr Pair kStatuses[] = {
      {"invalid_request", 400},    {"invalid_json", 400},   {"unauthenticated", 401},
      {"forbidden", 403},          {"suspended", 403},      {"not_found", 404},
      {"method_not_allowed", 405}, {"already_exists", 409}, {"failed_precondition", 409},
      {"payload_too_large", 413},  {"invalid_value", 422},  {"quota_exceeded", 429},
      {"throttled", 429},          {"internal", 500},       {"integrity_failure", 500},
      {"unavailable", 503},        {"busy", 503},           {"sealed", 503},
  };
  for (const Pair& p : kStatuses) {
    if (p.name == name) return p.status;
  }
  return 500;
}

Response FailureResponse(const app::Failure& f) {
  Response r = ErrorResponse({StatusOf(f.name), std::string(f.name), f.message});
  if (f.retry_after_seconds > 0)
    r.headers.emplace_back("Retry-After", std::to_string(f.retry_after_seconds));
  return r;
}

Response ToResponse(app::Outcome& o) {
  if (o.failure) return FailureResponse(*o.failure);
  if (o.rendered) {
    Response r;
    r.body = std::move(o.text);
    r.content_type = std::string(o.content_type);
    return r;
  }
  if (o.kind == app::Outcome::Kind::kEmpty) return Response{204, "", "application/json", {}};
  return JsonResponse(o.kind == app::Outcome::Kind::kCreated ? 201 : 200, o.result);
}

// 405 with the route's own methods in Allow (RFC 9110, 15.5.6).
Response WithAllow(Response r, std::string_view allowed) {
  r.headers.emplace_back("Allow", std::string(allowed));
  return r;
}

app::Failure MethodNotAllowed(std::string message) {
  return {ErrorCode::kInvalidArgument, "method_not_allowed", std::move(message)};
}

app::Services AppServices(const Services& s) {
  return app::Services{.vault = s.vault,
                       .directory = s.directory,
                       .audit = s.audit,
                       .policy = s.policy,
                       .clock = s.clock,
                       .openapi_json = s.openapi_json,
                       .guard = s.guard,
                       .cards = s.cards,
                       .credentials = s.credentials,
                       .retention = s.retention,
                       .approvals = s.approvals,
                       .log = s.log,
                       .sealed = s.sealed};
}

}  // namespace

struct Api::Impl {
  app::Runner runner;
  // Requests with a large body being handled (Services::max_large_bodies).
  HashSlots large_bodies;
  const RouteTable& routes = Routes();

  explicit Impl(const Services& s) : runner(AppServices(s)), large_bodies(s.max_large_bodies) {}

  // Dispatch, with the route that answered noted for the server's metrics.
  Response Handle(const Request& req, std::vector<audit::Entry>* deferred) {
    uint16_t metric_route = Response::kNoRoute;
    Response r = Dispatch(req, deferred, metric_route);
    r.route = metric_route;
    return r;
  }

  Response Dispatch(const Request& req, std::vector<audit::Entry>* deferred,
                    uint16_t& metric_route) {
    auto [path, query] = internal::SplitTarget(req.target);
    app::OpInput in{.query = query, .body = req.body};
    const PathRoute* route = routes.Match(path, in);
    if (route != nullptr) metric_route = route->MetricRouteOf(req.method);
    app::Caller c;
    c.source = "https:" + req.source;
    c.address = req.source;
    c.request_id = req.request_id;
    c.deferred = deferred;
    Response r = Dispatch(req, route, in, c);
    // An end user's name is personal data; staff and service accounts' are
    // not (docs/operations.md, "Logs").
    if (!c.principal.name.empty())
      r.principal = c.principal.kind == auth::Kind::kUser ? "user" : c.principal.name;
    return r;
  }

  Response Dispatch(const Request& req, const PathRoute* route, app::OpInput& in, app::Caller& c) {
    // The probes and the login: no credential (yet).
    if (route != nullptr && !route->methods.front().op->authenticated) {
      const app::Operation* op = route->For(req.method);
      if (op == nullptr) {
        return WithAllow(
            FailureResponse(MethodNotAllowed("use " + std::string(route->methods.front().method))),
            route->allow);
      }
      c.limit_key = req.limit_key;
      app::Outcome out = runner.Run(c, *op, in);
      return ToResponse(out);
    }

    if (auto refused = Authenticate(req, c)) return FailureResponse(*refused);
    if (route == nullptr)
      return FailureResponse(runner.Reject(c, "request", app::NotFound("no such route")));
    const app::Operation* op = route->For(req.method);
    const bool needs_purpose = route->methods.front().op->target != app::Target::kNone;
    if (op == nullptr) {
      // A route whose operation needs no purpose (the OpenAPI document) is
      // audited under the operation's action, others as a `request`.
      std::string_view action = needs_purpose ? "request" : route->methods.front().op->audit_action;
      app::Failure f = runner.Reject(
          c, action, MethodNotAllowed("this route answers " + std::string(route->allow)));
      return WithAllow(FailureResponse(f), route->allow);
    }
    if (!needs_purpose) {
      app::Outcome out = runner.Run(c, *op, in);
      return ToResponse(out);
    }
    // A large body is parsed (scan, then operation) by a bounded number of
    // requests at once, so memory stays bounded whatever the concurrency.
    std::optional<HashSlot> body_slot;
    if (req.body.size() > kLargeBodyBytes) {
      body_slot.emplace(large_bodies);
      if (!body_slot->held()) {
        return FailureResponse(runner.Reject(
            c, "request", app::Busy("too many large requests at once; retry later", 1)));
      }
    }
    if (auto refused = runner.Screen(c, *op, in.collection, req.body, "request"))
      return FailureResponse(*refused);
    // Purpose, then the end user a service acts for.
    if (req.HeaderCount("x-coffre-purpose") != 1 || req.Header("x-coffre-purpose")->empty()) {
      return FailureResponse(
          runner.Deny(c, "request", "X-Coffre-Purpose is required (exactly once)"));
    }
    c.purpose = std::string(*req.Header("x-coffre-purpose"));
    if (const size_t n = req.HeaderCount("x-coffre-on-behalf-of"); n > 0) {
      if (n != 1)
        return FailureResponse(runner.Deny(c, "request", "X-Coffre-On-Behalf-Of may be sent once"));
      if (auto refused = runner.ResolveUser(c, *req.Header("x-coffre-on-behalf-of"), "request")) {
        return FailureResponse(*refused);
      }
    }
    // The busiest route's response lives in one arena on the stack (no
    // allocation per field), and is serialised without a copy. Masked or
    // not, these bytes hold no more than the response does.
    unsigned char arena[4096];
    json::monotonic_resource mr(arena, sizeof arena);
    app::Outcome out = runner.Run(c, *op, in, json::storage_ptr(&mr));
    return ToResponse(out);
  }

  // The bearer token of `req`, authenticated; the failure otherwise.
  std::optional<app::Failure> Authenticate(const Request& req, app::Caller& c) {
    std::string_view token;
    if (req.HeaderCount("authorization") == 1) {
      std::string_view header = *req.Header("authorization");
      if (IEqualsPrefix(header, "bearer ")) {
        token = header.substr(7);
        while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
      }
    }
    if (const ClientCertificate* cert = req.client_certificate.get(); cert != nullptr) {
      const auth::ClientCertificateView view{cert->fingerprint, cert->subject, cert->chain_pem};
      return runner.Authenticate(c, token, &view);
    }
    return runner.Authenticate(c, token);
  }
};

Api::Api(const Services& services) : impl_(std::make_unique<Impl>(services)) {}
Api::~Api() = default;

bool Api::IsNonBlocking(const Request& request) {
  auto [path, query] = internal::SplitTarget(request.target);
  app::OpInput in;
  const PathRoute* route = Routes().Match(path, in);
  if (route == nullptr) return false;
  const app::Operation* op = route->For(request.method);
  return op != nullptr && !op->may_block;
}

Response Api::AuditUnavailable() { return FailureResponse(app::Runner::AuditUnavailable()); }

Response Api::HandleDeferred(const Request& request, std::vector<audit::Entry>& deferred) {
  try {
    return impl_->Handle(request, &deferred);
  } catch (...) {
    // Entries already collected stay with the caller.
    return internal::ErrorResponse({500, "internal", "internal error"});
  }
}

Response Api::Handle(const Request& request) {
  try {
    return impl_->Handle(request, nullptr);
  } catch (...) {
    // Boost.JSON may throw on allocation; nothing is half-written (every
    // write is one batch), and nothing of the exception reaches the client.
    return internal::ErrorResponse({500, "internal", "internal error"});
  }
}

}  // namespace coffre::api
