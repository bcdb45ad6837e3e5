#include "vault/master_key.h"

#include "common/bytes.h"
#include "vault/internal/layout.h"

namespace coffre::vault {
namespace {

constexpr char kTokenFormat = 0x02;
// The plaintext of a token key's check value.
constexpr std::string_view kTokenCheck = "coffre key check";

std::string TokenCheckAad(std::string_view vault_id) {
  std::string aad = "coffre.kcv.v2";
  AppendLengthPrefixed(aad, vault_id);
  return aad;
}

Error OtherSource(std::string_view value) {
  if (!value.empty() && value[0] == kTokenFormat) {
    return Error{ErrorCode::kDataLoss, "keyring entry is sealed by a PKCS#11 token key"};
  }
  if (!value.empty() && value[0] == layout::kFormatV1) {
    return Error{ErrorCode::kDataLoss, "keyring entry is sealed by a key file's key"};
  }
  return Error{ErrorCode::kDataLoss, "keyring entry has an unknown format"};
}

class InMemory final : public MasterKey {
 public:
  InMemory(crypto::SecretKey key, std::string file)
      : key_(std::move(key)), file_(std::move(file)) {}
  std::string source() const override { return std::string(kFileKeySource); }
  std::string name() const override { return "the key file " + file_; }

  Result<std::string> SealEntry(const crypto::SecretKey& sub, std::string_view aad) override {
    std::string value(1, layout::kFormatV1);
    crypto::WrapKeyAppend(key_, sub, aad, value);
    return value;
  }
  Result<crypto::SecretKey> UnsealEntry(std::string_view value, std::string_view aad) override {
    if (value.empty() || value[0] != layout::kFormatV1) return Fail(OtherSource(value));
    return crypto::UnwrapKey(key_, value.substr(1), aad, "keyring entry");
  }
  Result<std::string> KeyCheck(std::string_view vault_id) override {
    return crypto::KeyedHash(key_, layout::KeyCheckMessage(vault_id));
  }
  Result<bool> Opens(std::string_view kcv, std::string_view vault_id) override {
    return crypto::ConstantTimeEquals(kcv,
                                      crypto::KeyedHash(key_, layout::KeyCheckMessage(vault_id)));
  }
  const crypto::SecretKey* key_in_memory() const override { return &key_; }

 private:
  crypto::SecretKey key_;
  std::string file_;
};

class InToken final : public MasterKey {
 public:
  explicit InToken(std::unique_ptr<crypto::TokenKey> key) : key_(std::move(key)) {}
  std::string source() const override { return key_->uri().Identity(); }  // "pkcs11:..."

  std::string name() const override { return "the PKCS#11 key " + key_->uri().Identity(); }

  Result<std::string> SealEntry(const crypto::SecretKey& sub, std::string_view aad) override {
    COFFRE_ASSIGN_OR_RETURN(std::string sealed, key_->Seal(sub.view(), aad));
    std::string value(1, kTokenFormat);
    value += sealed;
    return value;
  }
  Result<crypto::SecretKey> UnsealEntry(std::string_view value, std::string_view aad) override {
    if (value.empty() || value[0] != kTokenFormat) return Fail(OtherSource(value));
    COFFRE_ASSIGN_OR_RETURN(std::string plain, key_->Open(value.substr(1), aad, "keyring entry"));
    auto key = crypto::SecretKey::FromBytes(plain);
    crypto::Wipe(plain.data(), plain.size());
    if (!key) return Fail(ErrorCode::kDataLoss, "keyring entry holds no 32-byte key");
    return key;
  }
  Result<std::string> KeyCheck(std::string_view vault_id) override {
    COFFRE_ASSIGN_OR_RETURN(std::string sealed, key_->Seal(kTokenCheck, TokenCheckAad(vault_id)));
    std::string kcv(1, kTokenFormat);
    kcv += sealed;
    return kcv;
  }
  Result<bool> Opens(std::string_view kcv, std::string_view vault_id) override {
    if (kcv.empty() || kcv[0] != kTokenFormat) return false;
    auto plain = key_->Open(kcv.substr(1), TokenCheckAad(vault_id), "key-check value");
    if (!plain) {
      if (plain.error().code == ErrorCode::kDataLoss) return false;
      return Fail(std::move(plain).error());
    }
    return *plain == kTokenCheck;
  }

 private:
  std::unique_ptr<crypto::TokenKey> key_;
};

}  // namespace

std::unique_ptr<MasterKey> MasterKeyInMemory(crypto::SecretKey key, std::string key_file) {
  return std::make_unique<InMemory>(std::move(key), std::move(key_file));
}

Result<std::unique_ptr<MasterKey>> MasterKeyInToken(std::string_view uri,
                                                    crypto::TokenKey::Mode mode, bool* created) {
  COFFRE_ASSIGN_OR_RETURN(crypto::Pkcs11Uri parsed, crypto::ParsePkcs11Uri(uri));
  COFFRE_ASSIGN_OR_RETURN(auto key, crypto::TokenKey::Open(parsed, mode, created));
  return std::unique_ptr<MasterKey>(std::make_unique<InToken>(std::move(key)));
}

}  // namespace coffre::vault
