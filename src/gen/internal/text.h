// Small text builders for the people generator's hot loop: they append to a
// caller's std::string and never allocate beyond its growth, so formatting a
// million people costs appends only. Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace coffre::gen::internal {

// Appends `value` in decimal, left-padded with zeros to at least `width`
// (at most 24).
void AppendDecimal(std::string& out, uint64_t value, int width = 0);

// Appends `s` as the inside of a JSON string: '"' and '\' are escaped, control
// characters become \n, \t... or \u00XX, and every other byte (UTF-8
// included) is copied as is.
void AppendJsonEscaped(std::string& out, std::string_view s);

// Appends the lower-case ASCII form of a UTF-8 name as it would appear in an
// email address: accents dropped (é -> e, ç -> c, œ -> oe), apostrophes,
// spaces and anything else outside [a-z-] removed, hyphens kept.
// "N'Diaye" -> "ndiaye", "Da Silva" -> "dasilva", "Jean-Loïc" -> "jean-loic".
void AppendEmailFolded(std::string& out, std::string_view name);

}  // namespace coffre::gen::internal
