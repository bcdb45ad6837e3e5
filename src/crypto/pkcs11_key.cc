#include "crypto/pkcs11_key.h"

#include <dlfcn.h>
#include <p11-kit/pkcs11.h>

#include <cstdio>
#include <map>
#include <mutex>

#include "crypto/crypto.h"

namespace coffre::crypto {
namespace {

constexpr size_t kGcmNonceBytes = 12;
constexpr size_t kGcmTagBytes = 16;
constexpr CK_ULONG kAesKeyBytes = 32;

std::string RvName(CK_RV rv) {
  switch (rv) {
    case CKR_GENERAL_ERROR:
      return "CKR_GENERAL_ERROR";
    case CKR_DEVICE_ERROR:
      return "CKR_DEVICE_ERROR";
    case CKR_DEVICE_REMOVED:
      return "CKR_DEVICE_REMOVED";
    case CKR_TOKEN_NOT_PRESENT:
      return "CKR_TOKEN_NOT_PRESENT";
    case CKR_MECHANISM_INVALID:
      return "CKR_MECHANISM_INVALID (the token does not do AES-GCM)";
    case CKR_MECHANISM_PARAM_INVALID:
      return "CKR_MECHANISM_PARAM_INVALID";
    case CKR_KEY_FUNCTION_NOT_PERMITTED:
      return "CKR_KEY_FUNCTION_NOT_PERMITTED";
    case CKR_USER_NOT_LOGGED_IN:
      return "CKR_USER_NOT_LOGGED_IN";
    case CKR_SESSION_HANDLE_INVALID:
      return "CKR_SESSION_HANDLE_INVALID";
    case CKR_TEMPLATE_INCONSISTENT:
      return "CKR_TEMPLATE_INCONSISTENT";
    case CKR_ATTRIBUTE_VALUE_INVALID:
      return "CKR_ATTRIBUTE_VALUE_INVALID";
    default: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "CKR 0x%08lx", static_cast<unsigned long>(rv));
      return buf;
    }
  }
}

Error TokenError(std::string_view what, CK_RV rv) {
  return Error{ErrorCode::kInternal, "PKCS#11: " + std::string(what) + " failed: " + RvName(rv)};
}

// One loaded and initialised module, shared by the keys that use it.
struct Module {
  std::string path;
  void* handle = nullptr;
  CK_FUNCTION_LIST_PTR f = nullptr;
  bool finalize = false;  // false when someone else in the process initialised it
};

std::mutex g_modules_mu;
std::map<std::string, std::weak_ptr<Module>>& Modules() {
  static auto* modules = new std::map<std::string, std::weak_ptr<Module>>();
  return *modules;
}

void Unload(Module* m) {
  std::lock_guard lock(g_modules_mu);
  if (m->finalize) (void)m->f->C_Finalize(nullptr);
  if (m->handle != nullptr) ::dlclose(m->handle);
  auto& modules = Modules();
  if (auto it = modules.find(m->path); it != modules.end() && it->second.expired()) {
    modules.erase(it);
  }
  delete m;
}

Result<std::shared_ptr<Module>> LoadModule(const std::string& path) {
  std::lock_guard lock(g_modules_mu);
  auto& modules = Modules();
  if (auto it = modules.find(path); it != modules.end()) {
    if (auto m = it->second.lock()) return m;
  }
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = ::dlerror();
    return Fail(ErrorCode::kNotFound, "cannot load the PKCS#11 module " + path + ": " +
                                          (why != nullptr ? why : "unknown error"));
  }
  auto get = reinterpret_cast<CK_C_GetFunctionList>(::dlsym(handle, "C_GetFunctionList"));
  CK_FUNCTION_LIST_PTR f = nullptr;
  if (get == nullptr || get(&f) != CKR_OK || f == nullptr) {
    ::dlclose(handle);
    return Fail(ErrorCode::kInvalidArgument,
                "the PKCS#11 module " + path + " has no usable C_GetFunctionList");
  }
  CK_C_INITIALIZE_ARGS args{};
  args.flags = CKF_OS_LOCKING_OK;
  CK_RV rv = f->C_Initialize(&args);
  if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
    ::dlclose(handle);
    return Fail(TokenError("C_Initialize of " + path, rv));
  }
  std::shared_ptr<Module> m(new Module{path, handle, f, rv == CKR_OK}, Unload);
  modules[path] = m;
  return m;
}

// A fixed-width, blank-padded token info field equals `want`.
template <size_t N>
bool FieldIs(const unsigned char (&field)[N], const std::string& want) {
  size_t len = N;
  while (len > 0 && field[len - 1] == ' ') --len;
  return want == std::string_view(reinterpret_cast<const char*>(field), len);
}

bool TokenMatches(const CK_TOKEN_INFO& info, const Pkcs11Uri& uri) {
  if ((info.flags & CKF_TOKEN_INITIALIZED) == 0) return false;
  if (uri.token && !FieldIs(info.label, *uri.token)) return false;
  if (uri.manufacturer && !FieldIs(info.manufacturerID, *uri.manufacturer)) return false;
  if (uri.model && !FieldIs(info.model, *uri.model)) return false;
  if (uri.serial && !FieldIs(info.serialNumber, *uri.serial)) return false;
  return true;
}

CK_BYTE_PTR Bytes(std::string_view s) {
  // PKCS#11 takes non-const pointers to input it does not modify.
  return reinterpret_cast<CK_BYTE_PTR>(const_cast<char*>(s.data()));
}

}  // namespace

struct TokenKey::Session {
  std::shared_ptr<Module> module;
  CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
  CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;

  CK_FUNCTION_LIST_PTR f() const { return module->f; }
  ~Session() {
    // Closing the process's last session on the token logs it out; an
    // explicit C_Logout would also log out another key's session.
    if (h != CK_INVALID_HANDLE) (void)module->f->C_CloseSession(h);
  }
};

TokenKey::TokenKey(Pkcs11Uri uri, std::unique_ptr<Session> session)
    : uri_(std::move(uri)), s_(std::move(session)) {}
TokenKey::~TokenKey() = default;

Result<std::unique_ptr<TokenKey>> TokenKey::Open(const Pkcs11Uri& uri, Mode mode, bool* created) {
  if (created != nullptr) *created = false;
  COFFRE_TRY(Init());
  COFFRE_TRY(CheckMasterKeyUri(uri));
  auto s = std::make_unique<Session>();
  COFFRE_ASSIGN_OR_RETURN(s->module, LoadModule(*uri.module_path));
  CK_FUNCTION_LIST_PTR f = s->f();
  const std::string name = uri.Identity();

  // The token.
  CK_ULONG count = 0;
  CK_RV rv = f->C_GetSlotList(CK_TRUE, nullptr, &count);
  if (rv != CKR_OK) return Fail(TokenError("C_GetSlotList", rv));
  std::vector<CK_SLOT_ID> slots(count);
  if (count > 0) {
    rv = f->C_GetSlotList(CK_TRUE, slots.data(), &count);
    if (rv != CKR_OK) return Fail(TokenError("C_GetSlotList", rv));
    slots.resize(count);
  }
  std::vector<CK_SLOT_ID> matching;
  CK_TOKEN_INFO token{};
  for (CK_SLOT_ID slot : slots) {
    CK_TOKEN_INFO info{};
    if (f->C_GetTokenInfo(slot, &info) != CKR_OK || !TokenMatches(info, uri)) continue;
    matching.push_back(slot);
    token = info;
  }
  if (matching.empty()) {
    return Fail(ErrorCode::kNotFound, "no PKCS#11 token matches " + name + " in module " +
                                          *uri.module_path + " (is it plugged in, initialised?)");
  }
  if (matching.size() > 1) {
    return Fail(ErrorCode::kInvalidArgument, std::to_string(matching.size()) +
                                                 " PKCS#11 tokens match " + name +
                                                 "; name one with token=, serial= or model=");
  }
  rv = f->C_OpenSession(matching[0], CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &s->h);
  if (rv != CKR_OK) {
    s->h = CK_INVALID_HANDLE;
    return Fail(TokenError("C_OpenSession", rv));
  }

  // The login.
  if ((token.flags & CKF_LOGIN_REQUIRED) != 0) {
    COFFRE_ASSIGN_OR_RETURN(std::optional<std::string> pin, ReadPin(uri));
    if (!pin) {
      return Fail(ErrorCode::kPermissionDenied,
                  "the PKCS#11 token of " + name +
                      " needs a PIN: add pin-source=file:/path/to/pin to the URI");
    }
    rv = f->C_Login(s->h, CKU_USER, Bytes(*pin), pin->size());
    Wipe(pin->data(), pin->size());
    if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LEN_RANGE) {
      return Fail(ErrorCode::kPermissionDenied,
                  "wrong PIN for the PKCS#11 token of " + name + " (pin-source)");
    }
    if (rv == CKR_PIN_LOCKED) {
      return Fail(ErrorCode::kPermissionDenied,
                  "the user PIN of the PKCS#11 token of " + name + " is locked");
    }
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) return Fail(TokenError("C_Login", rv));
  }

  // The key.
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  std::vector<CK_ATTRIBUTE> find{{CKA_CLASS, &cls, sizeof cls}};
  if (uri.object) find.push_back({CKA_LABEL, Bytes(*uri.object), uri.object->size()});
  if (uri.id) find.push_back({CKA_ID, Bytes(*uri.id), uri.id->size()});
  rv = f->C_FindObjectsInit(s->h, find.data(), find.size());
  if (rv != CKR_OK) return Fail(TokenError("C_FindObjectsInit", rv));
  CK_OBJECT_HANDLE found[2];
  CK_ULONG n = 0;
  rv = f->C_FindObjects(s->h, found, 2, &n);
  (void)f->C_FindObjectsFinal(s->h);
  if (rv != CKR_OK) return Fail(TokenError("C_FindObjects", rv));
  if (n > 1) {
    return Fail(ErrorCode::kInvalidArgument,
                "more than one secret key in the token matches " + name + "; add id= to the URI");
  }
  if (n == 1) {
    s->key = found[0];
  } else if (mode == kOpenExisting) {
    return Fail(ErrorCode::kPermissionDenied,
                "the PKCS#11 token has no key " + name +
                    " (removed, or another token with the same label?); the vault cannot be "
                    "opened without it");
  } else {
    CK_KEY_TYPE type = CKK_AES;
    CK_ULONG len = kAesKeyBytes;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    std::vector<CK_ATTRIBUTE> tmpl{
        {CKA_CLASS, &cls, sizeof cls},     {CKA_KEY_TYPE, &type, sizeof type},
        {CKA_VALUE_LEN, &len, sizeof len}, {CKA_TOKEN, &yes, sizeof yes},
        {CKA_PRIVATE, &yes, sizeof yes},   {CKA_SENSITIVE, &yes, sizeof yes},
        {CKA_EXTRACTABLE, &no, sizeof no}, {CKA_ENCRYPT, &yes, sizeof yes},
        {CKA_DECRYPT, &yes, sizeof yes},   {CKA_WRAP, &no, sizeof no},
        {CKA_UNWRAP, &no, sizeof no},      {CKA_SIGN, &no, sizeof no},
        {CKA_VERIFY, &no, sizeof no},      {CKA_DERIVE, &no, sizeof no},
    };
    if (uri.object) tmpl.push_back({CKA_LABEL, Bytes(*uri.object), uri.object->size()});
    if (uri.id) tmpl.push_back({CKA_ID, Bytes(*uri.id), uri.id->size()});
    CK_MECHANISM gen{CKM_AES_KEY_GEN, nullptr, 0};
    rv = f->C_GenerateKey(s->h, &gen, tmpl.data(), tmpl.size(), &s->key);
    if (rv != CKR_OK) return Fail(TokenError("C_GenerateKey (AES-256, in the token)", rv));
    if (created != nullptr) *created = true;
  }

  std::unique_ptr<TokenKey> key(new TokenKey(uri, std::move(s)));
  COFFRE_ASSIGN_OR_RETURN(Attributes a, key->attributes());
  if (!a.sensitive || a.extractable) {
    return Fail(ErrorCode::kPermissionDenied,
                "the PKCS#11 key " + name +
                    " can leave the token (CKA_SENSITIVE false or CKA_EXTRACTABLE true); coffre "
                    "uses only a sensitive, non-extractable key");
  }
  if (a.value_len != kAesKeyBytes) {
    return Fail(ErrorCode::kInvalidArgument, "the PKCS#11 key " + name +
                                                 " is not an AES-256 key (32 bytes, " +
                                                 std::to_string(a.value_len) + " here)");
  }
  return key;
}

Result<TokenKey::Attributes> TokenKey::attributes() {
  CK_KEY_TYPE type = 0;
  CK_BBOOL sensitive = CK_FALSE, extractable = CK_TRUE, token = CK_FALSE;
  CK_BBOOL always = CK_FALSE, never = CK_FALSE;
  CK_ULONG len = 0;
  CK_ATTRIBUTE t[] = {
      {CKA_KEY_TYPE, &type, sizeof type},
      {CKA_SENSITIVE, &sensitive, sizeof sensitive},
      {CKA_EXTRACTABLE, &extractable, sizeof extractable},
      {CKA_TOKEN, &token, sizeof token},
      {CKA_ALWAYS_SENSITIVE, &always, sizeof always},
      {CKA_NEVER_EXTRACTABLE, &never, sizeof never},
      {CKA_VALUE_LEN, &len, sizeof len},
  };
  CK_RV rv = s_->f()->C_GetAttributeValue(s_->h, s_->key, t, sizeof t / sizeof t[0]);
  if (rv != CKR_OK) return Fail(TokenError("C_GetAttributeValue", rv));
  if (type != CKK_AES) {
    return Fail(ErrorCode::kInvalidArgument,
                "the PKCS#11 key " + uri_.Identity() + " is not an AES key");
  }
  return Attributes{sensitive == CK_TRUE, extractable == CK_TRUE, token == CK_TRUE,
                    always == CK_TRUE,    never == CK_TRUE,       len};
}

namespace {

// AES-GCM in the token with coffre's nonce (kGcmNonceBytes at `iv`), `aad`
// and a kGcmTagBytes tag: one definition for sealing and opening.
CK_GCM_PARAMS GcmParams(CK_BYTE_PTR iv, std::string_view aad) {
  CK_GCM_PARAMS p{};
  p.pIv = iv;
  p.ulIvLen = kGcmNonceBytes;
  p.ulIvBits = kGcmNonceBytes * 8;
  p.pAAD = Bytes(aad);
  p.ulAADLen = aad.size();
  p.ulTagBits = kGcmTagBytes * 8;
  return p;
}

}  // namespace

Result<std::string> TokenKey::Seal(std::string_view plaintext, std::string_view aad) {
  std::string out = RandomString(kGcmNonceBytes);
  CK_GCM_PARAMS p = GcmParams(Bytes(out), aad);
  CK_MECHANISM m{CKM_AES_GCM, &p, sizeof p};
  CK_FUNCTION_LIST_PTR f = s_->f();
  CK_RV rv = f->C_EncryptInit(s_->h, &m, s_->key);
  if (rv != CKR_OK) return Fail(TokenError("C_EncryptInit (AES-GCM)", rv));
  CK_ULONG len = 0;
  rv = f->C_Encrypt(s_->h, Bytes(plaintext), plaintext.size(), nullptr, &len);
  if (rv != CKR_OK) return Fail(TokenError("C_Encrypt", rv));
  out.resize(kGcmNonceBytes + len);
  p.pIv = Bytes(out);  // resize may have moved the nonce
  rv = f->C_Encrypt(s_->h, Bytes(plaintext), plaintext.size(),
                    reinterpret_cast<CK_BYTE_PTR>(out.data() + kGcmNonceBytes), &len);
  if (rv != CKR_OK) return Fail(TokenError("C_Encrypt", rv));
  out.resize(kGcmNonceBytes + len);
  if (len != plaintext.size() + kGcmTagBytes) {
    return Fail(ErrorCode::kInternal, "PKCS#11: AES-GCM returned an unexpected length");
  }
  return out;
}

Result<std::string> TokenKey::Open(std::string_view sealed, std::string_view aad,
                                   std::string_view what) {
  if (sealed.size() < kGcmNonceBytes + kGcmTagBytes) {
    return Fail(ErrorCode::kDataLoss, std::string(what) + " is truncated");
  }
  std::string nonce(sealed.substr(0, kGcmNonceBytes));
  std::string_view ct = sealed.substr(kGcmNonceBytes);
  CK_GCM_PARAMS p = GcmParams(Bytes(nonce), aad);
  CK_MECHANISM m{CKM_AES_GCM, &p, sizeof p};
  CK_FUNCTION_LIST_PTR f = s_->f();
  CK_RV rv = f->C_DecryptInit(s_->h, &m, s_->key);
  if (rv != CKR_OK) return Fail(TokenError("C_DecryptInit (AES-GCM)", rv));
  // Room for the whole input: no size query, so that a failure cannot leave
  // the operation active.
  std::string out(ct.size(), '\0');
  CK_ULONG len = out.size();
  rv = f->C_Decrypt(s_->h, Bytes(ct), ct.size(), reinterpret_cast<CK_BYTE_PTR>(out.data()), &len);
  if (rv == CKR_BUFFER_TOO_SMALL) {
    // Never for GCM (the plaintext is shorter); end the operation anyway.
    std::string big(len, '\0');
    (void)f->C_Decrypt(s_->h, Bytes(ct), ct.size(), reinterpret_cast<CK_BYTE_PTR>(big.data()),
                       &len);
    Wipe(big.data(), big.size());
    return Fail(ErrorCode::kInternal, "PKCS#11: AES-GCM asked for an unexpected length");
  }
  if (rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_ENCRYPTED_DATA_LEN_RANGE ||
      rv == CKR_GENERAL_ERROR || rv == CKR_FUNCTION_FAILED) {
    // What tokens answer when the tag does not verify.
    return Fail(ErrorCode::kDataLoss, std::string(what) + " does not open (wrong key or damaged)");
  }
  if (rv != CKR_OK) return Fail(TokenError("C_Decrypt", rv));
  if (len != ct.size() - kGcmTagBytes) {
    Wipe(out.data(), out.size());
    return Fail(ErrorCode::kInternal, "PKCS#11: AES-GCM returned an unexpected length");
  }
  out.resize(len);
  return out;
}

}  // namespace coffre::crypto
