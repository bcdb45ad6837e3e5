#include "crypto/tls_material.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <memory>
#include <vector>

namespace coffre::crypto {
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

struct StoreFree {
  void operator()(X509_STORE* s) const { X509_STORE_free(s); }
};
struct StoreCtxFree {
  void operator()(X509_STORE_CTX* c) const { X509_STORE_CTX_free(c); }
};
struct StackFree {
  void operator()(STACK_OF(X509) * s) const { sk_X509_free(s); }
};

// Every certificate of a PEM text, in order; none if it holds none.
std::vector<Cert> ParseAll(const std::string& pem) {
  std::vector<Cert> out;
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return out;
  while (X509* c = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(c);
  ERR_clear_error();  // the end of the text reads as an error
  return out;
}

std::string NameText(const X509_NAME* name) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) return "?";
  return BioText(bio.get());
}

int64_t UnixTime(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return static_cast<int64_t>(::timegm(&tm));
}

// Issued by its own key (whatever its key usage says: init's certificate
// is a leaf that signs nothing else).
bool SelfSigned(X509* c) {
  return X509_NAME_cmp(X509_get_subject_name(c), X509_get_issuer_name(c)) == 0 &&
         X509_verify(c, X509_get0_pubkey(c)) == 1;
}

// Why X509_verify_cert refused the chain, for an operator.
std::string ChainProblem(X509_STORE_CTX* ctx, bool own_anchors) {
  const int err = X509_STORE_CTX_get_error(ctx);
  const int depth = X509_STORE_CTX_get_error_depth(ctx);
  X509* at = X509_STORE_CTX_get_current_cert(ctx);
  const std::string which =
      depth == 0 ? "the certificate" : "certificate " + std::to_string(depth) + " of the chain";
  const std::string subject = at != nullptr ? NameText(X509_get_subject_name(at)) : "?";
  switch (err) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
      return "the certificate chain is incomplete: no certificate in the file or " +
             std::string(own_anchors ? "--ca" : "the system trust store") + " is the issuer '" +
             (at != nullptr ? NameText(X509_get_issuer_name(at)) : "?") + "' of " + which +
             " (give the leaf followed by its intermediates, as certbot's fullchain.pem" +
             (own_anchors ? ")" : ", or name a private root with --ca)");
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return which + " ('" + subject + "') has expired";
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return which + " ('" + subject + "') is not valid yet";
    case X509_V_ERR_INVALID_PURPOSE:
      return which + " ('" + subject + "') is not for TLS servers (its key usage)";
    case X509_V_ERR_INVALID_CA:
    case X509_V_ERR_KEYUSAGE_NO_CERTSIGN:
      return which + " ('" + subject + "') is not a CA and cannot issue the one before it";
    default:
      return "the certificate chain does not verify at " + which + ": " +
             X509_verify_cert_error_string(err);
  }
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

Result<std::string> NormalizeFingerprint(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == ':') continue;
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return Fail(ErrorCode::kInvalidArgument,
                  "a certificate fingerprint is 64 hexadecimal digits (SHA-256)");
    }
    out += c;
  }
  if (out.size() != 64) {
    return Fail(ErrorCode::kInvalidArgument,
                "a certificate fingerprint is 64 hexadecimal digits (SHA-256)");
  }
  return out;
}

Status CheckCaCertificates(const std::string& ca_pem) {
  if (ParseAll(ca_pem).empty())
    return Fail(ErrorCode::kInvalidArgument, "the CA file holds no PEM X.509 certificate");
  if (ca_pem.find("PRIVATE KEY") != std::string::npos)
    return Fail(ErrorCode::kInvalidArgument,
                "the CA file holds a private key: give certificates only");
  return Ok();
}

Status VerifyClientChain(const std::string& chain_pem, const std::string& ca_pem, int64_t now) {
  std::vector<Cert> chain = ParseAll(chain_pem);
  std::vector<Cert> anchors = ParseAll(ca_pem);
  if (chain.empty() || anchors.empty())
    return Fail(ErrorCode::kUnauthenticated, "no client certificate chain to verify");
  std::unique_ptr<X509_STORE, StoreFree> store(X509_STORE_new());
  std::unique_ptr<STACK_OF(X509), StackFree> untrusted(sk_X509_new_null());
  std::unique_ptr<X509_STORE_CTX, StoreCtxFree> ctx(X509_STORE_CTX_new());
  if (!store || !untrusted || !ctx) return Fail(ErrorCode::kInternal, "cannot verify the chain");
  for (auto& a : anchors) {
    if (X509_STORE_add_cert(store.get(), a.get()) != 1)
      return Fail(ErrorCode::kInternal, "cannot use a CA certificate");
  }
  for (size_t i = 1; i < chain.size(); ++i) sk_X509_push(untrusted.get(), chain[i].get());
  if (X509_STORE_CTX_init(ctx.get(), store.get(), chain.front().get(), untrusted.get()) != 1)
    return Fail(ErrorCode::kInternal, "cannot verify the chain");
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_CLIENT);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(now));
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN);
  if (X509_verify_cert(ctx.get()) != 1) {
    const int err = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    return Fail(ErrorCode::kUnauthenticated,
                std::string("the client certificate does not verify: ") +
                    X509_verify_cert_error_string(err));
  }
  return Ok();
}

std::string FormatUtc(int64_t unix_seconds) {
  const time_t t = static_cast<time_t>(unix_seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Result<TlsCertificateInfo> InspectCertificate(const std::string& cert_pem) {
  std::vector<Cert> chain = ParseAll(cert_pem);
  if (chain.empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                "the TLS certificate file holds no PEM X.509 certificate");
  }
  X509* leaf = chain.front().get();
  TlsCertificateInfo info;
  info.subject = NameText(X509_get_subject_name(leaf));
  COFFRE_ASSIGN_OR_RETURN(info.fingerprint, Fingerprint(cert_pem));
  info.not_before = UnixTime(X509_get0_notBefore(leaf));
  info.not_after = UnixTime(X509_get0_notAfter(leaf));
  info.certificates = chain.size();
  return info;
}

Result<TlsCertificateInfo> CheckServerCertificate(const std::string& cert_pem,
                                                  const std::string& key_pem,
                                                  const TlsCheckOptions& options) {
  std::vector<Cert> chain = ParseAll(cert_pem);
  if (chain.empty()) {
    return Fail(ErrorCode::kInvalidArgument,
                "the TLS certificate file holds no PEM X.509 certificate");
  }
  COFFRE_TRY(CheckPair(cert_pem, key_pem));  // the first certificate is the leaf
  X509* leaf = chain.front().get();
  COFFRE_ASSIGN_OR_RETURN(TlsCertificateInfo info, InspectCertificate(cert_pem));
  if (options.now >= info.not_after) {
    return Fail(ErrorCode::kInvalidArgument,
                "the TLS certificate expired on " + FormatUtc(info.not_after));
  }
  if (options.now < info.not_before) {
    return Fail(ErrorCode::kInvalidArgument,
                "the TLS certificate is not valid before " + FormatUtc(info.not_before));
  }

  std::unique_ptr<X509_STORE, StoreFree> store(X509_STORE_new());
  std::unique_ptr<STACK_OF(X509), StackFree> untrusted(sk_X509_new_null());
  if (!store || !untrusted) return Fail(ErrorCode::kInternal, "cannot verify the chain");
  const bool own_anchors = !options.ca_pem.empty();
  if (own_anchors) {
    std::vector<Cert> anchors = ParseAll(options.ca_pem);
    if (anchors.empty())
      return Fail(ErrorCode::kInvalidArgument, "--ca holds no PEM X.509 certificate");
    for (auto& a : anchors) {
      if (X509_STORE_add_cert(store.get(), a.get()) != 1)
        return Fail(ErrorCode::kInternal, "cannot use a --ca certificate");
    }
  } else {
    if (X509_STORE_set_default_paths(store.get()) != 1) ERR_clear_error();
    // The file's own root, if it ends with one (a private CA's bundle, or
    // a self-signed certificate alone).
    if (SelfSigned(chain.back().get()) &&
        X509_STORE_add_cert(store.get(), chain.back().get()) != 1) {
      return Fail(ErrorCode::kInternal, "cannot use the file's root certificate");
    }
  }
  for (size_t i = 1; i < chain.size(); ++i) sk_X509_push(untrusted.get(), chain[i].get());
  std::unique_ptr<X509_STORE_CTX, StoreCtxFree> ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store.get(), leaf, untrusted.get()) != 1)
    return Fail(ErrorCode::kInternal, "cannot verify the chain");
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_SERVER);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(options.now));
  // An anchor is whatever certificate the store holds (a self-signed leaf,
  // an intermediate named by --ca), not only a self-signed CA.
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN);
  if (X509_verify_cert(ctx.get()) != 1) {
    info.chain_problem = ChainProblem(ctx.get(), own_anchors);
    ERR_clear_error();
    if (options.require_chain) return Fail(ErrorCode::kInvalidArgument, info.chain_problem);
  }
  return info;
}

}  // namespace coffre::crypto
