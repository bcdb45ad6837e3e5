// One operation of coffre, as every front end runs it (ADR 0023):
// its name, the policy resource and action it needs, what it does to the
// vault, how it reads its input and how it runs. The table
// (app/operations.h) holds every operation; the runner (app/runner.h)
// runs one for a caller: authenticate -> decide -> scope -> execute ->
// guard -> audit. No HTTP here: a failure is a coffre::ErrorCode plus the
// stable wire name ("invalid_request", "not_found", ...) that the HTTP
// front end turns into a status, and the socket and CLI into an exit code.
//
//   const Operation* op = FindOperation("record.get");
//   Outcome out = runner.Run(caller, *op, OpInput{.collection = "people", .id = hex});
//   if (out.failure) ... out.failure->name, out.failure->message
//   else ... out.result (JSON), or out.text with out.content_type
//
// Thread-safety: Operation values are immutable, in static tables.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/status.h"
#include "policy/policy.h"

namespace coffre::app {

class Context;  // app/runner.h

// Why an operation did not succeed. `name` is the stable code clients see
// (docs/api.md, "Errors"); exactly one HTTP status belongs to each name
// (src/api), and `code` gives the CLI its exit code. `message` names the
// problem, never a personal value.
struct Failure {
  ErrorCode code = ErrorCode::kInternal;
  std::string_view name = "internal";  // a literal: "invalid_request", ...
  std::string message;
  // > 0: when to try again (quota, throttle, busy): Retry-After.
  int64_t retry_after_seconds = 0;

  // A denial by the policy or the guard: recorded as "denied", not "error".
  bool denied() const { return code == ErrorCode::kPermissionDenied; }
};

// The usual failures, named as clients see them.
Failure InvalidRequest(std::string message);                          // invalid_request
Failure InvalidJson(std::string message);                             // invalid_json
Failure InvalidValue(std::string message);                            // invalid_value
Failure NotFound(std::string message);                                // not_found
Failure Forbidden(std::string message);                               // forbidden (a denial)
Failure Suspended(std::string message);                               // suspended (a denial)
Failure Unavailable(std::string message);                             // unavailable
Failure Busy(std::string message, int64_t retry_after_seconds);       // busy
Failure Throttled(std::string message, int64_t retry_after_seconds);  // throttled
Failure PayloadTooLarge(std::string message);                         // payload_too_large
// A core error as callers see it (the one place codes get their names):
// storage failures say "unavailable" without detail, corruption "internal".
Failure FailureFrom(const Error& e);

// What an operation answered.
struct Outcome {
  // kCreated: something new exists (HTTP 201); kEmpty: nothing to return
  // (HTTP 204); kOk: the result (HTTP 200).
  enum class Kind { kOk, kCreated, kEmpty };
  Kind kind = Kind::kOk;
  // Set when the operation failed (then result and text are empty).
  std::optional<Failure> failure;
  // The answer, as JSON (its memory from Context::storage()) ...
  boost::json::value result;
  // ... or already rendered (a breach report in md/csv, the OpenAPI
  // document): `text` is sent as is, with `content_type`.
  std::string text;
  std::string_view content_type;
  bool rendered = false;
  // How the operation's audit entry recorded it: "allowed", "denied",
  // "error"; empty when none was written (unauthenticated, or a probe).
  // With a deferral (Caller::deferred), the entries are in that vector.
  std::string_view audited;

  static Outcome Failed(Failure f) {
    Outcome o;
    o.failure = std::move(f);
    return o;
  }
  bool ok() const { return !failure.has_value(); }
};

// The input of one call, as the front end found it. The HTTP front end
// fills it from the route's parameters, the query string and the body; a
// local front end builds the same from its arguments.
struct OpInput {
  std::string_view collection;  // {collection}
  std::string_view id;          // {id}: record, subject, card token, user, approval
  std::string_view query;       // a form-encoded query string ("limit=10&from=...")
  std::string_view body;        // a JSON document (empty: none)
  // Descriptors a local caller passed over the admin socket (SCM_RIGHTS):
  // records.import's files (ADR 0024, point 6). Borrowed.
  std::span<const int> fds;
};

// How an operation reads its input (the front end checks nothing of it;
// the operation parses it with app/input.h and reports invalid_request).
enum class InputShape {
  kNone,          // nothing but path parameters
  kQuery,         // a query string of named parameters
  kBody,          // a JSON object body
  kOptionalBody,  // an empty body or a JSON object
};

// What the policy decides before the operation runs.
enum class Target {
  kNone,           // no decision (health, login, the OpenAPI document)
  kCollection,     // `collection_action` on OpInput::collection
  kAnyCollection,  // `collection_action` on at least one collection (subjects)
  kResource,       // `resource_action` on `resource` (audit, cards, ...)
};

struct Operation {
  std::string_view name;          // "record.get": what front ends call it
  std::string_view audit_action;  // the audit entry's action ("read")
  Target target = Target::kNone;
  policy::Action collection_action = policy::Action::kRead;  // kCollection, kAnyCollection
  std::string_view resource;         // kResource: policy::kResourceCards, ...
  std::string_view resource_action;  // kResource: "read", "manage", ...
  // The runner decides before Run (the decision in Context::decision()),
  // unless the operation must read its input first, or must check a
  // service first (then Run calls Context::Decide() itself).
  bool decide_in_run = false;
  bool authenticated = true;      // false: no caller needed (health, login)
  bool writes = false;            // changes the store
  bool may_block = true;          // false: may run on an I/O thread (reads + deferred audit)
  bool exposes_subjects = false;  // returns personal data: counted by the guard
  InputShape input = InputShape::kNone;
  // The collection's rules type the body's fields (records): the card
  // security-code screen knows a NIR from a card number (docs/cards.md).
  bool typed_body = false;
  Outcome (*run)(Context& ctx, const OpInput& in) = nullptr;
};

}  // namespace coffre::app
