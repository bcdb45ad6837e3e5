// libFuzzer target: a PROXY protocol v2 header and X-Forwarded-For values,
// as a client or a proxy could send them. No input may crash the parsers.
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "server/client_address.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace coffre::server;
  if (size >= kProxyV2FixedBytes) {
    uint8_t fixed[kProxyV2FixedBytes];
    std::memcpy(fixed, data, kProxyV2FixedBytes);
    const std::string_view rest(reinterpret_cast<const char*>(data) + kProxyV2FixedBytes,
                                size - kProxyV2FixedBytes);
    auto length = ParseProxyV2Fixed(fixed);
    if (length && *length <= rest.size()) (void)ParseProxyV2Source(fixed, rest.substr(0, *length));
  }
  static const ProxyTrust trust = *ProxyTrust::Parse({"10.0.0.0/8", "2001:db8::/32"});
  const IpAddress peer = *IpAddress::Parse("10.0.0.1");
  const std::string text(reinterpret_cast<const char*>(data), size);
  const IpAddress client = trust.ClientOf(peer, {text});
  (void)client.ToString();
  (void)client.LimitKey();
  return 0;
}
