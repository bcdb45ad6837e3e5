#include "server/tls_material.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

namespace coffre::server {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct ExtFree {
  void operator()(X509_EXTENSION* e) const { X509_EXTENSION_free(e); }
};
using Bio = std::unique_ptr<BIO, BioFree>;
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using Cert = std::unique_ptr<X509, X509Free>;

std::string BioText(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, n > 0 ? static_cast<size_t>(n) : 0);
}

Status AddExtension(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  std::unique_ptr<X509_EXTENSION, ExtFree> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return Fail(ErrorCode::kInternal, "cannot add a certificate extension");
  }
  return Ok();
}

Result<Cert> ParseCert(const std::string& pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Cert cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!cert)
    return Fail(ErrorCode::kInvalidArgument, "the TLS certificate is not a PEM X.509 certificate");
  return cert;
}

}  // namespace

Result<TlsMaterial> GenerateSelfSigned(std::chrono::system_clock::time_point now) {
  Pkey key(EVP_EC_gen("P-256"));
  if (!key) return Fail(ErrorCode::kInternal, "cannot generate a TLS key");
  Cert cert(X509_new());
  if (!cert) return Fail(ErrorCode::kInternal, "cannot allocate a certificate");
  X509_set_version(cert.get(), 2);  // v3
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1)
    return Fail(ErrorCode::kInternal, "no randomness for a serial");
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  ASN1_INTEGER* asn_serial =
      bn ? BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get())) : nullptr;
  BN_free(bn);
  if (asn_serial == nullptr) return Fail(ErrorCode::kInternal, "cannot set a certificate serial");

  time_t t = std::chrono::system_clock::to_time_t(now);
  if (X509_time_adj_ex(X509_getm_notBefore(cert.get()), 0, -300, &t) == nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(cert.get()), 397, 0, &t) == nullptr) {
    return Fail(ErrorCode::kInternal, "cannot set the certificate validity");
  }
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("coffre"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509_set_pubkey(cert.get(), key.get());
  COFFRE_TRY(AddExtension(cert.get(), NID_subject_alt_name,
                          "DNS:localhost,IP:127.0.0.1,IP:0:0:0:0:0:0:0:1"));
  // A leaf, not a CA: a client that trusts it (curl --cacert, or a system
  // trust store) must not thereby trust other certificates signed with the
  // vault's TLS key.
  COFFRE_TRY(AddExtension(cert.get(), NID_basic_constraints, "critical,CA:FALSE"));
  COFFRE_TRY(AddExtension(cert.get(), NID_key_usage, "critical,digitalSignature"));
  COFFRE_TRY(AddExtension(cert.get(), NID_ext_key_usage, "serverAuth"));
  COFFRE_TRY(AddExtension(cert.get(), NID_subject_key_identifier, "hash"));
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
    return Fail(ErrorCode::kInternal, "cannot sign the certificate");
  }

  Bio cert_bio(BIO_new(BIO_s_mem()));
  Bio key_bio(BIO_new(BIO_s_mem()));
  if (!cert_bio || !key_bio || PEM_write_bio_X509(cert_bio.get(), cert.get()) != 1 ||
      PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
          1) {
    return Fail(ErrorCode::kInternal, "cannot encode the certificate");
  }
  TlsMaterial m;
  m.cert_pem = BioText(cert_bio.get());
  m.key_pem = BioText(key_bio.get());
  // The memory BIO held the key in clear.
  BUF_MEM* mem = nullptr;
  BIO_get_mem_ptr(key_bio.get(), &mem);
  if (mem != nullptr && mem->data != nullptr) OPENSSL_cleanse(mem->data, mem->length);
  return m;
}

Status CheckPair(const std::string& cert_pem, const std::string& key_pem) {
  COFFRE_ASSIGN_OR_RETURN(Cert cert, ParseCert(cert_pem));
  Bio bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  Pkey key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!key)
    return Fail(ErrorCode::kInvalidArgument,
                "the TLS key is not a PEM private key (encrypted keys are not supported)");
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    return Fail(ErrorCode::kInvalidArgument, "the TLS key does not match the certificate");
  }
  return Ok();
}

Result<std::string> Fingerprint(const std::string& cert_pem) {
  COFFRE_ASSIGN_OR_RETURN(Cert cert, ParseCert(cert_pem));
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (X509_digest(cert.get(), EVP_sha256(), md, &n) != 1) {
    return Fail(ErrorCode::kInternal, "cannot hash the certificate");
  }
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < n; ++i) {
    if (i) out += ':';
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

}  // namespace coffre::server
