// Two-person approvals (docs/exfiltration.md, "Two-person approvals"):
// actions that move many people's data at once (a bulk export, the list of
// people to notify after a breach) need one admin to ask and another to
// approve; the command they authorise then consumes the approval, once.
//
//   approval::Approvals approvals(*vault.Grant("approval", approval::kApprovalSpaces),
//                                 keyring.secrets_key(), clock);
//   auto a = approvals.Request("bulk_export", {{"collection", "people"}}, "alice");
//   approvals.Approve(a->id, "alice");   // kPermissionDenied: the same admin
//   approvals.Approve(a->id, "bob");     // approved
//   approvals.Consume(a->id, "bulk_export", {{"collection", "people"}});  // once
//
// Actions and their parameters (canonical forms are compared):
//   bulk_export          {collection}
//   breach_notification  {principal, user?, from, to}   times RFC 3339 UTC
//
// Storage: Space::kCounters, key "approval/" + hex id, the value sealed with
// the vault's secrets key and the id as associated data, so that someone
// holding only the data directory can neither forge an approval nor edit one
// (approve it, clear its consumption, extend it) nor move one to another id.
// An approval expires 24 hours after it was requested.
//
// Thread-safety: safe from many threads; state changes are serialised
// within the process (one process owns the data directory) and, on a
// shared store (a cluster), across nodes by Store::Transact (ADR 0042), so
// an approval is consumed once whichever nodes race for it.
// Ownership: borrows the store, key and clock, which must outlive it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "crypto/crypto.h"
#include "storage/space_handle.h"
#include "storage/store.h"

namespace coffre::approval {

// The space approvals live in (vault::Vault::Grant, ADR 0025), under the
// key prefix "approval/" (the alert log keeps its last id there too).
inline constexpr storage::SpaceSet kApprovalSpaces = storage::Spaces({storage::Space::kCounters});

inline constexpr std::string_view kBulkExport = "bulk_export";
inline constexpr std::string_view kBreachNotification = "breach_notification";
inline constexpr int64_t kLifetimeMs = 24LL * 3600 * 1000;

using Params = std::map<std::string, std::string, std::less<>>;

enum class State { kPending, kApproved, kConsumed, kExpired };
std::string_view StateName(State s);  // "pending", "approved", "consumed", "expired"

struct Approval {
  std::string id;  // 16 raw bytes
  std::string action;
  Params params;  // canonical
  std::string requester;
  std::string approver;  // empty until approved
  int64_t created_ms = 0;
  int64_t expires_ms = 0;
  int64_t approved_ms = 0;  // 0 until approved
  int64_t consumed_ms = 0;  // 0 until consumed

  State StateAt(int64_t now_ms) const;
};

// Checks `params` for `action` and returns their canonical form (times
// reformatted to RFC 3339 UTC). kInvalidArgument names the action or the
// parameter, never a value. Whether a collection or a principal exists is
// for the caller to check.
Result<Params> CanonicalParams(std::string_view action, const Params& params);

class Approvals {
 public:
  Approvals(storage::SpaceHandle store, const crypto::SecretKey& seal_key, Clock& clock)
      : store_(store), key_(seal_key), clock_(clock) {}

  // A pending approval asked for by `requester`.
  Result<Approval> Request(std::string_view action, const Params& params,
                           std::string_view requester);
  // Who may approve is checked by the caller too: over the API, only a
  // human principal (src/app/ops_reports.cc).
  // kNotFound for an unknown id; kPermissionDenied when `approver` is the
  // requester; kFailedPrecondition unless pending (already approved,
  // consumed or expired).
  Result<Approval> Approve(std::string_view id, std::string_view approver);
  // kNotFound for an unknown id; kDataLoss when the stored value was altered.
  Result<Approval> Get(std::string_view id);
  // The approvals in state `state` now (every state when nullopt), oldest
  // request first, at most `limit`; `*more` (when given) says whether more
  // matched. kDataLoss when a stored value was altered.
  Result<std::vector<Approval>> List(std::optional<State> state, size_t limit,
                                     bool* more = nullptr);
  // Marks an approved, unexpired, unconsumed approval of `action` with the
  // same (canonical) parameters as consumed, durably, and returns it.
  // kPermissionDenied when it is not approved, expired, consumed, or for
  // another action or other parameters (the message says which).
  Result<Approval> Consume(std::string_view id, std::string_view action, const Params& params);

 private:
  Status Store(const Approval& a);
  // Reads approval `id`, applies `change` (its error: nothing written) and
  // stores the result: under the process's lock on an embedded vault, in
  // one Store::Transact under the lock "ap/<hex id>" on a shared store.
  Result<Approval> Change(std::string_view id, const std::function<Status(Approval&)>& change);

  storage::SpaceHandle store_;
  const crypto::SecretKey& key_;
  Clock& clock_;
};

}  // namespace coffre::approval
