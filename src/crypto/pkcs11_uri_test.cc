#include "crypto/pkcs11_uri.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

namespace coffre::crypto {
namespace {

Pkcs11Uri MustParse(std::string_view text) {
  auto u = ParsePkcs11Uri(text);
  EXPECT_TRUE(u.has_value()) << text << ": " << (u ? "" : u.error().message);
  return u ? *u : Pkcs11Uri{};
}

// RFC 7512 section 3.3, every example.
TEST(Pkcs11Uri, ParsesTheRfcExamples) {
  EXPECT_FALSE(MustParse("pkcs11:").token.has_value());

  Pkcs11Uri a = MustParse("pkcs11:object=my-pubkey;type=public");
  EXPECT_EQ(a.object, "my-pubkey");
  EXPECT_EQ(a.type, "public");

  Pkcs11Uri b = MustParse("pkcs11:object=my-key;type=private?pin-source=file:/etc/token");
  EXPECT_EQ(b.pin_source, "file:/etc/token");
  EXPECT_EQ(*PinSourcePath(b), "/etc/token");

  Pkcs11Uri c = MustParse(
      "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;"
      "model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial="
      "?pin-source=file:/etc/token_pin");
  EXPECT_EQ(c.token, "The Software PKCS#11 Softtoken");
  EXPECT_EQ(c.manufacturer, "Snake Oil, Inc.");
  EXPECT_EQ(c.model, "1.0");
  EXPECT_EQ(c.id, std::string("\x69\x95\x3E\x5C\xF4\xBD\xEC\x91", 8));
  EXPECT_EQ(c.serial, "");  // given empty: matches the empty serial
  EXPECT_EQ(c.type, "cert");

  EXPECT_EQ(MustParse("pkcs11:object=my-sign-key;type=private?module-name=mypkcs11").module_name,
            "mypkcs11");
  EXPECT_EQ(MustParse("pkcs11:object=my-sign-key;type=private?module-path=/mnt/libmypkcs11.so.1")
                .module_path,
            "/mnt/libmypkcs11.so.1");

  Pkcs11Uri d = MustParse(
      "pkcs11:token=Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc.?pin-value="
      "the-pin");
  EXPECT_EQ(d.pin_value, "the-pin");

  EXPECT_EQ(MustParse("pkcs11:slot-description=Sun%20Metaslot").slot_description, "Sun Metaslot");
  Pkcs11Uri e = MustParse(
      "pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;library-description=Soft%20Token%20Library;"
      "library-version=1.23");
  EXPECT_EQ(e.library_description, "Soft Token Library");
  EXPECT_EQ(e.library_version, "1.23");

  Pkcs11Uri f = MustParse(
      "pkcs11:token=My%20token%25%20created%20by%20Joe;library-version=3;"
      "id=%01%02%03%Ba%dd%Ca%fe%04%05%06");
  EXPECT_EQ(f.token, "My token% created by Joe");
  EXPECT_EQ(f.id, std::string("\x01\x02\x03\xba\xdd\xca\xfe\x04\x05\x06", 10));

  EXPECT_EQ(MustParse("pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;"
                      "object=my-certificate;type=cert")
                .token,
            "A name with a substring %;");
  EXPECT_EQ(MustParse("pkcs11:token=Name%20with%20a%20small%20A%20with%20acute:%20%C3%A1;"
                      "object=my-certificate;type=cert")
                .token,
            "Name with a small A with acute: \xC3\xA1");

  Pkcs11Uri g = MustParse(
      "pkcs11:token=my-token;object=my-certificate;type=cert;vendor-aaa=value-a"
      "?pin-source=file:/etc/token_pin&vendor-bbb=value-b");
  ASSERT_EQ(g.vendor_path.size(), 1u);
  EXPECT_EQ(g.vendor_path[0].first, "vendor-aaa");
  ASSERT_EQ(g.vendor_query.size(), 1u);
  EXPECT_EQ(g.vendor_query[0].second, "value-b");
}

TEST(Pkcs11Uri, RefusesMalformedUris) {
  for (const char* bad : {
           "pkcs12:token=x",                                 // another scheme
           "token=x",                                        // no scheme
           "pkcs11:token=x;token=y",                         // a path attribute twice
           "pkcs11:token=x;",                                // empty attribute
           "pkcs11:token",                                   // no '='
           "pkcs11:token=a%2",                               // truncated escape
           "pkcs11:token=a%zz",                              // not hex
           "pkcs11:token=a b",                               // a space must be encoded
           "pkcs11:=x",                                      // no name
           "pkcs11:object=k?module-path=/a&module-path=/b",  // a query attribute twice
       }) {
    EXPECT_FALSE(ParsePkcs11Uri(bad).has_value()) << bad;
  }
  EXPECT_TRUE(ParsePkcs11Uri("PKCS11:object=k").has_value());  // the scheme is case-insensitive
}

TEST(Pkcs11Uri, CoffreAsksForAModulePathAndAPinFileNeverAPinValue) {
  const std::string base = "pkcs11:token=coffre;object=master";
  EXPECT_TRUE(CheckMasterKeyUri(MustParse(base + "?module-path=/usr/lib/x.so")));
  EXPECT_TRUE(CheckMasterKeyUri(
      MustParse(base + "?module-path=/usr/lib/x.so&pin-source=file:///etc/coffre/pin")));
  EXPECT_EQ(*PinSourcePath(MustParse(base + "?pin-source=file:///etc/coffre/pin")),
            "/etc/coffre/pin");
  EXPECT_EQ(*PinSourcePath(MustParse(base + "?pin-source=/etc/coffre/pin")), "/etc/coffre/pin");

  auto pin_value = CheckMasterKeyUri(MustParse(base + "?module-path=/x.so&pin-value=123456"));
  ASSERT_FALSE(pin_value);
  EXPECT_NE(pin_value.error().message.find("pin-value is refused"), std::string::npos);
  EXPECT_EQ(pin_value.error().message.find("123456"), std::string::npos);  // never the PIN

  for (const std::string& bad : std::vector<std::string>{
           base,                                                        // no module
           base + "?module-name=softhsm2",                              // a name is not a path
           base + "?module-path=lib/x.so",                              // relative
           base + "?module-path=/x.so&pin-source=pin.txt",              // relative PIN file
           base + "?module-path=/x.so&pin-source=https://example/pin",  // not a file
           std::string("pkcs11:token=coffre?module-path=/x.so"),        // no object nor id
           base + ";type=private?module-path=/x.so",                    // not a secret key
           base + ";slot-id=3?module-path=/x.so",                       // not matched on
           base + ";x-vendor=1?module-path=/x.so",                      // not matched on
       }) {
    EXPECT_FALSE(CheckMasterKeyUri(MustParse(bad))) << bad;
  }
}

TEST(Pkcs11Uri, IdentityKeepsThePathWithoutModuleOrPin) {
  Pkcs11Uri u = MustParse(
      "pkcs11:token=my%20token;object=master;id=%01%ff?module-path=/x.so&pin-source=file:/p");
  EXPECT_EQ(u.Identity(), "pkcs11:token=my%20token;object=master;id=%01%FF");
  Pkcs11Uri back = MustParse(u.Identity());
  EXPECT_EQ(back.token, u.token);
  EXPECT_EQ(back.id, u.id);
}

TEST(Pkcs11Uri, ReadsThePinFileAndRefusesOneOthersCanRead) {
  char tmpl[] = "/tmp/coffre-pin-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string path = std::string(tmpl) + "/pin";
  std::ofstream(path) << "12 34\n";
  ::chmod(path.c_str(), 0640);  // root:coffre 0640 is fine
  Pkcs11Uri u = MustParse("pkcs11:object=k?pin-source=file:" + path);
  auto pin = ReadPin(u);
  ASSERT_TRUE(pin) << pin.error().message;
  EXPECT_EQ(**pin, "12 34");
  ::chmod(path.c_str(), 0644);
  auto open = ReadPin(u);
  ASSERT_FALSE(open);
  EXPECT_EQ(open.error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(open.error().message.find("12 34"), std::string::npos);
  auto missing = ReadPin(MustParse("pkcs11:object=k?pin-source=file:" + path + ".nope"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_FALSE((*ReadPin(MustParse("pkcs11:object=k"))).has_value());
  std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace coffre::crypto
