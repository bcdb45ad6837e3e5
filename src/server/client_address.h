// Who the client is, when coffre sits behind a proxy: IP addresses, the
// operator's trusted proxies (`--trusted-proxy CIDR`), the right-most
// untrusted X-Forwarded-For address, and the PROXY protocol v2 header
// (docs/adr/0019-edge-limits-and-proxies.md).
//
//   auto trust = ProxyTrust::Parse({"10.0.0.0/8", "::1"});   // kInvalidArgument if malformed
//   IpAddress peer = *IpAddress::Parse("10.1.2.3");
//   IpAddress client = trust->ClientOf(peer, {"198.51.100.7, 10.0.0.5"});
//   client.ToString();   // "198.51.100.7"
//
// Pure functions and values: thread-safe; no I/O.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace coffre::server {

// An IPv4 or IPv6 address. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are
// kept as IPv4, so that one client is one address whatever the socket's
// family.
struct IpAddress {
  std::array<uint8_t, 16> bytes{};  // IPv4 in the first 4
  bool v4 = true;

  // A literal address ("192.0.2.1", "2001:db8::1"); no names, no ports.
  static std::optional<IpAddress> Parse(std::string_view text);
  static IpAddress V4(const uint8_t b[4]);
  static IpAddress V6(const uint8_t b[16]);
  std::string ToString() const;
  bool IsLoopback() const;
  // The key connection limits count under: the address for IPv4, its /64
  // for IPv6 (one host usually holds a whole /64).
  std::string LimitKey() const;
  bool operator==(const IpAddress&) const = default;
};

// The operator's trusted proxies: a list of CIDR blocks.
class ProxyTrust {
 public:
  // "10.0.0.0/8", "2001:db8::/32", or a bare address (a /32 or /128).
  static Result<ProxyTrust> Parse(const std::vector<std::string>& cidrs);
  bool empty() const { return blocks_.empty(); }
  bool Trusts(const IpAddress& a) const;
  // The client of a request that came from `peer` with these
  // X-Forwarded-For header values (in order of arrival): `peer` itself
  // unless it is trusted; else the right-most address of the chain that is
  // not trusted, the left-most if all are. A malformed element ends the
  // walk: the last trusted address before it is taken (never a value the
  // client could have written).
  IpAddress ClientOf(const IpAddress& peer,
                     const std::vector<std::string_view>& forwarded_for) const;

 private:
  struct Block {
    IpAddress base;
    int prefix = 0;
  };
  std::vector<Block> blocks_;
};

// The PROXY protocol v2 (haproxy.org/download/2.9/doc/proxy-protocol.txt).
inline constexpr size_t kProxyV2FixedBytes = 16;
// Longest address block and TLVs accepted after the fixed part.
inline constexpr size_t kProxyV2MaxRestBytes = 512;

// Checks the 16-byte fixed part; returns the length of what follows, or
// kInvalidArgument (no signature, wrong version or command, too long).
Result<size_t> ParseProxyV2Fixed(const uint8_t (&fixed)[kProxyV2FixedBytes]);
// The source address from the fixed part and what followed it: nullopt for
// a LOCAL command (a proxy's own health check) or an address family other
// than TCP over IPv4/IPv6 (the connection's own peer is then used).
Result<std::optional<IpAddress>> ParseProxyV2Source(const uint8_t (&fixed)[kProxyV2FixedBytes],
                                                    std::string_view rest);

}  // namespace coffre::server
