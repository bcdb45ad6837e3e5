// A cluster node's local state (docs/adr/0040-cluster-nodes.md): what
// DIR holds when the vault lives in a shared store (PostgreSQL) rather
// than in DIR itself. DIR then holds no data at all: its `cluster.toml`
// (where the store is, which node this is), TLS material, the admin socket,
// the audit anchor and `node.lock`. A DIR without cluster.toml is an
// embedded vault, as always.
//
//   COFFRE_ASSIGN_OR_RETURN(std::optional<NodeConfig> node, ReadNodeConfig(dir));
//   if (node) { /* open node->store_url as this node, node->node_id */ }
//
//   COFFRE_ASSIGN_OR_RETURN(NodeLock lock, NodeLock::Acquire(dir));  // one writer per node
//
// cluster.toml:
//   [store]
//   url = "postgresql://coffre@db1:5432,db2:5432/coffre?target_session_attrs=read-write"
//   [node]
//   id = "<32 hex digits>"
//
// Thread-safety: free functions are safe from any thread. A NodeLock
// belongs to its owner; its lock is released when it is destroyed.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace coffre::cluster {

inline constexpr std::string_view kConfigFile = "cluster.toml";
inline constexpr std::string_view kLockFile = "node.lock";
// The audit anchor of a node, inside DIR (DIR holds no data to keep it
// apart from): DIR/audit-anchor.
inline constexpr std::string_view kAnchorFile = "audit-anchor";

struct NodeConfig {
  std::string store_url;  // a libpq URI without a password
  std::string node_id;    // 32 lower-case hex digits
};

// DIR/cluster.toml.
std::string ConfigPath(const std::string& dir);

// True when DIR holds a cluster.toml (DIR is a cluster node's directory).
bool IsNodeDir(const std::string& dir);

// The node's config; nullopt when DIR has no cluster.toml (an embedded
// vault, or no vault). kInvalidArgument naming the file and the key when
// it is malformed (unknown keys included), or when its url holds a
// password (StoreUrlProblem).
Result<std::optional<NodeConfig>> ReadNodeConfig(const std::string& dir);

// Writes DIR/cluster.toml (created, mode 0600, never replaced:
// kAlreadyExists), fsynced with DIR.
Status WriteNodeConfig(const std::string& dir, const NodeConfig& config);

// 16 random bytes as 32 hex digits.
std::string NewNodeId();

// What is wrong with a store URL that coffre must not accept whatever the
// backend: empty, not a postgresql:// or postgres:// URI, or holding a
// password (in the user part, or as a password= parameter). nullopt when
// none of these. The text names the problem and never echoes the URL,
// which may hold a password. The PostgreSQL store's own CheckStoreUrl is
// the full check; this one holds without it.
std::optional<std::string> StoreUrlProblem(std::string_view url);

// Creates DIR (mode 0700) for a new node, or takes an existing empty one.
// kAlreadyExists when it exists and is not empty.
Status PrepareNodeDir(const std::string& dir);

// flock(DIR/node.lock): the one process that writes as this node (the
// node's audit chain, its anchor). `coffre serve` holds it while serving;
// a CLI command that opens the vault itself holds it while it runs (when
// the node serves, commands go through its admin socket instead).
class NodeLock {
 public:
  // kFailedPrecondition when another process holds it.
  static Result<NodeLock> Acquire(const std::string& dir);
  NodeLock(NodeLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  NodeLock& operator=(NodeLock&& other) noexcept;
  NodeLock(const NodeLock&) = delete;
  NodeLock& operator=(const NodeLock&) = delete;
  ~NodeLock();

 private:
  explicit NodeLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace coffre::cluster
