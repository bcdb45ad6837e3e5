#include "crypto/tls_material.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <memory>
#include <optional>

namespace coffre::crypto {
namespace {

// A small CA for the tests: certificates signed by a given issuer, with
// chosen dates and extensions (OpenSSL's API, as a CA would make them).
struct Issued {
  std::string cert_pem;
  std::string key_pem;
  std::shared_ptr<X509> cert;
  std::shared_ptr<EVP_PKEY> key;
};

struct CertSpec {
  std::string cn;
  bool ca = false;
  int64_t from = -3600;        // seconds from now
  int64_t until = 90 * 86400;  // seconds from now
  const char* eku = "serverAuth";
};

std::string Pem(X509* x) {
  std::unique_ptr<BIO, decltype(&BIO_free)> b(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_X509(b.get(), x);
  char* d = nullptr;
  long n = BIO_get_mem_data(b.get(), &d);
  return std::string(d, static_cast<size_t>(n));
}

void Ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  ASSERT_NE(e, nullptr);
  X509_add_ext(cert, e, -1);
  X509_EXTENSION_free(e);
}

Issued Issue(const CertSpec& spec, const Issued* issuer) {
  Issued out;
  out.key.reset(EVP_EC_gen("P-256"), EVP_PKEY_free);
  out.cert.reset(X509_new(), X509_free);
  X509* c = out.cert.get();
  X509_set_version(c, 2);
  static long serial = 1;
  ASN1_INTEGER_set(X509_get_serialNumber(c), serial++);
  X509_gmtime_adj(X509_getm_notBefore(c), static_cast<long>(spec.from));
  X509_gmtime_adj(X509_getm_notAfter(c), static_cast<long>(spec.until));
  X509_NAME* name = X509_get_subject_name(c);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(spec.cn.c_str()), -1, -1, 0);
  X509* issuer_cert = issuer ? issuer->cert.get() : c;
  X509_set_issuer_name(c, X509_get_subject_name(issuer_cert));
  X509_set_pubkey(c, out.key.get());
  Ext(c, issuer_cert, NID_basic_constraints, spec.ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  Ext(c, issuer_cert, NID_key_usage,
      spec.ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
  if (!spec.ca && spec.eku != nullptr) Ext(c, issuer_cert, NID_ext_key_usage, spec.eku);
  if (!spec.ca) Ext(c, issuer_cert, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
  X509_sign(c, issuer ? issuer->key.get() : out.key.get(), EVP_sha256());
  out.cert_pem = Pem(c);
  std::unique_ptr<BIO, decltype(&BIO_free)> kb(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_PrivateKey(kb.get(), out.key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  char* d = nullptr;
  long n = BIO_get_mem_data(kb.get(), &d);
  out.key_pem.assign(d, static_cast<size_t>(n));
  return out;
}

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// root -> intermediate -> leaf, a private CA's chain.
struct Chain {
  Issued root = Issue({.cn = "coffre test root", .ca = true, .until = 3650 * 86400}, nullptr);
  Issued inter =
      Issue({.cn = "coffre test intermediate", .ca = true, .until = 3650 * 86400}, &root);
  Issued leaf = Issue({.cn = "localhost"}, &inter);
};

std::string ErrorOf(const Result<TlsCertificateInfo>& r) {
  return r ? std::string("accepted") : r.error().message;
}

TEST(ServerCertificate, FullChainWithItsRootOrNamedCaIsAccepted) {
  Chain c;
  // Leaf + intermediate, root named by --ca.
  auto named = CheckServerCertificate(c.leaf.cert_pem + c.inter.cert_pem, c.leaf.key_pem,
                                      {.now = Now(), .ca_pem = c.root.cert_pem});
  ASSERT_TRUE(named) << ErrorOf(named);
  EXPECT_EQ(named->subject, "CN=localhost");
  EXPECT_EQ(named->certificates, 2u);
  EXPECT_TRUE(named->chain_problem.empty());
  EXPECT_EQ(named->fingerprint, *Fingerprint(c.leaf.cert_pem));
  EXPECT_NEAR(static_cast<double>(named->not_after), static_cast<double>(Now() + 90 * 86400), 5);
  // Leaf + intermediate + root: the file's own root is the anchor.
  auto bundled = CheckServerCertificate(c.leaf.cert_pem + c.inter.cert_pem + c.root.cert_pem,
                                        c.leaf.key_pem, {.now = Now()});
  ASSERT_TRUE(bundled) << ErrorOf(bundled);
  // init's self-signed certificate is its own root.
  auto self = GenerateSelfSigned(std::chrono::system_clock::now());
  ASSERT_TRUE(self);
  auto alone = CheckServerCertificate(self->cert_pem, self->key_pem, {.now = Now()});
  ASSERT_TRUE(alone) << ErrorOf(alone);
}

TEST(ServerCertificate, AMissingIntermediateIsNamed) {
  Chain c;
  // cert.pem instead of fullchain.pem: the intermediate is missing.
  auto r = CheckServerCertificate(c.leaf.cert_pem, c.leaf.key_pem,
                                  {.now = Now(), .ca_pem = c.root.cert_pem});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("incomplete"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("CN=coffre test intermediate"), std::string::npos);
  // Without --ca nor a root in the file: the system store does not know it.
  auto unknown =
      CheckServerCertificate(c.leaf.cert_pem + c.inter.cert_pem, c.leaf.key_pem, {.now = Now()});
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("CN=coffre test root"), std::string::npos)
      << unknown.error().message;
  // Another CA named by --ca is not this chain's root.
  Chain other;
  auto wrong = CheckServerCertificate(c.leaf.cert_pem + c.inter.cert_pem, c.leaf.key_pem,
                                      {.now = Now(), .ca_pem = other.root.cert_pem});
  ASSERT_FALSE(wrong);
  // Not required (serve --tls-cert): accepted, the problem reported.
  auto lenient = CheckServerCertificate(c.leaf.cert_pem, c.leaf.key_pem,
                                        {.now = Now(), .require_chain = false});
  ASSERT_TRUE(lenient) << ErrorOf(lenient);
  EXPECT_NE(lenient->chain_problem.find("incomplete"), std::string::npos);
}

TEST(ServerCertificate, DatesKeyAndPurposeAreChecked) {
  Chain c;
  const std::string chain = c.inter.cert_pem + c.root.cert_pem;
  Issued expired = Issue({.cn = "localhost", .from = -10 * 86400, .until = -86400}, &c.inter);
  auto r = CheckServerCertificate(expired.cert_pem + chain, expired.key_pem, {.now = Now()});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("expired on"), std::string::npos) << r.error().message;

  Issued future = Issue({.cn = "localhost", .from = 86400, .until = 10 * 86400}, &c.inter);
  r = CheckServerCertificate(future.cert_pem + chain, future.key_pem, {.now = Now()});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("not valid before"), std::string::npos) << r.error().message;

  // The leaf is fine, the intermediate has expired.
  Issued old_inter =
      Issue({.cn = "old intermediate", .ca = true, .from = -20 * 86400, .until = -86400}, &c.root);
  Issued leaf = Issue({.cn = "localhost"}, &old_inter);
  r = CheckServerCertificate(leaf.cert_pem + old_inter.cert_pem + c.root.cert_pem, leaf.key_pem,
                             {.now = Now()});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("certificate 1 of the chain"), std::string::npos)
      << r.error().message;

  // Another key.
  r = CheckServerCertificate(c.leaf.cert_pem + chain, c.inter.key_pem, {.now = Now()});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("does not match"), std::string::npos);

  // A client certificate is no server certificate.
  Issued client = Issue({.cn = "svc", .eku = "clientAuth"}, &c.inter);
  r = CheckServerCertificate(client.cert_pem + chain, client.key_pem, {.now = Now()});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("not for TLS servers"), std::string::npos) << r.error().message;

  // Garbage.
  r = CheckServerCertificate("hello", c.leaf.key_pem, {.now = Now()});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  // The key's bytes never appear in an error.
  r = CheckServerCertificate(c.leaf.cert_pem + chain, "-----BEGIN PRIVATE KEY-----\nAAAA\n",
                             {.now = Now()});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message.find("AAAA"), std::string::npos);
}

TEST(TlsMaterial, SelfSignedCertificateMatchesItsKeyAndNamesLoopback) {
  auto m = GenerateSelfSigned(std::chrono::system_clock::now());
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_NE(m->cert_pem.find("BEGIN CERTIFICATE"), std::string::npos);
  EXPECT_NE(m->key_pem.find("PRIVATE KEY"), std::string::npos);
  EXPECT_TRUE(CheckPair(m->cert_pem, m->key_pem));

  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(m->cert_pem.data(), static_cast<int>(m->cert_pem.size())), BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free);
  ASSERT_TRUE(cert);
  EXPECT_EQ(X509_check_host(cert.get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "::1", 0), 1);
  EXPECT_NE(X509_check_host(cert.get(), "example.org", 0, 0, nullptr), 1);
  // A leaf that cannot sign other certificates (review finding 15).
  EXPECT_EQ(X509_check_ca(cert.get()), 0);
  EXPECT_EQ(X509_get_key_usage(cert.get()) & KU_KEY_CERT_SIGN, 0u);
  // Self-signed: its own key verifies it.
  EVP_PKEY* pub = X509_get0_pubkey(cert.get());
  EXPECT_EQ(X509_verify(cert.get(), pub), 1);
}

TEST(TlsMaterial, MismatchedOrGarbagePairsAreRefused) {
  auto a = GenerateSelfSigned(std::chrono::system_clock::now());
  auto b = GenerateSelfSigned(std::chrono::system_clock::now());
  ASSERT_TRUE(a && b);
  auto mixed = CheckPair(a->cert_pem, b->key_pem);
  ASSERT_FALSE(mixed);
  EXPECT_EQ(mixed.error().code, ErrorCode::kInvalidArgument);
  EXPECT_FALSE(CheckPair("not a pem", a->key_pem));
  EXPECT_FALSE(CheckPair(a->cert_pem, "not a key"));
  auto fp = Fingerprint(a->cert_pem);
  ASSERT_TRUE(fp);
  EXPECT_EQ(fp->size(), 32u * 3 - 1);
}

TEST(ClientCertificate, ChainVerifiesToTheNamedCaOnlyForClientsAndInTime) {
  Chain c;
  Issued client = Issue({.cn = "billing", .eku = "clientAuth"}, &c.inter);
  const std::string sent = client.cert_pem + c.inter.cert_pem;
  EXPECT_TRUE(VerifyClientChain(sent, c.root.cert_pem, Now()));
  // The intermediate alone as the anchor (partial chain) is enough.
  EXPECT_TRUE(VerifyClientChain(client.cert_pem, c.inter.cert_pem, Now()));
  Chain other;
  auto wrong = VerifyClientChain(sent, other.root.cert_pem, Now());
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, ErrorCode::kUnauthenticated);
  // Without the intermediate it sent, the chain breaks.
  EXPECT_FALSE(VerifyClientChain(client.cert_pem, c.root.cert_pem, Now()));
  // After its notAfter.
  EXPECT_FALSE(VerifyClientChain(sent, c.root.cert_pem, Now() + 91 * 86400));
  // A server certificate is no client certificate.
  EXPECT_FALSE(VerifyClientChain(c.leaf.cert_pem + c.inter.cert_pem, c.root.cert_pem, Now()));
  EXPECT_FALSE(VerifyClientChain("", c.root.cert_pem, Now()));
}

TEST(ClientCertificate, FingerprintsAreNormalised) {
  const std::string hex(64, 'a');
  std::string colons;
  for (size_t i = 0; i < 64; i += 2) colons += (i ? ":" : "") + std::string("AA");
  EXPECT_EQ(*NormalizeFingerprint(colons), hex);
  EXPECT_EQ(*NormalizeFingerprint(hex), hex);
  EXPECT_FALSE(NormalizeFingerprint(hex.substr(1)));
  EXPECT_FALSE(NormalizeFingerprint(hex.substr(1) + "g"));
  EXPECT_FALSE(NormalizeFingerprint(""));
  EXPECT_TRUE(CheckCaCertificates(Chain().root.cert_pem));
  EXPECT_FALSE(CheckCaCertificates("nothing"));
}

}  // namespace
}  // namespace coffre::crypto
