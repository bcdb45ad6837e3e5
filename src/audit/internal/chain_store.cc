#include "audit/internal/chain_store.h"

#include "audit/internal/format.h"
#include "common/bytes.h"

namespace coffre::audit::internal {

using storage::Space;

namespace {

constexpr unsigned char kRegistryVersion = 1;

// A batch of a ChainStore: every key put or deleted gets the chain's
// prefix, in the base store's own batch.
class PrefixBatch : public storage::WriteBatch {
 public:
  PrefixBatch(std::unique_ptr<storage::WriteBatch> inner, const std::string& prefix)
      : inner_(std::move(inner)), prefix_(prefix) {}
  size_t Count() const override { return inner_->Count(); }
  size_t ApproximateBytes() const override { return inner_->ApproximateBytes(); }
  storage::WriteBatch& inner() { return *inner_; }

 protected:
  void DoPut(Space space, std::string_view key, std::string_view value) override {
    inner_->Put(space, Prefixed(key), value);
  }
  void DoDelete(Space space, std::string_view key) override {
    inner_->Delete(space, Prefixed(key));
  }
  void DoClear() override { inner_->Clear(); }

 private:
  std::string Prefixed(std::string_view key) const {
    std::string k = prefix_;
    k.append(key);
    return k;
  }
  std::unique_ptr<storage::WriteBatch> inner_;
  const std::string& prefix_;
};

}  // namespace

std::string ChainPrefix(std::string_view chain) {
  std::string p(1, kChainTag);
  p.append(chain);
  return p;
}

std::string RegistryKey(std::string_view chain) {
  std::string k(1, kRegistryTag);
  k.append(chain);
  return k;
}

std::string EncodeRegistryValue(const RegistryRow& row) {
  std::string v(1, static_cast<char>(kRegistryVersion));
  v.append(row.first_hash);
  AppendBigEndian64(v, static_cast<uint64_t>(row.first_time_ms));
  return v;
}

std::optional<RegistryRow> DecodeRegistryRow(std::string_view key, std::string_view value) {
  if (key.size() != 1 + kIdBytes || key[0] != kRegistryTag) return std::nullopt;
  if (value.size() != 1 + kHashBytes + 8 ||
      static_cast<unsigned char>(value[0]) != kRegistryVersion) {
    return std::nullopt;
  }
  RegistryRow row;
  row.chain = std::string(key.substr(1));
  row.first_hash = std::string(value.substr(1, kHashBytes));
  row.first_time_ms = static_cast<int64_t>(ReadBigEndian64(value.substr(1 + kHashBytes)));
  return row;
}

Result<std::vector<RegistryRow>> ReadRegistry(const storage::SpaceHandle& store) {
  std::vector<RegistryRow> rows;
  std::optional<std::string> bad;
  COFFRE_TRY(store.Scan(Space::kAudit, std::string(1, kRegistryTag),
                        [&](std::string_view k, std::string_view v) {
                          auto row = DecodeRegistryRow(k, v);
                          if (!row) {
                            bad = ToHex(k.substr(1));
                            return false;
                          }
                          rows.push_back(std::move(*row));
                          return true;
                        }));
  if (bad) {
    return Fail(ErrorCode::kDataLoss, "audit chain registry: the row of chain " + *bad +
                                          " is malformed (run coffre audit verify)");
  }
  return rows;
}

ChainStore::ChainStore(storage::SpaceHandle base, std::string chain)
    : base_(base), chain_(std::move(chain)), prefix_(ChainPrefix(chain_)) {}

void ChainStore::PutRegistry(storage::WriteBatch& batch, std::string_view first_hash,
                             int64_t first_time_ms) const {
  // Only batches of this store come here (AuditLog::CommitGroup).
  auto& inner = static_cast<PrefixBatch&>(batch).inner();
  inner.Put(Space::kAudit, RegistryKey(chain_),
            EncodeRegistryValue({chain_, std::string(first_hash), first_time_ms}));
}

std::string ChainStore::Key(std::string_view key) const {
  std::string k = prefix_;
  k.append(key);
  return k;
}

std::string ChainStore::End(std::string_view end) const {
  if (!end.empty()) return Key(end);
  // The prefix's successor: the first key after every key it starts.
  std::string e = prefix_;
  while (!e.empty() && static_cast<unsigned char>(e.back()) == 0xff) e.pop_back();
  if (!e.empty()) e.back() = static_cast<char>(static_cast<unsigned char>(e.back()) + 1);
  return e;
}

storage::ScanVisitor ChainStore::Strip(const storage::ScanVisitor& visit) const {
  const size_t n = prefix_.size();
  return [&visit, n](std::string_view k, std::string_view v) { return visit(k.substr(n), v); };
}

std::unique_ptr<storage::WriteBatch> ChainStore::NewBatch() {
  return std::make_unique<PrefixBatch>(base_.NewBatch(), prefix_);
}

Status ChainStore::Write(storage::WriteBatch& batch, bool sync) {
  return base_.Write(static_cast<PrefixBatch&>(batch).inner(), sync);
}

Result<std::optional<std::string>> ChainStore::Get(Space space, std::string_view key) {
  return base_.Get(space, Key(key));
}

Result<std::vector<std::optional<std::string>>> ChainStore::MultiGet(
    Space space, const std::vector<std::string_view>& keys) {
  std::vector<std::string> full;
  full.reserve(keys.size());
  for (std::string_view k : keys) full.push_back(Key(k));
  std::vector<std::string_view> views(full.begin(), full.end());
  return base_.MultiGet(space, views);
}

Status ChainStore::Scan(Space space, std::string_view prefix, const storage::ScanVisitor& visit) {
  return base_.Scan(space, Key(prefix), Strip(visit));
}

Status ChainStore::ScanRange(Space space, std::string_view begin, std::string_view end,
                             const storage::ScanVisitor& visit) {
  return base_.ScanRange(space, Key(begin), End(end), Strip(visit));
}

Status ChainStore::ScanRangeOnce(Space space, std::string_view begin, std::string_view end,
                                 const storage::ScanVisitor& visit) {
  return base_.ScanRangeOnce(space, Key(begin), End(end), Strip(visit));
}

Status ChainStore::Transact(const storage::TransactionBody& body) {
  (void)body;
  return Fail(ErrorCode::kInternal, "an audit chain takes no transaction");
}

}  // namespace coffre::audit::internal
