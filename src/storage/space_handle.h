// SpaceHandle: a module's narrow view of a Store, limited to the spaces it
// owns (ADR 0025). The composition root (src/app/runtime.cc) builds one per
// module from the vault (vault::Vault::Grant); the module never sees the
// Store itself, nor the spaces of the vault or of other modules.
//
//   storage::SpaceHandle principals = vault.Grant("auth", auth::kDirectorySpaces);
//   auto batch = principals.NewBatch();
//   batch->Put(Space::kPrincipals, key, value);
//   COFFRE_TRY(principals.Write(*batch));        // kInternal if the batch
//                                                // touched another space
//   auto v = principals.Get(Space::kPrincipals, key);
//
// A handle grants some spaces for writing (and reading), and possibly
// others for reading only (the breach report reads the audit log's spaces).
// Using any other space is a bug in coffre: kInternal, naming the module
// and the space, and nothing is written. The checks are inline bit tests:
// no virtual call, lock or allocation beyond the Store's own.
//
// Thread-safety: as the Store (a handle is a pointer and two masks; copy it
// freely). Ownership: borrows the Store, which must outlive every handle.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "storage/store.h"

namespace coffre::storage {

class SpaceHandle {
 public:
  // `owner` names the module in errors (a string literal: not copied).
  SpaceHandle(Store& store, const char* owner, SpaceSet writable, SpaceSet read_only = 0)
      : store_(&store), owner_(owner), writable_(writable), readable_(writable | read_only) {}

  // The same spaces, for reading only.
  SpaceHandle ReadOnly() const { return SpaceHandle(*store_, owner_, 0, readable_); }

  SpaceSet writable() const { return writable_; }
  SpaceSet readable() const { return readable_; }
  const char* owner() const { return owner_; }

  std::unique_ptr<WriteBatch> NewBatch() const { return store_->NewBatch(); }

  // Store::Write, for a batch that touched granted spaces only.
  [[nodiscard]] Status Write(WriteBatch& batch, bool sync = true) const {
    if ((batch.touched() & ~writable_) != 0) [[unlikely]] {
      return Refused("write to", batch.touched() & ~writable_);
    }
    return store_->Write(batch, sync);
  }

  [[nodiscard]] Result<std::optional<std::string>> Get(Space space, std::string_view key) const {
    if (!CanRead(space)) [[unlikely]]
      return Refused("read", SpaceBit(space));
    return store_->Get(space, key);
  }

  [[nodiscard]] Result<std::vector<std::optional<std::string>>> MultiGet(
      Space space, const std::vector<std::string_view>& keys) const {
    if (!CanRead(space)) [[unlikely]]
      return Refused("read", SpaceBit(space));
    return store_->MultiGet(space, keys);
  }

  [[nodiscard]] Status Scan(Space space, std::string_view prefix, const ScanVisitor& visit) const {
    if (!CanRead(space)) [[unlikely]]
      return Refused("read", SpaceBit(space));
    return store_->Scan(space, prefix, visit);
  }

  [[nodiscard]] Status ScanRange(Space space, std::string_view begin, std::string_view end,
                                 const ScanVisitor& visit) const {
    if (!CanRead(space)) [[unlikely]]
      return Refused("read", SpaceBit(space));
    return store_->ScanRange(space, begin, end, visit);
  }

  [[nodiscard]] Status ScanRangeOnce(Space space, std::string_view begin, std::string_view end,
                                     const ScanVisitor& visit) const {
    if (!CanRead(space)) [[unlikely]]
      return Refused("read", SpaceBit(space));
    return store_->ScanRangeOnce(space, begin, end, visit);
  }

  // Store::CompactSpace of a granted space (crypto-shredding).
  [[nodiscard]] Status CompactSpace(Space space) const {
    if ((SpaceBit(space) & writable_) == 0) [[unlikely]]
      return Refused("compact", SpaceBit(space));
    return store_->CompactSpace(space);
  }

  // Store::Transact, for a body that reads granted spaces and writes
  // writable ones: anything else is kInternal and nothing is written.
  [[nodiscard]] Status Transact(const TransactionBody& body) const;

  // Store::shared and Store::NowMicros.
  bool shared() const { return store_->shared(); }
  [[nodiscard]] Result<int64_t> NowMicros() const { return store_->NowMicros(); }

  // Store::SyncWal; needs a write grant (the log is shared: it makes every
  // earlier write durable, the module's included).
  [[nodiscard]] Status SyncWal() const {
    if (writable_ == 0) [[unlikely]]
      return Refused("sync", 0);
    return store_->SyncWal();
  }

 private:
  bool CanRead(Space space) const { return (SpaceBit(space) & readable_) != 0; }
  // kInternal: "module 'X' may not <what> space 'Y'".
  tl::unexpected<Error> Refused(std::string_view what, SpaceSet spaces) const;

  Store* store_;
  const char* owner_;
  SpaceSet writable_;
  SpaceSet readable_;
};

}  // namespace coffre::storage
