#include "cards/cards.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "cards/card_rules.h"
#include "common/bytes.h"
#include "storage/memory_store.h"
#include "tests/vectors/card_numbers.h"
#include "vault/vault.h"

namespace coffre::cards {
namespace {

using test_vectors::LuhnNumber;

using storage::Space;
namespace fs = std::filesystem;

constexpr int64_t kNow = 1'800'000'000;  // 2027-01-15T08:00:00Z

std::string FileBytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class CardsTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto::Init());
    char tmpl[] = "/tmp/coffre-cards-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    Reopen();
  }
  void TearDown() override {
    cards_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }
  void Reopen(int evidence_months = kDefaultEvidenceMonths) {
    cards_.reset();
    store_.reset();
    // In memory (reopened on the same data), or RocksDB under dir_ for the
    // tests of what reaches the files.
    auto store = on_disk_
                     ? storage::OpenRocksStore({.path = dir_ + "/db", .create_if_missing = true})
                     : storage::OpenMemoryStore({.data = memory_});
    ASSERT_TRUE(store) << store.error().ToString();
    store_ = std::move(*store);
    cards_ = std::make_unique<Cards>(storage::SpaceHandle(*store_, "cards", kCardSpaces), vault_id_,
                                     kek_, hash_key_, CardsOptions{evidence_months});
  }
  Card Make(const std::string& pan, std::string expiry = "12/28", bool save = false) {
    auto c = cards_->Create({.pan = pan, .expiry = expiry, .holder = "Jeanne Martin", .save = save},
                            kNow);
    EXPECT_TRUE(c) << c.error().ToString();
    return c->card;
  }
  std::optional<std::string> Raw(std::string_view prefix, std::string_view id) {
    auto v = store_->Get(Space::kCards, std::string(prefix) + std::string(id));
    EXPECT_TRUE(v);
    return *v;
  }
  // Every byte of every file of the store.
  std::string AllFiles() {
    std::string all;
    for (const auto& e : fs::recursive_directory_iterator(dir_ + "/db")) {
      if (e.is_regular_file()) all += FileBytes(e.path());
    }
    return all;
  }

  std::string dir_;
  std::string vault_id_ = std::string(16, 'v');
  crypto::SecretKey kek_ = crypto::SecretKey::Random();
  crypto::SecretKey hash_key_ = crypto::SecretKey::Random();
  bool on_disk_ = false;
  std::shared_ptr<storage::MemoryData> memory_ = storage::NewMemoryData();
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<Cards> cards_;
};

class CardsOnDiskTest : public CardsTest {
 protected:
  CardsOnDiskTest() { on_disk_ = true; }
};

TEST_F(CardsTest, CreateThenGetMaskedAndClear) {
  std::string pan = LuhnNumber("497010", 16, 1);
  Card made = Make(pan);
  EXPECT_EQ(made.state, State::kActive);
  EXPECT_EQ(made.last4, pan.substr(12));
  EXPECT_FALSE(PassesLuhn(made.token.substr(3)));
  auto got = cards_->Get(made.token);
  ASSERT_TRUE(got) << got.error().ToString();
  EXPECT_EQ(got->pan, pan);
  EXPECT_EQ(got->expiry, "12/28");
  EXPECT_EQ(got->holder, "Jeanne Martin");
  EXPECT_EQ(got->Masked(), pan.substr(0, 6) + "******" + pan.substr(12));
  EXPECT_EQ(got->expires_s, 1861920000);  // 2029-01-01T00:00:00Z
  // Nothing of the number in clear in the store's values.
  ASSERT_TRUE(store_->Scan(Space::kCards, "", [&](std::string_view k, std::string_view v) {
    EXPECT_EQ(std::string(k).find(pan), std::string::npos);
    EXPECT_EQ(std::string(v).find(pan), std::string::npos);
    return true;
  }));
  // A token of the same id with other last 4 is another (unknown) card.
  std::string id = ParseToken(made.token)->card_id;
  std::string other = *MakeToken(id, made.last4 == "0000" ? "0001" : "0000");
  EXPECT_EQ(cards_->Get(other).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(cards_->Get("ct_123").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(cards_->Get(*MakeToken(crypto::RandomString(16), "1234")).error().code,
            ErrorCode::kNotFound);
}

TEST_F(CardsTest, ValidationNamesTheFieldNeverTheValue) {
  std::string pan = LuhnNumber("4", 16, 2);
  std::string bad_luhn = pan;
  bad_luhn.back() = static_cast<char>('0' + (pan.back() - '0' + 1) % 10);
  struct Case {
    NewCard in;
    std::string needle;
  };
  for (const Case& c : std::vector<Case>{
           {{.pan = bad_luhn, .expiry = "12/28"}, "'pan' fails the Luhn check"},
           {{.pan = pan.substr(0, 11), .expiry = "12/28"}, "'pan' must have 12 to 19 digits"},
           {{.pan = pan, .expiry = "13/28"}, "'expiry': the month"},
           {{.pan = pan, .expiry = "1228"}, "'expiry' must read MM/YY"},
           {{.pan = pan, .expiry = "12/26"}, "'expiry': the card has expired"},
           {{.pan = pan, .expiry = "12/99"}, "years ahead"},
           {{.pan = pan, .expiry = "12/28", .holder = ""}, "'holder'"},
           {{.pan = pan, .expiry = "12/28", .holder = "a\nb"}, "'holder'"},
       }) {
    auto r = cards_->Create(c.in, kNow);
    ASSERT_FALSE(r) << c.needle;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find(c.needle), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().message.find(pan.substr(6, 6)), std::string::npos) << r.error().message;
  }
  // The current month is still valid (the card works until its last day).
  EXPECT_TRUE(cards_->Create({.pan = pan, .expiry = "01/27"}, kNow));
}

TEST_F(CardsTest, ASealedCardMovedUnderAnotherTokenDoesNotOpen) {
  Card a = Make(LuhnNumber("4", 16, 3));
  Card b = Make(LuhnNumber("5", 16, 4));
  ASSERT_TRUE(cards_->Get(b.token));
  // Copy A's sealed card (and then its key too) over B's.
  auto batch = store_->NewBatch();
  batch->Put(Space::kCards, "c/" + b.id, *Raw("c/", a.id));
  ASSERT_TRUE(store_->Write(*batch));
  auto moved = cards_->Get(b.token);
  ASSERT_FALSE(moved);
  EXPECT_EQ(moved.error().code, ErrorCode::kDataLoss);
  batch->Clear();
  batch->Put(Space::kCards, "k/" + b.id, *Raw("k/", a.id));
  ASSERT_TRUE(store_->Write(*batch));
  moved = cards_->Get(b.token);
  ASSERT_FALSE(moved);
  EXPECT_EQ(moved.error().code, ErrorCode::kDataLoss);
  // A flipped byte too.
  std::string sealed = *Raw("c/", a.id);
  sealed[sealed.size() / 2] ^= 1;
  batch->Clear();
  batch->Put(Space::kCards, "c/" + a.id, sealed);
  ASSERT_TRUE(store_->Write(*batch));
  EXPECT_EQ(cards_->Get(a.token).error().code, ErrorCode::kDataLoss);
  // A state byte changed (evidence -> active) does not open either.
  Card c = Make(LuhnNumber("4", 16, 5));
  ASSERT_TRUE(cards_->Complete(c.token, kNow));
  std::string ev = *Raw("c/", c.id);
  ev[1] = 'a';
  batch->Clear();
  batch->Put(Space::kCards, "c/" + c.id, ev);
  ASSERT_TRUE(store_->Write(*batch));
  EXPECT_EQ(cards_->Get(c.token).error().code, ErrorCode::kDataLoss);
}

TEST_F(CardsOnDiskTest, CompleteShredsTheKeyAndTheNumberForGood) {
  std::string pan = LuhnNumber("535110", 16, 6);
  Card made = Make(pan);
  const std::string old_sealed = *Raw("c/", made.id);
  const std::string old_wrapped = *Raw("k/", made.id);
  ASSERT_TRUE(cards_->Get(made.token)->pan == pan);
  auto done = cards_->Complete(made.token, kNow + 60);
  ASSERT_TRUE(done) << done.error().ToString();
  EXPECT_EQ(done->state, State::kEvidence);
  EXPECT_TRUE(done->pan.empty());
  EXPECT_TRUE(cards_->shred_pending());

  // The wrapped key that opened the number is gone from the store: the key
  // now there does not open the old ciphertext.
  const std::string new_wrapped = *Raw("k/", made.id);
  EXPECT_NE(new_wrapped, old_wrapped);
  auto new_key = crypto::UnwrapKey(kek_, new_wrapped, [&] {
    std::string aad = "coffre.card.key.v1";
    AppendLengthPrefixed(aad, vault_id_);
    AppendLengthPrefixed(aad, made.id);
    return aad;
  }());
  ASSERT_TRUE(new_key);
  std::string old_aad = "coffre.card.v1";
  AppendLengthPrefixed(old_aad, vault_id_);
  AppendLengthPrefixed(old_aad, made.id);
  old_aad += 'a';
  EXPECT_FALSE(crypto::Open(*new_key, std::string_view(old_sealed).substr(2), old_aad));
  bool old_key_anywhere = false;
  ASSERT_TRUE(store_->Scan(Space::kCards, "", [&](std::string_view, std::string_view v) {
    old_key_anywhere |= v == old_wrapped;
    return true;
  }));
  EXPECT_FALSE(old_key_anywhere);

  // No role can get the number back: the card reads as an evidence.
  auto got = cards_->Get(made.token);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->state, State::kEvidence);
  EXPECT_TRUE(got->pan.empty());
  EXPECT_TRUE(got->holder.empty());
  EXPECT_EQ(got->last4, pan.substr(12));
  EXPECT_EQ(got->Masked(), "****" + pan.substr(12));
  EXPECT_EQ(got->completed_s, kNow + 60);
  EXPECT_EQ(cards_->Complete(made.token, kNow).error().code, ErrorCode::kFailedPrecondition);

  // After the compaction, neither the old wrapped key nor the old sealed
  // card is in any file of the store (SST, WAL, manifest).
  ASSERT_TRUE(cards_->CompactIfShredded());
  EXPECT_FALSE(cards_->shred_pending());
  std::string files = AllFiles();
  EXPECT_EQ(files.find(old_wrapped), std::string::npos);
  EXPECT_EQ(files.find(old_sealed.substr(2)), std::string::npos);

  // The same card is still recognised.
  auto again = cards_->Create({.pan = pan, .expiry = "12/28"}, kNow);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->known);
  EXPECT_FALSE(
      cards_->Create({.pan = LuhnNumber("535110", 16, 99), .expiry = "12/28"}, kNow)->known);
}

TEST_F(CardsTest, SavedCardKeepsItsNumberAfterComplete) {
  std::string pan = LuhnNumber("4", 16, 7);
  Card made = Make(pan, "12/28", /*save=*/true);
  EXPECT_EQ(made.state, State::kSaved);
  auto done = cards_->Complete(made.token, kNow + 5);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, State::kSaved);
  auto got = cards_->Get(made.token);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->pan, pan);
  EXPECT_EQ(got->completed_s, kNow + 5);
  EXPECT_TRUE(cards_->Complete(made.token, kNow + 6));  // saved cards serve again
}

TEST_F(CardsOnDiskTest, SweepExpiresAfterTheMonthThenDeletesTheEvidence) {
  std::string pan = LuhnNumber("4", 16, 8);
  Card active = Make(pan, "03/27");
  Card saved = Make(LuhnNumber("5", 16, 9), "03/27", true);
  Card later = Make(LuhnNumber("4", 16, 10), "04/27");
  Card completed = Make(LuhnNumber("4", 16, 11), "03/27");
  ASSERT_TRUE(cards_->Complete(completed.token, kNow));
  std::vector<std::pair<std::string, std::string>> events;
  auto record = [&](const SweepEvent& e) {
    events.emplace_back(std::string(SweepEventName(e.kind)), e.token);
    return Ok();
  };
  const int64_t april = 1806537600;  // 2027-04-01T00:00:00Z: the end of 03/27
  auto s = cards_->Sweep(april - 1, record);
  ASSERT_TRUE(s);
  EXPECT_TRUE(events.empty());
  EXPECT_EQ(cards_->Get(active.token)->pan, pan);

  s = cards_->Sweep(april, record);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->expired, 2u);  // active and saved; `completed` is already an evidence
  EXPECT_EQ(events.size(), 2u);
  for (const Card* c : {&active, &saved}) {
    auto got = cards_->Get(c->token);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->state, State::kEvidence);
    EXPECT_TRUE(got->pan.empty());
  }
  EXPECT_EQ(cards_->Get(later.token)->state, State::kActive);
  ASSERT_TRUE(cards_->CompactIfShredded());
  EXPECT_EQ(AllFiles().find(pan), std::string::npos);

  // 13 months after the end of 03/27: 2028-05-01.
  const int64_t evidence_end = 1840752000;
  events.clear();
  s = cards_->Sweep(evidence_end - 1, record);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->evidence_deleted, 0u);
  EXPECT_EQ(s->expired, 1u);  // `later` expired in the meantime
  events.clear();
  s = cards_->Sweep(evidence_end, record);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->evidence_deleted, 3u);
  for (const Card* c : {&active, &saved, &completed}) {
    EXPECT_EQ(cards_->Get(c->token).error().code, ErrorCode::kNotFound);
  }
  EXPECT_TRUE(cards_->Get(later.token));
  // Gone for recognition too: its hash entry went with it.
  EXPECT_FALSE(cards_->Create({.pan = pan, .expiry = "12/29"}, evidence_end)->known);
}

TEST_F(CardsTest, EvidenceMonthsAreConfigurable) {
  Reopen(1);
  Card c = Make(LuhnNumber("4", 16, 12), "03/27");
  auto s = cards_->Sweep(1809129600, [](const SweepEvent&) { return Ok(); });  // 2027-05-01
  ASSERT_TRUE(s);
  EXPECT_EQ(s->expired + s->evidence_deleted, 1u);
  EXPECT_EQ(cards_->Get(c.token).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(*ParseEvidenceMonths("13"), 13);
  for (std::string_view bad : {"0", "121", "013", "x", "", "-1"})
    EXPECT_FALSE(ParseEvidenceMonths(bad)) << bad;
}

// A store key under the card prefix whose id is not 16 bytes is no card:
// the sweep leaves it, counted unreadable, and goes on with the others.
TEST_F(CardsTest, SweepSkipsKeysOfAnotherLength) {
  Card c = Make(LuhnNumber("4", 16, 13), "03/27");
  auto batch = store_->NewBatch();
  const std::string id = ParseToken(c.token)->card_id;
  // The card's own entries under longer and shorter ids.
  for (const std::string& other : {id + std::string(20, '\x01'), id.substr(0, 9)}) {
    batch->Put(Space::kCards, "c/" + other, *Raw("c/", id));
    batch->Put(Space::kCards, "k/" + other, *Raw("k/", id));
  }
  ASSERT_TRUE(store_->Write(*batch));
  size_t events = 0;
  auto s = cards_->Sweep(1806537600, [&](const SweepEvent&) {  // 2027-04-01: c expired
    ++events;
    return Ok();
  });
  ASSERT_TRUE(s) << s.error().ToString();
  EXPECT_EQ(s->unreadable, 2u);
  EXPECT_EQ(s->expired, 1u);
  EXPECT_EQ(events, 1u);
  EXPECT_EQ(cards_->Get(c.token)->state, State::kEvidence);
}

TEST_F(CardsTest, AFailingAuditStopsTheSweepAfterADurableChange) {
  Card a = Make(LuhnNumber("4", 16, 13), "03/27");
  Card b = Make(LuhnNumber("4", 16, 14), "03/27");
  int calls = 0;
  auto s = cards_->Sweep(1806537600, [&](const SweepEvent&) -> Status {
    ++calls;
    return Fail(ErrorCode::kIoError, "audit down");
  });
  ASSERT_FALSE(s);
  EXPECT_EQ(calls, 1);
  int evidences = 0;
  for (const Card* c : {&a, &b}) evidences += cards_->Get(c->token)->state == State::kEvidence;
  EXPECT_EQ(evidences, 1);
}

TEST_F(CardsTest, DeleteShredsEverything) {
  std::string pan = LuhnNumber("4", 16, 15);
  Card c = Make(pan);
  ASSERT_TRUE(cards_->Delete(c.token));
  EXPECT_EQ(cards_->Get(c.token).error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(Raw("k/", c.id));
  EXPECT_FALSE(cards_->Create({.pan = pan, .expiry = "12/28"}, kNow)->known);
}

TEST_F(CardsTest, SubjectEntryFollowsTheCard) {
  const std::string subject(16, 's');
  auto made =
      cards_->Create({.pan = LuhnNumber("4", 16, 16), .expiry = "03/27", .subject = subject}, kNow);
  ASSERT_TRUE(made);
  auto other =
      cards_->Create({.pan = LuhnNumber("4", 16, 17), .expiry = "03/27", .subject = subject}, kNow);
  ASSERT_TRUE(other);
  EXPECT_EQ(*Raw("s/" + subject, made->card.id), made->card.hash);
  EXPECT_EQ(*cards_->CountOfSubject(subject), 2u);
  EXPECT_EQ(*cards_->CountOfSubject(std::string(16, 't')), 0u);
  // Completed: still the subject's (an evidence is about the person too).
  ASSERT_TRUE(cards_->Complete(made->card.token, kNow));
  EXPECT_EQ(*cards_->CountOfSubject(subject), 2u);
  ASSERT_TRUE(cards_->Delete(other->card.token));
  EXPECT_FALSE(Raw("s/" + subject, other->card.id));
  EXPECT_EQ(*cards_->CountOfSubject(subject), 1u);
  // The evidence's deletion by the sweep takes the entry too.
  ASSERT_TRUE(cards_->Sweep(1840752000, [](const SweepEvent&) { return Ok(); }));
  EXPECT_FALSE(Raw("s/" + subject, made->card.id));
  EXPECT_EQ(*cards_->CountOfSubject(subject), 0u);
}

// Erasing a subject (Vault::EraseSubject, and its replay from the erasure
// journal on a restored backup) deletes the subject's cards with it.
class CardsInVaultTest : public testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto::Init());
    char tmpl[] = "/tmp/coffre-cards-vault-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
    std::ofstream(tmp_ + "/schema.toml") << "version = 1\n[collections.customers]\nfields = [ { "
                                            "name = \"last_name\", type = \"name\", "
                                            "required = true } ]\n";
    auto init = vault::Vault::Init({dir(), tmp_ + "/schema.toml", key(), journal()});
    ASSERT_TRUE(init) << init.error().ToString();
    Open();
  }
  void TearDown() override {
    cards_.reset();
    vault_.reset();
    fs::remove_all(tmp_);
  }
  std::string dir() const { return tmp_ + "/vault"; }
  std::string key() const { return tmp_ + "/vault.key"; }
  std::string journal() const { return tmp_ + "/vault.erasures"; }
  void Open() {
    cards_.reset();
    vault_.reset();
    auto v = vault::Vault::Open({.dir = dir(),
                                 .key_file = key(),
                                 .erasure_journal = journal(),
                                 .erasers = {&card_eraser_}});
    ASSERT_TRUE(v) << v.error().ToString();
    vault_ = std::move(*v);
    auto c = Cards::Open(*vault_, *vault_->Grant("cards", kCardSpaces), vault_->keyring().kek(),
                         vault_->keyring().card_hash_key());
    ASSERT_TRUE(c) << c.error().ToString();
    cards_ = std::move(*c);
  }
  void Close() {
    cards_.reset();
    vault_.reset();
  }
  std::string Customer(std::string_view name) {
    auto ref = vault_->Put("customers", {{"last_name", schema::Input::String(name)}});
    EXPECT_TRUE(ref) << ref.error().ToString();
    return ref ? ref->subject : std::string();
  }
  Card MakeFor(const std::string& subject, unsigned seed) {
    auto c = cards_->Create(
        {.pan = LuhnNumber("4", 16, seed), .expiry = "12/28", .subject = subject}, kNow);
    EXPECT_TRUE(c) << c.error().ToString();
    return c->card;
  }
  // Entries of the cards space whose key holds `id`.
  size_t EntriesOf(std::string_view id) {
    size_t n = 0;
    EXPECT_TRUE(vault_->store().Scan(Space::kCards, "", [&](std::string_view k, std::string_view) {
      n += k.find(id) != std::string_view::npos;
      return true;
    }));
    return n;
  }

  std::string tmp_;
  CardEraser card_eraser_;  // registered as the runtime does (src/app/runtime.cc)
  std::unique_ptr<vault::Vault> vault_;
  std::unique_ptr<Cards> cards_;
};

TEST_F(CardsInVaultTest, ErasingTheSubjectShredsItsCardsAndOnlyThem) {
  const std::string jeanne = Customer("Martin");
  const std::string paul = Customer("Durand");
  Card active = MakeFor(jeanne, 1);
  Card evidence = MakeFor(jeanne, 2);
  ASSERT_TRUE(cards_->Complete(evidence.token, kNow));
  Card kept = MakeFor(paul, 3);
  auto anonymous = cards_->Create({.pan = LuhnNumber("5", 16, 4), .expiry = "12/28"}, kNow);
  ASSERT_TRUE(anonymous);
  const std::string old_key = *vault_->store().Get(Space::kCards, "k/" + active.id).value();

  auto erased = vault_->EraseSubject(jeanne);
  ASSERT_TRUE(erased) << erased.error().ToString();
  EXPECT_EQ(erased->Count(kCardEraserName), 2u);
  EXPECT_EQ(erased->records, 1u);
  for (const Card* c : {&active, &evidence}) {
    EXPECT_EQ(cards_->Get(c->token).error().code, ErrorCode::kNotFound);
    EXPECT_EQ(EntriesOf(c->id), 0u);  // card, key, hash and subject entries
  }
  EXPECT_EQ(*cards_->CountOfSubject(jeanne), 0u);
  // Not recognised any more either.
  EXPECT_FALSE(cards_->Create({.pan = LuhnNumber("4", 16, 1), .expiry = "12/28"}, kNow)->known);
  // Compacted away: the wrapped key is in no file of the data directory.
  std::string files;
  for (const auto& e : fs::recursive_directory_iterator(dir())) {
    if (e.is_regular_file()) files += FileBytes(e.path());
  }
  EXPECT_EQ(files.find(old_key), std::string::npos);
  // Others' cards, and cards of no subject, stay.
  EXPECT_TRUE(cards_->Get(kept.token));
  EXPECT_TRUE(cards_->Get(anonymous->card.token));
  EXPECT_EQ(*cards_->CountOfSubject(paul), 1u);
}

TEST_F(CardsInVaultTest, ASubjectWithOnlyCardsLeftCanBeErased) {
  const std::string jeanne = Customer("Martin");
  Card c = MakeFor(jeanne, 5);
  auto records = vault_->ExportSubject(jeanne);
  ASSERT_TRUE(records);
  ASSERT_EQ(records->size(), 1u);
  ASSERT_TRUE(vault_->DeleteRecord("customers", (*records)[0].id));
  auto erased = vault_->EraseSubject(jeanne);
  ASSERT_TRUE(erased) << erased.error().ToString();
  EXPECT_EQ(erased->Count(kCardEraserName), 1u);
  EXPECT_EQ(cards_->Get(c.token).error().code, ErrorCode::kNotFound);
}

TEST_F(CardsInVaultTest, ARestoredBackupForgetsTheErasedSubjectsCards) {
  const std::string jeanne = Customer("Martin");
  const std::string paul = Customer("Durand");
  Card gone = MakeFor(jeanne, 6);
  Card kept = MakeFor(paul, 7);
  Close();
  const std::string backup = tmp_ + "/backup";
  fs::copy(dir(), backup, fs::copy_options::recursive);
  Open();
  ASSERT_TRUE(vault_->EraseSubject(jeanne));
  Close();
  // The backup comes back; the erasure journal (kept outside it) does not.
  fs::remove_all(dir());
  fs::rename(backup, dir());
  Open();
  EXPECT_EQ(cards_->Get(gone.token).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(EntriesOf(gone.id), 0u);
  EXPECT_TRUE(cards_->Get(kept.token));
}

// Issue 13 item 2: a card deleted over the API, made irreversible by
// `complete`, or deleted or expired by the sweep is journalled; restoring a
// backup taken before brings none of them back.
TEST_F(CardsInVaultTest, ARestoredBackupForgetsDeletedCompletedAndSweptCards) {
  auto make = [&](unsigned seed, const char* expiry, bool save = false) {
    auto c =
        cards_->Create({.pan = LuhnNumber("4", 16, seed), .expiry = expiry, .save = save}, kNow);
    EXPECT_TRUE(c) << c.error().ToString();
    return c->card;
  };
  Card deleted = make(11, "12/28");
  Card completed = make(12, "12/28");
  Card swept_away = make(13, "01/27");  // evidence retention over by the sweep: deleted
  Card expired = make(14, "03/28");     // expired at the sweep: number gone
  Card kept = make(15, "12/28");
  Card saved = make(16, "12/28", true);  // completed, kept at the holder's request
  Close();
  const std::string backup = tmp_ + "/backup";
  fs::copy(dir(), backup, fs::copy_options::recursive);
  Open();
  ASSERT_TRUE(cards_->Delete(deleted.token));
  ASSERT_TRUE(cards_->Complete(completed.token, kNow));
  ASSERT_TRUE(cards_->Complete(saved.token, kNow));
  auto swept = cards_->Sweep(1843430400, [](const SweepEvent&) { return Ok(); });  // 2028-06-01
  ASSERT_TRUE(swept) << swept.error().ToString();
  EXPECT_EQ(swept->evidence_deleted, 1u);
  EXPECT_EQ(swept->expired, 1u);
  Close();
  fs::remove_all(dir());
  fs::rename(backup, dir());
  Open();
  for (const Card* c : {&deleted, &swept_away}) {
    EXPECT_EQ(cards_->Get(c->token).error().code, ErrorCode::kNotFound)
        << "a deleted card came back";
    EXPECT_EQ(EntriesOf(c->id), 0u);
  }
  for (const Card* c : {&completed, &expired}) {
    auto back = cards_->Get(c->token);
    EXPECT_TRUE(!back || back->pan.empty()) << "a card number made irreversible came back";
    if (!back) EXPECT_EQ(EntriesOf(c->id), 0u);
  }
  auto k = cards_->Get(kept.token);
  ASSERT_TRUE(k) << k.error().ToString();
  EXPECT_FALSE(k->pan.empty());
  auto s = cards_->Get(saved.token);
  ASSERT_TRUE(s) << s.error().ToString();
  EXPECT_FALSE(s->pan.empty()) << "a saved card's completion does not shred it";
  // Replayed once: reopening changes nothing more.
  Open();
  EXPECT_TRUE(cards_->Get(kept.token));
}

// The cards journal their deletions under kinds that only their eraser
// replays: over a vault opened without it, a deletion is refused before
// anything is journalled or written, rather than one a restore would lose.
TEST_F(CardsInVaultTest, WithoutItsEraserTheVaultRefusesTheCardsDeletions) {
  Card c = MakeFor(Customer("Martin"), 31);
  Close();
  auto v = vault::Vault::Open({.dir = dir(), .key_file = key(), .erasure_journal = journal()});
  ASSERT_TRUE(v) << v.error().ToString();
  vault_ = std::move(*v);
  auto opened = Cards::Open(*vault_, *vault_->Grant("cards", kCardSpaces), vault_->keyring().kek(),
                            vault_->keyring().card_hash_key());
  ASSERT_TRUE(opened);
  cards_ = std::move(*opened);
  auto deleted = cards_->Delete(c.token);
  ASSERT_FALSE(deleted);
  EXPECT_EQ(deleted.error().code, ErrorCode::kInvalidArgument);
  EXPECT_TRUE(cards_->Get(c.token)) << "the card went without its journal entry";
  auto j = vault::ErasureJournal::Open(journal(), vault_->vault_id());
  ASSERT_TRUE(j);
  auto entries = j->ReadAll({kCardJournal, kCardNumberJournal});
  ASSERT_TRUE(entries);
  EXPECT_TRUE(entries->empty());
}

// A replay interrupted after a card entry's batch (card and key gone, the
// vault's applied count not yet moved) still removes, at the next open, the
// card's recognition and subject entries.
TEST_F(CardsInVaultTest, AnInterruptedReplayLeavesNoRecognitionEntryBehind) {
  const std::string jeanne = Customer("Martin");
  Card c = MakeFor(jeanne, 21);
  auto batch = vault_->store().NewBatch();
  batch->Delete(Space::kCards, "c/" + c.id);
  batch->Delete(Space::kCards, "k/" + c.id);
  ASSERT_TRUE(vault_->store().Write(*batch));
  ASSERT_EQ(EntriesOf(c.id), 2u);  // hash and subject entries
  const std::string vault_id = vault_->vault_id();
  Close();
  auto j = vault::ErasureJournal::Open(journal(), vault_id);
  ASSERT_TRUE(j);
  ASSERT_TRUE(j->Append(vault::JournalEntry::Module(kCardJournal, c.id), kNow));
  Open();
  EXPECT_EQ(EntriesOf(c.id), 0u);
  EXPECT_EQ(*cards_->CountOfSubject(jeanne), 0u);
}

}  // namespace
}  // namespace coffre::cards

namespace coffre::cards {
namespace {

TEST(MonthIndex, ChangesExactlyAtMonthBoundaries) {
  EXPECT_EQ(MonthIndex(1806537600), 2027 * 12 + 3);  // 2027-04-01T00:00:00Z
  EXPECT_EQ(MonthIndex(1806537599), 2027 * 12 + 2);  // 2027-03-31T23:59:59Z
  EXPECT_EQ(MonthIndex(0), 1970 * 12);
  EXPECT_EQ(MonthIndex(1835481600), 2028 * 12 + 2);  // 2028-03-01 (leap year)
  EXPECT_EQ(MonthIndex(1835481599), 2028 * 12 + 1);
}

}  // namespace
}  // namespace coffre::cards
