// libFuzzer target for the guard's parsers: stored alerts (read back from
// disk), webhook URLs and policy windows. Built with -DCOFFRE_FUZZ=ON
// (clang only).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "guard/alert.h"
#include "guard/alert_webhook.h"
#include "policy/policy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace coffre;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto alert = guard::AlertFromJson(text)) {
    // What parses is stored again unchanged.
    auto again = guard::AlertFromJson(guard::AlertToJson(*alert));
    if (!again || !(*again == *alert)) __builtin_trap();
  }
  if (auto url = guard::ParseWebhookUrl(text)) {
    if (url->host.empty() || url->port == 0 || url->target.empty() || url->target[0] != '/')
      __builtin_trap();
  }
  if (auto window = policy::ParseWindow(text); window && *window < 60) __builtin_trap();
  return 0;
}
