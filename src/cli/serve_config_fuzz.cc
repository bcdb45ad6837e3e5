// libFuzzer target for the serve config file (cli/serve_config.h): the TOML
// reader, and the values handed to a scratch `serve` command's options.
// Built with -DCOFFRE_FUZZ=ON (clang only).
#include <CLI/CLI.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cli/commands.h"
#include "cli/serve_command.h"
#include "cli/serve_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace coffre::cli;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> errors;
  ServeConfig config = ParseServeConfig(text, "fuzz.toml", "/etc/coffre", errors);
  for (const std::string& e : errors) {
    if (!e.starts_with("fuzz.toml:")) __builtin_trap();  // every error names the file
  }
  for (const ConfigValue& v : config.values) {
    if (v.key == nullptr || v.line == 0 || !v.where.starts_with("fuzz.toml:")) __builtin_trap();
    for (const std::string& arg : v.args) {
      if (arg.empty()) __builtin_trap();  // an empty value never stands for a flag
      if (v.key->type == ConfigType::kPath && arg.front() != '/') __builtin_trap();
    }
  }
  CLI::App app;
  Context ctx;
  RegisterServeCommand(app, ctx);
  size_t before = errors.size();
  auto applied = ApplyServeConfig(config, *app.get_subcommand("serve"), errors);
  if (applied.size() + (errors.size() - before) > config.values.size()) __builtin_trap();
  return 0;
}
