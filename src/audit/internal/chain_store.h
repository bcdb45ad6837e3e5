// One node's audit chain in a cluster vault (docs/audit-cluster.md): a
// Store over the audit spaces of the shared store that adds the chain's
// prefix 'n' ‖ chain id to every key it is given and strips it from every
// key it reads back. The embedded log's code (writer, recovery, walk,
// verification, seeks) runs unchanged on it. Also the chain registry's keys.
// Internal to the audit module.
//
//   ChainStore chain(raw_audit_handle, chain_id);   // 16 raw bytes
//   storage::SpaceHandle h(chain, "audit", 0, kAuditSpaces);
//   auto v = h.Get(Space::kAudit, EntryKey(1));     // reads 'n' ‖ id ‖ 'e' ‖ BE64(1)
//
// Thread-safety: as the Store beneath. Ownership: borrows the store behind
// `base`, which must outlive it.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "storage/space_handle.h"
#include "storage/store.h"

namespace coffre::audit::internal {

inline constexpr char kChainTag = 'n';
inline constexpr char kRegistryTag = 'r';

// 'n' ‖ chain.
std::string ChainPrefix(std::string_view chain);
// 'r' ‖ chain, in kAudit.
std::string RegistryKey(std::string_view chain);

// A registry row: the chain's first entry.
struct RegistryRow {
  std::string chain;       // 16 raw bytes
  std::string first_hash;  // h_1, 32 bytes
  int64_t first_time_ms = 0;
};
std::string EncodeRegistryValue(const RegistryRow& row);
std::optional<RegistryRow> DecodeRegistryRow(std::string_view key, std::string_view value);
// Every registry row, in chain order. kDataLoss names a malformed row's chain.
Result<std::vector<RegistryRow>> ReadRegistry(const storage::SpaceHandle& store);

class ChainStore : public storage::Store {
 public:
  ChainStore(storage::SpaceHandle base, std::string chain);

  const std::string& chain() const { return chain_; }
  // Puts the chain's registry row, unprefixed, into `batch` (a batch of
  // this store): written with the chain's entry 1.
  void PutRegistry(storage::WriteBatch& batch, std::string_view first_hash,
                   int64_t first_time_ms) const;

  std::unique_ptr<storage::WriteBatch> NewBatch() override;
  Status Write(storage::WriteBatch& batch, bool sync) override;
  Result<std::optional<std::string>> Get(storage::Space space, std::string_view key) override;
  Result<std::vector<std::optional<std::string>>> MultiGet(
      storage::Space space, const std::vector<std::string_view>& keys) override;
  Status Scan(storage::Space space, std::string_view prefix,
              const storage::ScanVisitor& visit) override;
  Status ScanRange(storage::Space space, std::string_view begin, std::string_view end,
                   const storage::ScanVisitor& visit) override;
  Status ScanRangeOnce(storage::Space space, std::string_view begin, std::string_view end,
                       const storage::ScanVisitor& visit) override;
  Status CompactSpace(storage::Space space) override { return base_.CompactSpace(space); }
  Status Flush() override { return Ok(); }
  Status SyncWal() override { return base_.SyncWal(); }
  Status Transact(const storage::TransactionBody& body) override;
  bool shared() const override { return base_.shared(); }
  Result<int64_t> NowMicros() override { return base_.NowMicros(); }

 private:
  std::string Key(std::string_view key) const;
  // The end of a range scan: `end` behind the prefix, or the prefix's end.
  std::string End(std::string_view end) const;
  storage::ScanVisitor Strip(const storage::ScanVisitor& visit) const;

  storage::SpaceHandle base_;
  std::string chain_;
  std::string prefix_;
};

}  // namespace coffre::audit::internal
