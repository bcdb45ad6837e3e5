#include "app/admin.h"

#include <mutex>
#include <vector>

namespace coffre::app {
namespace {

namespace json = boost::json;

// Runtimes an Admin serves, by the address of their vault (what Services
// holds). Few (one per process, a few in tests).
std::mutex registry_mu;
std::vector<Runtime*>& Registry() {
  static std::vector<Runtime*> runtimes;
  return runtimes;
}

Result<std::string> OptionalText(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end()) return std::string();
  if (!it->value().is_string()) {
    return Fail(ErrorCode::kInvalidArgument, "'input." + std::string(key) + "' must be a string");
  }
  return std::string(it->value().get_string());
}

}  // namespace

std::string LocalSource(uint32_t uid) { return "cli:uid=" + std::to_string(uid); }

Runtime* RuntimeServing(const Services& s) {
  std::lock_guard lock(registry_mu);
  for (Runtime* rt : Registry()) {
    if (&rt->vault() == &s.vault) return rt;
  }
  return nullptr;
}

Admin::Admin(Runtime& runtime) : rt_(runtime) {
  runner_ = std::make_unique<Runner>(Services{.vault = rt_.vault(),
                                              .directory = rt_.directory(),
                                              .audit = rt_.audit(),
                                              .policy = [this] { return rt_.policy(); },
                                              .clock = rt_.clock(),
                                              .openapi_json = {},
                                              .guard = &rt_.guard(),
                                              .cards = &rt_.cards(),
                                              .credentials = &rt_.credentials(),
                                              .retention = &rt_.retention(),
                                              .approvals = &rt_.approvals()});
  std::lock_guard lock(registry_mu);
  Registry().push_back(&rt_);
}

Admin::~Admin() {
  std::lock_guard lock(registry_mu);
  auto& r = Registry();
  for (auto it = r.begin(); it != r.end(); ++it) {
    if (*it == &rt_) {
      r.erase(it);
      break;
    }
  }
}

Result<json::object> Admin::Execute(const json::object& request, uint32_t uid,
                                    std::span<const int> fds) {
  auto op_it = request.find("op");
  if (op_it == request.end() || !op_it->value().is_string()) {
    return Fail(ErrorCode::kInvalidArgument, "the request names no operation");
  }
  const std::string op(op_it->value().get_string());
  std::string collection, id, query, body;
  if (const json::value* input = request.if_contains("input")) {
    if (!input->is_object()) return Fail(ErrorCode::kInvalidArgument, "'input' must be an object");
    const json::object& in = input->get_object();
    COFFRE_ASSIGN_OR_RETURN(collection, OptionalText(in, "collection"));
    COFFRE_ASSIGN_OR_RETURN(id, OptionalText(in, "id"));
    COFFRE_ASSIGN_OR_RETURN(query, OptionalText(in, "query"));
    COFFRE_ASSIGN_OR_RETURN(body, OptionalText(in, "body"));
  } else if (request.size() > 1) {
    json::object members = request;
    members.erase("op");
    body = json::serialize(members);
  }
  Caller caller = Caller::Local(uid);
  caller.source = LocalSource(uid);
  caller.address = caller.source;
  Outcome out = runner_->Call(
      caller, op,
      OpInput{.collection = collection, .id = id, .query = query, .body = body, .fds = fds});
  if (out.failure) return Fail(out.failure->code, std::move(out.failure->message));
  if (out.rendered) return json::object{{"text", std::move(out.text)}};
  if (out.result.is_object()) return std::move(out.result.as_object());
  if (out.result.is_null()) return json::object{};
  return json::object{{"result", std::move(out.result)}};
}

}  // namespace coffre::app
