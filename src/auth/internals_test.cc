// Tests of auth's internal pieces that the Directory tests reach only
// partly: the throttle's bound, the session table's caps, token shapes,
// UTF-8 decoding and record encodings.
#include <gtest/gtest.h>

#include "auth/internal/records.h"
#include "auth/internal/session_table.h"
#include "auth/internal/source_throttle.h"
#include "auth/internal/tokens.h"
#include "crypto/crypto.h"

namespace coffre::auth::internal {
namespace {

TEST(SourceThrottle, BurstThenOnePerRefill) {
  SourceThrottle t(3, 10, 100);
  EXPECT_EQ(t.Admit("a", 1000), 0);
  EXPECT_EQ(t.Admit("a", 1000), 0);
  EXPECT_EQ(t.Admit("a", 1000), 0);
  EXPECT_EQ(t.Admit("a", 1000), 10);
  EXPECT_EQ(t.Admit("a", 1004), 6);
  EXPECT_EQ(t.Admit("b", 1004), 0);  // sources are independent
  EXPECT_EQ(t.Admit("a", 1010), 0);
  EXPECT_EQ(t.Admit("a", 1010), 10);
  // A refunded (successful) attempt costs nothing.
  t.Refund("a");
  EXPECT_EQ(t.Admit("a", 1010), 0);
  // After a long quiet spell the whole burst is back, not more.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(t.Admit("a", 5000), 0) << i;
  EXPECT_GT(t.Admit("a", 5000), 0);
}

TEST(SourceThrottle, StaysBounded) {
  SourceThrottle t(2, 60, 4);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(t.Admit("src" + std::to_string(i), 1000 + i), 0);
    EXPECT_LE(t.TrackedForTest(), 4u);
  }
  // A source with debt outlives the quiet ones when room is needed.
  SourceThrottle u(1, 60, 2);
  EXPECT_EQ(u.Admit("busy", 1000), 0);
  EXPECT_EQ(u.Admit("busy", 1000), 60);
  EXPECT_EQ(u.Admit("quiet", 1000), 0);
  EXPECT_EQ(u.Admit("new", 1000), 0);  // evicts the least indebted
  EXPECT_GT(u.Admit("busy", 1000), 0);
}

class SessionTableTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(crypto::Init()); }
};

TEST_F(SessionTableTest, CapsPerPrincipalAndInAll) {
  SessionTable table(
      {.idle_seconds = 100, .absolute_seconds = 1000, .max_sessions = 3, .max_per_principal = 2});
  auto a1 = table.Create("alice", 0);
  auto a2 = table.Create("alice", 1);
  auto a3 = table.Create("alice", 2);  // drops a1, the oldest
  ASSERT_TRUE(a1 && a2 && a3);
  EXPECT_FALSE(table.Touch(a1->token, 3));
  EXPECT_EQ(*table.Touch(a2->token, 3), "alice");
  EXPECT_EQ(*table.Touch(a3->token, 3), "alice");
  ASSERT_TRUE(table.Create("bob", 3));
  auto full = table.Create("carol", 3);
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, ErrorCode::kResourceExhausted);
  // Expired sessions make room.
  EXPECT_TRUE(table.Create("carol", 200));
  EXPECT_EQ(table.SizeForTest(), 1u);
}

TEST_F(SessionTableTest, DropPrincipalEndsOnlyTheirs) {
  SessionTable table(
      {.idle_seconds = 100, .absolute_seconds = 1000, .max_sessions = 10, .max_per_principal = 5});
  auto a = table.Create("alice", 0);
  auto b = table.Create("bob", 0);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->expires_at, 100);
  table.DropPrincipal("alice");
  EXPECT_FALSE(table.Touch(a->token, 1));
  EXPECT_TRUE(table.Touch(b->token, 1));
}

TEST(Tokens, ShapeAndValidation) {
  ASSERT_TRUE(crypto::Init());
  const std::string t = NewToken(kApiKeyPrefix);
  EXPECT_TRUE(WellFormedToken(t, kApiKeyPrefix));
  EXPECT_FALSE(WellFormedToken(t, kSessionPrefix));
  EXPECT_FALSE(WellFormedToken(t + "A", kApiKeyPrefix));
  std::string bad = t;
  bad.back() = '+';
  EXPECT_FALSE(WellFormedToken(bad, kApiKeyPrefix));
  EXPECT_NE(NewToken(kApiKeyPrefix), t);
  // RFC 4648 section 10 vectors, base64url without padding.
  EXPECT_EQ(Base64UrlEncode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64UrlEncode("fooba"), "Zm9vYmE");
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
}

TEST(Records, RoundTripAndRefuseTruncation) {
  Principal p{.name = "alice",
              .kind = Kind::kHuman,
              .role = "support",
              .attrs = {{"agency", "Lyon"}, {"team", "b"}},
              .suspended = true,
              .created_ms = 1'800'000'000'000};
  const std::string bytes = EncodePrincipal(p);
  auto back = DecodePrincipal("alice", bytes);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->kind, p.kind);
  EXPECT_EQ(back->role, p.role);
  EXPECT_EQ(back->attrs, p.attrs);
  EXPECT_TRUE(back->suspended);
  EXPECT_EQ(back->created_ms, p.created_ms);
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(DecodePrincipal("alice", bytes.substr(0, n))) << n;
  }
  EXPECT_FALSE(DecodePrincipal("alice", bytes + "x"));

  LockRecord l{.failures = 3, .locked_until = 99, .last_step = -1};
  auto lb = DecodeLock(EncodeLock(l));
  ASSERT_TRUE(lb);
  EXPECT_EQ(lb->failures, 3);
  EXPECT_EQ(lb->locked_until, 99);
  EXPECT_EQ(lb->last_step, -1);

  CredentialRecord c{.kind = Kind::kHuman, .password_hash = "$argon2id$...", .totp_secret = "s"};
  auto cb = DecodeCredential(EncodeCredential(c));
  ASSERT_TRUE(cb);
  EXPECT_EQ(cb->password_hash, c.password_hash);
  EXPECT_EQ(cb->totp_secret, c.totp_secret);
  EXPECT_TRUE(cb->api_key_hash.empty());
  // Without a previous key the bytes are version 1, as vaults made before
  // key rotation hold them.
  EXPECT_EQ(EncodeCredential(c)[0], 1);

  CredentialRecord rotated{.kind = Kind::kService,
                           .api_key_hash = "new",
                           .previous_api_key_hash = "old",
                           .previous_expires_at = 1'800'086'400};
  const std::string rb = EncodeCredential(rotated);
  EXPECT_EQ(rb[0], 2);
  auto rback = DecodeCredential(rb);
  ASSERT_TRUE(rback);
  EXPECT_EQ(rback->api_key_hash, "new");
  EXPECT_EQ(rback->previous_api_key_hash, "old");
  EXPECT_EQ(rback->previous_expires_at, 1'800'086'400);
  for (size_t n = 0; n < rb.size(); ++n) EXPECT_FALSE(DecodeCredential(rb.substr(0, n))) << n;
  EXPECT_FALSE(DecodeCredential(rb + "x"));
}

TEST(Records, ApiKeyLookupKeepsTheOldFormat) {
  // Today's value is the bare name; a retiring key adds its expiry.
  auto plain = DecodeApiKeyLookup("billing");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->name, "billing");
  EXPECT_EQ(plain->expires_at, 0);
  EXPECT_EQ(EncodeApiKeyLookup({"billing", 0}), "billing");
  auto retiring = DecodeApiKeyLookup(EncodeApiKeyLookup({"billing", 1'800'000'000}));
  ASSERT_TRUE(retiring);
  EXPECT_EQ(retiring->name, "billing");
  EXPECT_EQ(retiring->expires_at, 1'800'000'000);
  for (std::string_view bad :
       {std::string_view(""), std::string_view("x\0", 2), std::string_view("x\0a1", 4),
        std::string_view("x\0"
                         "0",
                         3)}) {
    EXPECT_FALSE(DecodeApiKeyLookup(bad));
  }
}

TEST(Records, CertificateBindingsRoundTripAndRefuseGarbage) {
  CertificateBinding fp{.fingerprint = std::string(64, 'a')};
  auto back = DecodeCertBinding(EncodeCertBinding(fp));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->fingerprint, fp.fingerprint);
  EXPECT_TRUE(back->ca_pem.empty() && back->subject.empty());
  CertificateBinding ca{.ca_pem = "-----BEGIN CERTIFICATE-----\n", .subject = "CN=billing"};
  const std::string bytes = EncodeCertBinding(ca);
  back = DecodeCertBinding(bytes);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->ca_pem, ca.ca_pem);
  EXPECT_EQ(back->subject, ca.subject);
  for (size_t n = 0; n < bytes.size(); ++n) EXPECT_FALSE(DecodeCertBinding(bytes.substr(0, n)));
  EXPECT_FALSE(DecodeCertBinding(bytes + "x"));
  std::string other_form = bytes;
  other_form[1] = 3;
  EXPECT_FALSE(DecodeCertBinding(other_form));
  // Lookups by fingerprint and by a hash of the subject: never the subject.
  EXPECT_EQ(CertFingerprintKey(fp.fingerprint), "certfp/" + fp.fingerprint);
  EXPECT_EQ(CertSubjectKey("CN=billing").find("billing"), std::string::npos);
  EXPECT_EQ(CertSubjectKey("CN=billing").rfind("certsubj/", 0), 0u);
}

TEST(SourceThrottle, ForgetsByPrefix) {
  SourceThrottle t(1, 60, 100);
  EXPECT_EQ(t.Admit("aa:1", 1000), 0);
  EXPECT_EQ(t.Admit("ab:1", 1000), 0);
  EXPECT_GT(t.Admit("aa:1", 1000), 0);
  t.ForgetPrefix("aa");
  EXPECT_EQ(t.Admit("aa:1", 1000), 0);
  EXPECT_GT(t.Admit("ab:1", 1000), 0);
}

}  // namespace
}  // namespace coffre::auth::internal
