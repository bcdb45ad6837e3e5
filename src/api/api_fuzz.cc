// libFuzzer target: arbitrary requests (method, target, headers, body) into
// the API over a real vault with the example schema and policy and one
// service key. No input may crash it or yield a 5xx.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "api/api.h"
#include "approval/approvals.h"
#include "guard/guard.h"

namespace {

using namespace coffre;

struct World {
  FakeClock clock{1795000000};
  std::unique_ptr<vault::Vault> vault;
  std::unique_ptr<auth::Directory> directory;
  std::unique_ptr<audit::AuditLog> audit;
  std::unique_ptr<guard::Guard> guard;
  std::unique_ptr<approval::Approvals> approvals;
  std::shared_ptr<const policy::Policy> policy;
  std::unique_ptr<api::Api> api;
  std::string key;
  std::string auditor_key;  // reaches the breach report parser

  World() {
    namespace fs = std::filesystem;
    const fs::path tmp =
        fs::temp_directory_path() / ("coffre-api-fuzz-" + std::to_string(::getpid()));
    fs::remove_all(tmp);
    fs::create_directories(tmp);
    const std::string src = COFFRE_SOURCE_DIR;
    if (!crypto::Init()) std::abort();
    auto schema = schema::Schema::LoadFile(src + "/examples/people.toml");
    auto pol = policy::Policy::LoadFile(src + "/examples/people-policy.toml", *schema);
    if (!pol) std::abort();
    policy = std::make_shared<const policy::Policy>(std::move(*pol));
    if (!vault::Vault::Init({.dir = tmp / "v",
                             .schema_path = src + "/examples/people.toml",
                             .key_file = tmp / "v.key",
                             .erasure_journal = ""})) {
      std::abort();
    }
    vault = std::move(*vault::Vault::Open({.dir = tmp / "v", .key_file = tmp / "v.key"}));
    directory = std::make_unique<auth::Directory>(
        *vault->Grant("auth", auth::kDirectorySpaces), vault->keyring().api_key_hash_key(),
        vault->keyring().pepper(), clock, crypto::kTestPasswordHashParams);
    audit::Options ao;
    ao.anchor_path = tmp / "anchor";
    ao.clock = &clock;
    audit = std::move(*audit::AuditLog::Open(
        *vault->Grant("audit", audit::kAuditSpaces),
        crypto::SigningKey::FromSeed(vault->keyring().audit_signing_seed()), ao));
    key = directory->Add({.name = "admin", .kind = auth::Kind::kService, .role = "admin"})->api_key;
    // The guard too (quotas, denials, alerts), quiet: it logs to stderr.
    guard = std::move(*guard::Guard::Open({.vault = *vault,
                                           .directory = *directory,
                                           .audit = *audit,
                                           .clock = clock,
                                           .alerts = *vault->Grant("guard", guard::kAlertSpaces),
                                           .log = [](std::string_view) {}}));
    auditor_key =
        directory->Add({.name = "dpo", .kind = auth::Kind::kService, .role = "auditor"})->api_key;
    approvals =
        std::make_unique<approval::Approvals>(*vault->Grant("approval", approval::kApprovalSpaces),
                                              vault->keyring().secrets_key(), clock);
    api = std::make_unique<api::Api>(api::Services{.vault = *vault,
                                                   .directory = *directory,
                                                   .audit = *audit,
                                                   .policy = [this] { return policy; },
                                                   .clock = clock,
                                                   .openapi_json = "{}",
                                                   .guard = guard.get(),
                                                   .approvals = approvals.get()});
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* world = new World();
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // Layout: method \n target \n purpose \n body
  api::Request r;
  auto next = [&] {
    size_t nl = in.find('\n');
    std::string_view part = in.substr(0, nl);
    in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
    return std::string(part);
  };
  r.method = next();
  r.target = next();
  std::string purpose = next();
  // The auditor for the purpose it may use (breach reports), else the admin.
  r.headers.emplace_back(
      "authorization", "Bearer " + (purpose == "investigation" ? world->auditor_key : world->key));
  r.headers.emplace_back("x-coffre-purpose", purpose);
  r.body = std::string(in);
  r.source = "fuzz";
  api::Response res = world->api->Handle(r);
  // This world keeps no cards, credentials or retention (holds, archive):
  // their routes answer 503 by design (api.h, Services), which is no failure.
  const bool unkept =
      res.status == 503 &&
      (r.target.starts_with("/v1/cards") || r.target.starts_with("/v1/credentials") ||
       r.target.starts_with("/v1/retention") || r.target.starts_with("/v1/archive") ||
       (r.target.starts_with("/v1/subjects/") && r.target.find("/hold") != std::string::npos));
  if (res.status >= 500 && !unkept) std::abort();
  return 0;
}
