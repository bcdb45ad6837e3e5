// A vault whose master key is in a PKCS#11 token (docs/key-hierarchy.md),
// against SoftHSM2: a fresh token directory per test (tests/softhsm_token.h).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "crypto/key_file.h"
#include "crypto/pkcs11_key.h"
#include "tests/softhsm_token.h"
#include "vault/vault.h"

namespace coffre::vault {
namespace {

namespace fs = std::filesystem;
using coffre::testing::SoftHsmToken;
using storage::Space;

constexpr std::string_view kSchema = R"(version = 1

[collections.contracts]
fields = [
  { name = "insurer",         type = "text", required = true },
  { name = "contract_number", type = "text", required = true, searchable = true },
]
)";

class VaultPkcs11Test : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "coffre-vault-p11-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    tmp_ = tmpl;
    dir_ = tmp_ + "/vault";
    key_ = tmp_ + "/vault.key";
    journal_ = tmp_ + "/vault.erasures";
    std::ofstream(tmp_ + "/schema.toml") << kSchema;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(tmp_, ec);
  }

  Status InitInToken(const std::string& uri) {
    InitOptions o{dir_, tmp_ + "/schema.toml", key_, journal_, {}, {}};
    o.key_pkcs11 = uri;
    auto r = Vault::Init(o);
    if (!r) return Fail(r.error());
    return Ok();
  }
  Status InitWithKeyFile() {
    auto r = Vault::Init({dir_, tmp_ + "/schema.toml", key_, journal_, {}, {}});
    if (!r) return Fail(r.error());
    return Ok();
  }
  Result<std::unique_ptr<Vault>> Open(const std::string& uri, const std::string& key_file = "") {
    return Vault::Open({.dir = dir_,
                        .key_file = key_file.empty() ? key_ : key_file,
                        .key_pkcs11 = uri,
                        .erasure_journal = journal_});
  }
  static RecordRef PutContract(Vault& v, const std::string& number) {
    auto ref = v.Put("contracts", {{"insurer", schema::Input::String("Mutuelle Test")},
                                   {"contract_number", schema::Input::String(number)}});
    EXPECT_TRUE(ref) << ref.error().message;
    return ref ? *ref : RecordRef{};
  }
  static std::string Number(Vault& v, const RecordRef& ref) {
    auto rec = v.Get("contracts", ref.id);
    EXPECT_TRUE(rec) << rec.error().message;
    return rec ? rec->fields[1].value : "";
  }
  static std::string Meta(Vault& v, std::string_view key) {
    auto got = v.store().Get(Space::kMeta, key);
    return got && *got ? **got : "";
  }

  std::string tmp_, dir_, key_, journal_;
};

TEST_F(VaultPkcs11Test, InitPutsTheKeyInTheTokenAndNoKeyFileAnywhere) {
  SoftHsmToken hsm;
  ASSERT_TRUE(InitInToken(hsm.Uri("master")));
  EXPECT_FALSE(fs::exists(key_));
  for (const auto& e : fs::recursive_directory_iterator(tmp_)) {
    EXPECT_EQ(e.path().filename().string().find(".key"), std::string::npos) << e.path();
  }
  RecordRef ref;
  {
    auto v = Open(hsm.Uri("master"));
    ASSERT_TRUE(v) << v.error().message;
    EXPECT_EQ((*v)->key_source(), "pkcs11:token=coffre;object=master");
    EXPECT_EQ(Meta(**v, "key_source"), "pkcs11:token=coffre;object=master");
    EXPECT_EQ(Meta(**v, "kcv")[0], 0x02);
    size_t entries = 0;
    ASSERT_TRUE(
        (*v)->store().Scan(Space::kMeta, "keyring/", [&](std::string_view, std::string_view value) {
          EXPECT_EQ(value[0], 0x02);                   // sealed by the token
          EXPECT_EQ(value.size(), 1 + 12 + 32 + 16u);  // nonce, sub-key, tag
          ++entries;
          return true;
        }));
    EXPECT_GE(entries, 7u);
    ref = PutContract(**v, "CT-0001");
  }
  auto v = Open(hsm.Uri("master"));
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(Number(**v, ref), "CT-0001");
  auto hits = (*v)->Find("contracts", "contract_number", schema::Input::String("CT-0001"));
  ASSERT_TRUE(hits);
  EXPECT_EQ(hits->size(), 1u);
  v->reset();

  // The master key: in the token, sensitive and never extractable.
  auto uri = crypto::ParsePkcs11Uri(hsm.Uri("master"));
  auto key = crypto::TokenKey::Open(*uri, crypto::TokenKey::kOpenExisting);
  ASSERT_TRUE(key) << key.error().message;
  auto a = (*key)->attributes();
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->sensitive);
  EXPECT_FALSE(a->extractable);
  EXPECT_TRUE(a->never_extractable);
}

TEST_F(VaultPkcs11Test, TheOtherKindOfKeyIsRefusedWithWhatTheVaultNeeds) {
  SoftHsmToken hsm;
  ASSERT_TRUE(InitInToken(hsm.Uri("master")));
  ASSERT_TRUE(crypto::CreateKeyFile(key_));  // a key file where one would be
  auto by_file = Open("");
  ASSERT_FALSE(by_file);
  EXPECT_EQ(by_file.error().code, ErrorCode::kPermissionDenied);
  EXPECT_NE(by_file.error().message.find("--key-pkcs11"), std::string::npos);
  EXPECT_NE(by_file.error().message.find("pkcs11:token=coffre;object=master"), std::string::npos);

  fs::remove_all(dir_);
  fs::remove(key_);
  fs::remove(journal_);
  ASSERT_TRUE(InitWithKeyFile());
  auto by_token = Open(hsm.Uri("master"));
  ASSERT_FALSE(by_token);
  EXPECT_EQ(by_token.error().code, ErrorCode::kPermissionDenied);
  EXPECT_NE(by_token.error().message.find("key file"), std::string::npos);
  EXPECT_TRUE(Open(""));  // a key-file vault opens as before
}

TEST_F(VaultPkcs11Test, WrongPinAbsentKeyOrAnotherKeyDoNotOpen) {
  SoftHsmToken hsm;
  ASSERT_TRUE(InitInToken(hsm.Uri("master")));

  const std::string wrong = hsm.dir() + "/wrong-pin";
  SoftHsmToken::WritePinFile(wrong, "0000-wrong");
  auto wrong_pin = Open(hsm.Uri("master", wrong));
  ASSERT_FALSE(wrong_pin);
  EXPECT_EQ(wrong_pin.error().code, ErrorCode::kPermissionDenied);

  // Another key of the token: created by a rotation elsewhere, say.
  {
    auto uri = crypto::ParsePkcs11Uri(hsm.Uri("other"));
    ASSERT_TRUE(crypto::TokenKey::Open(*uri, crypto::TokenKey::kCreateIfAbsent));
  }
  auto other = Open(hsm.Uri("other"));
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, ErrorCode::kPermissionDenied);
  EXPECT_NE(other.error().message.find("does not open this vault"), std::string::npos);

  // A name the token does not hold: refused, and never created by an open.
  auto absent = Open(hsm.Uri("typo"));
  ASSERT_FALSE(absent);
  EXPECT_EQ(absent.error().code, ErrorCode::kPermissionDenied);
  auto typo = crypto::ParsePkcs11Uri(hsm.Uri("typo"));
  EXPECT_FALSE(crypto::TokenKey::Open(*typo, crypto::TokenKey::kOpenExisting));

  // The token gone, then a new one under the same label: the vault's key is gone.
  hsm.DeleteToken();
  auto no_token = Open(hsm.Uri("master"));
  ASSERT_FALSE(no_token);
  EXPECT_EQ(no_token.error().code, ErrorCode::kNotFound);
  hsm.InitToken();
  auto removed = Open(hsm.Uri("master"));
  ASSERT_FALSE(removed);
  EXPECT_EQ(removed.error().code, ErrorCode::kPermissionDenied);
}

TEST_F(VaultPkcs11Test, RotationMovesBetweenTokenKeysAndFromAndToAKeyFile) {
  SoftHsmToken hsm;
  ASSERT_TRUE(InitWithKeyFile());
  RecordRef ref;
  {
    auto v = Open("");
    ASSERT_TRUE(v) << v.error().message;
    ref = PutContract(**v, "CT-0002");
    // Migration: from the key file into the token; the key file retired.
    std::string retired;
    auto n = (*v)->RotateMasterKeyToToken(hsm.Uri("master"), &retired);
    ASSERT_TRUE(n) << n.error().message;
    EXPECT_GE(*n, 7u);
    EXPECT_FALSE(fs::exists(key_));
    EXPECT_TRUE(fs::exists(retired));
    EXPECT_EQ(retired.rfind(key_ + ".old-", 0), 0u);
    key_ = retired;
    // The same key again is refused.
    auto same = (*v)->RotateMasterKeyToToken(hsm.Uri("master"));
    ASSERT_FALSE(same);
    EXPECT_EQ(same.error().code, ErrorCode::kAlreadyExists);
  }
  EXPECT_FALSE(Open(""));  // the retired key file no longer opens it
  {
    auto v = Open(hsm.Uri("master"));
    ASSERT_TRUE(v) << v.error().message;
    EXPECT_EQ(Number(**v, ref), "CT-0002");
    // In place is meaningless for a token key.
    auto in_place = (*v)->RotateMasterKey("");
    ASSERT_FALSE(in_place);
    EXPECT_EQ(in_place.error().code, ErrorCode::kInvalidArgument);
    // Token key to token key.
    auto n = (*v)->RotateMasterKeyToToken(hsm.Uri("master-2027"));
    ASSERT_TRUE(n) << n.error().message;
  }
  auto old = Open(hsm.Uri("master"));
  ASSERT_FALSE(old);
  EXPECT_EQ(old.error().code, ErrorCode::kPermissionDenied);
  {
    auto v = Open(hsm.Uri("master-2027"));
    ASSERT_TRUE(v) << v.error().message;
    EXPECT_EQ(Number(**v, ref), "CT-0002");
    EXPECT_EQ((*v)->key_source(), "pkcs11:token=coffre;object=master-2027");
    // Out of the token, into a new key file.
    const std::string out = tmp_ + "/out.key";
    auto n = (*v)->RotateMasterKey(out);
    ASSERT_TRUE(n) << n.error().message;
    EXPECT_EQ((*v)->key_source(), "file");
    EXPECT_EQ(Meta(**v, "key_source"), "");
    key_ = out;
  }
  EXPECT_FALSE(Open(hsm.Uri("master-2027")));
  auto v = Open("");
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(Number(**v, ref), "CT-0002");
}

TEST_F(VaultPkcs11Test, AKeyringEntryOfTheOtherKindIsDamage) {
  SoftHsmToken hsm;
  ASSERT_TRUE(InitInToken(hsm.Uri("master")));
  {
    auto v = Open(hsm.Uri("master"));
    ASSERT_TRUE(v);
    // An attacker puts a key-file entry (0x01, under a key they hold) in place.
    auto batch = (*v)->store().NewBatch();
    batch->Put(Space::kMeta, "keyring/kek.1", std::string(1, 0x01) + std::string(72, 'x'));
    ASSERT_TRUE((*v)->store().Write(*batch));
  }
  auto v = Open(hsm.Uri("master"));
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ErrorCode::kDataLoss);
}

}  // namespace
}  // namespace coffre::vault
