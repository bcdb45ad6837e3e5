// UTF-8 scanning for auth's text rules (passwords, attribute values).
// Internal to auth. Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace coffre::auth::internal {

// The code points of `text`, or nullopt when it is not valid UTF-8
// (overlong forms, surrogates and values above U+10FFFF are invalid).
std::optional<std::vector<char32_t>> DecodeUtf8(std::string_view text);

// C0, DEL and C1 controls.
bool IsControl(char32_t c);

}  // namespace coffre::auth::internal
