// The audit log of a cluster vault (docs/audit-cluster.md): two nodes, each
// an AuditLog with its own chain, on one shared memory data set (two stores
// opened shared on it play two nodes on one database).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "audit/audit_log.h"
#include "audit/internal/chain_store.h"
#include "audit/internal/chains_file.h"
#include "audit/internal/format.h"
#include "audit/verify.h"
#include "common/bytes.h"
#include "storage/memory_store.h"

namespace coffre::audit {
namespace {

using storage::Space;
namespace fs = std::filesystem;

crypto::SigningKey Key() {
  auto seed = crypto::SecretKey::FromBytes(std::string(32, 'k'));
  return crypto::SigningKey::FromSeed(*seed);
}

storage::SpaceHandle Handle(storage::Store& store) {
  return storage::SpaceHandle(store, "audit", kAuditSpaces);
}

Entry MakeEntry(const std::string& principal, const std::string& reason, char subject) {
  Entry e;
  e.principal = principal;
  e.action = "read";
  e.collection = "people";
  e.record_id = std::string(16, subject);
  e.subjects = {std::string(16, subject)};
  e.fields = {{"given_name", kViewClear}};
  e.purpose = "support";
  e.outcome = "allowed";
  e.reason = reason;
  e.source = "https:127.0.0.1";
  return e;
}

// A node: its store on the shared data, its anchor, its audit log.
struct Node {
  std::string chain;  // 16 raw bytes
  std::string anchor;
  std::unique_ptr<storage::Store> store;
  std::unique_ptr<AuditLog> log;
};

class AuditClusterTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto::Init());
    char tmpl[] = "/tmp/coffre-audit-cluster-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    data_ = storage::NewMemoryData();
    a_ = MakeNode("a", std::string(16, '\xa1'));
    b_ = MakeNode("b", std::string(16, '\xb2'));
    auto raw = storage::OpenMemoryStore({.data = data_, .shared = true});
    ASSERT_TRUE(raw) << raw.error().ToString();
    raw_ = std::move(*raw);
  }
  void TearDown() override {
    a_.log.reset();
    b_.log.reset();
    fs::remove_all(dir_);
  }

  Node MakeNode(const std::string& name, std::string chain) {
    Node n;
    n.chain = std::move(chain);
    n.anchor = dir_ + "/" + name + ".audit-anchor";
    auto store = storage::OpenMemoryStore({.data = data_, .shared = true});
    EXPECT_TRUE(store) << store.error().ToString();
    n.store = std::move(*store);
    EXPECT_TRUE(Reopen(n));
    return n;
  }
  bool Reopen(Node& n) {
    n.log.reset();
    auto log = Open(n);
    if (!log) return false;
    n.log = std::move(*log);
    return true;
  }
  Result<std::unique_ptr<AuditLog>> Open(Node& n) {
    return AuditLog::Open(
        Handle(*n.store), Key(),
        {.anchor_path = n.anchor, .checkpoint_every = 10, .clock = &clock_, .chain_id = n.chain});
  }

  void Append(Node& n, int count, const std::string& principal = "svc-a") {
    for (int i = 0; i < count; ++i) {
      auto seq = n.log->Append(MakeEntry(principal, "r" + std::to_string(i), 'x'));
      ASSERT_TRUE(seq) << seq.error().ToString();
    }
  }

  // Both nodes have written and checkpointed, and each has anchored the
  // other's chain (its registry row and latest checkpoint).
  void BothWrite(int per_node) {
    Append(a_, per_node);
    Append(b_, per_node);
    ASSERT_TRUE(a_.log->Checkpoint());
    ASSERT_TRUE(b_.log->Checkpoint());
    ASSERT_TRUE(a_.log->Flush());
    ASSERT_TRUE(b_.log->Flush());
  }

  VerifyReport VerifyOn(Node& n) {
    auto r = VerifyAllChains(Handle(*raw_).ReadOnly(), n.anchor, n.chain);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : VerifyReport{};
  }

  // Every key of chain `chain` in the three audit spaces, then (what an
  // attacker holding the database does) deleted.
  void DeleteChain(const std::string& chain) {
    auto batch = raw_->NewBatch();
    for (Space s : {Space::kAudit, Space::kAuditByPrincipal, Space::kAuditBySubject}) {
      ASSERT_TRUE(
          raw_->Scan(s, internal::ChainPrefix(chain), [&](std::string_view k, std::string_view) {
            batch->Delete(s, k);
            return true;
          }));
    }
    ASSERT_GT(batch->Count(), 0u);
    ASSERT_TRUE(raw_->Write(*batch));
  }
  std::string ChainKey(const std::string& chain, const std::string& key) {
    return internal::ChainPrefix(chain) + key;
  }
  std::string Get(const std::string& key) {
    auto v = raw_->Get(Space::kAudit, key);
    EXPECT_TRUE(v && *v);
    return v && *v ? **v : std::string();
  }
  void Put(const std::string& key, const std::string& value) {
    auto b = raw_->NewBatch();
    b->Put(Space::kAudit, key, value);
    ASSERT_TRUE(raw_->Write(*b));
  }
  void Del(const std::string& key) {
    auto b = raw_->NewBatch();
    b->Delete(Space::kAudit, key);
    ASSERT_TRUE(raw_->Write(*b));
  }

  FakeClock clock_{1'000};  // far in the past: entries must not use it
  std::string dir_;
  std::shared_ptr<storage::MemoryData> data_;
  Node a_, b_;
  std::unique_ptr<storage::Store> raw_;  // the attacker's (and the test's) view
};

TEST_F(AuditClusterTest, TwoNodesWriteTheirOwnChainsAndBothVerifyEveryChain) {
  BothWrite(25);
  for (Node* n : {&a_, &b_}) {
    VerifyReport r = VerifyOn(*n);
    EXPECT_TRUE(r.ok) << r.problem;
    EXPECT_EQ(r.chains, 2u);
    EXPECT_EQ(r.entries, 50u);
    EXPECT_GE(r.anchor_checkpoints, 1u);  // its own chain against its anchor
  }
  // Each chain lives under its prefix; the embedded keys are not used.
  bool embedded_keys = false;
  ASSERT_TRUE(raw_->ScanRange(Space::kAudit, "c", "i", [&](std::string_view, std::string_view) {
    embedded_keys = true;
    return false;
  }));
  EXPECT_FALSE(embedded_keys);
  EXPECT_TRUE(raw_->Get(Space::kAudit, ChainKey(a_.chain, internal::EntryKey(25)))->has_value());
  EXPECT_TRUE(raw_->Get(Space::kAudit, ChainKey(b_.chain, internal::EntryKey(25)))->has_value());
  // Each node's registry anchor names both chains.
  for (Node* n : {&a_, &b_}) {
    auto file = internal::ReadChainsFile(internal::ChainsPath(n->anchor));
    ASSERT_TRUE(file) << file.error().ToString();
    EXPECT_EQ(file->first.size(), 2u);
    EXPECT_EQ(file->seen.size(), 1u);  // the other's checkpoint
  }
  // Reopening continues each chain.
  ASSERT_TRUE(Reopen(a_));
  Append(a_, 3);
  ASSERT_TRUE(a_.log->Checkpoint());
  EXPECT_TRUE(VerifyOn(b_).ok);
  EXPECT_EQ(VerifyOn(b_).entries, 53u);
}

TEST_F(AuditClusterTest, EntryTimesComeFromTheStoreClock) {
  Append(a_, 1);
  std::vector<int64_t> times;
  ASSERT_TRUE(a_.log->Query({}, [&](const Entry& e) {
    times.push_back(e.time_ms);
    return true;
  }));
  ASSERT_EQ(times.size(), 1u);
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  // The node's clock says 1970; the store's (the database's) says now.
  EXPECT_GT(times[0], now_ms - 60'000);
  EXPECT_LE(times[0], now_ms);
}

TEST_F(AuditClusterTest, MergedQueriesReturnBothNodesEntriesInTimeOrder) {
  // Alternate nodes, a few milliseconds apart: the merged order is the
  // order of writing.
  std::vector<std::string> written;
  for (int i = 0; i < 6; ++i) {
    Node& n = i % 2 == 0 ? a_ : b_;
    const std::string reason = (i % 2 == 0 ? "a" : "b") + std::to_string(i);
    ASSERT_TRUE(n.log->Append(MakeEntry(i < 4 ? "svc-a" : "svc-b", reason, 'x')));
    written.push_back(reason);
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
  }
  auto reasons = [&](Node& n, const Filter& f) {
    std::vector<std::string> out;
    int64_t last = 0;
    auto s = n.log->Query(f, [&](const Entry& e) {
      EXPECT_GE(e.time_ms, last);
      last = e.time_ms;
      out.push_back(e.reason);
      return true;
    });
    EXPECT_TRUE(s) << s.error().ToString();
    return out;
  };
  // Either node sees both chains, merged.
  EXPECT_EQ(reasons(a_, {}), written);
  EXPECT_EQ(reasons(b_, {}), written);
  // By principal (the index), by subject, with a limit.
  EXPECT_EQ(reasons(b_, {.principal = "svc-a"}),
            (std::vector<std::string>{"a0", "b1", "a2", "b3"}));
  EXPECT_EQ(reasons(a_, {.subject = std::string(16, 'x'), .limit = 3}),
            (std::vector<std::string>{"a0", "b1", "a2"}));
  // A time window.
  std::vector<int64_t> times;
  ASSERT_TRUE(a_.log->Query({}, [&](const Entry& e) {
    times.push_back(e.time_ms);
    return true;
  }));
  ASSERT_EQ(times.size(), 6u);
  EXPECT_EQ(reasons(a_, {.from_ms = times[2], .to_ms = times[3]}),
            (std::vector<std::string>{"a2", "b3"}));
}

TEST_F(AuditClusterTest, MergedQueriesReadPastOneChunk) {
  Append(a_, 300);
  Append(b_, 300, "svc-b");
  size_t n = 0;
  int64_t last = 0;
  ASSERT_TRUE(b_.log->Query({}, [&](const Entry& e) {
    EXPECT_GE(e.time_ms, last);
    last = e.time_ms;
    ++n;
    return true;
  }));
  EXPECT_EQ(n, 600u);
  n = 0;
  ASSERT_TRUE(b_.log->Query({.principal = "svc-a"}, [&](const Entry&) {
    ++n;
    return true;
  }));
  EXPECT_EQ(n, 300u);
}

TEST_F(AuditClusterTest, AChainDeletedWithItsAnchorIsNamedByTheOtherNode) {
  BothWrite(15);
  a_.log.reset();
  DeleteChain(a_.chain);
  fs::remove(a_.anchor);
  fs::remove(internal::ChainsPath(a_.anchor));
  VerifyReport r = VerifyOn(b_);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.chain, ToHex(a_.chain));
  EXPECT_NE(r.problem.find("chain " + ToHex(a_.chain) + ": is missing"), std::string::npos)
      << r.problem;
}

TEST_F(AuditClusterTest, AChainDeletedWithItsRegistryRowIsNamedByTheOtherNodesAnchor) {
  BothWrite(15);
  a_.log.reset();
  DeleteChain(a_.chain);
  Del(internal::RegistryKey(a_.chain));
  fs::remove(a_.anchor);
  fs::remove(internal::ChainsPath(a_.anchor));
  VerifyReport r = VerifyOn(b_);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.chain, ToHex(a_.chain));
  EXPECT_NE(r.problem.find("registry row was removed"), std::string::npos) << r.problem;
}

TEST_F(AuditClusterTest, ATruncatedChainIsNamed) {
  BothWrite(30);  // a's checkpoints at 10, 20, 30; b anchored checkpoint 30
  a_.log.reset();
  // Entries 25..30 and checkpoint 30 go, and the head is rewritten to 24:
  // the stored chain is consistent, only anchors can tell.
  for (uint64_t s = 25; s <= 30; ++s) Del(ChainKey(a_.chain, internal::EntryKey(s)));
  Del(ChainKey(a_.chain, internal::CheckpointKey(30)));
  std::string h24(
      internal::SplitStoredEntry(Get(ChainKey(a_.chain, internal::EntryKey(24))))->hash);
  Put(ChainKey(a_.chain, internal::kHeadKey), internal::EncodeHead({24, h24, 20}));
  for (Node* n : {&b_, &a_}) {
    VerifyReport r = VerifyOn(*n);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.chain, ToHex(a_.chain));
    EXPECT_NE(r.problem.find("removed"), std::string::npos) << r.problem;
  }
  // Even with node a's anchor gone, node b names the chain.
  fs::remove(a_.anchor);
  VerifyReport r = VerifyOn(b_);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.problem.find("chain " + ToHex(a_.chain) + ": entries up to 30 were removed"),
            std::string::npos)
      << r.problem;
}

TEST_F(AuditClusterTest, AnEditedEntryIsNamedWithItsChain) {
  BothWrite(12);
  std::string key = ChainKey(b_.chain, internal::EntryKey(3));
  std::string v = Get(key);
  v[5] ^= 1;
  Put(key, v);
  VerifyReport r = VerifyOn(a_);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.chain, ToHex(b_.chain));
  EXPECT_NE(r.problem.find("chain " + ToHex(b_.chain) + ": entry 3"), std::string::npos)
      << r.problem;
}

TEST_F(AuditClusterTest, ReorderedEntriesAreNamedWithTheirChain) {
  BothWrite(12);
  const std::string k2 = ChainKey(a_.chain, internal::EntryKey(2));
  const std::string k3 = ChainKey(a_.chain, internal::EntryKey(3));
  const std::string v2 = Get(k2), v3 = Get(k3);
  Put(k2, v3);
  Put(k3, v2);
  VerifyReport r = VerifyOn(b_);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.chain, ToHex(a_.chain));
  EXPECT_NE(r.problem.find("chain " + ToHex(a_.chain) + ": entry 2"), std::string::npos)
      << r.problem;
}

TEST_F(AuditClusterTest, AChainReplacedFromEntryOneIsNamed) {
  BothWrite(5);
  // Node a's chain is thrown away and a new one started under the same id
  // (what someone holding the database and the master key could do).
  a_.log.reset();
  DeleteChain(a_.chain);
  fs::remove(a_.anchor);
  fs::remove(internal::ChainsPath(a_.anchor));
  // The node itself refuses to start its chain again while registered.
  auto refused = Open(a_);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kDataLoss);
  fs::remove(a_.anchor);
  fs::remove(internal::ChainsPath(a_.anchor));
  Del(internal::RegistryKey(a_.chain));
  ASSERT_TRUE(Reopen(a_));
  Append(a_, 5);
  ASSERT_TRUE(a_.log->Checkpoint());
  VerifyReport r = VerifyOn(b_);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.chain, ToHex(a_.chain));
}

TEST_F(AuditClusterTest, AMissingChainsFileIsRefusedForANonEmptyChain) {
  Append(a_, 3);
  a_.log.reset();
  fs::remove(internal::ChainsPath(a_.anchor));
  auto reopened = Open(a_);
  ASSERT_FALSE(reopened);
  EXPECT_EQ(reopened.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(reopened.error().message.find(".chains"), std::string::npos);
}

// A shared store whose clock (the database's) cannot be read, while
// `fail_clock` is set: the memory store's shared mode otherwise.
class ClockFailingStore final : public storage::Store {
 public:
  explicit ClockFailingStore(std::unique_ptr<storage::Store> inner) : inner_(std::move(inner)) {}
  std::atomic<bool> fail_clock{false};
  std::unique_ptr<storage::WriteBatch> NewBatch() override { return inner_->NewBatch(); }
  // The write lands, and the caller is told it failed: a commit whose
  // outcome the PostgreSQL store cannot know (the connection broke).
  std::atomic<bool> land_then_fail{false};
  Status Write(storage::WriteBatch& b, bool sync) override {
    COFFRE_TRY(inner_->Write(b, sync));
    if (land_then_fail)
      return Fail(ErrorCode::kIoError, "injected: the commit's outcome is unknown");
    return Ok();
  }
  Result<std::optional<std::string>> Get(Space s, std::string_view k) override {
    return inner_->Get(s, k);
  }
  Status Scan(Space s, std::string_view p, const storage::ScanVisitor& v) override {
    return inner_->Scan(s, p, v);
  }
  Status ScanRange(Space s, std::string_view b, std::string_view e,
                   const storage::ScanVisitor& v) override {
    return inner_->ScanRange(s, b, e, v);
  }
  Status CompactSpace(Space s) override { return inner_->CompactSpace(s); }
  Status Flush() override { return inner_->Flush(); }
  Status SyncWal() override { return inner_->SyncWal(); }
  bool shared() const override { return true; }
  Result<int64_t> NowMicros() override {
    if (fail_clock) return Fail(ErrorCode::kIoError, "injected: the database is unreachable");
    return inner_->NowMicros();
  }

 private:
  std::unique_ptr<storage::Store> inner_;
};

TEST_F(AuditClusterTest, AnEntryWhoseDatabaseTimeCannotBeReadFailsClosed) {
  auto inner = storage::OpenMemoryStore({.data = data_, .shared = true});
  ASSERT_TRUE(inner);
  ClockFailingStore store(std::move(*inner));
  Node c;
  c.chain = std::string(16, '\xc3');
  c.anchor = dir_ + "/c.audit-anchor";
  auto log = AuditLog::Open(Handle(store), Key(),
                            {.anchor_path = c.anchor, .clock = &clock_, .chain_id = c.chain});
  ASSERT_TRUE(log) << log.error().ToString();
  ASSERT_TRUE((*log)->Append(MakeEntry("svc-a", "r1", 'x')));
  store.fail_clock = true;
  auto refused = (*log)->Append(MakeEntry("svc-a", "r2", 'x'));
  ASSERT_FALSE(refused);  // the request fails (503), nothing written
  EXPECT_EQ(refused.error().code, ErrorCode::kIoError);
  store.fail_clock = false;
  auto seq = (*log)->Append(MakeEntry("svc-a", "r3", 'x'));
  ASSERT_TRUE(seq) << seq.error().ToString();
  EXPECT_EQ(*seq, 2u);
  ASSERT_TRUE((*log)->Checkpoint());
  log->reset();
  c.store = nullptr;
  auto r = VerifyAllChains(Handle(*raw_).ReadOnly(), c.anchor, c.chain);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_TRUE(r->ok) << r->problem;
  EXPECT_EQ(r->entries, 2u);
}

// A group whose commit landed though the store said it failed (the
// connection broke during COMMIT): the next group goes on after it, instead
// of writing its entries again under the same numbers over the landed ones.
TEST_F(AuditClusterTest, AGroupThatLandedDespiteAFailedWriteIsKept) {
  auto inner = storage::OpenMemoryStore({.data = data_, .shared = true});
  ASSERT_TRUE(inner);
  ClockFailingStore store(std::move(*inner));
  Node c;
  c.chain = std::string(16, '\xc4');
  c.anchor = dir_ + "/c.audit-anchor";
  auto log = AuditLog::Open(Handle(store), Key(),
                            {.anchor_path = c.anchor, .clock = &clock_, .chain_id = c.chain});
  ASSERT_TRUE(log) << log.error().ToString();
  ASSERT_TRUE((*log)->Append(MakeEntry("svc-a", "r1", 'x')));
  store.land_then_fail = true;
  auto unknown = (*log)->Append(MakeEntry("svc-a", "r2", 'x'));
  ASSERT_FALSE(unknown);  // the request fails (503); its entry landed
  EXPECT_EQ(unknown.error().code, ErrorCode::kIoError);
  store.land_then_fail = false;
  auto seq = (*log)->Append(MakeEntry("svc-a", "r3", 'x'));
  ASSERT_TRUE(seq) << seq.error().ToString();
  EXPECT_EQ(*seq, 3u);
  ASSERT_TRUE((*log)->Checkpoint());
  log->reset();
  auto r = VerifyAllChains(Handle(*raw_).ReadOnly(), c.anchor, c.chain);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_TRUE(r->ok) << r->problem;
  EXPECT_EQ(r->entries, 3u);
}

TEST_F(AuditClusterTest, EmbeddedLogOnTheSameDataKeepsItsLayout) {
  // A log without a chain id writes the embedded keys, as before.
  auto data = storage::NewMemoryData();
  auto store = storage::OpenMemoryStore({.data = data});
  ASSERT_TRUE(store);
  {
    auto log = AuditLog::Open(Handle(**store), Key(),
                              {.anchor_path = dir_ + "/e.audit-anchor", .clock = &clock_});
    ASSERT_TRUE(log) << log.error().ToString();
    ASSERT_TRUE((*log)->Append(MakeEntry("svc-a", "r", 'x')));
    EXPECT_TRUE((*log)->chain_id().empty());
  }
  std::vector<std::string> keys;
  ASSERT_TRUE((*store)->Scan(Space::kAudit, "", [&](std::string_view k, std::string_view) {
    keys.push_back(std::string(k));
    return true;
  }));
  ASSERT_EQ(keys.size(), 3u);  // checkpoint 1 (at close), entry 1, head
  EXPECT_EQ(keys[0], internal::CheckpointKey(1));
  EXPECT_EQ(keys[1], internal::EntryKey(1));
  EXPECT_EQ(keys[2], internal::kHeadKey);
  EXPECT_FALSE(fs::exists(internal::ChainsPath(dir_ + "/e.audit-anchor")));
}

}  // namespace
}  // namespace coffre::audit
