#include "server/tls_material.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <memory>

namespace coffre::server {
namespace {

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

}  // namespace
}  // namespace coffre::server
