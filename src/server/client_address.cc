#include "server/client_address.h"

#include <arpa/inet.h>

#include <cstring>

namespace coffre::server {
namespace {

constexpr uint8_t kProxyV2Signature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                           0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

IpAddress IpAddress::V4(const uint8_t b[4]) {
  IpAddress a;
  std::memcpy(a.bytes.data(), b, 4);
  a.v4 = true;
  return a;
}

IpAddress IpAddress::V6(const uint8_t b[16]) {
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(b, kMapped, sizeof kMapped) == 0) return V4(b + 12);
  IpAddress a;
  std::memcpy(a.bytes.data(), b, 16);
  a.v4 = false;
  return a;
}

std::optional<IpAddress> IpAddress::Parse(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  char buf[46];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  uint8_t b[16];
  if (text.find(':') == std::string_view::npos) {
    if (inet_pton(AF_INET, buf, b) != 1) return std::nullopt;
    return V4(b);
  }
  if (inet_pton(AF_INET6, buf, b) != 1) return std::nullopt;
  return V6(b);
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN];
  if (inet_ntop(v4 ? AF_INET : AF_INET6, bytes.data(), buf, sizeof buf) == nullptr) return "?";
  return buf;
}

bool IpAddress::IsLoopback() const {
  if (v4) return bytes[0] == 127;
  static constexpr uint8_t kLoopback6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return std::memcmp(bytes.data(), kLoopback6, 16) == 0;
}

std::string IpAddress::LimitKey() const {
  if (v4) return ToString();
  IpAddress net = *this;
  std::fill(net.bytes.begin() + 8, net.bytes.end(), 0);
  return net.ToString() + "/64";
}

Result<ProxyTrust> ProxyTrust::Parse(const std::vector<std::string>& cidrs) {
  ProxyTrust t;
  for (const std::string& text : cidrs) {
    auto bad = [&] {
      return Fail(
          ErrorCode::kInvalidArgument,
          "--trusted-proxy: expected an address or ADDRESS/PREFIX, like 10.0.0.0/8, not " + text);
    };
    std::string_view s = text;
    std::string_view addr = s;
    int prefix = -1;
    if (size_t slash = s.find('/'); slash != std::string_view::npos) {
      addr = s.substr(0, slash);
      std::string_view p = s.substr(slash + 1);
      if (p.empty() || p.size() > 3) return bad();
      prefix = 0;
      for (char c : p) {
        if (c < '0' || c > '9') return bad();
        prefix = prefix * 10 + (c - '0');
      }
    }
    auto a = IpAddress::Parse(addr);
    if (!a) return bad();
    const int bits = a->v4 ? 32 : 128;
    // "::ffff:10.0.0.0/104" is kept as IPv4 10.0.0.0/8; without a prefix,
    // "::ffff:10.0.0.1" is the one address.
    if (prefix < 0) {
      prefix = bits;
    } else if (a->v4 && addr.find(':') != std::string_view::npos) {
      prefix -= 96;
    }
    if (prefix < 0 || prefix > bits) return bad();
    t.blocks_.push_back({*a, prefix});
  }
  return t;
}

bool ProxyTrust::Trusts(const IpAddress& a) const {
  for (const Block& b : blocks_) {
    if (b.base.v4 != a.v4) continue;
    int left = b.prefix;
    bool match = true;
    for (size_t i = 0; left > 0 && match; ++i, left -= 8) {
      const uint8_t mask = left >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - left));
      match = (a.bytes[i] & mask) == (b.base.bytes[i] & mask);
    }
    if (match) return true;
  }
  return false;
}

IpAddress ProxyTrust::ClientOf(const IpAddress& peer,
                               const std::vector<std::string_view>& forwarded_for) const {
  if (!Trusts(peer)) return peer;
  // The chain as it arrived: several header lines are one list, in order.
  std::vector<std::string_view> chain;
  for (std::string_view value : forwarded_for) {
    while (true) {
      size_t comma = value.find(',');
      chain.push_back(Trim(value.substr(0, comma)));
      if (comma == std::string_view::npos) break;
      value.remove_prefix(comma + 1);
    }
  }
  IpAddress client = peer;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    auto hop = IpAddress::Parse(*it);
    if (!hop) break;  // written by someone untrusted: stop at the last trusted hop
    client = *hop;
    if (!Trusts(client)) break;
  }
  return client;
}

Result<size_t> ParseProxyV2Fixed(const uint8_t (&fixed)[kProxyV2FixedBytes]) {
  if (std::memcmp(fixed, kProxyV2Signature, sizeof kProxyV2Signature) != 0) {
    return Fail(ErrorCode::kInvalidArgument, "no PROXY protocol v2 header");
  }
  const uint8_t version = fixed[12] >> 4, command = fixed[12] & 0x0f;
  if (version != 2 || command > 1) {
    return Fail(ErrorCode::kInvalidArgument, "unsupported PROXY protocol version or command");
  }
  const size_t rest = (static_cast<size_t>(fixed[14]) << 8) | fixed[15];
  if (rest > kProxyV2MaxRestBytes)
    return Fail(ErrorCode::kInvalidArgument, "PROXY header too long");
  return rest;
}

Result<std::optional<IpAddress>> ParseProxyV2Source(const uint8_t (&fixed)[kProxyV2FixedBytes],
                                                    std::string_view rest) {
  COFFRE_ASSIGN_OR_RETURN(size_t length, ParseProxyV2Fixed(fixed));
  if (rest.size() != length) return Fail(ErrorCode::kInvalidArgument, "truncated PROXY header");
  if ((fixed[12] & 0x0f) == 0) return std::optional<IpAddress>();  // LOCAL
  const auto* p = reinterpret_cast<const uint8_t*>(rest.data());
  switch (fixed[13]) {
    case 0x11:  // TCP over IPv4: source, destination, ports
      if (length < 12) return Fail(ErrorCode::kInvalidArgument, "truncated PROXY address block");
      return std::optional<IpAddress>(IpAddress::V4(p));
    case 0x21:  // TCP over IPv6
      if (length < 36) return Fail(ErrorCode::kInvalidArgument, "truncated PROXY address block");
      return std::optional<IpAddress>(IpAddress::V6(p));
    default:  // UNSPEC, UDP, Unix sockets: the peer stands for the client
      return std::optional<IpAddress>();
  }
}

}  // namespace coffre::server
