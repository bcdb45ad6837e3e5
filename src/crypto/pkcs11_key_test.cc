// TokenKey against a real token: SoftHSM2 (Debian softhsm2), a fresh token
// directory per test (tests/softhsm_token.h).
#include "crypto/pkcs11_key.h"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <p11-kit/pkcs11.h>

#include "crypto/crypto.h"
#include "tests/softhsm_token.h"

namespace coffre::crypto {
namespace {

using coffre::testing::SoftHsmToken;

Pkcs11Uri Uri(const std::string& text) {
  auto u = ParsePkcs11Uri(text);
  EXPECT_TRUE(u) << (u ? "" : u.error().message);
  return u ? *u : Pkcs11Uri{};
}

TEST(TokenKey, CreatesASensitiveNonExtractableAes256KeyOnlyWhenAsked) {
  SoftHsmToken hsm;
  auto absent = TokenKey::Open(Uri(hsm.Uri("master")), TokenKey::kOpenExisting);
  ASSERT_FALSE(absent);
  EXPECT_EQ(absent.error().code, ErrorCode::kPermissionDenied);  // never created on open

  bool created = false;
  auto key = TokenKey::Open(Uri(hsm.Uri("master")), TokenKey::kCreateIfAbsent, &created);
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_TRUE(created);
  auto a = (*key)->attributes();
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_TRUE(a->sensitive);
  EXPECT_FALSE(a->extractable);
  EXPECT_TRUE(a->token);  // survives the session
  EXPECT_TRUE(a->always_sensitive);
  EXPECT_TRUE(a->never_extractable);
  EXPECT_EQ(a->value_len, 32u);
  key->reset();

  // The same key again: found, not created.
  auto again = TokenKey::Open(Uri(hsm.Uri("master")), TokenKey::kCreateIfAbsent, &created);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_FALSE(created);
}

// Creates, with raw PKCS#11 calls, a secret key labelled `label` that can
// leave the token (not sensitive, extractable), as a careless officer might.
void CreateLeakyKey(const SoftHsmToken& hsm, const std::string& label) {
  void* lib = ::dlopen(testing::kSoftHsmModule, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(lib, nullptr);
  auto get = reinterpret_cast<CK_C_GetFunctionList>(::dlsym(lib, "C_GetFunctionList"));
  CK_FUNCTION_LIST_PTR f = nullptr;
  ASSERT_EQ(get(&f), CKR_OK);
  ASSERT_EQ(f->C_Initialize(nullptr), CKR_OK);
  CK_SLOT_ID slots[8];
  CK_ULONG n = 8;
  ASSERT_EQ(f->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
  CK_SESSION_HANDLE s = 0;
  for (CK_ULONG i = 0; i < n; ++i) {
    CK_TOKEN_INFO info{};
    if (f->C_GetTokenInfo(slots[i], &info) == CKR_OK && (info.flags & CKF_TOKEN_INITIALIZED)) {
      ASSERT_EQ(
          f->C_OpenSession(slots[i], CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &s),
          CKR_OK);
      break;
    }
  }
  std::string pin = hsm.pin();
  ASSERT_EQ(f->C_Login(s, CKU_USER, reinterpret_cast<CK_BYTE_PTR>(pin.data()), pin.size()), CKR_OK);
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  CK_KEY_TYPE type = CKK_AES;
  CK_ULONG len = 32;
  CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
  std::string name = label;
  CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls},       {CKA_KEY_TYPE, &type, sizeof type},
                      {CKA_VALUE_LEN, &len, sizeof len},   {CKA_TOKEN, &yes, sizeof yes},
                      {CKA_PRIVATE, &yes, sizeof yes},     {CKA_SENSITIVE, &no, sizeof no},
                      {CKA_EXTRACTABLE, &yes, sizeof yes}, {CKA_ENCRYPT, &yes, sizeof yes},
                      {CKA_DECRYPT, &yes, sizeof yes},     {CKA_LABEL, name.data(), name.size()}};
  CK_MECHANISM gen{CKM_AES_KEY_GEN, nullptr, 0};
  CK_OBJECT_HANDLE key = 0;
  ASSERT_EQ(f->C_GenerateKey(s, &gen, t, sizeof t / sizeof t[0], &key), CKR_OK);
  ASSERT_EQ(f->C_CloseSession(s), CKR_OK);
  ASSERT_EQ(f->C_Finalize(nullptr), CKR_OK);
  ::dlclose(lib);
}

TEST(TokenKey, RefusesAKeyThatCanLeaveTheToken) {
  SoftHsmToken hsm;
  CreateLeakyKey(hsm, "leaky");
  for (auto mode : {TokenKey::kOpenExisting, TokenKey::kCreateIfAbsent}) {
    auto key = TokenKey::Open(Uri(hsm.Uri("leaky")), mode);
    ASSERT_FALSE(key);
    EXPECT_EQ(key.error().code, ErrorCode::kPermissionDenied);
    EXPECT_NE(key.error().message.find("can leave the token"), std::string::npos);
  }
}

TEST(TokenKey, SealsInTheTokenAndOpensOnlyWithTheSameKeyAndAad) {
  SoftHsmToken hsm;
  auto key = TokenKey::Open(Uri(hsm.Uri("master")), TokenKey::kCreateIfAbsent);
  ASSERT_TRUE(key) << key.error().message;
  auto other = TokenKey::Open(Uri(hsm.Uri("other")), TokenKey::kCreateIfAbsent);
  ASSERT_TRUE(other) << other.error().message;

  const std::string secret = RandomString(32);
  auto sealed = (*key)->Seal(secret, "aad-1");
  ASSERT_TRUE(sealed) << sealed.error().message;
  EXPECT_EQ(sealed->size(), 12 + 32 + 16u);
  EXPECT_EQ(sealed->find(secret), std::string::npos);
  auto sealed2 = (*key)->Seal(secret, "aad-1");
  ASSERT_TRUE(sealed2);
  EXPECT_NE(*sealed, *sealed2);  // a fresh nonce each time

  auto opened = (*key)->Open(*sealed, "aad-1", "entry");
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_EQ(*opened, secret);

  auto wrong_aad = (*key)->Open(*sealed, "aad-2", "entry");
  ASSERT_FALSE(wrong_aad);
  EXPECT_EQ(wrong_aad.error().code, ErrorCode::kDataLoss);
  auto wrong_key = (*other)->Open(*sealed, "aad-1", "entry");
  ASSERT_FALSE(wrong_key);
  EXPECT_EQ(wrong_key.error().code, ErrorCode::kDataLoss);
  for (size_t i : {size_t{0}, size_t{20}, sealed->size() - 1}) {
    std::string flipped = *sealed;
    flipped[i] ^= 1;
    auto bad = (*key)->Open(flipped, "aad-1", "entry");
    ASSERT_FALSE(bad) << i;
    EXPECT_EQ(bad.error().code, ErrorCode::kDataLoss);
  }
  // The session still works after failures.
  EXPECT_TRUE((*key)->Open(*sealed, "aad-1", "entry"));
  EXPECT_FALSE((*key)->Open("short", "aad-1", "entry"));
}

TEST(TokenKey, ClearErrorsForAMissingModuleTokenOrAWrongPin) {
  SoftHsmToken hsm;
  auto no_module =
      TokenKey::Open(Uri("pkcs11:token=coffre;object=master?module-path=/nonexistent/libnope.so"),
                     TokenKey::kOpenExisting);
  ASSERT_FALSE(no_module);
  EXPECT_EQ(no_module.error().code, ErrorCode::kNotFound);
  EXPECT_NE(no_module.error().message.find("/nonexistent/libnope.so"), std::string::npos);

  auto no_token = TokenKey::Open(
      Uri("pkcs11:token=absent;object=master?module-path=" + std::string(testing::kSoftHsmModule) +
          "&pin-source=file:" + hsm.pin_file()),
      TokenKey::kCreateIfAbsent);
  ASSERT_FALSE(no_token);
  EXPECT_EQ(no_token.error().code, ErrorCode::kNotFound);
  EXPECT_NE(no_token.error().message.find("token=absent"), std::string::npos);

  const std::string wrong = hsm.dir() + "/wrong-pin";
  SoftHsmToken::WritePinFile(wrong, "not-the-pin");
  auto wrong_pin = TokenKey::Open(Uri(hsm.Uri("master", wrong)), TokenKey::kCreateIfAbsent);
  ASSERT_FALSE(wrong_pin);
  EXPECT_EQ(wrong_pin.error().code, ErrorCode::kPermissionDenied);
  EXPECT_NE(wrong_pin.error().message.find("wrong PIN"), std::string::npos);
  EXPECT_EQ(wrong_pin.error().message.find("not-the-pin"), std::string::npos);

  auto no_pin = TokenKey::Open(
      Uri("pkcs11:token=coffre;object=master?module-path=" + std::string(testing::kSoftHsmModule)),
      TokenKey::kCreateIfAbsent);
  ASSERT_FALSE(no_pin);
  EXPECT_EQ(no_pin.error().code, ErrorCode::kPermissionDenied);
  EXPECT_NE(no_pin.error().message.find("needs a PIN"), std::string::npos);

  auto pin_value = TokenKey::Open(
      Uri("pkcs11:token=coffre;object=master?module-path=" + std::string(testing::kSoftHsmModule) +
          "&pin-value=" + hsm.pin()),
      TokenKey::kCreateIfAbsent);
  ASSERT_FALSE(pin_value);
  EXPECT_EQ(pin_value.error().code, ErrorCode::kInvalidArgument);
}

TEST(TokenKey, AKeyGoneWithItsTokenCannotBeUsed) {
  SoftHsmToken hsm;
  std::string sealed;
  {
    auto key = TokenKey::Open(Uri(hsm.Uri("master")), TokenKey::kCreateIfAbsent);
    ASSERT_TRUE(key) << key.error().message;
    sealed = *(*key)->Seal("sub-key", "aad");
  }
  hsm.DeleteToken();
  auto gone = TokenKey::Open(Uri(hsm.Uri("master")), TokenKey::kOpenExisting);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
  // A new token under the same label holds no such key: never created on open.
  hsm.InitToken();
  auto absent = TokenKey::Open(Uri(hsm.Uri("master")), TokenKey::kOpenExisting);
  ASSERT_FALSE(absent);
  EXPECT_EQ(absent.error().code, ErrorCode::kPermissionDenied);
  // And a key created there under the same name does not open what the old one sealed.
  auto impostor = TokenKey::Open(Uri(hsm.Uri("master")), TokenKey::kCreateIfAbsent);
  ASSERT_TRUE(impostor) << impostor.error().message;
  auto opened = (*impostor)->Open(sealed, "aad", "entry");
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, ErrorCode::kDataLoss);
}

}  // namespace
}  // namespace coffre::crypto
