// How many guesses a cracker needs for a password: zxcvbn's estimate
// (Debian libzxcvbn, the C port), with French words and names as its user
// dictionary. Internal to auth: the password policy's rule "guessable"
// (auth/password_policy.h) is built on it.
//
//   internal::Guessability g = internal::EstimateGuessability("Password2024!!", "alice");
//   // g.log10_guesses ~ 4.2, g.weaknesses == kWord | kYear
//
// Thread-safety: thread-safe. ZxcvbnMatch keeps no mutable global state in
// Debian's build (dictionaries compiled in, read-only: the library's .data
// and .bss hold only the C runtime's 16 bytes), and the user dictionary is
// built once, on first use, and never changed.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace coffre::auth::internal {

// The text of src/auth/data/french_password_words.txt, compiled in.
extern const std::string_view kFrenchPasswordWordsText;

// What zxcvbn found the password to be made of (a bit set).
enum Weakness : unsigned {
  kWord = 1u << 0,      // a dictionary word or name, leet-speak included
  kKeyboard = 1u << 1,  // a keyboard walk (qwerty, 1qaz2wsx; AZERTY ones are words)
  kSequence = 1u << 2,  // abcd, 9876
  kRepeat = 1u << 3,    // aaaa, abcabc, a part repeated
  kDate = 1u << 4,      // 14/07/1989, 140789
  kYear = 1u << 5,      // 1985, 2024
};

struct Guessability {
  double bits = 0;           // zxcvbn's entropy: log2 of the guesses
  double log10_guesses = 0;  // the same in decimal digits
  unsigned weaknesses = 0;   // Weakness bits of the parts zxcvbn chose
};

// `password` must hold no NUL (zxcvbn reads a C string; CheckPassword
// refuses NULs first). `user_name`, when not empty, is the cheapest word.
Guessability EstimateGuessability(std::string_view password, std::string_view user_name = {});

// The words of kFrenchPasswordWordsText in order, comments and blank lines
// left out.
std::vector<std::string_view> FrenchPasswordWords();

// The user dictionary given to zxcvbn, cheapest first: the French words,
// then gen::Names(), each in lower case, with accents and without (also
// without its hyphens for a compound name), 4 bytes or longer, no repeats.
const std::vector<std::string>& UserDictionary();

// `text` with every part of 2 or more bytes repeated back to back kept
// once ("abcabcX" -> "abcX"): at the leftmost place, the smallest part
// among those covering the most.
// Copies may differ by the Shift key on a US keyboard ("1qaz!QAZ",
// "Soleil-SOLEIL_"). *extra_bits is the sum, over the parts collapsed, of
// log2(repeats), plus 1 when the copies differ.
std::string CollapseRepeats(std::string_view text, double* extra_bits);

// What `text` (valid UTF-8) types on a US QWERTY keyboard when typed with
// the same keys on a French AZERTY one, digits kept: "azerty" -> "qwerty",
// "1aqw" -> "1qaz", "&é\"'" -> "1234". Characters not on an AZERTY
// keyboard are kept.
std::string AzertyAsQwerty(std::string_view text);

// Lower case with accents removed, for Latin-1 letters and œ/æ: "Hélène" ->
// "helene", "Cœur" -> "coeur". Other characters are kept. `text` must be
// valid UTF-8.
std::string FoldAccents(std::string_view text);

}  // namespace coffre::auth::internal
