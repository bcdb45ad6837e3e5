// Free-text types: text, name, postal_address.
#include "schema/internal/utf8.h"
#include "schema/internal/validators.h"

namespace coffre::schema::internal {

namespace {

constexpr Rule kBadUtf8 = "is not valid UTF-8";
constexpr Rule kControl = "contains a control character";

bool IsNamePunctuation(char32_t cp) {
  return cp == '-' || cp == '\'' || cp == '.' || cp == 0x2019;  // ’
}

// Shared by name and postal_address: trims, collapses runs of whitespace to
// one ASCII space and lets `allowed(cp, starts_word)` vet every other code
// point. Words are
// copied as whole spans (this is on the bulk-import hot path). Gives up as
// soon as the output would exceed `max_bytes`, so a huge input costs little.
template <typename Allowed>
Rule CollapseSpaces(std::string_view in, std::string& out, size_t max_bytes, Rule too_long,
                    Allowed allowed) {
  size_t written = 0;     // bytes this call has appended, separators included
  size_t word_start = 0;  // start of the current run of non-space characters
  bool in_word = false;
  const auto flush_word = [&](size_t end) -> bool {
    const size_t len = end - word_start;
    const size_t sep = written > 0 ? 1 : 0;
    if (written + sep + len > max_bytes) return false;
    if (sep) out.push_back(' ');
    out.append(in.data() + word_start, len);
    written += sep + len;
    return true;
  };
  for (size_t i = 0; i < in.size();) {
    const unsigned char c = static_cast<unsigned char>(in[i]);
    char32_t cp = c;
    size_t len = 1;
    if (c >= 0x80) {
      len = DecodeUtf8(in, i, cp);
      if (len == 0) return kBadUtf8;
    }
    if (IsCollapsibleSpace(cp)) {
      if (in_word && !flush_word(i)) return too_long;
      in_word = false;
    } else {
      if (IsControl(cp)) return kControl;
      if (Rule r = allowed(cp, !in_word)) return r;
      if (!in_word) {
        in_word = true;
        word_start = i;
      } else if (i - word_start > max_bytes) {
        return too_long;
      }
    }
    i += len;
  }
  if (in_word && !flush_word(in.size())) return too_long;
  if (written == 0) return kEmpty;
  return nullptr;
}

}  // namespace

Rule NormalizeText(std::string_view in, std::string& out) {
  if (in.size() > kMaxTextBytes) return "is longer than 4096 bytes";
  bool blank = true;
  for (size_t i = 0; i < in.size();) {
    const unsigned char c = static_cast<unsigned char>(in[i]);
    if (c < 0x80) {  // ASCII fast path
      if (c != '\t' && IsControl(c)) return kControl;
      if (!IsAsciiSpace(static_cast<char>(c))) blank = false;
      ++i;
      continue;
    }
    char32_t cp;
    const size_t len = DecodeUtf8(in, i, cp);
    if (len == 0) return kBadUtf8;
    if (IsControl(cp)) return kControl;
    blank = false;
    i += len;
  }
  if (blank) return kEmpty;
  out.append(in);
  return nullptr;
}

Rule NormalizeName(std::string_view in, std::string& out) {
  bool has_letter = false;
  bool after_letter = false;  // a combining mark must follow a letter
  Rule r = CollapseSpaces(in, out, kMaxNameBytes, "is longer than 200 bytes",
                          [&](char32_t cp, bool starts_word) -> Rule {
                            if (starts_word) after_letter = false;
                            if (IsLetter(cp)) {
                              has_letter = after_letter = true;
                              return nullptr;
                            }
                            if (IsCombiningMark(cp) && after_letter) return nullptr;
                            after_letter = false;
                            if (IsNamePunctuation(cp)) return nullptr;
                            return "may only contain letters, spaces, '-', apostrophes and '.'";
                          });
  if (r) return r;
  if (!has_letter) return "must contain a letter";
  return nullptr;
}

Rule NormalizePostalAddress(std::string_view in, std::string& out) {
  return CollapseSpaces(in, out, kMaxPostalAddressBytes, "is longer than 512 bytes",
                        [](char32_t, bool) -> Rule { return nullptr; });
}

}  // namespace coffre::schema::internal
