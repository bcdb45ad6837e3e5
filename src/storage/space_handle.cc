#include "storage/space_handle.h"

namespace coffre::storage {

tl::unexpected<Error> SpaceHandle::Refused(std::string_view what, SpaceSet spaces) const {
  std::string names;
  for (int i = 0; i < 64; ++i) {
    if ((spaces & (SpaceSet{1} << i)) == 0) continue;
    if (!names.empty()) names += ", ";
    names += i < kSpaceCount ? "'" + std::string(SpaceName(static_cast<Space>(i))) + "'"
                             : std::string("an unknown space");
  }
  if (names.empty()) names = "any space";
  return Fail(ErrorCode::kInternal, "module '" + std::string(owner_) + "' may not " +
                                        std::string(what) + " " + names + " (not granted to it)");
}

namespace {

// The module's view of a transaction: reads of granted spaces only; the
// writes are checked once, before the commit.
class CheckedTransaction final : public Transaction {
 public:
  CheckedTransaction(const SpaceHandle& handle, Transaction& inner)
      : handle_(handle), inner_(inner) {}
  Status Lock(std::string_view name) override { return inner_.Lock(name); }
  Result<std::optional<std::string>> Get(Space space, std::string_view key) override {
    if ((SpaceBit(space) & handle_.readable()) == 0) return Refused(space);
    return inner_.Get(space, key);
  }
  Status Scan(Space space, std::string_view prefix, const ScanVisitor& visit) override {
    if ((SpaceBit(space) & handle_.readable()) == 0) return Refused(space);
    return inner_.Scan(space, prefix, visit);
  }
  WriteBatch& batch() override { return inner_.batch(); }

 private:
  tl::unexpected<Error> Refused(Space space) const {
    return Fail(ErrorCode::kInternal, "module '" + std::string(handle_.owner()) +
                                          "' may not read '" + std::string(SpaceName(space)) +
                                          "' (not granted to it)");
  }
  const SpaceHandle& handle_;
  Transaction& inner_;
};

}  // namespace

Status SpaceHandle::Transact(const TransactionBody& body) const {
  return store_->Transact([&](Transaction& inner) -> Status {
    CheckedTransaction t(*this, inner);
    COFFRE_TRY(body(t));
    if ((inner.batch().touched() & ~writable_) != 0) {
      return Refused("write to", inner.batch().touched() & ~writable_);
    }
    return Ok();
  });
}

}  // namespace coffre::storage
