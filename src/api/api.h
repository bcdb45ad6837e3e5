// The HTTP API of coffre (docs/api.md) over plain Request/Response values:
// each route runs one operation of the table (src/app/operations.h) through
// the runner (src/app/runner.h); this layer maps (method, path) to the
// operation (api/routes.cc), reads the credential, purpose and on-behalf-of
// headers, and turns the outcome into a response. No socket here:
// src/server/https_server.cc feeds it; tests and the fuzz target call
// Handle() directly.
//
//   api::Api api({.vault = v, .directory = dir, .audit = log,
//                 .policy = [&] { return holder.Current(); }, .clock = clock,
//                 .openapi_json = kOpenApiJson});
//   api::Response r = api.Handle(request);
//
// The path of every request (DESIGN.md, ADR 0023): authenticate →
// route → purpose and on-behalf-of → the runner: decide → body → execute →
// quota (guard) → audit → respond with the views applied. A request whose
// audit entry cannot be made durable fails with 503 and returns no data.
// Responses never carry a personal value in an error, nor a stack trace; no
// input yields a 5xx except a storage or audit failure.
//
// Thread-safety: Handle() is safe to call from many threads at once.
// Ownership: Api borrows everything in Services, which must outlive it.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "api/http.h"
#include "app/limits.h"
#include "audit/audit_log.h"
#include "auth/principals.h"
#include "common/clock.h"
#include "policy/policy.h"
#include "vault/vault.h"

namespace coffre::guard {
class Guard;
}  // namespace coffre::guard
namespace coffre::cards {
class Cards;
}  // namespace coffre::cards
namespace coffre::credentials {
class Credentials;
}  // namespace coffre::credentials
namespace coffre::retention {
class Retention;
}  // namespace coffre::retention
namespace coffre::approval {
class Approvals;
}  // namespace coffre::approval

namespace coffre::api {

// The operations' bounds (app/limits.h), as HTTP has always named them.
inline constexpr size_t kMaxBodyBytes = app::kMaxBodyBytes;
inline constexpr size_t kMaxLoginBodyBytes = app::kMaxLoginBodyBytes;
// Bodies above this size are parsed by at most kMaxLargeBodies requests at
// once (a JSON document takes many times its size in memory); beyond, 503
// busy with Retry-After. Records and searches are far smaller.
inline constexpr size_t kLargeBodyBytes = 64u << 10;
inline constexpr size_t kDefaultMaxLargeBodies = 8;
inline constexpr size_t kDefaultSearchLimit = app::kDefaultSearchLimit;
inline constexpr size_t kMaxScopedSearchCandidates = app::kMaxScopedSearchCandidates;
inline constexpr size_t kDefaultAuditLimit = app::kDefaultAuditLimit;
inline constexpr size_t kMaxAuditLimit = app::kMaxAuditLimit;
inline constexpr size_t kMaxExportAccesses = app::kMaxExportAccesses;

struct Services {
  vault::Vault& vault;
  auth::Directory& directory;
  audit::AuditLog& audit;
  // The policy in force (replaced atomically by `coffre policy load`).
  std::function<std::shared_ptr<const policy::Policy>()> policy;
  Clock& clock;
  std::string_view openapi_json;
  // Quotas, canaries and alerts (src/guard). Null: none (some tests).
  guard::Guard* guard = nullptr;
  // Payment cards (src/cards, /v1/cards). Null: the card routes answer 503.
  cards::Cards* cards = nullptr;
  // End users' passwords (src/credentials). Null: /v1/credentials answers 503.
  credentials::Credentials* credentials = nullptr;
  // Legal holds and the archive (src/retention). Null: their routes answer
  // 503 (some tests).
  retention::Retention* retention = nullptr;
  // Two-person approvals (src/approval, /v1/approvals). Null: those routes
  // answer 503 (some tests).
  approval::Approvals* approvals = nullptr;
  // How many requests with a body above kLargeBodyBytes are handled at once.
  size_t max_large_bodies = kDefaultMaxLargeBodies;
  // Failed logins, one line each (a login names the principal only if it
  // is a staff or service principal). Null: the process log (common/log.h).
  std::function<void(std::string_view)> log = nullptr;
  // Non-null and true: sealed; /readyz answers 503 `sealed` (app::Services).
  const std::atomic<bool>* sealed = nullptr;
};

class Api {
 public:
  explicit Api(const Services& services);
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  Response Handle(const Request& request);

  // Whether `request` may be handled on a thread that must not block (an
  // I/O thread): its route's operation is not `may_block` (GET of a record,
  // the health checks, the OpenAPI document). Anything that writes to the
  // store, hashes a password or scans is not.
  static bool IsNonBlocking(const Request& request);

  // Handle(), with the request's audit entries moved into `deferred`
  // instead of appended: the store is only read, and nothing waits for a
  // sync. The caller must make `deferred` durable (AuditLog::AppendBatchAsync)
  // before sending the response, and send AuditUnavailable() instead if
  // that fails (fail closed, as Handle does). For IsNonBlocking requests;
  // any request is handled correctly, but a write or a hash blocks.
  Response HandleDeferred(const Request& request, std::vector<audit::Entry>& deferred);

  // The response to send when a request's entries cannot be made durable.
  static Response AuditUnavailable();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace coffre::api
