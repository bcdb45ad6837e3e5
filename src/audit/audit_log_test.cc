#include "audit/audit_log.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "audit/internal/anchor.h"
#include "audit/internal/format.h"
#include "audit/verify.h"
#include "common/bytes.h"
#include "storage/memory_store.h"

namespace coffre::audit {
namespace {

using storage::Space;
namespace fs = std::filesystem;

crypto::SigningKey KeyFrom(char fill) {
  auto seed = crypto::SecretKey::FromBytes(std::string(32, fill));
  return crypto::SigningKey::FromSeed(*seed);
}

std::string Subject(int i) { return std::string(15, '\x5a') + static_cast<char>(i); }

Entry MakeEntry(int i, std::string principal = "svc-a") {
  Entry e;
  e.principal = std::move(principal);
  e.action = "read";
  e.collection = "people";
  e.record_id = std::string(16, static_cast<char>(i & 0x7f));
  e.subjects = {Subject(i % 5)};
  e.fields = {{"iban", kViewMasked}, {"given_name", kViewClear}};
  e.purpose = "support";
  e.outcome = "allowed";
  e.reason = "n" + std::to_string(i);
  e.source = "https:127.0.0.1";
  return e;
}

// Forwards to a real store; Write fails while `fail_writes` is set, and
// counts the writes it forwards.
class FailingStore final : public storage::Store {
 public:
  explicit FailingStore(storage::Store& inner) : inner_(inner) {}
  std::atomic<bool> fail_writes{false};
  std::atomic<int> writes{0};
  std::unique_ptr<storage::WriteBatch> NewBatch() override { return inner_.NewBatch(); }
  Status Write(storage::WriteBatch& b, bool sync) override {
    if (fail_writes) return Fail(ErrorCode::kIoError, "injected write failure");
    ++writes;
    return inner_.Write(b, sync);
  }
  Result<std::optional<std::string>> Get(Space s, std::string_view k) override {
    return inner_.Get(s, k);
  }
  Status Scan(Space s, std::string_view p, const storage::ScanVisitor& v) override {
    return inner_.Scan(s, p, v);
  }
  Status ScanRange(Space s, std::string_view b, std::string_view e,
                   const storage::ScanVisitor& v) override {
    return inner_.ScanRange(s, b, e, v);
  }
  Status CompactSpace(Space s) override { return inner_.CompactSpace(s); }
  Status Flush() override { return inner_.Flush(); }
  // SyncWal fails while `fail_syncs` is set; while syncs are held (Hold),
  // it waits inside until Release, like a slow disk.
  std::atomic<bool> fail_syncs{false};
  std::atomic<bool> fail_one_sync{false};  // the next sync only
  std::atomic<int> syncs{0};
  std::atomic<int> syncs_waiting{0};
  // Each sync takes this long, like a disk's fsync (the in-memory store's
  // syncs take no time, so groups would not form as they do on a disk).
  std::atomic<int> sync_micros{0};
  Status SyncWal() override {
    if (int us = sync_micros.load(); us > 0)
      std::this_thread::sleep_for(std::chrono::microseconds(us));
    {
      std::unique_lock lock(hold_mu_);
      ++syncs_waiting;
      hold_cv_.wait(lock, [&] { return !held_; });
      --syncs_waiting;
    }
    if (fail_syncs || fail_one_sync.exchange(false)) {
      return Fail(ErrorCode::kIoError, "injected sync failure");
    }
    ++syncs;
    return inner_.SyncWal();
  }
  void Hold() {
    std::lock_guard lock(hold_mu_);
    held_ = true;
  }
  void Release() {
    {
      std::lock_guard lock(hold_mu_);
      held_ = false;
    }
    hold_cv_.notify_all();
  }

 private:
  storage::Store& inner_;
  std::mutex hold_mu_;
  std::condition_variable hold_cv_;
  bool held_ = false;
};

// Holds the store's syncs (like a slow disk) until Release or the end of
// the scope, so that a failed ASSERT cannot leave the log's destructor
// waiting on a held sync.
class HeldSyncs {
 public:
  explicit HeldSyncs(FailingStore& f) : f_(f) { f_.Hold(); }
  ~HeldSyncs() { f_.Release(); }
  HeldSyncs(const HeldSyncs&) = delete;
  HeldSyncs& operator=(const HeldSyncs&) = delete;
  void Release() { f_.Release(); }

 private:
  FailingStore& f_;
};

// The outcomes of asynchronous appends, in the order their callbacks ran:
// the seq, or -1 for an error.
class Outcomes {
 public:
  AuditLog::DoneCallback Callback() {
    return [this](const Result<uint64_t>& r) {
      std::lock_guard lock(mu_);
      seqs_.push_back(r ? static_cast<int64_t>(*r) : -1);
    };
  }
  std::vector<int64_t> Get() const {
    std::lock_guard lock(mu_);
    return seqs_;
  }
  size_t size() const {
    std::lock_guard lock(mu_);
    return seqs_.size();
  }

 private:
  mutable std::mutex mu_;
  std::vector<int64_t> seqs_;
};

// Polls `cond` for up to 20 s (the log's threads run on their own).
template <typename F>
bool Eventually(F cond) {
  for (int i = 0; i < 2000; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

// The log's spaces of `store`, as the composition root grants them.
storage::SpaceHandle Handle(storage::Store& store) {
  return storage::SpaceHandle(store, "audit", kAuditSpaces);
}

class AuditLogTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto::Init());
    char tmpl[] = "/tmp/coffre-audit-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    anchor_ = dir_ + "/db.audit-anchor";
    // The log's contract is the Store's: an in-memory store will do
    // (storage/memory_store.h); the anchor file stays under dir_.
    auto store = storage::OpenMemoryStore({.data = storage::NewMemoryData()});
    ASSERT_TRUE(store) << store.error().ToString();
    store_ = std::move(*store);
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }

  Options Opts(uint64_t every = 50) {
    return {.anchor_path = anchor_, .checkpoint_every = every, .clock = &clock_};
  }
  std::unique_ptr<AuditLog> OpenLog(uint64_t every = 50, storage::Store* store = nullptr) {
    auto log = AuditLog::Open(Handle(store ? *store : *store_), KeyFrom('k'), Opts(every));
    EXPECT_TRUE(log) << log.error().ToString();
    return log ? std::move(*log) : nullptr;
  }
  // Appends n entries, one per 10 ms of fake time... the fake clock has
  // whole seconds, so entries share seconds; that is fine for the chain.
  void AppendN(AuditLog& log, int n, int first = 1) {
    for (int i = first; i < first + n; ++i) {
      auto seq = log.Append(MakeEntry(i));
      ASSERT_TRUE(seq) << seq.error().ToString();
      ASSERT_EQ(*seq, static_cast<uint64_t>(i));
    }
  }
  VerifyReport VerifyOrDie(const VerifyOptions& o = {}) {
    auto r = Verify(Handle(*store_), anchor_, o);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : VerifyReport{};
  }
  std::string Raw(uint64_t seq) {
    auto v = store_->Get(Space::kAudit, internal::EntryKey(seq));
    EXPECT_TRUE(v && *v);
    return v && *v ? **v : std::string();
  }
  void Put(Space s, const std::string& k, const std::string& v) {
    auto b = store_->NewBatch();
    b->Put(s, k, v);
    ASSERT_TRUE(store_->Write(*b));
  }
  void Del(Space s, const std::string& k) {
    auto b = store_->NewBatch();
    b->Delete(s, k);
    ASSERT_TRUE(store_->Write(*b));
  }
  // What an attacker holding DIR does after editing entry `from`: recompute
  // every stored hash after it (and the head), so only signatures can tell.
  void RechainFrom(uint64_t from, uint64_t last) {
    std::string h = internal::ZeroHash();
    if (from > 1) h = std::string(internal::SplitStoredEntry(Raw(from - 1))->hash);
    for (uint64_t s = from; s <= last; ++s) {
      std::string bytes(internal::SplitStoredEntry(Raw(s))->bytes);
      h = internal::ChainHash(h, s, bytes);
      Put(Space::kAudit, internal::EntryKey(s), bytes + h);
    }
  }
  std::vector<uint64_t> QuerySeqs(const Filter& f, AuditLog& log) {
    std::vector<uint64_t> seqs;
    auto s = log.Query(f, [&](const Entry& e) {
      seqs.push_back(e.seq);
      return true;
    });
    EXPECT_TRUE(s) << s.error().ToString();
    return seqs;
  }

  FakeClock clock_{1'700'000'000};
  std::string dir_;
  std::string anchor_;
  std::unique_ptr<storage::Store> store_;
};

TEST_F(AuditLogTest, AppendVerifyRoundTrip) {
  auto log = OpenLog(1000);
  ASSERT_TRUE(log);
  AppendN(*log, 2100);
  ASSERT_TRUE(log->Checkpoint());
  VerifyReport r = VerifyOrDie();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_TRUE(r.anchored);
  EXPECT_EQ(r.entries, 2100u);
  EXPECT_EQ(r.checkpoints, 3u);  // 1000, 2000 and the forced one at 2100
  EXPECT_EQ(r.anchor_checkpoints, 3u);
  EXPECT_EQ(r.unsigned_tail, 0u);
  // What was stored is what was appended, stamped.
  int i = 0;
  ASSERT_TRUE(log->Query({}, [&](const Entry& e) {
    ++i;
    Entry want = MakeEntry(i);
    want.seq = static_cast<uint64_t>(i);
    want.time_ms = 1'700'000'000'000;
    EXPECT_EQ(e, want);
    return true;
  }));
  EXPECT_EQ(i, 2100);
  // The anchor starts with the public key.
  std::ifstream in(anchor_);
  std::string first;
  std::getline(in, first);
  EXPECT_EQ(first, "coffre-audit-anchor v1 " + ToHex(log->public_key()));
}

TEST_F(AuditLogTest, ReopenContinuesTheChain) {
  {
    auto log = OpenLog();
    AppendN(*log, 70);  // checkpoint at 50; the destructor covers the tail
  }
  {
    auto log = OpenLog();
    ASSERT_TRUE(log);
    EXPECT_EQ(log->last_seq(), 70u);
    AppendN(*log, 10, 71);
  }
  VerifyReport r = VerifyOrDie();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.entries, 80u);
}

TEST_F(AuditLogTest, OpenRefusesAnotherKeyAndATamperedTail) {
  FailingStore failing(*store_);
  {
    auto log = OpenLog(50, &failing);
    AppendN(*log, 60);
    ASSERT_TRUE(log->Flush());   // no checkpoint yet: the interval has not passed
    failing.fail_writes = true;  // a crash: no checkpoint at shutdown
  }
  auto other = AuditLog::Open(Handle(*store_), KeyFrom('x'), Opts());
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, ErrorCode::kFailedPrecondition);

  // Entries 51..60 lie after the last checkpoint (50). Alter 55 without
  // the key: Open notices.
  std::string value = Raw(55);
  std::string bytes(internal::SplitStoredEntry(value)->bytes);
  bytes[bytes.size() - 2] ^= 1;
  Put(Space::kAudit, internal::EntryKey(55),
      bytes + std::string(internal::SplitStoredEntry(value)->hash));
  auto log = AuditLog::Open(Handle(*store_), KeyFrom('k'), Opts());
  ASSERT_FALSE(log);
  EXPECT_EQ(log.error().code, ErrorCode::kDataLoss);
  // Restored, the tail is accepted and checkpointed on the next occasion.
  Put(Space::kAudit, internal::EntryKey(55), value);
  auto restored = OpenLog();
  ASSERT_TRUE(restored);
  EXPECT_EQ(restored->last_seq(), 60u);
  clock_.Advance(11);
  ASSERT_TRUE(restored->Flush());  // the interval has passed: checkpoint 60
  VerifyReport r = VerifyOrDie();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.unsigned_tail, 0u);
  EXPECT_EQ(r.anchor_checkpoints, 2u);
}

// Open and verify walk the chain with one walk (internal/chain.h): a break
// after the last checkpoint is named by both in the same words.
TEST_F(AuditLogTest, OpenAndVerifyNameTheSameBrokenEntry) {
  FailingStore failing(*store_);
  {
    auto log = OpenLog(50, &failing);
    AppendN(*log, 60);
    ASSERT_TRUE(log->Flush());
    failing.fail_writes = true;  // a crash: entries 51..60 stay after checkpoint 50
  }
  const std::string value = Raw(55);
  auto expect_same = [&](const std::string& problem) {
    VerifyReport r = VerifyOrDie();
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.first_bad_seq, 55u);
    EXPECT_EQ(r.problem, problem);
    auto log = AuditLog::Open(Handle(*store_), KeyFrom('k'), Opts());
    ASSERT_FALSE(log);
    EXPECT_EQ(log.error().code, ErrorCode::kDataLoss);
    EXPECT_EQ(log.error().message, "audit log: " + problem + " (run coffre audit verify)");
  };
  std::string flipped = value;
  flipped[3] ^= 0x20;
  Put(Space::kAudit, internal::EntryKey(55), flipped);
  expect_same("entry 55 was altered");
  Del(Space::kAudit, internal::EntryKey(55));
  expect_same("entry 55 is missing");
  Put(Space::kAudit, internal::EntryKey(55), Raw(56));
  expect_same("entry 55 was moved or replaced (it holds entry 56)");
  Put(Space::kAudit, internal::EntryKey(55), value);
  EXPECT_TRUE(OpenLog());
}

// Concurrent appenders share syncs (what is queued while one group syncs
// goes into the next), and each returns only once its entry is written.
TEST_F(AuditLogTest, ConcurrentAppendsAreAllDurableAndChainedInOrder) {
  FailingStore counting(*store_);
  counting.sync_micros = 1000;  // a fast SSD's fsync
  auto log = OpenLog(100, &counting);
  constexpr int kThreads = 32, kPerThread = 40;
  std::vector<std::vector<uint64_t>> seqs(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto s = log->Append(MakeEntry(i, "svc-" + std::to_string(t)));
        ASSERT_TRUE(s) << s.error().ToString();
        auto stored = store_->Get(Space::kAudit, internal::EntryKey(*s));
        ASSERT_TRUE(stored && *stored) << "seq " << *s << " returned before it was written";
        seqs[t].push_back(*s);
      }
    });
  }
  for (auto& th : threads) th.join();
  // 1,280 entries; one sync each would be 1,280 syncs. (Groups are written
  // while the previous sync runs, so writes outnumber syncs, ADR 0014.)
  EXPECT_LT(counting.syncs.load(), kThreads * kPerThread / 4) << counting.syncs.load() << " syncs";
  EXPECT_LE(counting.syncs.load(), counting.writes.load());
  std::set<uint64_t> all;
  for (auto& v : seqs) {
    EXPECT_TRUE(std::is_sorted(v.begin(), v.end()));
    all.insert(v.begin(), v.end());
  }
  ASSERT_EQ(all.size(), size_t{kThreads * kPerThread});
  EXPECT_EQ(*all.begin(), 1u);
  EXPECT_EQ(*all.rbegin(), uint64_t{kThreads * kPerThread});
  // Durable: visible to a fresh reader through the store, and chained.
  log.reset();
  VerifyReport r = VerifyOrDie();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.entries, uint64_t{kThreads * kPerThread});
  // Each thread's entries carry its principal, in its order.
  auto reopened = OpenLog(100);
  auto mine = QuerySeqs({.principal = "svc-3"}, *reopened);
  EXPECT_EQ(mine, seqs[3]);
}

TEST_F(AuditLogTest, VerifyNamesAnEditedEntry) {
  auto log = OpenLog();
  AppendN(*log, 120);
  log.reset();
  // Change the reason inside entry 42, keep its stored hash.
  std::string value = Raw(42);
  auto parts = internal::SplitStoredEntry(value);
  auto e = DecodeEntry(parts->bytes);
  ASSERT_TRUE(e);
  e->reason = "n99";
  Put(Space::kAudit, internal::EntryKey(42), EncodeEntry(*e) + std::string(parts->hash));
  VerifyReport r = VerifyOrDie();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 42u);
  EXPECT_EQ(r.problem, "entry 42 was altered");

  // A flipped byte anywhere in the value is caught at the same entry.
  for (size_t pos : {size_t{0}, size_t{5}, value.size() / 2, value.size() - 1}) {
    std::string flipped = value;
    flipped[pos] ^= 0x20;
    Put(Space::kAudit, internal::EntryKey(42), flipped);
    r = VerifyOrDie();
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.first_bad_seq, 42u) << "byte " << pos;
  }
  Put(Space::kAudit, internal::EntryKey(42), value);
  EXPECT_TRUE(VerifyOrDie().ok);
}

TEST_F(AuditLogTest, VerifyNamesADeletedEntry) {
  auto log = OpenLog();
  AppendN(*log, 120);
  log.reset();
  Del(Space::kAudit, internal::EntryKey(42));
  VerifyReport r = VerifyOrDie();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 42u);
  EXPECT_EQ(r.problem, "entry 42 is missing");
  EXPECT_EQ(r.entries, 41u);
}

TEST_F(AuditLogTest, VerifyNamesTheFirstOfTwoSwappedEntries) {
  auto log = OpenLog();
  AppendN(*log, 120);
  log.reset();
  std::string a = Raw(42), b = Raw(57);
  Put(Space::kAudit, internal::EntryKey(42), b);
  Put(Space::kAudit, internal::EntryKey(57), a);
  VerifyReport r = VerifyOrDie();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 42u);
  EXPECT_EQ(r.problem, "entry 42 was moved or replaced (it holds entry 57)");
}

TEST_F(AuditLogTest, RecomputedHashesAreCaughtAtTheNextCheckpoint) {
  auto log = OpenLog();
  AppendN(*log, 120);
  log.reset();
  auto e = DecodeEntry(internal::SplitStoredEntry(Raw(62))->bytes);
  e->outcome = "denied";
  Put(Space::kAudit, internal::EntryKey(62), EncodeEntry(*e) + std::string(32, '\0'));
  RechainFrom(62, 120);
  VerifyReport r = VerifyOrDie();
  EXPECT_FALSE(r.ok);
  // The chain is consistent again; only checkpoint 100's signed hash differs.
  EXPECT_EQ(r.first_bad_seq, 51u);
  EXPECT_EQ(r.problem, "entries 51..100 do not match checkpoint 100");
}

TEST_F(AuditLogTest, TruncatedTailIsCaughtThroughTheAnchor) {
  auto log = OpenLog();
  AppendN(*log, 130);
  log.reset();  // checkpoints 50, 100, 130 (shutdown)
  // Remove entries 101..130 and every trace of them in DIR.
  for (uint64_t s = 101; s <= 130; ++s) Del(Space::kAudit, internal::EntryKey(s));
  Del(Space::kAudit, internal::CheckpointKey(130));
  Put(Space::kAudit, internal::kHeadKey,
      internal::EncodeHead({100, std::string(internal::SplitStoredEntry(Raw(100))->hash), 100}));
  VerifyReport r = VerifyOrDie();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 101u);
  EXPECT_EQ(r.problem, "entries after 100 were removed (anchor checkpoint 130)");
  // The writer refuses to continue too.
  auto reopened = AuditLog::Open(Handle(*store_), KeyFrom('k'), Opts());
  ASSERT_FALSE(reopened);
  EXPECT_EQ(reopened.error().code, ErrorCode::kDataLoss);
  // Without the anchor, the same store looks whole: that is what the anchor is for.
  auto no_anchor =
      Verify(Handle(*store_), dir_ + "/elsewhere", {.public_key = KeyFrom('k').public_key()});
  ASSERT_TRUE(no_anchor);
  EXPECT_TRUE(no_anchor->ok);
  EXPECT_FALSE(no_anchor->anchored);
}

TEST_F(AuditLogTest, ResigningWithAnotherKeyIsCaught) {
  auto log = OpenLog();
  AppendN(*log, 120);
  log.reset();
  // The attacker edits entry 62, rechains, and re-signs every stored
  // checkpoint with a key of their own.
  auto e = DecodeEntry(internal::SplitStoredEntry(Raw(62))->bytes);
  e->outcome = "denied";
  Put(Space::kAudit, internal::EntryKey(62), EncodeEntry(*e) + std::string(32, '\0'));
  RechainFrom(62, 120);
  crypto::SigningKey forger = KeyFrom('f');
  for (uint64_t s : {50u, 100u, 120u}) {
    auto v = store_->Get(Space::kAudit, internal::CheckpointKey(s));
    ASSERT_TRUE(v && *v);
    auto c = internal::DecodeCheckpointValue(s, **v);
    c->hash = std::string(internal::SplitStoredEntry(Raw(s))->hash);
    c->signature = forger.Sign(internal::CheckpointMessage(c->seq, c->time_ms, c->hash));
    Put(Space::kAudit, internal::CheckpointKey(s), internal::EncodeCheckpointValue(*c));
  }
  VerifyReport r = VerifyOrDie();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 50u);
  EXPECT_EQ(r.problem, "checkpoint 50 signature invalid");
  // With only the genuine public key (no anchor): same finding.
  auto by_key = Verify(Handle(*store_), dir_ + "/none", {.public_key = KeyFrom('k').public_key()});
  ASSERT_TRUE(by_key);
  EXPECT_EQ(by_key->first_bad_seq, 50u);
  // Handing verify the forger's key does not help while the anchor exists.
  auto forged = Verify(Handle(*store_), anchor_, {.public_key = forger.public_key()});
  ASSERT_TRUE(forged);
  EXPECT_FALSE(forged->ok);
  EXPECT_EQ(forged->problem, "the anchor's public key is not the given public key");
}

TEST_F(AuditLogTest, UnauthenticatedFailuresAreSummarisedPerSourcePerMinute) {
  auto log = OpenLog();
  for (int i = 0; i < 1000; ++i) log->CountUnauthenticated("https:203.0.113.9");
  for (int i = 0; i < 3; ++i) log->CountUnauthenticated("https:198.51.100.1");
  ASSERT_TRUE(log->Flush());
  EXPECT_EQ(log->last_seq(), 0u);  // the minute has not passed
  clock_.Advance(60);
  auto seq = log->Append(MakeEntry(1));
  ASSERT_TRUE(seq);
  EXPECT_EQ(*seq, 3u);  // two summaries, then the entry
  std::vector<Entry> got;
  ASSERT_TRUE(log->Query({}, [&](const Entry& e) {
    got.push_back(e);
    return true;
  }));
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].action, "unauthenticated");
  EXPECT_EQ(got[0].source, "https:198.51.100.1");
  EXPECT_EQ(got[0].reason, "3 failures in minute 2023-11-14T22:13:00Z");
  EXPECT_EQ(got[1].source, "https:203.0.113.9");
  EXPECT_EQ(got[1].reason, "1000 failures in minute 2023-11-14T22:13:00Z");
  EXPECT_EQ(got[1].outcome, "denied");
  EXPECT_EQ(got[2].action, "read");
}

TEST_F(AuditLogTest, UnauthenticatedSourcesAreCapped) {
  Options o = Opts();
  o.max_unauthenticated_sources = 2;
  auto log = AuditLog::Open(Handle(*store_), KeyFrom('k'), o);
  ASSERT_TRUE(log);
  for (int s = 0; s < 100; ++s) (*log)->CountUnauthenticated("https:10.0.0." + std::to_string(s));
  ASSERT_TRUE((*log)->Checkpoint());  // shutdown writes the current minute too
  std::vector<std::string> sources;
  ASSERT_TRUE((*log)->Query({}, [&](const Entry& e) {
    sources.push_back(e.source + " " + e.reason.substr(0, e.reason.find(' ')));
    return true;
  }));
  EXPECT_EQ(sources,
            (std::vector<std::string>{"https:10.0.0.0 1", "https:10.0.0.1 1", "other 98"}));
}

TEST_F(AuditLogTest, IndexesByPrincipalUserAndSubjectInTimeWindows) {
  auto log = OpenLog();
  const int64_t t0 = 1'700'000'000'000;
  // seq 1..6, one second apart: alice, bob, alice(for user u1), bob(for u1), alice, bob
  for (int i = 1; i <= 6; ++i) {
    Entry e = MakeEntry(i, i % 2 ? "alice" : "bob");
    e.subjects = {Subject(i % 3), Subject(9)};
    if (i == 3 || i == 4) e.on_behalf_of = "u1";
    if (i == 5) e.subjects.push_back(Subject(9));  // duplicates index once
    ASSERT_TRUE(log->Append(e));
    clock_.Advance(1);
  }
  using V = std::vector<uint64_t>;
  EXPECT_EQ(QuerySeqs({.principal = "alice"}, *log), (V{1, 3, 5}));
  EXPECT_EQ(QuerySeqs({.principal = "alice", .from_ms = t0 + 1000, .to_ms = t0 + 3999}, *log),
            (V{3}));
  EXPECT_EQ(QuerySeqs({.principal = "alice", .from_ms = t0 + 2000, .to_ms = t0 + 4000}, *log),
            (V{3, 5}));
  EXPECT_EQ(QuerySeqs({.principal = "bob", .from_ms = t0 + 1000, .to_ms = t0 + 5000}, *log),
            (V{2, 4, 6}));
  EXPECT_EQ(QuerySeqs({.principal = "ali"}, *log), V{});
  EXPECT_EQ(QuerySeqs({.on_behalf_of = "u1"}, *log), (V{3, 4}));
  EXPECT_EQ(QuerySeqs({.on_behalf_of = "alice"}, *log), V{});  // roles kept apart
  EXPECT_EQ(QuerySeqs({.subject = Subject(0)}, *log), (V{3, 6}));
  EXPECT_EQ(QuerySeqs({.subject = Subject(9)}, *log), (V{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(QuerySeqs({.subject = Subject(9), .from_ms = t0 + 2000, .to_ms = t0 + 3000}, *log),
            (V{3, 4}));
  EXPECT_EQ(QuerySeqs({.principal = "bob", .subject = Subject(9), .limit = 2}, *log), (V{2, 4}));
  EXPECT_EQ(QuerySeqs({.from_ms = t0 + 4000}, *log), (V{5, 6}));
  EXPECT_EQ(QuerySeqs({.to_ms = t0 + 999}, *log), (V{1}));
  auto bad = log->Query({.subject = "short"}, [](const Entry&) { return true; });
  EXPECT_FALSE(bad);
}

TEST_F(AuditLogTest, AFailedWriteFailsTheAppendAndLeavesNoGap) {
  FailingStore failing(*store_);
  auto log = OpenLog(50, &failing);
  ASSERT_TRUE(log);
  AppendN(*log, 3);
  log->CountUnauthenticated("https:192.0.2.1");
  clock_.Advance(60);
  failing.fail_writes = true;
  auto seq = log->Append(MakeEntry(4));
  ASSERT_FALSE(seq);
  EXPECT_EQ(seq.error().code, ErrorCode::kIoError);
  EXPECT_EQ(log->last_seq(), 3u);
  EXPECT_FALSE(log->Checkpoint());
  failing.fail_writes = false;
  seq = log->Append(MakeEntry(4));
  ASSERT_TRUE(seq);
  EXPECT_EQ(*seq, 5u);  // 4 is the unauthenticated summary, kept for the retry
  log.reset();
  VerifyReport r = VerifyOrDie();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.entries, 5u);
}

TEST_F(AuditLogTest, ATornAnchorLineIsIgnored) {
  {
    auto log = OpenLog();
    AppendN(*log, 60);
  }
  std::ofstream(anchor_, std::ios::app) << "61 17000 deadbeef";  // torn, no newline
  {
    auto log = OpenLog();
    ASSERT_TRUE(log);
    AppendN(*log, 50, 61);
  }
  VerifyReport r = VerifyOrDie();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.anchor_checkpoints, 3u);  // 50, 60 (shutdown), 110
}

TEST_F(AuditLogTest, AMissingAnchorIsRefusedUnlessRecreated) {
  {
    auto log = OpenLog();
    AppendN(*log, 10);
  }
  fs::rename(anchor_, anchor_ + ".old");
  auto refused = AuditLog::Open(Handle(*store_), KeyFrom('k'), Opts());
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kFailedPrecondition);
  Options o = Opts();
  o.recreate_anchor = true;
  auto log = AuditLog::Open(Handle(*store_), KeyFrom('k'), o);
  ASSERT_TRUE(log) << log.error().ToString();
  log->reset();
  EXPECT_TRUE(VerifyOrDie().ok);
}

TEST_F(AuditLogTest, VerifyAWindowFromTheCheckpointBeforeIt) {
  auto log = OpenLog(10);
  const int64_t t0 = 1'700'000'000'000;
  for (int i = 1; i <= 100; ++i) {
    ASSERT_TRUE(log->Append(MakeEntry(i)));
    if (i % 5 == 0) clock_.Advance(1);  // 5 entries per second
  }
  log.reset();
  // Entries 36..40 have time t0+7s; 56..60 t0+11s.
  VerifyReport r = VerifyOrDie({.from_ms = t0 + 7000, .to_ms = t0 + 11000});
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.first_seq, 31u);  // after checkpoint 30, the last one signed before t0 + 7 s
  // Checkpoint 70 is the first whose (signed) time is after the window.
  EXPECT_EQ(r.last_seq, 70u);
  // Damage outside the window is not this window's business...
  Del(Space::kAudit, internal::EntryKey(80));
  EXPECT_TRUE(VerifyOrDie({.from_ms = t0 + 7000, .to_ms = t0 + 11000}).ok);
  // ...damage inside is.
  Del(Space::kAudit, internal::EntryKey(45));
  r = VerifyOrDie({.from_ms = t0 + 7000, .to_ms = t0 + 11000});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 45u);
}

TEST_F(AuditLogTest, AWindowSaysWhereItStartedAndVisitsEachEntryOnce) {
  auto log = OpenLog(10);
  const int64_t t0 = 1'700'000'000'000;
  for (int i = 1; i <= 100; ++i) {
    ASSERT_TRUE(log->Append(MakeEntry(i)));
    if (i % 5 == 0) clock_.Advance(1);
  }
  log.reset();
  std::vector<uint64_t> seen;
  VerifyReport r = VerifyOrDie(
      {.from_ms = t0 + 7000, .to_ms = t0 + 11000, .visit = [&](size_t part, const EntryView& e) {
         EXPECT_EQ(part, 0u);
         EXPECT_EQ(e.principal, "svc-a");
         seen.push_back(e.seq);
       }});
  ASSERT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.start_checkpoint_seq, 30u);
  EXPECT_EQ(r.start_checkpoint_time_ms, t0 + 5000);  // entries 26..30 share t0 + 5 s
  EXPECT_EQ(r.end_checkpoint_seq, 70u);              // the first checkpoint signed after t0 + 11 s
  ASSERT_EQ(seen.size(), 40u);
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], 31 + i);
  // From before the first entry: no starting checkpoint, the walk starts at 1.
  r = VerifyOrDie({.from_ms = 0, .to_ms = t0});
  EXPECT_TRUE(r.ok);
  EXPECT_FALSE(r.start_checkpoint_seq);
  EXPECT_EQ(r.first_seq, 1u);
  // A visited entry that a later checkpoint contradicts fails the report.
  std::string bytes(internal::SplitStoredEntry(Raw(42))->bytes);
  bytes[bytes.size() - 1] ^= 1;
  Put(Space::kAudit, internal::EntryKey(42),
      bytes + std::string(internal::SplitStoredEntry(Raw(42))->hash));
  RechainFrom(42, 100);
  r = VerifyOrDie({.from_ms = t0 + 7000, .to_ms = t0 + 11000});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 41u);  // entries 41..50 do not match checkpoint 50
}

// Issue 13, item 11: the ends of a window came from a binary search over
// stored entry times, which nothing had verified yet. Shifting the times of
// the window's first (or last) entries moved the walk past them: "ok" with
// their exposures silently left out. A window must either visit every
// entry of the window or fail.
TEST_F(AuditLogTest, ShiftedEntryTimesCannotMoveAWindowPastItsEntries) {
  auto log = OpenLog(10);
  const int64_t t0 = 1'700'000'000'000;
  for (int i = 1; i <= 100; ++i) {
    ASSERT_TRUE(log->Append(MakeEntry(i)));
    if (i % 5 == 0) clock_.Advance(1);  // entries 5k+1..5k+5 at t0 + k s
  }
  log.reset();
  const int64_t from = t0 + 7000, to = t0 + 11000;  // entries 36..60
  // Rewrites the time inside entries [first, last], keeping their stored hashes.
  auto shift = [&](uint64_t first, uint64_t last, int64_t time_ms) {
    std::map<uint64_t, std::string> saved;
    for (uint64_t s = first; s <= last; ++s) {
      saved[s] = Raw(s);
      auto parts = internal::SplitStoredEntry(saved[s]);
      auto e = DecodeEntry(parts->bytes);
      EXPECT_TRUE(e);
      e->time_ms = time_ms;
      Put(Space::kAudit, internal::EntryKey(s), EncodeEntry(*e) + std::string(parts->hash));
    }
    return saved;
  };
  auto restore = [&](const std::map<uint64_t, std::string>& saved) {
    for (const auto& [s, v] : saved) Put(Space::kAudit, internal::EntryKey(s), v);
  };
  auto check = [&](const char* what, bool rechain) {
    if (rechain) RechainFrom(1, 100);
    std::vector<uint64_t> seen;
    VerifyReport r =
        VerifyOrDie({.from_ms = from, .to_ms = to, .visit = [&](size_t, const EntryView& e) {
                       seen.push_back(e.seq);
                     }});
    if (r.ok) {
      // Then every entry of the window was visited.
      for (uint64_t s = 36; s <= 60; ++s) {
        EXPECT_NE(std::find(seen.begin(), seen.end(), s), seen.end()) << what << ": entry " << s;
      }
    }
    EXPECT_FALSE(r.ok) << what << ": the shifted entries lie on the walk and were altered";
  };
  // The first entries of the window moved before it: the search then points
  // at checkpoint 50, whose signed time (t0 + 9 s) is not before `from`.
  auto saved = shift(36, 50, t0);
  check("start, stored hashes kept", false);
  check("start, chain recomputed", true);
  restore(saved);
  RechainFrom(1, 100);
  ASSERT_TRUE(VerifyOrDie({.from_ms = from, .to_ms = to}).ok);
  // The last entries of the window moved after it: the search then ends
  // the window at entry 50, and a walk stopping at checkpoint 50 would skip
  // 51..60.
  saved = shift(51, 60, t0 + 60'000);
  check("end, stored hashes kept", false);
  check("end, chain recomputed", true);
  restore(saved);
  RechainFrom(1, 100);
  VerifyReport clean = VerifyOrDie({.from_ms = from, .to_ms = to});
  ASSERT_TRUE(clean.ok) << clean.problem;
  EXPECT_EQ(clean.start_checkpoint_seq, 30u);
  EXPECT_EQ(clean.end_checkpoint_seq, 70u);
}

// A checkpoint signed on demand after a quiet spell carries the later time:
// it proves nothing about `from` after its entries, and an honest window
// still verifies (from an earlier checkpoint, or entry 1) with every entry.
TEST_F(AuditLogTest, ALateSignedCheckpointIsStillAWindowsSafeStart) {
  auto log = OpenLog(1000);
  const int64_t t0 = 1'700'000'000'000;
  for (int i = 1; i <= 5; ++i) ASSERT_TRUE(log->Append(MakeEntry(i)));  // t0
  clock_.Advance(100);
  ASSERT_TRUE(log->Checkpoint());  // checkpoint 5, signed at t0 + 100 s
  for (int i = 6; i <= 10; ++i) ASSERT_TRUE(log->Append(MakeEntry(i)));  // t0 + 100 s
  log.reset();
  std::vector<uint64_t> seen;
  VerifyReport r = VerifyOrDie(
      {.from_ms = t0 + 50'000, .to_ms = t0 + 200'000, .visit = [&](size_t, const EntryView& e) {
         seen.push_back(e.seq);
       }});
  ASSERT_TRUE(r.ok) << r.problem;
  EXPECT_FALSE(r.start_checkpoint_seq);  // checkpoint 5's signed time is not before `from`
  EXPECT_EQ(seen.front(), 1u);
  EXPECT_EQ(seen.back(), 10u);
}

TEST_F(AuditLogTest, AppendBatchWritesAllInOrderOrNothing) {
  auto log = OpenLog(10);
  std::vector<Entry> batch;
  for (int i = 1; i <= 25; ++i) batch.push_back(MakeEntry(i));
  auto last = log->AppendBatch(batch);
  ASSERT_TRUE(last) << last.error().ToString();
  EXPECT_EQ(*last, 25u);
  batch[3].action.clear();
  auto refused = log->AppendBatch(batch);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(refused.error().message.find("entry 3 "), std::string::npos) << refused.error().message;
  EXPECT_EQ(log->last_seq(), 25u);
  EXPECT_FALSE(log->AppendBatch({}));
  log.reset();
  VerifyReport r = VerifyOrDie();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.entries, 25u);
  EXPECT_GE(r.checkpoints, 2u);  // at 10 and 20, and the tail at close
}

// The asynchronous path: AppendBatchAsync returns before the entries are
// durable and calls back once they are, in submission order, interleaved
// with blocking appends from other threads, all in one chain.
TEST_F(AuditLogTest, AsyncBatchesCallBackOnceDurableAndChainWithBlockingAppends) {
  auto log = OpenLog(20);
  constexpr int kBatches = 200;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<uint64_t> done_seqs;
  int failures = 0;
  std::thread blocking([&] {
    for (int i = 0; i < 100; ++i) {
      auto s = log->Append(MakeEntry(i, "svc-blocking"));
      ASSERT_TRUE(s) << s.error().ToString();
    }
  });
  for (int i = 0; i < kBatches; ++i) {
    std::vector<Entry> batch = {MakeEntry(i, "svc-async"), MakeEntry(i, "svc-async")};
    Status queued = log->AppendBatchAsync(std::move(batch), [&](const Result<uint64_t>& r) {
      std::lock_guard lock(mu);
      if (r) {
        done_seqs.push_back(*r);
      } else {
        ++failures;
      }
      cv.notify_all();
    });
    ASSERT_TRUE(queued) << queued.error().ToString();
  }
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60),
                            [&] { return done_seqs.size() + failures == size_t{kBatches}; }));
  }
  blocking.join();
  EXPECT_EQ(failures, 0);
  // Each callback's seq is its batch's last entry: submission order, and
  // the entry before it is the batch's first (a batch is never split).
  EXPECT_TRUE(std::is_sorted(done_seqs.begin(), done_seqs.end()));
  auto async_seqs = QuerySeqs({.principal = "svc-async"}, *log);
  ASSERT_EQ(async_seqs.size(), size_t{2 * kBatches});
  for (size_t i = 0; i < done_seqs.size(); ++i) {
    EXPECT_EQ(async_seqs[2 * i + 1], done_seqs[i]);
    EXPECT_EQ(async_seqs[2 * i], done_seqs[i] - 1);
  }
  EXPECT_EQ(log->last_seq(), uint64_t{2 * kBatches + 100});
  log.reset();
  VerifyReport r = VerifyOrDie();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.entries, uint64_t{2 * kBatches + 100});
}

TEST_F(AuditLogTest, AsyncBatchRefusesAnInvalidEntryAndReportsAFailedWrite) {
  FailingStore failing(*store_);
  auto log = OpenLog(50, &failing);
  AppendN(*log, 2);
  std::vector<Entry> bad = {MakeEntry(3), MakeEntry(4)};
  bad[1].action.clear();
  bool called = false;
  Status refused =
      log->AppendBatchAsync(std::move(bad), [&](const Result<uint64_t>&) { called = true; });
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(refused.error().message.find("entry 1 "), std::string::npos) << refused.error().message;

  // Fail closed: the callback gets the write's error, and nothing is kept.
  failing.fail_writes = true;
  std::promise<Result<uint64_t>> outcome;
  ASSERT_TRUE(log->AppendBatchAsync({MakeEntry(3)},
                                    [&](const Result<uint64_t>& r) { outcome.set_value(r); }));
  Result<uint64_t> r = outcome.get_future().get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kIoError);
  EXPECT_FALSE(called);
  EXPECT_EQ(log->last_seq(), 2u);
  failing.fail_writes = false;
  std::promise<Result<uint64_t>> retried;
  ASSERT_TRUE(log->AppendBatchAsync({MakeEntry(3)},
                                    [&](const Result<uint64_t>& r2) { retried.set_value(r2); }));
  Result<uint64_t> again = retried.get_future().get();
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_EQ(*again, 3u);  // no gap
}

// ADR 0014: the committer writes the next groups while a sync is in
// progress; nobody is answered, and no reader sees an entry, before the sync
// that covers it has returned.
TEST_F(AuditLogTest, GroupsWrittenDuringASyncWaitForItAndStayInvisible) {
  FailingStore failing(*store_);
  auto log = OpenLog(5, &failing);
  AppendN(*log, 2);
  HeldSyncs held(failing);
  Outcomes done;
  auto record = done.Callback();
  const int writes_before = failing.writes;
  const int syncs_before = failing.syncs;
  ASSERT_TRUE(log->AppendBatchAsync({MakeEntry(3, "svc-held")}, record));
  ASSERT_TRUE(Eventually([&] { return failing.syncs_waiting == 1; }));
  // The sync of entry 3 hangs; entry 4 is still written meanwhile. Entries
  // 5..9 then wait in the queue, without waking the committer, since a
  // written group already waits for the next sync.
  ASSERT_TRUE(log->AppendBatchAsync({MakeEntry(4, "svc-held")}, record));
  ASSERT_TRUE(Eventually([&] { return failing.writes - writes_before == 2; }));
  for (int i = 5; i <= 9; ++i)
    ASSERT_TRUE(log->AppendBatchAsync({MakeEntry(i, "svc-held")}, record));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(failing.writes - writes_before, 2);
  EXPECT_EQ(done.size(), 0u);
  EXPECT_EQ(log->last_seq(), 2u);
  EXPECT_TRUE(QuerySeqs({.principal = "svc-held"}, *log).empty());
  EXPECT_EQ(QuerySeqs({}, *log), (std::vector<uint64_t>{1, 2}));
  auto anchored = internal::ReadLastAnchorCheckpoint(anchor_);
  ASSERT_TRUE(anchored);
  EXPECT_FALSE(*anchored) << "checkpoint 5 anchored before it was durable";

  // Released: the sync of entry 3 ends; before the next one, 5..9 are
  // written as one group (checkpoint 5 signed there), and one sync covers 4..9.
  held.Release();
  ASSERT_TRUE(Eventually([&] { return done.size() == 7; }));
  EXPECT_EQ(done.Get(), (std::vector<int64_t>{3, 4, 5, 6, 7, 8, 9}));  // in order, all durable
  EXPECT_EQ(log->last_seq(), 9u);
  EXPECT_EQ(QuerySeqs({.principal = "svc-held"}, *log),
            (std::vector<uint64_t>{3, 4, 5, 6, 7, 8, 9}));
  anchored = internal::ReadLastAnchorCheckpoint(anchor_);
  ASSERT_TRUE(anchored && *anchored);
  EXPECT_EQ((*anchored)->seq, 5u);
  // Three groups ({3}, {4}, {5..9}) and two syncs: the one held, and one for
  // everything submitted while it was.
  EXPECT_EQ(failing.writes - writes_before, 3);
  EXPECT_EQ(failing.syncs - syncs_before, 2);
  log.reset();
  VerifyReport r = VerifyOrDie();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.entries, 9u);
}

// Fail closed when a sync fails: every submission it covered fails, and so
// does every later one until the log is reopened. Reopened, the log verifies
// (entries that reached the disk anyway are kept: over-recording is safe).
// (A checkpoint under a failed sync: AGroupWrittenDuringAFailingSync... below.)
TEST_F(AuditLogTest, AFailedSyncFailsItsGroupsAndBreaksTheLogUntilReopened) {
  FailingStore failing(*store_);
  {
    auto log = OpenLog(4, &failing);
    AppendN(*log, 2);
    failing.fail_syncs = true;
    auto seq = log->Append(MakeEntry(3));
    ASSERT_FALSE(seq);
    EXPECT_EQ(seq.error().code, ErrorCode::kIoError);
    EXPECT_NE(seq.error().message.find("injected sync failure"), std::string::npos);
    EXPECT_EQ(log->last_seq(), 2u);
    failing.fail_syncs = false;
    // Broken: the disk is back, but the chain state cannot be trusted.
    for (int i = 4; i <= 6; ++i) {
      std::promise<Result<uint64_t>> outcome;
      ASSERT_TRUE(log->AppendBatchAsync({MakeEntry(i)},
                                        [&](const Result<uint64_t>& r) { outcome.set_value(r); }));
      Result<uint64_t> r = outcome.get_future().get();
      ASSERT_FALSE(r);
      EXPECT_EQ(r.error().code, ErrorCode::kIoError);
    }
    EXPECT_FALSE(log->Checkpoint());
    EXPECT_EQ(log->last_seq(), 2u);
    EXPECT_EQ(QuerySeqs({}, *log), (std::vector<uint64_t>{1, 2}));
  }
  auto anchored = internal::ReadLastAnchorCheckpoint(anchor_);
  ASSERT_TRUE(anchored);
  EXPECT_FALSE(*anchored);  // nothing was ever checkpointed
  auto log = OpenLog(4);
  ASSERT_TRUE(log);
  EXPECT_EQ(log->last_seq(), 3u);  // entry 3 reached the WAL before the sync failed
  auto seq = log->Append(MakeEntry(4));
  ASSERT_TRUE(seq) << seq.error().ToString();
  EXPECT_EQ(*seq, 4u);
  log.reset();
  VerifyReport r = VerifyOrDie();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.entries, 4u);
}

// A group written while a sync runs is chained onto the entries of that
// sync: if it fails, the group fails too, though its own sync would have
// succeeded, and the checkpoint it signed is never anchored.
TEST_F(AuditLogTest, AGroupWrittenDuringAFailingSyncFailsAndIsNotAnchored) {
  FailingStore failing(*store_);
  auto log = OpenLog(4, &failing);
  AppendN(*log, 2);
  HeldSyncs held(failing);
  Outcomes done;
  auto record = done.Callback();
  const int writes_before = failing.writes;
  ASSERT_TRUE(log->AppendBatchAsync({MakeEntry(3)}, record));
  ASSERT_TRUE(Eventually([&] { return failing.syncs_waiting == 1; }));
  ASSERT_TRUE(log->AppendBatchAsync({MakeEntry(4)}, record));  // signs checkpoint 4
  ASSERT_TRUE(Eventually([&] { return failing.writes - writes_before == 2; }));
  failing.fail_one_sync = true;  // the sync of entry 3 fails, later ones would not
  held.Release();
  ASSERT_TRUE(Eventually([&] { return done.size() == 2; }));
  EXPECT_EQ(done.Get(), (std::vector<int64_t>{-1, -1}));
  auto anchored = internal::ReadLastAnchorCheckpoint(anchor_);
  ASSERT_TRUE(anchored);
  EXPECT_FALSE(*anchored) << "checkpoint 4 anchored after the sync under it failed";
  EXPECT_EQ(log->last_seq(), 2u);
  EXPECT_FALSE(log->Append(MakeEntry(5)));
  log.reset();
  auto again = OpenLog(4);
  ASSERT_TRUE(again);
  ASSERT_TRUE(again->Append(MakeEntry(9)));
  again.reset();
  VerifyReport r = VerifyOrDie();
  EXPECT_TRUE(r.ok) << r.problem;
}

// A group whose write fails between two written groups is answered in its
// place: after the earlier group's sync, before the later group.
TEST_F(AuditLogTest, AFailedWriteIsAnsweredInOrderBetweenUnsyncedGroups) {
  FailingStore failing(*store_);
  auto log = OpenLog(100, &failing);
  AppendN(*log, 2);
  HeldSyncs held(failing);
  Outcomes done;
  auto record = done.Callback();
  ASSERT_TRUE(log->AppendBatchAsync({MakeEntry(3)}, record));
  ASSERT_TRUE(Eventually([&] { return failing.syncs_waiting == 1; }));
  failing.fail_writes = true;
  ASSERT_TRUE(log->AppendBatchAsync({MakeEntry(100), MakeEntry(101)}, record));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  failing.fail_writes = false;
  ASSERT_TRUE(log->AppendBatchAsync({MakeEntry(4)}, record));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(done.size(), 0u) << "the failed group was answered before the earlier one";
  held.Release();
  ASSERT_TRUE(Eventually([&] { return done.size() == 3; }));
  EXPECT_EQ(done.Get(), (std::vector<int64_t>{3, -1, 4}));  // and 4 reuses the failed seqs
  log.reset();
  VerifyReport r = VerifyOrDie();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.entries, 4u);
}

// The anchor cannot be written after a durable sync: the group fails and the
// log breaks; reopened, the stored checkpoint is anchored.
TEST_F(AuditLogTest, AnAnchorFailureAfterTheSyncBreaksTheLog) {
  {
    auto log = OpenLog(3);
    AppendN(*log, 2);
    fs::rename(anchor_, anchor_ + ".kept");
    fs::create_directory(anchor_);         // appending to it fails
    auto seq = log->Append(MakeEntry(3));  // signs checkpoint 3
    EXPECT_FALSE(seq);
    EXPECT_EQ(log->last_seq(), 2u);
    EXPECT_FALSE(log->Append(MakeEntry(4)));
    fs::remove(anchor_);
    fs::rename(anchor_ + ".kept", anchor_);
  }
  auto log = OpenLog(3);
  ASSERT_TRUE(log);
  EXPECT_EQ(log->last_seq(), 3u);
  auto anchored = internal::ReadLastAnchorCheckpoint(anchor_);
  ASSERT_TRUE(anchored && *anchored);
  EXPECT_EQ((*anchored)->seq, 3u);
}

// Destroying the log while a sync is held, with submissions written and
// queued: the destructor waits, and every callback runs once, in order.
TEST_F(AuditLogTest, TheDestructorWaitsForAHeldSyncAndAnswersEveryone) {
  FailingStore failing(*store_);
  auto log = OpenLog(100, &failing);
  AppendN(*log, 1);
  HeldSyncs held(failing);
  Outcomes done;
  auto record = done.Callback();
  for (int i = 2; i <= 6; ++i) ASSERT_TRUE(log->AppendBatchAsync({MakeEntry(i)}, record));
  std::thread closer([&] { log.reset(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(done.size(), 0u);
  held.Release();
  closer.join();
  EXPECT_EQ(done.Get(), (std::vector<int64_t>{2, 3, 4, 5, 6}));
}

TEST_F(AuditLogTest, AWalkInPartsFindsWhatOneWalkFinds) {
  auto log = OpenLog(10);
  std::vector<Entry> batch;
  for (int i = 1; i <= 300; ++i) batch.push_back(MakeEntry(i));
  ASSERT_TRUE(log->AppendBatch(batch));
  log.reset();
  auto both = [&](const VerifyOptions& base) {
    VerifyOptions one = base;
    VerifyOptions three = base;
    three.threads = 3;
    three.min_part_entries = 20;
    std::vector<std::vector<uint64_t>> seen(3);
    three.visit = [&](size_t part, const EntryView& e) { seen.at(part).push_back(e.seq); };
    VerifyReport a = VerifyOrDie(one);
    VerifyReport b = VerifyOrDie(three);
    EXPECT_EQ(a.ok, b.ok);
    EXPECT_EQ(a.problem, b.problem);
    EXPECT_EQ(a.first_bad_seq, b.first_bad_seq);
    if (a.ok) {
      EXPECT_EQ(a.entries, b.entries);
      EXPECT_EQ(a.checkpoints, b.checkpoints);
      EXPECT_EQ(a.anchor_checkpoints, b.anchor_checkpoints);
      EXPECT_EQ(a.unsigned_tail, b.unsigned_tail);
      EXPECT_EQ(a.end_checkpoint_seq, b.end_checkpoint_seq);
      // Three consecutive, ordered parts covering everything once.
      std::vector<uint64_t> all;
      for (const auto& p : seen) {
        EXPECT_FALSE(p.empty());
        EXPECT_TRUE(std::is_sorted(p.begin(), p.end()));
        all.insert(all.end(), p.begin(), p.end());
      }
      EXPECT_EQ(all.size(), a.entries);
      EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));
    }
    return b;
  };
  VerifyReport clean = both({});
  EXPECT_TRUE(clean.ok);
  EXPECT_EQ(clean.entries, 300u);
  // Parts split at checkpoints 100 and 200 (300 entries, 3 parts).
  for (uint64_t seq : {uint64_t{57}, uint64_t{100}, uint64_t{101}, uint64_t{200}, uint64_t{201}}) {
    std::string saved = Raw(seq);
    Del(Space::kAudit, internal::EntryKey(seq));
    VerifyReport r = both({});
    EXPECT_FALSE(r.ok) << seq;
    EXPECT_EQ(r.first_bad_seq, seq) << r.problem;
    Put(Space::kAudit, internal::EntryKey(seq), saved);
    std::string edited = saved;
    edited[edited.size() - 33] ^= 1;
    Put(Space::kAudit, internal::EntryKey(seq), edited);
    r = both({});
    EXPECT_FALSE(r.ok) << seq;
    EXPECT_EQ(r.first_bad_seq, seq) << r.problem;
    RechainFrom(seq, 300);  // only the signatures can tell now
    r = both({});
    EXPECT_FALSE(r.ok) << seq;
    Put(Space::kAudit, internal::EntryKey(seq), saved);
    RechainFrom(seq, 300);
    EXPECT_TRUE(both({}).ok) << seq;
  }
  // The stored checkpoint where two parts meet, re-signed by someone else.
  auto cp = store_->Get(Space::kAudit, internal::CheckpointKey(100));
  ASSERT_TRUE(cp && *cp);
  std::string bad = **cp;
  bad[bad.size() - 1] ^= 1;
  Put(Space::kAudit, internal::CheckpointKey(100), bad);
  VerifyReport r = both({});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 100u);
  Put(Space::kAudit, internal::CheckpointKey(100), **cp);
  // Truncation of the tail.
  for (uint64_t s = 281; s <= 300; ++s) Del(Space::kAudit, internal::EntryKey(s));
  r = both({});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_bad_seq, 281u);
  // A window, in parts.
  EXPECT_FALSE(both({.from_ms = 0, .to_ms = INT64_MAX}).ok);
}

}  // namespace
}  // namespace coffre::audit
