// libFuzzer target for both parsers of this module: the TOML schema reader
// and every field normaliser, and masking. Built with -DCOFFRE_FUZZ=ON (clang only).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "schema/mask.h"
#include "schema/schema.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace coffre::schema;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)Schema::Parse(text, "fuzz");

  std::string out = "x";
  for (int t = 0; t <= static_cast<int>(FieldType::kPan); ++t) {
    FieldDef field;
    field.name = "f";
    field.type = static_cast<FieldType>(t);
    field.enum_values = {"F", "M"};
    (void)Mask(field, text);  // masking takes any bytes without failing
    const size_t before = out.size();
    auto status = NormalizeInto(field, Input::String(text), out);
    if (!status && out.size() != before) __builtin_trap();  // must roll back
    if (status) {
      // Canonical forms are fixed points.
      std::string again;
      auto twice = NormalizeInto(field, Input::String(std::string_view(out).substr(before)), again);
      if (!twice || again != std::string_view(out).substr(before)) __builtin_trap();
    }
    out.resize(1);
  }
  return 0;
}
