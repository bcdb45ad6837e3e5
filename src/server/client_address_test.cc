#include "server/client_address.h"

#include <gtest/gtest.h>

#include <cstring>

namespace coffre::server {
namespace {

IpAddress Ip(const char* text) {
  auto a = IpAddress::Parse(text);
  EXPECT_TRUE(a) << text;
  return a.value_or(IpAddress{});
}

TEST(IpAddress, ParsesLiteralsOnlyAndKeepsMappedIpv4AsIpv4) {
  EXPECT_EQ(Ip("192.0.2.1").ToString(), "192.0.2.1");
  EXPECT_EQ(Ip("2001:db8::1").ToString(), "2001:db8::1");
  EXPECT_EQ(Ip("::ffff:192.0.2.1"), Ip("192.0.2.1"));
  for (const char* bad : {"", "localhost", "192.0.2.1:80", "[::1]", "192.0.2", "1.2.3.4.5",
                          " 1.2.3.4", "127.attacker.example", "::1/128"}) {
    EXPECT_FALSE(IpAddress::Parse(bad)) << bad;
  }
  EXPECT_TRUE(Ip("127.0.0.2").IsLoopback());
  EXPECT_TRUE(Ip("::1").IsLoopback());
  EXPECT_TRUE(Ip("::ffff:127.0.0.1").IsLoopback());
  EXPECT_FALSE(Ip("128.0.0.1").IsLoopback());
  EXPECT_FALSE(Ip("::2").IsLoopback());
}

TEST(IpAddress, LimitKeyIsTheAddressOrTheIpv6Slash64) {
  EXPECT_EQ(Ip("192.0.2.1").LimitKey(), "192.0.2.1");
  EXPECT_EQ(Ip("2001:db8:1:2:aaaa::1").LimitKey(), "2001:db8:1:2::/64");
  EXPECT_EQ(Ip("2001:db8:1:2:bbbb::7").LimitKey(), Ip("2001:db8:1:2:aaaa::1").LimitKey());
}

TEST(ProxyTrust, ParsesCidrsAndRefusesMalformedOnes) {
  auto t = ProxyTrust::Parse({"10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::ffff:172.16.0.0/108"});
  ASSERT_TRUE(t) << t.error().ToString();
  EXPECT_TRUE(t->Trusts(Ip("10.255.1.2")));
  EXPECT_FALSE(t->Trusts(Ip("11.0.0.1")));
  EXPECT_TRUE(t->Trusts(Ip("192.0.2.7")));
  EXPECT_FALSE(t->Trusts(Ip("192.0.2.8")));
  EXPECT_TRUE(t->Trusts(Ip("2001:db8:ffff::1")));
  EXPECT_FALSE(t->Trusts(Ip("2001:db9::1")));
  EXPECT_TRUE(t->Trusts(Ip("172.16.3.4")));  // ::ffff:172.16.0.0/108 is 172.16.0.0/12
  EXPECT_FALSE(t->Trusts(Ip("172.32.0.1")));
  for (const char* bad : {"10.0.0.0/33", "10.0.0.0/", "/8", "proxy.example", "10.0.0.0/8x",
                          "::/129", "10.0.0.0/-1"}) {
    auto r = ProxyTrust::Parse({bad});
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find("--trusted-proxy"), std::string::npos);
  }
  // A mapped IPv4 address without a prefix is that one address.
  auto one = ProxyTrust::Parse({"::ffff:10.0.0.1"});
  ASSERT_TRUE(one) << one.error().ToString();
  EXPECT_TRUE(one->Trusts(Ip("10.0.0.1")));
  EXPECT_FALSE(one->Trusts(Ip("10.0.0.2")));
  auto zero = ProxyTrust::Parse({"0.0.0.0/0"});
  ASSERT_TRUE(zero);
  EXPECT_TRUE(zero->Trusts(Ip("203.0.113.1")));
  EXPECT_FALSE(zero->Trusts(Ip("::2")));  // an IPv4 block never covers IPv6
}

// The right-most address not trusted is the client; whatever a client
// wrote to the left of it is never taken.
TEST(ProxyTrust, ClientOfWalksXForwardedForFromTheRight) {
  auto t = ProxyTrust::Parse({"10.0.0.0/8"});
  ASSERT_TRUE(t);
  const IpAddress proxy = Ip("10.0.0.1");
  EXPECT_EQ(t->ClientOf(proxy, {"198.51.100.7"}), Ip("198.51.100.7"));
  // The client claimed 1.2.3.4 itself; the proxy appended the real peer.
  EXPECT_EQ(t->ClientOf(proxy, {"1.2.3.4, 198.51.100.7"}), Ip("198.51.100.7"));
  // Two trusted hops, the header split over two lines.
  EXPECT_EQ(t->ClientOf(proxy, {"1.2.3.4, 198.51.100.7", "10.2.3.4"}), Ip("198.51.100.7"));
  // All trusted: the left-most.
  EXPECT_EQ(t->ClientOf(proxy, {"10.9.9.9,10.2.3.4"}), Ip("10.9.9.9"));
  // No header: the proxy itself.
  EXPECT_EQ(t->ClientOf(proxy, {}), proxy);
  // Garbage stops the walk at the last trusted hop.
  EXPECT_EQ(t->ClientOf(proxy, {"198.51.100.7, unknown"}), proxy);
  EXPECT_EQ(t->ClientOf(proxy, {"evil, 10.2.3.4"}), Ip("10.2.3.4"));
  EXPECT_EQ(t->ClientOf(proxy, {"2001:db8::5"}), Ip("2001:db8::5"));
  // An untrusted peer's header is ignored.
  EXPECT_EQ(t->ClientOf(Ip("203.0.113.9"), {"198.51.100.7"}), Ip("203.0.113.9"));
}

std::string ProxyV2(uint8_t ver_cmd, uint8_t family, const std::string& addresses) {
  std::string h("\r\n\r\n\0\r\nQUIT\n", 12);
  h += static_cast<char>(ver_cmd);
  h += static_cast<char>(family);
  h += static_cast<char>(addresses.size() >> 8);
  h += static_cast<char>(addresses.size() & 0xff);
  return h + addresses;
}

Result<std::optional<IpAddress>> ParseWhole(const std::string& header) {
  uint8_t fixed[kProxyV2FixedBytes];
  std::memcpy(fixed, header.data(), kProxyV2FixedBytes);
  auto rest = ParseProxyV2Fixed(fixed);
  if (!rest) return Fail(rest.error());
  if (*rest > header.size() - kProxyV2FixedBytes) return Fail(ErrorCode::kInvalidArgument, "short");
  return ParseProxyV2Source(fixed, std::string_view(header).substr(kProxyV2FixedBytes, *rest));
}

TEST(ProxyV2, ParsesTheSourceOfTcpOverIpv4AndIpv6) {
  const std::string v4(
      "\xcb\x00\x71\x09"
      "\x7f\x00\x00\x01"
      "\x30\x39"
      "\x20\xfb",
      12);
  auto a = ParseWhole(ProxyV2(0x21, 0x11, v4));
  ASSERT_TRUE(a && *a);
  EXPECT_EQ(**a, Ip("203.0.113.9"));
  std::string v6(36, '\0');
  v6[0] = '\x20', v6[1] = '\x01', v6[2] = '\x0d', v6[3] = '\xb8', v6[15] = '\x05';
  auto b = ParseWhole(ProxyV2(0x21, 0x21, v6 + "TLVs"));  // TLVs after the addresses are skipped
  ASSERT_TRUE(b && *b);
  EXPECT_EQ(**b, Ip("2001:db8::5"));
  // LOCAL (a health check) and UNSPEC name no client.
  auto local = ParseWhole(ProxyV2(0x20, 0x00, ""));
  ASSERT_TRUE(local);
  EXPECT_FALSE(*local);
  auto unspec = ParseWhole(ProxyV2(0x21, 0x00, ""));
  ASSERT_TRUE(unspec);
  EXPECT_FALSE(*unspec);
}

TEST(ProxyV2, RefusesWhatIsNotAWellFormedHeader) {
  const std::string v4(12, '\x01');
  EXPECT_FALSE(ParseWhole(ProxyV2(0x11, 0x11, v4)));                     // version 1
  EXPECT_FALSE(ParseWhole(ProxyV2(0x22, 0x11, v4)));                     // command 2
  EXPECT_FALSE(ParseWhole(ProxyV2(0x21, 0x11, v4.substr(0, 8))));        // short address block
  EXPECT_FALSE(ParseWhole(ProxyV2(0x21, 0x21, v4)));                     // IPv6 needs 36 bytes
  EXPECT_FALSE(ParseWhole(ProxyV2(0x21, 0x11, std::string(600, 'x'))));  // too long
  std::string tls = ProxyV2(0x21, 0x11, v4);
  tls[0] = '\x16';  // a TLS ClientHello is no PROXY header
  EXPECT_FALSE(ParseWhole(tls));
}

}  // namespace
}  // namespace coffre::server
