#include "schema/card_names.h"

#include <cstdint>
#include <initializer_list>
#include <memory>

namespace coffre::schema {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
char Lower(char c) { return IsUpper(c) ? static_cast<char>(c - 'A' + 'a') : c; }

// A key read once: its squashed form (letters and digits, lower-cased) and
// the bounds of its words inside it (words are contiguous there, since the
// characters between them are the ones squashing drops). On the stack for
// keys of up to kInline bytes: this runs on every field of every imported
// row.
class KeyText {
 public:
  explicit KeyText(std::string_view key) {
    if (key.size() > kInline) {
      heap_chars_ = std::make_unique<char[]>(key.size());
      heap_starts_ = std::make_unique<uint32_t[]>(key.size() + 1);
      chars_ = heap_chars_.get();
      starts_ = heap_starts_.get();
    }
    char prev = 0;
    bool in_word = false;
    for (char c : key) {
      const bool alnum = IsDigit(c) || IsLower(c) || IsUpper(c);
      if (!alnum) {
        in_word = false;
      } else {
        const bool split = IsUpper(c) && (IsLower(prev) || IsDigit(prev));
        if (!in_word || split) starts_[words_++] = static_cast<uint32_t>(size_);
        in_word = true;
        chars_[size_++] = Lower(c);
      }
      prev = c;
    }
    starts_[words_] = static_cast<uint32_t>(size_);
  }

  bool HasWord(std::initializer_list<std::string_view> set) const {
    for (size_t i = 0; i < words_; ++i) {
      std::string_view w(chars_ + starts_[i], starts_[i + 1] - starts_[i]);
      for (std::string_view s : set) {
        if (w == s) return true;
      }
    }
    return false;
  }

  bool Contains(std::initializer_list<std::string_view> parts) const {
    std::string_view all(chars_, size_);
    for (std::string_view p : parts) {
      if (all.find(p) != std::string_view::npos) return true;
    }
    return false;
  }

 private:
  static constexpr size_t kInline = 128;
  char inline_chars_[kInline];
  uint32_t inline_starts_[kInline + 1];
  std::unique_ptr<char[]> heap_chars_;
  std::unique_ptr<uint32_t[]> heap_starts_;
  char* chars_ = inline_chars_;
  uint32_t* starts_ = inline_starts_;
  size_t size_ = 0;
  size_t words_ = 0;
};

}  // namespace

KeyClass ClassifyKey(std::string_view key) {
  const KeyText k(key);
  KeyClass out;
  out.security_code =
      k.HasWord({"cvv", "cvv2", "cvc", "cvc2", "cid", "csc", "cvn", "cvn2", "cav2", "cvd", "ccv",
                 "ccv2", "cv2", "pin", "pinblock"}) ||
      k.Contains({"cvv", "cvc", "cryptogram", "securitycode", "cardverification",
                  "verificationvalue", "cardcode", "codesecurite", "codedesecurite"});
  out.pan = k.HasWord({"pan"}) || k.Contains({"cardnumber", "cardno", "ccnum", "numerocarte",
                                              "numerodecarte", "primaryaccountnumber"});
  out.date = k.HasWord({"year", "yy", "yyyy", "month", "mm", "exp", "expiry", "expiration",
                        "expires", "annee", "mois"}) ||
             k.Contains({"expiry", "expiration", "year"});
  out.other_number = k.HasWord({"nir", "insee", "ssn", "iban", "bban", "rib", "bic", "phone",
                                "telephone", "tel", "mobile", "fax", "siret", "siren"}) ||
                     k.Contains({"phone", "iban", "siret", "siren"});
  return out;
}

}  // namespace coffre::schema
