#include "app/runtime.h"

#include <cstdlib>
#include <fstream>

namespace coffre::app {
namespace {

#ifdef COFFRE_TEST_HOOKS
// Test builds only: the clock named by COFFRE_TEST_CLOCK_FILE, re-read on
// each call, so black-box tests can move it (session expiry, lockout,
// retention) without waiting. The file holds either an offset in seconds
// added to the real time ("3600"), or "@" and a Unix time in milliseconds at
// which the clock stands still ("@1796000000000"), for tests that must not
// see real time pass between two requests (exponential delays).
class OffsetClock final : public Clock {
 public:
  explicit OffsetClock(std::string path) : path_(std::move(path)) {}
  int64_t NowUnixSeconds() const override { return NowUnixMillis() / 1000; }
  int64_t NowUnixMillis() const override {
    std::ifstream in(path_);
    if (in.peek() == '@') {
      in.get();
      int64_t frozen_ms = 0;
      if (in >> frozen_ms) return frozen_ms;
    }
    int64_t offset = 0;
    if (!(in >> offset)) offset = 0;
    return DefaultClock().NowUnixMillis() + offset * 1000;
  }

 private:
  std::string path_;
};
#endif

}  // namespace

Result<std::unique_ptr<Runtime>> Runtime::Open(const RuntimeOptions& o) {
  std::unique_ptr<Runtime> rt(new Runtime());
  rt->options_ = o;
  if (!o.node_id.empty()) {
    COFFRE_ASSIGN_OR_RETURN(cluster::NodeLock lock, cluster::NodeLock::Acquire(o.dir));
    rt->node_lock_.emplace(std::move(lock));
  }
  rt->clock_ = o.clock != nullptr ? o.clock : &DefaultClock();
#ifdef COFFRE_TEST_HOOKS
  if (const char* path = std::getenv("COFFRE_TEST_CLOCK_FILE");
      o.clock == nullptr && path && *path) {
    rt->test_clock_ = std::make_unique<OffsetClock>(path);
    rt->clock_ = rt->test_clock_.get();
  }
#endif
  COFFRE_ASSIGN_OR_RETURN(rt->vault_,
                          vault::Vault::Open({.dir = o.dir,
                                              .key_file = o.key_file,
                                              .master_key = o.master_key,
                                              .key_pkcs11 = o.key_pkcs11,
                                              .erasure_journal = o.erasure_journal,
                                              .write_buffer_bytes = o.write_buffer_bytes,
                                              .row_cache_bytes = o.row_cache_bytes,
                                              .clock = rt->clock_,
                                              .erasers = {&rt->card_eraser_, &rt->hold_eraser_},
                                              .store = o.store,
                                              .node_id = o.node_id}));
  rt->options_.master_key = nullptr;  // borrowed for the open only
  vault::Vault& v = *rt->vault_;
  COFFRE_ASSIGN_OR_RETURN(auto text, v.GetConfig(kPolicyConfig));
  if (text) {
    COFFRE_ASSIGN_OR_RETURN(policy::Policy p,
                            policy::Policy::Parse(*text, v.schema(), "stored policy"));
    rt->policy_ = std::make_shared<const policy::Policy>(std::move(p));
  } else {
    // No policy loaded yet: one that denies everything.
    rt->policy_ = std::make_shared<const policy::Policy>(policy::Policy::DenyAll());
  }
  // Each module gets a handle on the spaces it owns and the keys derived
  // for it, nothing more (ADR 0025).
  const vault::Keyring& ring = v.keyring();
  COFFRE_ASSIGN_OR_RETURN(storage::SpaceHandle principals, v.Grant("auth", auth::kDirectorySpaces));
  COFFRE_ASSIGN_OR_RETURN(storage::SpaceHandle creds,
                          v.Grant("credentials", credentials::kCredentialSpaces));
  COFFRE_ASSIGN_OR_RETURN(storage::SpaceHandle log, v.Grant("audit", audit::kAuditSpaces));
  COFFRE_ASSIGN_OR_RETURN(storage::SpaceHandle alerts, v.Grant("guard", guard::kAlertSpaces));
  COFFRE_ASSIGN_OR_RETURN(storage::SpaceHandle cards, v.Grant("cards", cards::kCardSpaces));
  COFFRE_ASSIGN_OR_RETURN(storage::SpaceHandle holds,
                          v.Grant("retention", retention::kRetentionSpaces));
  COFFRE_ASSIGN_OR_RETURN(storage::SpaceHandle approvals,
                          v.Grant("approval", approval::kApprovalSpaces));
  rt->directory_ = std::make_unique<auth::Directory>(principals, ring.api_key_hash_key(),
                                                     ring.pepper(), *rt->clock_, o.password_params);
  rt->credentials_ = std::make_unique<credentials::Credentials>(
      creds, ring.pepper(), ring.credential_token_key(), *rt->clock_, o.credential_options);
  audit::Options ao;
  ao.anchor_path = o.audit_anchor;
  ao.clock = rt->clock_;
  ao.recreate_anchor = o.recreate_audit_anchor;
  COFFRE_ASSIGN_OR_RETURN(
      rt->audit_, audit::AuditLog::Open(
                      log, crypto::SigningKey::FromSeed(ring.audit_signing_seed()), std::move(ao)));
  guard::GuardOptions go{.vault = v,
                         .directory = *rt->directory_,
                         .audit = *rt->audit_,
                         .clock = *rt->clock_,
                         .alerts = alerts};
  if (!o.alert_webhook.empty()) {
    guard::WebhookOptions wo;
    wo.url = o.alert_webhook;
    wo.ca_file = o.alert_webhook_ca;
    go.webhook = std::move(wo);
  } else if (!o.alert_webhook_ca.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "--alert-webhook-ca needs --alert-webhook");
  }
  COFFRE_ASSIGN_OR_RETURN(rt->guard_, guard::Guard::Open(std::move(go)));
  COFFRE_ASSIGN_OR_RETURN(rt->cards_,
                          cards::Cards::Open(v, cards, ring.kek(), ring.card_hash_key()));
  rt->retention_ = std::make_unique<retention::Retention>(v, holds, *rt->audit_, *rt->clock_);
  rt->approvals_ =
      std::make_unique<approval::Approvals>(approvals, ring.secrets_key(), *rt->clock_);
  return rt;
}

Result<cards::SweepStats> Runtime::SweepCards() {
  COFFRE_ASSIGN_OR_RETURN(
      cards::SweepStats stats,
      cards_->Sweep(clock_->NowUnixSeconds(), [this](const cards::SweepEvent& ev) -> Status {
        audit::Entry e;
        e.principal = "coffre";
        e.action = std::string(cards::SweepEventName(ev.kind));
        e.record_id = ev.id;
        if (!ev.subject.empty()) e.subjects = {ev.subject};
        e.outcome = "allowed";
        e.reason = ev.kind == cards::SweepEvent::kExpired
                       ? "expiry month ended: number replaced by its keyed hash"
                       : "evidence retention ended: card deleted";
        e.source = "coffre:cards";
        auto appended = audit_->Append(std::move(e));
        if (!appended) return Fail(std::move(appended).error());
        return Ok();
      }));
  COFFRE_TRY(cards_->CompactIfShredded());
  return stats;
}

Runtime::~Runtime() {
  // The guard stops its webhook and may still audit; the audit log
  // checkpoints its tail on destruction; both need the store.
  approvals_.reset();
  retention_.reset();
  guard_.reset();
  cards_.reset();
  audit_.reset();
  credentials_.reset();
  directory_.reset();
  vault_.reset();
}

std::shared_ptr<const policy::Policy> Runtime::policy() const {
  std::lock_guard lock(policy_mu_);
  return policy_;
}

Status Runtime::ReplacePolicy(const std::string& text) {
  COFFRE_ASSIGN_OR_RETURN(policy::Policy p,
                          policy::Policy::Parse(text, vault_->schema(), "policy"));
  COFFRE_ASSIGN_OR_RETURN(auto principals, directory_->List());
  for (const auth::Principal& who : principals) {
    if (!p.HasRole(who.role)) {
      return Fail(ErrorCode::kInvalidArgument, "the policy lacks role '" + who.role +
                                                   "', held by principal '" + who.name +
                                                   "'; change or remove that principal first");
    }
  }
  COFFRE_TRY(vault_->PutConfig(kPolicyConfig, text));
  auto next = std::make_shared<const policy::Policy>(std::move(p));
  std::lock_guard lock(policy_mu_);
  policy_ = std::move(next);
  return Ok();
}

void Runtime::SetTlsReloader(TlsReloader reloader) {
  std::lock_guard lock(tls_mu_);
  tls_reloader_ = std::move(reloader);
}

Result<std::optional<std::string>> Runtime::ReloadTls() {
  std::lock_guard lock(tls_mu_);  // one reload at a time
  if (!tls_reloader_) return std::optional<std::string>();
  COFFRE_ASSIGN_OR_RETURN(std::string served, tls_reloader_());
  return std::optional<std::string>(std::move(served));
}

}  // namespace coffre::app
