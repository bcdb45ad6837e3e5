// One normaliser per string-typed field type.
//
// Each appends the canonical form of `in` to `out` and returns nullptr, or
// returns the rule that failed as a static string ("control key does not
// match") and may leave partial output behind: the caller (NormalizeInto)
// truncates `out` back and builds the error message. Static rule strings keep
// the hot path free of allocations and make it impossible for a value to leak
// into a message.
//
// Internal to the schema module.
#pragma once

#include <string>
#include <string_view>

namespace coffre::schema::internal {

using Rule = const char*;

inline constexpr Rule kEmpty = "is empty";

inline constexpr size_t kMaxTextBytes = 4096;
inline constexpr size_t kMaxNameBytes = 200;
inline constexpr size_t kMaxPostalAddressBytes = 512;

Rule NormalizeText(std::string_view in, std::string& out);
Rule NormalizeName(std::string_view in, std::string& out);
Rule NormalizePostalAddress(std::string_view in, std::string& out);
Rule NormalizeEmail(std::string_view in, std::string& out);
Rule NormalizePhone(std::string_view in, std::string& out);
Rule NormalizeDate(std::string_view in, std::string& out);
Rule NormalizeNir(std::string_view in, std::string& out);
Rule NormalizeIban(std::string_view in, std::string& out);
Rule NormalizePan(std::string_view in, std::string& out);
Rule NormalizeIntegerString(std::string_view in, std::string& out);
Rule NormalizeBooleanString(std::string_view in, std::string& out);

// Appends the decimal form of v (no allocation).
void AppendDecimal(int64_t v, std::string& out);

}  // namespace coffre::schema::internal
