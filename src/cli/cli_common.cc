#include "cli/cli_common.h"

#include <unistd.h>

#include "app/admin.h"
#include "app/admin_channel.h"
#include "cluster/node.h"
#if __has_include("storage/pg_store.h")
#include "storage/pg_store.h"
#define COFFRE_HAVE_PG_STORE 1
#endif

namespace coffre::cli {
namespace {

#ifdef COFFRE_TEST_HOOKS
std::function<storage::StoreOpener(const std::string& url)>& TestOpener() {
  static std::function<storage::StoreOpener(const std::string& url)> opener;
  return opener;
}
#endif

storage::StoreOpener FailingOpener(Error e) {
  return [e = std::move(e)](const storage::StoreRequest&) -> Result<std::unique_ptr<storage::Store>> {
    return Fail(e);
  };
}

}  // namespace

#ifdef COFFRE_TEST_HOOKS
void SetClusterStoreOpenerForTesting(std::function<storage::StoreOpener(const std::string& url)> f) {
  TestOpener() = std::move(f);
}
#endif

Status CheckClusterUrl(std::string_view url) {
  if (auto problem = cluster::StoreUrlProblem(url)) {
    return Fail(ErrorCode::kInvalidArgument, "--store: " + *problem);
  }
#ifdef COFFRE_HAVE_PG_STORE
  COFFRE_TRY(storage::CheckStoreUrl(url));
#endif
  return Ok();
}

storage::StoreOpener ClusterStoreOpener(const std::string& url) {
#ifdef COFFRE_TEST_HOOKS
  if (TestOpener()) return TestOpener()(url);
#endif
#ifdef COFFRE_HAVE_PG_STORE
  return storage::PgStoreOpener(url);
#else
  return FailingOpener(Error{ErrorCode::kFailedPrecondition,
                             "this coffre was built without the PostgreSQL store"});
#endif
}

Status RefuseOnCluster(const VaultArgs& a, std::string_view command, std::string_view alternative) {
  if (!cluster::IsNodeDir(TrimSlash(a.dir))) return Ok();
  return Fail(ErrorCode::kFailedPrecondition,
              std::string(command) + " works on an embedded vault's files; " + TrimSlash(a.dir) +
                  " is a cluster node whose vault is in PostgreSQL: " + std::string(alternative));
}

app::RuntimeOptions RuntimeFor(const VaultArgs& a) {
  app::RuntimeOptions o;
  o.dir = TrimSlash(a.dir);
  o.key_file = ResolveKeyFile(a.dir, a.key_file);
  o.key_pkcs11 = ResolveKeyPkcs11(a.key_pkcs11, a.key_file);
  o.erasure_journal = ResolveJournal(a.dir, a.journal);
  auto node = cluster::ReadNodeConfig(o.dir);
  if (!node) {
    o.store = FailingOpener(node.error());
  } else if (*node) {
    o.node_id = (*node)->node_id;
    o.store = ClusterStoreOpener((*node)->store_url);
  }
  o.audit_anchor = ResolveAnchor(a.dir, a.anchor, !o.node_id.empty());
  return o;
}

std::string LocalSource() { return app::LocalSource(::getuid()); }

Result<boost::json::object> Manage(const VaultArgs& a, const boost::json::object& request,
                                   std::span<const int> fds) {
  COFFRE_ASSIGN_OR_RETURN(
      auto remote, app::TryAdminSocket(app::AdminSocketPath(TrimSlash(a.dir)), request, fds));
  if (remote) return std::move(*remote);
  COFFRE_ASSIGN_OR_RETURN(auto rt, app::Runtime::Open(RuntimeFor(a)));
  app::Admin admin(*rt);
  return admin.Execute(request, ::getuid(), fds);
}

Result<boost::json::object> CallOperation(const VaultArgs& a, std::string_view op,
                                          const OperationInput& in) {
  boost::json::object input;
  if (!in.collection.empty()) input["collection"] = in.collection;
  if (!in.id.empty()) input["id"] = in.id;
  if (!in.query.empty()) input["query"] = in.query;
  if (!in.body.empty()) input["body"] = in.body;
  return Manage(a, {{"op", op}, {"input", std::move(input)}});
}

Result<std::unique_ptr<Local>> Local::Open(const VaultArgs& a, size_t write_buffer) {
  app::RuntimeOptions o = RuntimeFor(a);
  o.write_buffer_bytes = write_buffer;
  auto local = std::make_unique<Local>();
  COFFRE_ASSIGN_OR_RETURN(local->rt_, app::Runtime::Open(o));
  return local;
}

Status Local::Audit(std::string action, std::string_view collection, std::string record_id,
                    std::vector<std::string> subjects, std::vector<audit::FieldView> fields,
                    std::string reason) {
  audit::Entry e;
  e.principal = "local";
  e.action = std::move(action);
  e.collection = std::string(collection);
  e.record_id = std::move(record_id);
  e.subjects = std::move(subjects);
  e.fields = std::move(fields);
  e.outcome = "allowed";
  e.reason = std::move(reason);
  e.source = LocalSource();
  auto seq = rt_->audit().Append(std::move(e));
  if (!seq) return Fail(seq.error());
  return Ok();
}

std::vector<audit::FieldView> AllClear(const vault::Record& r, std::string_view prefix) {
  std::vector<audit::FieldView> out;
  for (const auto& f : r.fields) out.push_back({std::string(prefix) + f.name, audit::kViewClear});
  return out;
}

}  // namespace coffre::cli
