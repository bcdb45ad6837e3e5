// Unit tests of the vault with the library directly: sealing binds each record
// to its place (collection, id, subject, data key), tampering at the store
// level is detected, erasure leaves no trace of a subject in any space, and
// validation errors name the field and the rule but never the value.
//
// Formats under test: docs/key-hierarchy.md. People are synthetic (from
// `coffre gen`). Assertion messages never print field values.
#include "vault/vault.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "common/bytes.h"
#include "crypto/key_file.h"
#include "storage/memory_store.h"
#include "tests/vectors/card_numbers.h"
#include "vault/erasure_journal.h"
#include "vault/internal/layout.h"

namespace coffre::vault {
namespace {

namespace fs = std::filesystem;
using storage::Space;

constexpr Space kAllSpaces[] = {Space::kMeta, Space::kKeys, Space::kRecords, Space::kIndex,
                                Space::kSubjects};

constexpr std::string_view kSchema = R"(version = 1

[collections.people]
fields = [
  { name = "first_name",     type = "name",           required = true },
  { name = "last_name",      type = "name",           required = true },
  { name = "sex",            type = "enum",           required = true, values = ["F", "M"] },
  { name = "birth_date",     type = "date",           required = true },
  { name = "nir",            type = "nir",            required = true, searchable = true },
  { name = "email",          type = "email",          required = true, searchable = true, unique = true },
  { name = "phone",          type = "phone",          required = true, searchable = true },
  { name = "postal_address", type = "postal_address", required = true },
  { name = "iban",           type = "iban",           required = true },
]

[collections.contracts]
fields = [
  { name = "insurer",         type = "text", required = true },
  { name = "contract_number", type = "text", required = true, searchable = true },
]
)";

using Fields = std::vector<std::pair<std::string, std::string>>;

// Synthetic people (coffre gen --seed 7).
const Fields kPeople[] = {
    {{"first_name", "Mickaël"},
     {"last_name", "Petitjean"},
     {"sex", "M"},
     {"birth_date", "2006-07-12"},
     {"nir", "106078406110527"},
     {"email", "m.petitjean1@example.fr"},
     {"phone", "+33639987318"},
     {"postal_address", "177 avenue de la Mairie, 59000 Lille"},
     {"iban", "FR76 3000 3171 4265 1356 2863 815"}},
    {{"first_name", "Adèle"},
     {"last_name", "Perrin"},
     {"sex", "F"},
     {"birth_date", "1933-03-12"},
     {"nir", "233031748008868"},
     {"email", "adele.perrin2@example.org"},
     {"phone", "05.36.49.91.85"},
     {"postal_address", "71 chemin du Bois, 06400 Cannes"},
     {"iban", "FR7618206176836655259689211"}},
    {{"first_name", "Jean-Baptiste"},
     {"last_name", "Joubert"},
     {"sex", "M"},
     {"birth_date", "1983-05-22"},
     {"nir", "183058026896824"},
     {"email", "jean-baptiste_joubert3@example.org"},
     {"phone", "+33 6 39 98 51 34"},
     {"postal_address", "184 avenue Mozart, 54000 Nancy"},
     {"iban", "FR7613106936232318822768223"}},
};

std::vector<NamedInput> Inputs(const Fields& f) {
  std::vector<NamedInput> in;
  for (const auto& [k, v] : f) in.emplace_back(k, schema::Input::String(v));
  return in;
}

Fields With(Fields f, const std::string& name, const std::string& value) {
  for (auto& [k, v] : f) {
    if (k == name) {
      v = value;
      return f;
    }
  }
  f.emplace_back(name, value);
  return f;
}

Fields Without(Fields f, const std::string& name) {
  std::erase_if(f, [&](const auto& kv) { return kv.first == name; });
  return f;
}

std::string Value(const Fields& f, const std::string& name) {
  for (const auto& [k, v] : f) {
    if (k == name) return v;
  }
  return "";
}

class VaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "coffre-vault-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    tmp_ = tmpl;
    dir_ = tmp_ + "/vault";
    key_ = tmp_ + "/vault.key";
    journal_ = tmp_ + "/vault.erasures";
    std::ofstream(tmp_ + "/schema.toml") << kSchema;
    auto init = Vault::Init({dir_, tmp_ + "/schema.toml", key_, journal_, {}, {}, Opener(), ""});
    ASSERT_TRUE(init) << init.error().message;
    Reopen();
  }
  void TearDown() override {
    vault_.reset();
    std::error_code ec;
    fs::remove_all(tmp_, ec);
  }

  void Reopen() {
    vault_.reset();
    auto v = Vault::Open({.dir = dir_,
                          .key_file = key_,
                          .erasure_journal = journal_,
                          .erasers = erasers_,
                          .store = Opener()});
    ASSERT_TRUE(v) << v.error().message;
    vault_ = std::move(*v);
  }

  // The vault's store: in memory (storage/memory_store.h), the same data at
  // each reopening; RocksDB in dir_ for RocksVaultTest, whose tests look at
  // the files (erasure, rotation, backups) or at RocksDB's own behaviour.
  storage::StoreOpener Opener() {
    if (on_disk_) return nullptr;
    return storage::MemoryStoreOpener(memory_);
  }
  bool on_disk_ = false;
  std::shared_ptr<storage::MemoryData> memory_ = storage::NewMemoryData();

  Vault& v() { return *vault_; }
  storage::Store& store() { return vault_->store(); }

  RecordRef Put(const Fields& f, std::optional<std::string> subject = std::nullopt) {
    auto ref = v().Put("people", Inputs(f), std::move(subject));
    EXPECT_TRUE(ref) << ref.error().message;
    return ref ? *ref : RecordRef{};
  }
  RecordRef PutContract(const std::string& insurer, const std::string& number,
                        const std::string& subject) {
    auto ref = v().Put("contracts",
                       {{"insurer", schema::Input::String(insurer)},
                        {"contract_number", schema::Input::String(number)}},
                       subject);
    EXPECT_TRUE(ref) << ref.error().message;
    return ref ? *ref : RecordRef{};
  }

  std::vector<RecordRef> Find(const std::string& field, const std::string& value,
                              const std::string& collection = "people") {
    auto refs = v().Find(collection, field, schema::Input::String(value));
    EXPECT_TRUE(refs) << refs.error().message;
    return refs ? *refs : std::vector<RecordRef>{};
  }

  std::string RawGet(Space s, const std::string& key) {
    auto value = store().Get(s, key);
    EXPECT_TRUE(value && value->has_value()) << "no entry in space " << SpaceName(s);
    return value && *value ? **value : std::string();
  }
  void RawPut(Space s, const std::string& key, const std::string& value) {
    auto batch = store().NewBatch();
    batch->Put(s, key, value);
    ASSERT_TRUE(store().Write(*batch));
  }

  // Entries of every space whose key or value contains `needle`, as
  // "space:key|value" labels (no contents).
  std::vector<std::string> EntriesContaining(const std::string& needle) {
    std::vector<std::string> found;
    for (Space s : kAllSpaces) {
      size_t n = 0;
      EXPECT_TRUE(store().Scan(s, "", [&](std::string_view k, std::string_view val) {
        ++n;
        if (k.find(needle) != std::string_view::npos)
          found.push_back(std::string(SpaceName(s)) + ":key#" + std::to_string(n));
        if (val.find(needle) != std::string_view::npos)
          found.push_back(std::string(SpaceName(s)) + ":value#" + std::to_string(n));
        return true;
      }));
    }
    return found;
  }
  size_t Count(Space s) {
    size_t n = 0;
    EXPECT_TRUE(store().Scan(s, "", [&](std::string_view, std::string_view) {
      ++n;
      return true;
    }));
    return n;
  }

  std::string tmp_, dir_, key_, journal_;
  std::vector<Eraser*> erasers_;  // given to Open by Reopen
  std::unique_ptr<Vault> vault_;
};

// ---------------------------------------------------------------- basics

// The default backend: the tests of what reaches (or leaves) the files.
class RocksVaultTest : public VaultTest {
 protected:
  RocksVaultTest() { on_disk_ = true; }
};

// The store comes from the caller (OpenOptions::store, ADR 0025): the
// in-memory vault leaves no store file in its directory, and a RocksDB
// opening of that directory finds no vault; the default opens RocksDB.
TEST_F(VaultTest, TheStoreComesFromTheOpener) {
  Put(kPeople[0]);
  EXPECT_FALSE(fs::exists(dir_ + "/CURRENT"));
  vault_.reset();
  auto rocks = Vault::Open({.dir = dir_, .key_file = key_, .erasure_journal = journal_});
  ASSERT_FALSE(rocks);
  Reopen();
  EXPECT_EQ(v().Find("people", "email", schema::Input::String(Value(kPeople[0], "email")))->size(),
            1u);
}

TEST_F(RocksVaultTest, TheDefaultStoreIsRocksDbInTheDirectory) {
  RecordRef a = Put(kPeople[0]);
  EXPECT_TRUE(fs::exists(dir_ + "/CURRENT"));
  vault_.reset();
  auto ro = Vault::Open({.dir = dir_, .key_file = key_, .read_only = true});
  ASSERT_TRUE(ro) << ro.error().message;
  EXPECT_TRUE((*ro)->Get("people", a.id));
}

TEST_F(VaultTest, GrantsModuleSpacesButNeverTheVaults) {
  auto cards = v().Grant("cards", storage::Spaces({storage::Space::kCards}),
                         storage::Spaces({storage::Space::kAudit}));
  ASSERT_TRUE(cards) << cards.error().message;
  auto batch = cards->NewBatch();
  batch->Put(storage::Space::kCards, "c/1", "x");
  ASSERT_TRUE(cards->Write(*batch));
  EXPECT_EQ(store().Get(storage::Space::kCards, "c/1").value(), "x");
  EXPECT_TRUE(cards->Get(storage::Space::kAudit, "e"));
  EXPECT_FALSE(cards->Get(storage::Space::kRecords, "r"));
  for (storage::Space own :
       {storage::Space::kMeta, storage::Space::kKeys, storage::Space::kRecords,
        storage::Space::kIndex, storage::Space::kSubjects, storage::Space::kArchive}) {
    auto w = v().Grant("x", storage::SpaceBit(own));
    ASSERT_FALSE(w);
    EXPECT_EQ(w.error().code, ErrorCode::kInternal);
    EXPECT_FALSE(v().Grant("x", 0, storage::SpaceBit(own))) << "not even for reading";
  }
  EXPECT_FALSE(v().Grant("x", storage::SpaceSet{1} << 40)) << "no unknown space";
}

TEST_F(VaultTest, PutGetFindSurviveReopen) {
  RecordRef a = Put(kPeople[0]);
  RecordRef b = Put(kPeople[1]);
  ASSERT_EQ(a.id.size(), kIdBytes);
  ASSERT_EQ(a.subject.size(), kIdBytes);
  EXPECT_NE(a.subject, b.subject);
  Reopen();

  auto rec = v().Get("people", a.id);
  ASSERT_TRUE(rec) << rec.error().message;
  EXPECT_EQ(rec->id, a.id);
  EXPECT_EQ(rec->subject, a.subject);
  EXPECT_EQ(rec->collection, "people");
  std::map<std::string, std::string> got;
  for (const auto& f : rec->fields) got[f.name] = f.value;
  EXPECT_EQ(got.size(), 9u);
  EXPECT_TRUE(got["email"] == Value(kPeople[0], "email"));
  EXPECT_TRUE(got["nir"] == Value(kPeople[0], "nir"));
  EXPECT_TRUE(got["iban"] == "FR7630003171426513562863815") << "IBAN not compacted";

  auto by_email = Find("email", "M.PETITJEAN1@EXAMPLE.FR");
  ASSERT_EQ(by_email.size(), 1u);
  EXPECT_EQ(by_email[0].id, a.id);
  EXPECT_EQ(by_email[0].subject, a.subject);
  auto by_phone = Find("phone", "05 36 49 91 85");
  ASSERT_EQ(by_phone.size(), 1u);
  EXPECT_EQ(by_phone[0].id, b.id);
  EXPECT_EQ(Find("nir", Value(kPeople[2], "nir")).size(), 0u);
  EXPECT_EQ(v().Get("people", std::string(kIdBytes, 'x')).error().code, ErrorCode::kNotFound);
}

TEST_F(VaultTest, ListRecordsPagesThroughOneCollectionInIdOrder) {
  std::vector<std::string> ids;
  for (const auto& p : kPeople) ids.push_back(Put(p).id);
  auto other = v().Put("contracts", {{"insurer", schema::Input::String("Acme")},
                                     {"contract_number", schema::Input::String("C-1")}});
  ASSERT_TRUE(other);
  std::sort(ids.begin(), ids.end());
  std::vector<std::string> seen;
  std::string after;
  for (int page = 0; page < 10; ++page) {
    auto got = v().ListRecords("people", after, 2);
    ASSERT_TRUE(got) << got.error().message;
    if (got->empty()) break;
    EXPECT_LE(got->size(), 2u);
    for (const Record& r : *got) {
      EXPECT_EQ(r.collection, "people");
      EXPECT_FALSE(r.fields.empty());
      seen.push_back(r.id);
    }
    after = got->back().id;
  }
  EXPECT_EQ(seen, ids);
  auto contracts = v().ListRecords("contracts", "", 100);
  ASSERT_TRUE(contracts);
  ASSERT_EQ(contracts->size(), 1u);
  EXPECT_EQ((*contracts)[0].id, other->id);
  EXPECT_EQ(v().ListRecords("nope", "", 1).error().code, ErrorCode::kNotFound);
}

TEST_F(VaultTest, UniqueAndSubjectChecks) {
  RecordRef a = Put(kPeople[0]);
  auto dup = v().Put("people", Inputs(With(kPeople[1], "email", "M.Petitjean1@Example.FR")));
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(Find("nir", Value(kPeople[1], "nir")).size(), 0u) << "the refused record was written";

  auto unknown = v().Put("people", Inputs(kPeople[1]), std::string(kIdBytes, '\x42'));
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);

  RecordRef second = Put(With(kPeople[1], "email", "other.address@example.fr"), a.subject);
  EXPECT_EQ(second.subject, a.subject);
  auto exported = v().ExportSubject(a.subject);
  ASSERT_TRUE(exported);
  EXPECT_EQ(exported->size(), 2u);
}

TEST_F(VaultTest, UpdateMovesIndexEntriesAndChecksUniqueness) {
  RecordRef a = Put(kPeople[0]);
  RecordRef b = Put(kPeople[1]);
  auto taken =
      v().Update("people", a.id, {{"email", schema::Input::String(Value(kPeople[1], "email"))}});
  ASSERT_FALSE(taken);
  EXPECT_EQ(taken.error().code, ErrorCode::kAlreadyExists);
  auto bad = v().Update("people", a.id, {{"phone", schema::Input::String("not a phone")}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  auto unknown = v().Update("people", a.id, {{"shoe_size", schema::Input::String("42")}});
  ASSERT_FALSE(unknown);
  auto required = v().Update("people", a.id, {{"last_name", schema::Input::Null()}});
  ASSERT_FALSE(required);
  EXPECT_EQ(required.error().code, ErrorCode::kInvalidArgument);

  auto updated = v().Update("people", a.id,
                            {{"email", schema::Input::String("New.Address@Example.FR")},
                             {"iban", schema::Input::String("FR76 1820 6176 8366 5525 9689 211")}});
  ASSERT_TRUE(updated) << updated.error().message;
  EXPECT_EQ(updated->subject, a.subject);
  Reopen();
  EXPECT_TRUE(Find("email", Value(kPeople[0], "email")).empty()) << "old index entry left";
  auto found = Find("email", "new.address@example.fr");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].id, a.id);
  auto rec = v().Get("people", a.id);
  ASSERT_TRUE(rec);
  for (const auto& f : rec->fields) {
    if (f.name == "iban") EXPECT_TRUE(f.value == "FR7618206176836655259689211");
  }
  // The unchanged searchable fields still find it.
  EXPECT_EQ(Find("nir", Value(kPeople[0], "nir")).size(), 1u);
  // The freed value can be taken by another record.
  EXPECT_TRUE(
      v().Update("people", b.id, {{"email", schema::Input::String(Value(kPeople[0], "email"))}}));
  EXPECT_EQ(v().Update("people", std::string(kIdBytes, 'x'), {}).error().code,
            ErrorCode::kNotFound);
}

TEST_F(VaultTest, DeletingTheLastRecordOfACollectionShredsItsKey) {
  RecordRef a = Put(kPeople[0]);
  RecordRef a2 = Put(With(kPeople[1], "email", "second.address@example.fr"), a.subject);
  ASSERT_TRUE(v().DeleteRecord("people", a.id));
  EXPECT_EQ(v().Get("people", a.id).error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(Find("email", Value(kPeople[0], "email")).empty());
  EXPECT_TRUE(v().Get("people", a2.id)) << "the subject's other record lost its key";
  EXPECT_EQ(Count(Space::kKeys), 1u);
  ASSERT_TRUE(v().DeleteRecord("people", a2.id));
  EXPECT_EQ(Count(Space::kKeys), 0u);
  EXPECT_EQ(Count(Space::kSubjects), 0u);
  EXPECT_EQ(Count(Space::kIndex), 0u);
  EXPECT_EQ(v().DeleteRecord("people", a.id).error().code, ErrorCode::kNotFound);
}

// Subject ids select entries by key prefix: a partial id must never reach a
// scan, or one call could export or erase several people.
TEST_F(VaultTest, PartialSubjectIdsAreRefusedNotMatchedAsPrefixes) {
  RecordRef a = Put(kPeople[0]);
  RecordRef b = Put(kPeople[1]);
  for (size_t len : {size_t{0}, size_t{1}, size_t{8}, kIdBytes - 1, kIdBytes + 1}) {
    std::string partial = (a.subject + a.subject).substr(0, len);
    auto erased = v().EraseSubject(partial);
    ASSERT_FALSE(erased) << "length " << len;
    EXPECT_EQ(erased.error().code, ErrorCode::kInvalidArgument);
    auto exported = v().ExportSubject(partial);
    ASSERT_FALSE(exported) << "length " << len;
    EXPECT_EQ(exported.error().code, ErrorCode::kInvalidArgument);
    EXPECT_FALSE(v().Put(
        "people", Inputs(With(kPeople[2], "email", "p" + std::to_string(len) + "@example.fr")),
        partial));
  }
  EXPECT_TRUE(v().Get("people", a.id));
  EXPECT_TRUE(v().Get("people", b.id));
}

// ---------------------------------------------------------------- tamper detection

TEST_F(VaultTest, AnyFlippedByteOfASealedRecordIsDataLoss) {
  RecordRef a = Put(kPeople[0]);
  const std::string key = layout::RecordKey("people", a.id);
  const std::string original = RawGet(Space::kRecords, key);
  ASSERT_GT(original.size(), layout::kRecordHeaderBytes + 24 + 16);
  ASSERT_EQ(original[0], layout::kFormatV1);
  ASSERT_EQ(original.substr(1, kIdBytes), a.subject) << "subject not at bytes 1..16";

  // Every byte except the subject (covered below): format, schema version,
  // nonce, ciphertext, tag.
  size_t checked = 0;
  for (size_t i = 0; i < original.size(); ++i) {
    if (i >= 1 && i < 1 + kIdBytes) continue;
    std::string tampered = original;
    tampered[i] = static_cast<char>(tampered[i] ^ 0x01);
    RawPut(Space::kRecords, key, tampered);
    auto rec = v().Get("people", a.id);
    ASSERT_FALSE(rec) << "flipped byte " << i << " went unnoticed";
    EXPECT_EQ(rec.error().code, ErrorCode::kDataLoss)
        << "byte " << i << ": " << rec.error().message;
    ++checked;
  }
  EXPECT_GT(checked, 100u);
  // Truncated and extended values too.
  for (const std::string& bad : {original.substr(0, original.size() - 1), original + '\0',
                                 original.substr(0, layout::kRecordHeaderBytes), std::string()}) {
    RawPut(Space::kRecords, key, bad);
    auto rec = v().Get("people", a.id);
    ASSERT_FALSE(rec) << "a value of " << bad.size() << " bytes opened";
    EXPECT_EQ(rec.error().code, ErrorCode::kDataLoss)
        << bad.size() << " bytes: " << rec.error().message;
  }
  RawPut(Space::kRecords, key, original);
  EXPECT_TRUE(v().Get("people", a.id));
}

TEST_F(VaultTest, RecordCopiedUnderAnotherIdFails) {
  RecordRef a = Put(kPeople[0]);
  RecordRef b = Put(kPeople[1]);
  RecordRef a2 =
      Put(With(kPeople[2], "email", "same.subject@example.fr"), a.subject);  // same subject as a
  const std::string value_a = RawGet(Space::kRecords, layout::RecordKey("people", a.id));

  // Under another subject's record id.
  RawPut(Space::kRecords, layout::RecordKey("people", b.id), value_a);
  auto rec = v().Get("people", b.id);
  ASSERT_FALSE(rec) << "record A opened as record B";
  EXPECT_EQ(rec.error().code, ErrorCode::kDataLoss) << rec.error().message;

  // Under another id of the same subject (same data key: only the record id
  // in the associated data tells them apart).
  RawPut(Space::kRecords, layout::RecordKey("people", a2.id), value_a);
  rec = v().Get("people", a2.id);
  ASSERT_FALSE(rec) << "record A opened as the subject's other record";
  EXPECT_EQ(rec.error().code, ErrorCode::kDataLoss) << rec.error().message;

  // Under a new id nobody wrote.
  std::string forged_id(kIdBytes, '\x07');
  RawPut(Space::kRecords, layout::RecordKey("people", forged_id), value_a);
  rec = v().Get("people", forged_id);
  ASSERT_FALSE(rec);
  EXPECT_EQ(rec.error().code, ErrorCode::kDataLoss) << rec.error().message;

  // Into another collection where the subject also has a data key.
  RecordRef c = PutContract("Mutuelle Exemple", "CT-000123", a.subject);
  RawPut(Space::kRecords, layout::RecordKey("contracts", c.id), value_a);
  rec = v().Get("contracts", c.id);
  ASSERT_FALSE(rec) << "a people record opened as a contract";
  EXPECT_EQ(rec.error().code, ErrorCode::kDataLoss) << rec.error().message;

  // The original still opens.
  EXPECT_TRUE(v().Get("people", a.id));
}

TEST_F(VaultTest, RecordMovedToAnotherSubjectFails) {
  RecordRef a = Put(kPeople[0]);
  RecordRef b = Put(kPeople[1]);
  const std::string key = layout::RecordKey("people", a.id);
  std::string moved = RawGet(Space::kRecords, key);
  moved.replace(1, kIdBytes, b.subject);  // header bytes 1..16
  RawPut(Space::kRecords, key, moved);
  auto rec = v().Get("people", a.id);
  ASSERT_FALSE(rec) << "record moved to another subject still opens";
  EXPECT_EQ(rec.error().code, ErrorCode::kDataLoss) << rec.error().message;
  auto exported = v().ExportSubject(b.subject);
  EXPECT_TRUE(!exported || exported->size() == 1u);

  // A subject that does not exist: no key, so it cannot open either.
  moved.replace(1, kIdBytes, std::string(kIdBytes, '\x55'));
  RawPut(Space::kRecords, key, moved);
  rec = v().Get("people", a.id);
  EXPECT_FALSE(rec) << "record moved to an unknown subject still opens";
}

TEST_F(VaultTest, SwappedWrappedDataKeysFail) {
  RecordRef a = Put(kPeople[0]);
  RecordRef b = Put(kPeople[1]);
  const std::string key_a = layout::DataKeyKey(a.subject, "people");
  const std::string key_b = layout::DataKeyKey(b.subject, "people");
  const std::string wrapped_a = RawGet(Space::kKeys, key_a);
  const std::string wrapped_b = RawGet(Space::kKeys, key_b);
  ASSERT_EQ(wrapped_a[0], layout::kFormatV1);
  ASSERT_NE(wrapped_a, wrapped_b);
  RawPut(Space::kKeys, key_a, wrapped_b);
  RawPut(Space::kKeys, key_b, wrapped_a);
  for (const RecordRef& r : {a, b}) {
    auto rec = v().Get("people", r.id);
    ASSERT_FALSE(rec) << "a swapped data key opened a record";
    EXPECT_EQ(rec.error().code, ErrorCode::kDataLoss) << rec.error().message;
  }
  // A wrapped key with a flipped byte, or an unknown key version.
  RawPut(Space::kKeys, key_a, wrapped_a);
  RawPut(Space::kKeys, key_b, wrapped_b);
  std::string flipped = wrapped_a;
  flipped.back() = static_cast<char>(flipped.back() ^ 0x80);
  RawPut(Space::kKeys, key_a, flipped);
  auto rec = v().Get("people", a.id);
  ASSERT_FALSE(rec);
  EXPECT_EQ(rec.error().code, ErrorCode::kDataLoss) << rec.error().message;
  std::string version2 = wrapped_a;
  version2[4] = 2;  // kek_version, u32 BE at bytes 1..4
  RawPut(Space::kKeys, key_a, version2);
  rec = v().Get("people", a.id);
  ASSERT_FALSE(rec);
  EXPECT_EQ(rec.error().code, ErrorCode::kDataLoss) << rec.error().message;
  EXPECT_TRUE(v().Get("people", b.id));
}

// ---------------------------------------------------------------- erasure

TEST_F(VaultTest, EraseSubjectLeavesNoTraceInAnySpace) {
  RecordRef a = Put(kPeople[0]);
  RecordRef a2 = Put(With(kPeople[2], "email", "second.record@example.fr"), a.subject);
  RecordRef ac = PutContract("Mutuelle Exemple", "CT-000123", a.subject);
  RecordRef b = Put(kPeople[1]);
  const size_t index_before = Count(Space::kIndex);

  auto erased = v().EraseSubject(a.subject);
  ASSERT_TRUE(erased) << erased.error().message;
  EXPECT_EQ(erased->records, 3u);
  EXPECT_EQ(erased->keys, 2u);  // (a, people) and (a, contracts)

  for (const auto& [what, needle] : std::vector<std::pair<std::string, std::string>>{
           {"subject", a.subject}, {"record 1", a.id}, {"record 2", a2.id}, {"contract", ac.id}}) {
    EXPECT_EQ(EntriesContaining(needle), std::vector<std::string>{})
        << what << " id still in the store";
  }
  // Blind-index entries of the erased records are gone, b's are all there
  // (people: nir, email, phone; contracts: contract_number).
  EXPECT_EQ(Count(Space::kIndex), 3u);
  EXPECT_EQ(index_before, 3u * 3 + 1);
  EXPECT_EQ(Count(Space::kRecords), 1u);
  EXPECT_EQ(Count(Space::kKeys), 1u);
  EXPECT_EQ(Count(Space::kSubjects), 1u);

  EXPECT_EQ(v().Get("people", a.id).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(v().Get("people", a2.id).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(v().Get("contracts", ac.id).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(Find("email", Value(kPeople[0], "email")).size(), 0u);
  EXPECT_EQ(Find("nir", Value(kPeople[2], "nir")).size(), 0u);
  EXPECT_EQ(Find("contract_number", "CT-000123", "contracts").size(), 0u);
  EXPECT_EQ(v().ExportSubject(a.subject).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(v().EraseSubject(a.subject).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(v().Put("people", Inputs(kPeople[2]), a.subject).error().code, ErrorCode::kNotFound);

  EXPECT_TRUE(v().Get("people", b.id));
  EXPECT_EQ(Find("email", Value(kPeople[1], "email")).size(), 1u);
  // The erased email can be used again.
  Put(With(kPeople[2], "email", Value(kPeople[0], "email")));
}

// Crypto-shredding only works if the wrapped data key is gone from the files,
// not just from the live view: no SST, WAL or MANIFEST of the directory may
// still hold its bytes once EraseSubject returns (it flushes and compacts).
TEST_F(RocksVaultTest, ErasedDataKeyIsGoneFromEveryFile) {
  for (bool flushed : {false, true}) {
    SCOPED_TRACE(flushed ? "data key flushed to an SST before erasure"
                         : "data key only in the WAL");
    RecordRef a =
        Put(With(kPeople[0], "email", flushed ? "flushed@example.fr" : "walonly@example.fr"));
    RecordRef b =
        Put(With(kPeople[1], "email", flushed ? "keeper1@example.fr" : "keeper2@example.fr"));
    const std::string wrapped = RawGet(Space::kKeys, layout::DataKeyKey(a.subject, "people"));
    const std::string sealed = RawGet(Space::kRecords, layout::RecordKey("people", a.id));
    ASSERT_GT(wrapped.size(), 40u);
    // The wrapped key's ciphertext (after its 5-byte header) and the sealed
    // record's ciphertext, searched in every file.
    const std::string key_bytes = wrapped.substr(5);
    const std::string record_bytes = sealed.substr(layout::kRecordHeaderBytes + 24, 32);
    auto files_holding = [&](const std::string& needle) {
      std::vector<std::string> names;
      for (const auto& e : fs::recursive_directory_iterator(dir_)) {
        if (!e.is_regular_file()) continue;
        std::ifstream in(e.path(), std::ios::binary);
        std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (content.find(needle) != std::string::npos)
          names.push_back(e.path().filename().string());
      }
      return names;
    };
    if (flushed) ASSERT_TRUE(store().Flush());
    vault_.reset();  // close: every file as a copy of the directory would see it
    ASSERT_FALSE(files_holding(key_bytes).empty())
        << "positive control: the key is on disk before erasure";
    Reopen();
    ASSERT_TRUE(v().EraseSubject(a.subject));
    vault_.reset();
    EXPECT_EQ(files_holding(key_bytes), std::vector<std::string>{})
        << "erased data key still on disk";
    EXPECT_EQ(files_holding(record_bytes), std::vector<std::string>{})
        << "erased record still on disk";
    Reopen();
    EXPECT_TRUE(v().Get("people", b.id));
  }
}

// A crash after the journal append but before the erasure batch, or a
// restored backup: the next open erases again.
TEST_F(VaultTest, JournalledErasureIsReplayedOnOpen) {
  RecordRef a = Put(kPeople[0]);
  RecordRef b = Put(kPeople[1]);
  {
    auto journal = ErasureJournal::Open(journal_, v().vault_id());
    ASSERT_TRUE(journal) << journal.error().message;
    ASSERT_TRUE(journal->Append(a.subject, 1700000000));
  }
  EXPECT_TRUE(v().Get("people", a.id)) << "erased before any open";
  Reopen();
  EXPECT_EQ(v().Get("people", a.id).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(EntriesContaining(a.subject), std::vector<std::string>{});
  EXPECT_EQ(EntriesContaining(a.id), std::vector<std::string>{});
  EXPECT_TRUE(v().Get("people", b.id));
  // Replayed once: later erasures are counted after it.
  ASSERT_TRUE(v().EraseSubject(b.subject));
  Reopen();
  EXPECT_EQ(v().Get("people", b.id).error().code, ErrorCode::kNotFound);
}

// Review finding M2: an erasure killed between its batch and its compaction
// leaves the flag set; the next open compacts before serving anything.
TEST_F(VaultTest, InterruptedErasureCompactionIsFinishedOnOpen) {
  Put(kPeople[0]);
  auto batch = store().NewBatch();
  batch->Put(storage::Space::kMeta, "erasure_compaction_pending", "1");
  ASSERT_TRUE(store().Write(*batch));
  Reopen();
  auto flag = store().Get(storage::Space::kMeta, "erasure_compaction_pending");
  ASSERT_TRUE(flag);
  EXPECT_FALSE(flag->has_value()) << "the pending compaction was not finished on open";
}

TEST_F(VaultTest, JournalOfAnotherVaultIsRefused) {
  ASSERT_TRUE(fs::exists(journal_));  // created for this vault by init
  std::string other_dir = tmp_ + "/other";
  ASSERT_TRUE(Vault::Init({other_dir, tmp_ + "/schema.toml", tmp_ + "/other.key"}));
  auto other =
      Vault::Open({.dir = other_dir, .key_file = tmp_ + "/other.key", .erasure_journal = journal_});
  ASSERT_FALSE(other) << "a vault accepted another vault's erasure journal";
  EXPECT_NE(other.error().message.find("another vault"), std::string::npos)
      << other.error().message;
}

// ---------------------------------------------------------------- validation

TEST_F(VaultTest, ValidationErrorsNameFieldAndRuleNeverValue) {
  const schema::Collection* people = v().schema().Find("people");
  ASSERT_NE(people, nullptr);
  struct Case {
    const char* what;
    Fields fields;
    std::string field;   // quoted in the message
    std::string rule;    // a fragment of the rule
    std::string secret;  // must not appear
  };
  const std::string bad_nir = "106078406110528";  // control key off by one
  std::vector<Case> cases = {
      {"nir key", With(kPeople[0], "nir", bad_nir), "'nir'", "control key", bad_nir},
      {"email", With(kPeople[0], "email", "mickael.petitjean.example.fr"), "'email'", "'@'",
       "mickael.petitjean"},
      {"phone", With(kPeople[0], "phone", "06 39 98 73"), "'phone'", "10 digits", "39 98 73"},
      {"iban", With(kPeople[0], "iban", "FR76 3000 3171 4265 1356 2863 816"), "'iban'", "",
       "3171 4265"},
      {"date", With(kPeople[0], "birth_date", "2006-02-30"), "'birth_date'", "day", "2006-02-30"},
      {"enum", With(kPeople[0], "sex", "Masculin"), "'sex'", "allowed", "Masculin"},
      {"name", With(kPeople[0], "last_name", "Petit<script>jean"), "'last_name'", "letters",
       "script"},
      {"missing", Without(kPeople[0], "phone"), "'phone'", "required", ""},
      {"empty", With(kPeople[0], "phone", ""), "'phone'", "required", ""},
      {"unknown", With(kPeople[0], "shoe_size", "forty-four"), "'shoe_size'", "unknown",
       "forty-four"},
      // A "field name" that is really a value is not echoed either.
      {"value as field name", With(kPeople[0], "mickael.petitjean@example.fr", "x"),
       "(name not shown)", "unknown", "petitjean@"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    auto r = v().Validate(*people, Inputs(c.fields));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    const std::string& msg = r.error().message;
    EXPECT_NE(msg.find(c.field), std::string::npos) << msg;
    EXPECT_NE(msg.find(c.rule), std::string::npos) << msg;
    if (!c.secret.empty())
      EXPECT_EQ(msg.find(c.secret), std::string::npos) << "the message carries the value";
    for (const auto& [k, val] : c.fields) {
      if (val.size() >= 5)
        EXPECT_EQ(msg.find(val), std::string::npos) << "message carries the value of " << k;
    }
    // Put refuses with the same error and writes nothing.
    auto put = v().Put("people", Inputs(c.fields));
    ASSERT_FALSE(put);
    EXPECT_EQ(put.error().message, msg);
    EXPECT_EQ(Count(Space::kRecords), 0u);
    EXPECT_EQ(Count(Space::kIndex), 0u);
    EXPECT_EQ(Count(Space::kKeys), 0u);
    EXPECT_EQ(Count(Space::kSubjects), 0u);
  }
  // A field given twice.
  auto inputs = Inputs(kPeople[0]);
  inputs.emplace_back("email", schema::Input::String("again@example.fr"));
  auto r = v().Validate(*people, inputs);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("'email'"), std::string::npos);
  EXPECT_EQ(r.error().message.find("again@"), std::string::npos);
  // A non-string for a string field.
  const Fields no_phone = Without(kPeople[0], "phone");  // the inputs point into it
  inputs = Inputs(no_phone);
  inputs.emplace_back("phone", schema::Input::Integer(639987318));
  r = v().Validate(*people, inputs);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("'phone'"), std::string::npos);
  EXPECT_EQ(r.error().message.find("639987318"), std::string::npos);
  // Find normalises through the same rules.
  auto f = v().Find("people", "email", schema::Input::String("not-an-email"));
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().message.find("not-an-email"), std::string::npos);
  f = v().Find("people", "iban", schema::Input::String("FR7630003171426513562863815"));
  ASSERT_FALSE(f);
  EXPECT_NE(f.error().message.find("not searchable"), std::string::npos);
}

// The importer validates every row into one reused vector: each result must
// be exactly what Validate gives for that row alone, whatever came before
// (a longer row, another collection, a rejected row).
TEST_F(VaultTest, ValidateIntoAReusedVectorMatchesValidate) {
  const schema::Collection* people = v().schema().Find("people");
  const schema::Collection* contracts = v().schema().Find("contracts");
  ASSERT_NE(people, nullptr);
  ASSERT_NE(contracts, nullptr);
  const Fields contract = {{"insurer", "Mutuelle du Nord"}, {"contract_number", "C-2026-0042"}};
  const Fields bad = With(kPeople[1], "email", "adele.perrin2.example.org");
  struct Row {
    const schema::Collection* collection;
    const Fields* fields;
  };
  const Row rows[] = {{people, &kPeople[0]}, {contracts, &contract}, {people, &bad},
                      {people, &kPeople[1]}, {contracts, &contract}, {people, &kPeople[0]}};
  std::vector<FieldValue> reused;
  for (const Row& row : rows) {
    auto inputs = Inputs(*row.fields);
    auto fresh = v().Validate(*row.collection, inputs);
    Status into = v().ValidateInto(*row.collection, inputs, reused);
    ASSERT_EQ(static_cast<bool>(fresh), static_cast<bool>(into));
    if (!fresh) {
      EXPECT_EQ(into.error().message, fresh.error().message);
      continue;
    }
    ASSERT_EQ(reused.size(), fresh->size());
    for (size_t i = 0; i < reused.size(); ++i) {
      EXPECT_EQ(reused[i].name, (*fresh)[i].name);
      EXPECT_EQ(reused[i].value, (*fresh)[i].value);
    }
  }
}

// ---------------------------------------------------------------- security codes

// Incident 1: whatever the front end, a row holding a card security code is
// refused by that rule before any other, and nothing is written.
TEST_F(VaultTest, SecurityCodesAreRefusedBeforeAnyOtherRule) {
  const std::string pan = test_vectors::LuhnNumber("4", 16, 3);
  struct Case {
    const char* what;
    std::string collection;
    Fields fields;
    std::string rule;
  };
  std::vector<Case> cases = {
      // Unknown in the collection and the row lacks required fields: the
      // security code is what the message names.
      {"cvv key", "people", {{"first_name", "Ana"}, {"cvv", "582"}}, "security codes"},
      {"cased key", "people", With(kPeople[0], "Card_CVC2", "582"), "security codes"},
      {"cryptogramme", "people", With(kPeople[0], "cryptogrammeVisuel", "5821"), "security codes"},
      {"lone digits beside a pan",
       "contracts",
       {{"insurer", "582"}, {"contract_number", pan}},
       "lone 3- or 4-digit"},
      {"lone digits beside a pan key",
       "people",
       {{"pan", "x"}, {"note", "0582"}},
       "lone 3- or 4-digit"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    auto put = v().Put(c.collection, Inputs(c.fields));
    ASSERT_FALSE(put);
    EXPECT_EQ(put.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(put.error().message.find(c.rule), std::string::npos) << put.error().message;
    EXPECT_EQ(put.error().message.find("582"), std::string::npos) << "the message carries the code";
    EXPECT_EQ(put.error().message.find(pan), std::string::npos) << "the message carries the number";
    EXPECT_EQ(Count(Space::kRecords), 0u);
    EXPECT_EQ(Count(Space::kKeys), 0u);
  }
  // Digits that are not a card number beside 3 digits are just digits.
  EXPECT_TRUE(v().Put("contracts", {{"insurer", schema::Input::String("582")},
                                    {"contract_number", schema::Input::String("C-" + pan)}}));

  // Update: the same rule, before the record is even read.
  RecordRef a = Put(kPeople[0]);
  RecordRef k = PutContract("Mutuelle", "C-1", a.subject);
  auto u = v().Update(
      "people", a.id,
      {{"email", schema::Input::String("x@example.fr")}, {"CVV", schema::Input::Null()}});
  ASSERT_FALSE(u);
  EXPECT_NE(u.error().message.find("security codes"), std::string::npos) << u.error().message;
  u = v().Update(
      "contracts", k.id,
      {{"contract_number", schema::Input::String(pan)}, {"insurer", schema::Input::Integer(582)}});
  ASSERT_FALSE(u);
  EXPECT_NE(u.error().message.find("lone 3- or 4-digit"), std::string::npos) << u.error().message;
  EXPECT_EQ(u.error().message.find("582"), std::string::npos);
  EXPECT_EQ(u.error().message.find(pan), std::string::npos);
  auto rec = v().Get("contracts", k.id);
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->fields[1].value, "C-1");
  EXPECT_EQ(Find("email", Value(kPeople[0], "email")).size(), 1u);
  EXPECT_EQ(Find("email", "x@example.fr").size(), 0u);
}

// A security code split over two writes: the number stored first and the
// lone digits patched in later, or the reverse. Update checks the record as
// it would be, and nothing is written.
TEST_F(VaultTest, SecurityCodeSplitOverTwoWritesIsRefused) {
  const std::string pan = test_vectors::LuhnNumber("4", 16, 5);
  RecordRef a = Put(kPeople[0]);
  // The number first, then "582" beside it.
  RecordRef k = PutContract("Mutuelle", pan, a.subject);
  for (const schema::Input& code :
       {schema::Input::String("582"), schema::Input::String("0582"), schema::Input::Integer(582)}) {
    auto u = v().Update("contracts", k.id, {{"insurer", code}});
    ASSERT_FALSE(u);
    EXPECT_EQ(u.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(u.error().message.find("lone 3- or 4-digit"), std::string::npos) << u.error().message;
    EXPECT_EQ(u.error().message.find("582"), std::string::npos) << "the message carries the code";
    EXPECT_EQ(u.error().message.find(pan), std::string::npos) << "the message carries the number";
  }
  auto rec = v().Get("contracts", k.id);
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->fields[0].value, "Mutuelle");
  // Other text beside the number is fine.
  EXPECT_TRUE(v().Update("contracts", k.id, {{"insurer", schema::Input::String("Acme")}}));

  // "582" first, then the number beside it.
  RecordRef j = PutContract("582", "C-1", a.subject);
  auto u = v().Update("contracts", j.id, {{"contract_number", schema::Input::String(pan)}});
  ASSERT_FALSE(u);
  EXPECT_NE(u.error().message.find("lone 3- or 4-digit"), std::string::npos) << u.error().message;
  EXPECT_EQ(u.error().message.find(pan), std::string::npos);
  rec = v().Get("contracts", j.id);
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->fields[1].value, "C-1");
  auto holding = v().Find("contracts", "contract_number", schema::Input::String(pan));
  ASSERT_TRUE(holding) << holding.error().message;
  EXPECT_EQ(holding->size(), 1u) << "only the first record holds the number";
  // Both at once, the digits replaced: the record as it would be has none.
  EXPECT_TRUE(v().Update("contracts", j.id,
                         {{"insurer", schema::Input::String("Acme")},
                          {"contract_number", schema::Input::String(pan)}}));
}

// ---------------------------------------------------------------- master key

TEST_F(VaultTest, RotationKeepsDataAndSearch) {
  RecordRef a = Put(kPeople[0]);
  std::string next = tmp_ + "/next.key";
  auto n = v().RotateMasterKey(next);
  ASSERT_TRUE(n) << n.error().message;
  vault_.reset();
  auto old =
      Vault::Open({.dir = dir_, .key_file = key_, .erasure_journal = journal_, .store = Opener()});
  ASSERT_FALSE(old);
  EXPECT_EQ(old.error().code, ErrorCode::kPermissionDenied);
  key_ = next;
  Reopen();
  EXPECT_TRUE(v().Get("people", a.id));
  EXPECT_EQ(Find("email", Value(kPeople[0], "email")).size(), 1u);
}

TEST_F(VaultTest, SecretsAreSealedAndSurviveRotation) {
  const std::string secret = "-----BEGIN PRIVATE KEY----- test-only-secret-bytes";
  ASSERT_TRUE(v().PutSecret("tls_key", secret));
  ASSERT_TRUE(v().PutConfig("policy", "[roles]"));
  EXPECT_TRUE(EntriesContaining("test-only-secret-bytes").empty());
  auto got = v().GetSecret("tls_key");
  ASSERT_TRUE(got && *got);
  EXPECT_EQ(**got, secret);
  auto absent = v().GetSecret("nothing");
  ASSERT_TRUE(absent);
  EXPECT_FALSE(absent->has_value());

  std::string next = tmp_ + "/next.key";
  ASSERT_TRUE(v().RotateMasterKey(next));
  key_ = next;
  Reopen();
  got = v().GetSecret("tls_key");
  ASSERT_TRUE(got && *got);
  EXPECT_EQ(**got, secret);
  auto config = v().GetConfig("policy");
  ASSERT_TRUE(config && *config);
  EXPECT_EQ(**config, "[roles]");

  // A sealed secret moved under another name does not open.
  RawPut(Space::kMeta, "secret/other", RawGet(Space::kMeta, "secret/tls_key"));
  auto moved = v().GetSecret("other");
  ASSERT_FALSE(moved);
  EXPECT_EQ(moved.error().code, ErrorCode::kDataLoss);
}

// docs/key-hierarchy.md: the master key lives outside the data directory (a
// copied DIR must hold no key). Init refuses a key file inside DIR; rotation
// must refuse it too.
TEST_F(VaultTest, RotationRefusesANewKeyFileInsideTheDataDirectory) {
  RecordRef a = Put(kPeople[0]);
  for (const std::string& inside : {dir_ + "/rotated.key", dir_ + "/../vault/rotated2.key"}) {
    auto n = v().RotateMasterKey(inside);
    EXPECT_FALSE(n) << "the new master key was written into the data directory";
    if (!n) EXPECT_EQ(n.error().code, ErrorCode::kInvalidArgument);
    EXPECT_FALSE(fs::exists(inside));
  }
  Reopen();  // still the old key
  EXPECT_TRUE(v().Get("people", a.id));
}

// ---------------------------------------------------------------- deletions (issue 13)

// Every regular file under `dir` that holds `needle`, by name.
std::vector<std::string> FilesHolding(const std::string& dir, const std::string& needle) {
  std::vector<std::string> names;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path(), std::ios::binary);
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (content.find(needle) != std::string::npos) names.push_back(e.path().filename().string());
  }
  return names;
}

// Item 11: DELETE of one record used to shred its data key in the live view
// only; the wrapped key, the ciphertext and its blind-index keys stayed in
// table files (and the MANIFEST's key boundaries) until some compaction.
TEST_F(RocksVaultTest, DeletedRecordIsGoneFromEveryFile) {
  RecordRef a = Put(kPeople[0]);
  RecordRef b = Put(kPeople[1]);
  const std::string wrapped =
      RawGet(Space::kKeys, layout::DataKeyKey(a.subject, "people")).substr(5);
  const std::string sealed = RawGet(Space::kRecords, layout::RecordKey("people", a.id))
                                 .substr(layout::kRecordHeaderBytes + 24, 32);
  std::vector<std::string> index_before;
  ASSERT_TRUE(store().Scan(Space::kIndex, "", [&](std::string_view k, std::string_view) {
    index_before.emplace_back(k);
    return true;
  }));
  ASSERT_TRUE(store().Flush());  // into table files, and their bounds into the MANIFEST
  ASSERT_FALSE(FilesHolding(dir_, wrapped).empty()) << "positive control";
  ASSERT_TRUE(v().DeleteRecord("people", a.id));
  std::vector<std::string> index_gone = index_before;
  ASSERT_TRUE(store().Scan(Space::kIndex, "", [&](std::string_view k, std::string_view) {
    std::erase(index_gone, std::string(k));
    return true;
  }));
  ASSERT_EQ(index_gone.size(), 3u);  // nir, email, phone
  // Files as they are while the vault stays open (a server), then closed.
  for (bool open : {true, false}) {
    SCOPED_TRACE(open ? "vault open" : "vault closed");
    if (!open) vault_.reset();
    EXPECT_EQ(FilesHolding(dir_, wrapped), std::vector<std::string>{})
        << "deleted data key still on disk";
    EXPECT_EQ(FilesHolding(dir_, sealed), std::vector<std::string>{})
        << "deleted record still on disk";
    for (const std::string& k : index_gone) {
      // The blind hash: the last 32 bytes of a unique key, before the id otherwise.
      std::string blind = k.size() > 48 ? k.substr(k.size() - 48, 32) : k.substr(k.size() - 32);
      EXPECT_EQ(FilesHolding(dir_, blind), std::vector<std::string>{})
          << "a deleted blind index is still on disk";
    }
  }
  Reopen();
  EXPECT_EQ(v().Get("people", a.id).error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(v().Get("people", b.id));
  auto pending = store().Get(Space::kMeta, "erasure_compaction_pending");
  ASSERT_TRUE(pending);
  EXPECT_FALSE(pending->has_value());
}

// Item 2: a record deleted (online or archived) after a backup was taken
// does not come back when the backup is restored: the deletion is in the
// erasure journal, which the next open replays.
TEST_F(RocksVaultTest, RestoredBackupForgetsDeletedRecords) {
  RecordRef online = Put(kPeople[0]);
  RecordRef archived = Put(kPeople[1]);
  RecordRef sibling = PutContract("MAIF", "C-1", online.subject);
  RecordRef other_contract = PutContract("MACIF", "C-2", online.subject);
  RecordRef kept = Put(kPeople[2]);
  ASSERT_TRUE(v().ArchiveRecord("people", archived.id));
  vault_.reset();
  const std::string backup = tmp_ + "/backup";
  fs::copy(dir_, backup, fs::copy_options::recursive);
  Reopen();
  ASSERT_TRUE(v().DeleteRecord("people", online.id));
  ASSERT_TRUE(v().DeleteArchived("people", archived.id));
  ASSERT_TRUE(v().DeleteRecord("contracts", sibling.id, Compaction::kDeferred));
  ASSERT_TRUE(v().CompactDeleted());
  vault_.reset();
  fs::remove_all(dir_);
  fs::rename(backup, dir_);
  Reopen();
  EXPECT_EQ(v().Get("people", online.id).error().code, ErrorCode::kNotFound)
      << "a deleted record came back";
  EXPECT_EQ(v().GetArchived("people", archived.id).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(v().Get("contracts", sibling.id).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(Find("email", Value(kPeople[0], "email")).size(), 0u) << "its index entries came back";
  EXPECT_EQ(EntriesContaining(online.id), std::vector<std::string>{});
  EXPECT_EQ(EntriesContaining(archived.id), std::vector<std::string>{});
  // The people key of the subject went with its last people record; the
  // contracts key stays for the contract not deleted.
  auto people_key = store().Get(Space::kKeys, layout::DataKeyKey(online.subject, "people"));
  ASSERT_TRUE(people_key);
  EXPECT_FALSE(people_key->has_value());
  EXPECT_TRUE(v().Get("contracts", other_contract.id));
  EXPECT_TRUE(v().Get("people", kept.id));
  // Deletions since the restore are counted after the replayed ones.
  ASSERT_TRUE(v().DeleteRecord("people", kept.id));
  Reopen();
  EXPECT_EQ(v().Get("people", kept.id).error().code, ErrorCode::kNotFound);
}

// Deletions from many threads (a server): each journalled once, the applied
// count and chain stored by the last one match the journal, and the shared
// compactions leave the pending flag cleared.
TEST_F(VaultTest, ConcurrentDeletionsKeepTheJournalChainExact) {
  RecordRef a = Put(kPeople[0]);
  std::vector<RecordRef> contracts;
  for (int i = 0; i < 16; ++i)
    contracts.push_back(PutContract("MAIF", "C-" + std::to_string(i), a.subject));
  std::vector<std::thread> threads;
  std::atomic<int> failed{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < 16; i += 4) {
        if (!v().DeleteRecord("contracts", contracts[i].id)) ++failed;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failed.load(), 0);
  auto journal = ErasureJournal::Open(journal_, v().vault_id());
  ASSERT_TRUE(journal);
  auto entries = journal->ReadAll();
  ASSERT_TRUE(entries);
  ASSERT_EQ(entries->size(), 16u);
  const std::string applied = RawGet(Space::kMeta, std::string(layout::kMetaErasuresApplied));
  ASSERT_EQ(applied.size(), 40u);
  EXPECT_EQ(ReadBigEndian64(applied), 16u);
  EXPECT_EQ(applied.substr(8), ErasureJournal::Chain(*entries, entries->size()));
  auto pending = store().Get(Space::kMeta, "erasure_compaction_pending");
  ASSERT_TRUE(pending);
  EXPECT_FALSE(pending->has_value());
  auto key = store().Get(Space::kKeys, layout::DataKeyKey(a.subject, "contracts"));
  ASSERT_TRUE(key);
  EXPECT_FALSE(key->has_value()) << "the last contract's deletion shreds the key";
  Reopen();
  EXPECT_TRUE(v().Get("people", a.id));
}

// The journal format outlives releases: a v1 journal (subject lines only,
// written by coffre before issue 13) still replays, and its chain is the one
// those versions stored, so it is not replayed again in full.
TEST_F(VaultTest, V1JournalWithSubjectLinesStillReplays) {
  RecordRef a = Put(kPeople[0]);
  RecordRef b = Put(kPeople[1]);
  {
    std::ofstream out(journal_, std::ios::app);
    out << "1700000000 " << ToHex(a.subject) << "\n";
  }
  Reopen();
  EXPECT_EQ(v().Get("people", a.id).error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(v().Get("people", b.id));
  // The chain over a subject line is H(zero || subject), as in v1.
  auto journal = ErasureJournal::Open(journal_, v().vault_id());
  ASSERT_TRUE(journal);
  auto entries = journal->ReadAll();
  ASSERT_TRUE(entries);
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ(ErasureJournal::Chain(*entries, 1), crypto::Hash(std::string(32, '\0') + a.subject));
  std::string applied = RawGet(Space::kMeta, std::string(layout::kMetaErasuresApplied));
  EXPECT_EQ(applied.substr(8), crypto::Hash(std::string(32, '\0') + a.subject));
}

TEST_F(VaultTest, JournalEntriesRoundTripAndTornLinesAreSkipped) {
  auto journal = ErasureJournal::Open(journal_, v().vault_id());
  ASSERT_TRUE(journal);
  const std::string id(16, '\x5a');
  // The payment cards' kinds (src/cards/card_eraser.h), as the format has them.
  const JournalKind card{"card", 'c'}, card_number{"card-number", 'n'};
  const std::vector<JournalKind> kinds = {card, card_number};
  const std::vector<JournalEntry> written = {
      JournalEntry::Subject(id), JournalEntry::Record("people", id), JournalEntry::Module(card, id),
      JournalEntry::Module(card_number, id)};
  for (const JournalEntry& e : written) ASSERT_TRUE(journal->Append(e, 1700000000));
  {
    std::ofstream out(journal_, std::ios::app);
    out << "1700000001 record people\n"                      // torn
        << "1700000001 record People " << ToHex(id) << "\n"  // not a collection name
        << "1700000001 card 5a5a\n"                          // torn
        << "1700000001 card-number " << ToHex(id);           // no newline: torn, unacknowledged
  }
  auto before = journal->ReadAll(kinds);
  ASSERT_TRUE(before);
  EXPECT_EQ(*before, written) << "a line without its newline was never acknowledged";
  {
    std::ofstream out(journal_, std::ios::app);
    out << "\n1700000001 card-number 5a5a5a";  // torn in the middle of the id
  }
  ASSERT_TRUE(journal->Append(JournalEntry::Record("contracts", id), 1700000002));
  auto read = journal->ReadAll(kinds);
  ASSERT_TRUE(read) << read.error().message;
  // The unterminated but whole line became a line of its own: replaying a
  // deletion that was asked for (and maybe not acknowledged) is harmless.
  std::vector<JournalEntry> expected = written;
  expected.push_back(JournalEntry::Module(card_number, id));
  expected.push_back(JournalEntry::Record("contracts", id));
  EXPECT_EQ(*read, expected);
  // No two kinds chain alike (the same id under each).
  std::vector<std::string> chains;
  for (const JournalEntry& e : written) chains.push_back(ErasureJournal::Chain({e}, 1));
  std::sort(chains.begin(), chains.end());
  EXPECT_EQ(std::unique(chains.begin(), chains.end()), chains.end());
  // A module's entry chains as the cards' always did: its tag, then the id.
  EXPECT_EQ(ErasureJournal::Chain({JournalEntry::Module(card, id)}, 1),
            crypto::Hash(std::string(32, '\0') + "c" + id));
  EXPECT_EQ(ErasureJournal::Chain({JournalEntry::Module(card_number, id)}, 1),
            crypto::Hash(std::string(32, '\0') + "n" + id));
  // A whole line of a kind none of `kinds` has is a deletion nobody could
  // replay: an error, never skipped like a torn line.
  {
    std::ofstream out(journal_, std::ios::app);
    out << "1700000003 wipe " << ToHex(id) << "\n";
  }
  auto unknown = journal->ReadAll(kinds);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(unknown.error().message.find("'wipe'"), std::string::npos) << unknown.error().message;
  EXPECT_FALSE(journal->ReadAll()) << "the cards' entries need their kinds too";
}

// ---------------------------------------------------------------- erasers
// A module's part of an erasure (vault/eraser.h): here "things" kept per
// subject in a space of their own ("t/" + subject), with a journal kind of
// their own ("thing", one thing deleted by its id, "t/" + id).

constexpr JournalKind kThing{"thing", 't'};

std::string ThingKey(std::string_view id) { return "t/" + std::string(id); }

class ThingEraser : public Eraser {
 public:
  explicit ThingEraser(std::string name = "things") : name_(std::move(name)) {}
  std::string_view name() const override { return name_; }
  std::vector<Space> spaces() const override { return {Space::kCounters}; }
  Result<size_t> AddErasure(std::string_view subject, storage::Store& store,
                            storage::WriteBatch& batch) override {
    batch_count_seen = batch.Count();
    COFFRE_ASSIGN_OR_RETURN(auto thing, store.Get(Space::kCounters, ThingKey(subject)));
    if (!thing) return size_t{0};
    batch.Delete(Space::kCounters, ThingKey(subject));
    return size_t{1};
  }
  std::vector<JournalKind> journal_kinds() const override { return {kThing}; }
  Status AddReplay(const JournalEntry& entry, storage::Store&,
                   storage::WriteBatch& batch) override {
    replayed.push_back(entry);
    batch.Delete(Space::kCounters, ThingKey(entry.id));
    return Ok();
  }
  Status FinishReplay(storage::Store&, storage::WriteBatch&) override {
    ++finished;
    return Ok();
  }

  size_t batch_count_seen = 0;
  std::vector<JournalEntry> replayed;
  int finished = 0;

 private:
  std::string name_;
};

// Adds a deletion to the batch, then fails, as an eraser whose read fails.
class FailingEraser : public Eraser {
 public:
  std::string_view name() const override { return "failing"; }
  std::vector<Space> spaces() const override { return {}; }
  Result<size_t> AddErasure(std::string_view subject, storage::Store&,
                            storage::WriteBatch& batch) override {
    batch.Delete(Space::kCounters, ThingKey(subject));
    return Fail(ErrorCode::kIoError, "the things' store is unreadable");
  }
};

TEST_F(VaultTest, AnErasersDeletionsLandInTheErasuresBatch) {
  ThingEraser things;
  erasers_ = {&things};
  Reopen();
  RecordRef a = Put(kPeople[0]);
  RecordRef b = Put(kPeople[1]);
  RawPut(Space::kCounters, ThingKey(a.subject), "a's thing");
  RawPut(Space::kCounters, ThingKey(b.subject), "b's thing");
  auto erased = v().EraseSubject(a.subject);
  ASSERT_TRUE(erased) << erased.error().message;
  EXPECT_EQ(erased->records, 1u);
  EXPECT_EQ(erased->Count("things"), 1u);
  EXPECT_EQ(erased->Count("no such eraser"), 0u);
  // Called with the batch that already deletes the subject's record, index
  // entries, membership and key: one batch, one journal entry.
  EXPECT_GE(things.batch_count_seen, 4u);
  auto thing = store().Get(Space::kCounters, ThingKey(a.subject));
  ASSERT_TRUE(thing);
  EXPECT_FALSE(thing->has_value()) << "the eraser's deletion was not written";
  EXPECT_EQ(RawGet(Space::kCounters, ThingKey(b.subject)), "b's thing");
  auto journal = ErasureJournal::Open(journal_, v().vault_id());
  ASSERT_TRUE(journal);
  auto entries = journal->ReadAll({kThing});
  ASSERT_TRUE(entries);
  EXPECT_EQ(*entries, std::vector<JournalEntry>{JournalEntry::Subject(a.subject)});
  // A subject with nothing but a thing left is still a known subject.
  RawPut(Space::kCounters, ThingKey(std::string(16, '\x01')), "a thing of nobody else");
  auto only_thing = v().EraseSubject(std::string(16, '\x01'));
  ASSERT_TRUE(only_thing) << only_thing.error().message;
  EXPECT_EQ(only_thing->Count("things"), 1u);
  // And one with nothing at all is unknown, whatever the erasers.
  EXPECT_EQ(v().EraseSubject(std::string(16, '\x02')).error().code, ErrorCode::kNotFound);
}

TEST_F(VaultTest, AFailingEraserLeavesNothingErased) {
  ThingEraser things;
  FailingEraser failing;
  erasers_ = {&things, &failing};
  Reopen();
  RecordRef a = Put(kPeople[0]);
  RawPut(Space::kCounters, ThingKey(a.subject), "a's thing");
  auto applied = [&] {
    return store().Get(Space::kMeta, std::string(layout::kMetaErasuresApplied)).value();
  };
  const std::optional<std::string> applied_before = applied();
  auto erased = v().EraseSubject(a.subject);
  ASSERT_FALSE(erased);
  EXPECT_EQ(erased.error().code, ErrorCode::kIoError);
  // Neither the vault's deletions nor the other eraser's were written.
  EXPECT_TRUE(v().Get("people", a.id));
  EXPECT_EQ(Find("email", Value(kPeople[0], "email")).size(), 1u);
  EXPECT_EQ(RawGet(Space::kCounters, ThingKey(a.subject)), "a's thing");
  // Nor journalled: a restored backup would not erase the subject either.
  auto journal = ErasureJournal::Open(journal_, v().vault_id());
  ASSERT_TRUE(journal);
  auto entries = journal->ReadAll({kThing});
  ASSERT_TRUE(entries);
  EXPECT_TRUE(entries->empty());
  EXPECT_EQ(applied(), applied_before);
  Reopen();
  EXPECT_TRUE(v().Get("people", a.id));
}

// On disk: a backup of the directory is restored under the journal.
TEST_F(RocksVaultTest, AModulesJournalEntriesAreReplayedThroughItsEraser) {
  ThingEraser things;
  erasers_ = {&things};
  Reopen();
  RecordRef a = Put(kPeople[0]);
  const std::string kept_id(16, '\x03'), deleted_id(16, '\x04');
  RawPut(Space::kCounters, ThingKey(kept_id), "kept");
  RawPut(Space::kCounters, ThingKey(deleted_id), "deleted");
  vault_.reset();
  const std::string backup = tmp_ + "/backup";
  fs::copy(dir_, backup, fs::copy_options::recursive);
  Reopen();
  auto batch = store().NewBatch();
  batch->Delete(Space::kCounters, ThingKey(deleted_id));
  ASSERT_TRUE(v().CommitDeletion({JournalEntry::Module(kThing, deleted_id)}, *batch));
  ASSERT_TRUE(v().EraseSubject(a.subject));
  vault_.reset();
  // The backup comes back; the journal (kept outside it) does not.
  fs::remove_all(dir_);
  fs::rename(backup, dir_);
  // Without the eraser that replays its entries, the vault does not open.
  erasers_ = {};
  auto refused = Vault::Open({.dir = dir_, .key_file = key_, .erasure_journal = journal_});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(refused.error().message.find("'thing'"), std::string::npos) << refused.error().message;
  erasers_ = {&things};
  Reopen();
  EXPECT_EQ(things.replayed, std::vector<JournalEntry>{JournalEntry::Module(kThing, deleted_id)});
  EXPECT_EQ(things.finished, 1);
  auto gone = store().Get(Space::kCounters, ThingKey(deleted_id));
  ASSERT_TRUE(gone);
  EXPECT_FALSE(gone->has_value());
  EXPECT_EQ(RawGet(Space::kCounters, ThingKey(kept_id)), "kept");
  EXPECT_EQ(v().Get("people", a.id).error().code, ErrorCode::kNotFound);
  // Replayed once.
  Reopen();
  EXPECT_EQ(things.replayed.size(), 1u);
  EXPECT_EQ(things.finished, 1);
}

TEST_F(VaultTest, EntriesOfAKindNoEraserReplaysAreNotJournalled) {
  RecordRef a = Put(kPeople[0]);
  auto batch = store().NewBatch();
  batch->Delete(Space::kRecords, "anything");
  auto s = v().CommitDeletion({JournalEntry::Module(kThing, a.subject)}, *batch);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  auto journal = ErasureJournal::Open(journal_, v().vault_id());
  ASSERT_TRUE(journal);
  auto entries = journal->ReadAll({kThing});
  ASSERT_TRUE(entries);
  EXPECT_TRUE(entries->empty());
}

TEST_F(VaultTest, ClashingErasersAreRefusedAtOpen) {
  ThingEraser one, two;               // same name, same kind
  ThingEraser three("other things");  // another name, the same kind
  for (const std::vector<Eraser*>& erasers :
       {std::vector<Eraser*>{&one, &two}, std::vector<Eraser*>{&one, &three},
        std::vector<Eraser*>{nullptr}}) {
    vault_.reset();
    auto v = Vault::Open(
        {.dir = dir_, .key_file = key_, .erasure_journal = journal_, .erasers = erasers});
    ASSERT_FALSE(v);
    EXPECT_EQ(v.error().code, ErrorCode::kInvalidArgument);
  }
}

// Item 3: after rotation, the keyring entries sealed under the old master
// key are in no file of the directory (a copy taken now plus the retired
// key file must read nothing).
TEST_F(RocksVaultTest, RotationLeavesNoOldWrapInAnyFile) {
  Put(kPeople[0]);
  const std::string old_wrap = RawGet(Space::kMeta, "keyring/kek.1").substr(1);
  ASSERT_TRUE(store().Flush());
  ASSERT_FALSE(FilesHolding(dir_, old_wrap).empty()) << "positive control";
  std::string retired;
  auto n = v().RotateMasterKey("", &retired);
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(FilesHolding(dir_, old_wrap), std::vector<std::string>{})
      << "old wrap still on disk (open)";
  vault_.reset();
  EXPECT_EQ(FilesHolding(dir_, old_wrap), std::vector<std::string>{}) << "old wrap still on disk";
}

// Item 4: `keys rotate` in place leaves a vault that opens with KEY; the old
// key is kept apart; a crash at any step leaves a vault that opens.
TEST_F(VaultTest, RotationInPlaceLeavesAVaultThatOpens) {
  RecordRef a = Put(kPeople[0]);
  const std::string old_key_text = [&] {
    std::ifstream in(key_);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }();
  std::string retired;
  ASSERT_TRUE(v().RotateMasterKey("", &retired));
  EXPECT_FALSE(fs::exists(PendingKeyFile(key_)));
  ASSERT_TRUE(fs::exists(retired));
  EXPECT_EQ(retired.rfind(key_ + ".old-", 0), 0u) << retired;
  std::ifstream in(retired);
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()),
            old_key_text);
  Reopen();  // with KEY, as every later command does
  EXPECT_TRUE(v().Get("people", a.id));
  vault_.reset();
  auto old = Vault::Open(
      {.dir = dir_, .key_file = retired, .erasure_journal = journal_, .store = Opener()});
  ASSERT_FALSE(old);
  EXPECT_EQ(old.error().code, ErrorCode::kPermissionDenied);
}

TEST_F(VaultTest, RotationInterruptedAfterItsCommitIsFinishedOnOpen) {
  RecordRef a = Put(kPeople[0]);
  // The commit with the new key in KEY.new, and no rename: what a crash
  // right after the commit leaves.
  ASSERT_TRUE(v().RotateMasterKey(PendingKeyFile(key_)));
  vault_.reset();
  auto ro = Vault::Open({.dir = dir_,
                         .key_file = key_,
                         .erasure_journal = journal_,
                         .read_only = true,
                         .store = Opener()});
  ASSERT_TRUE(ro) << ro.error().message;
  EXPECT_TRUE((*ro)->Get("people", a.id));
  ro->reset();
  EXPECT_TRUE(fs::exists(PendingKeyFile(key_))) << "a read-only open renames nothing";
  Reopen();
  EXPECT_TRUE(v().Get("people", a.id));
  EXPECT_FALSE(fs::exists(PendingKeyFile(key_)));
  size_t olds = 0;
  for (const auto& e : fs::directory_iterator(tmp_))
    olds += e.path().filename().string().rfind("vault.key.old-", 0) == 0;
  EXPECT_EQ(olds, 1u);
  Reopen();
}

TEST_F(VaultTest, RotationInterruptedBeforeItsCommitLeavesTheOldKey) {
  RecordRef a = Put(kPeople[0]);
  // A crash after KEY.new was written, before the commit.
  ASSERT_TRUE(crypto::WriteKeyFile(PendingKeyFile(key_), crypto::SecretKey::Random()));
  Reopen();
  EXPECT_TRUE(v().Get("people", a.id));
  // The next rotation replaces the stale file.
  ASSERT_TRUE(v().RotateMasterKey(""));
  Reopen();
  EXPECT_TRUE(v().Get("people", a.id));
}

}  // namespace
}  // namespace coffre::vault
