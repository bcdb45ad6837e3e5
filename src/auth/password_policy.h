// Password strength policy for every password coffre accepts: human
// principals here, end users' credentials later. Independent of principals.
//
//   COFFRE_TRY(auth::CheckPassword(password, {.user_name = "alice"}));
//
// The rule set follows CNIL deliberation 2022-100 (passwords used alone or
// with few extra measures), as fixed by the issue:
//   rule "cnil-2022-100": at least 12 characters from all 4 classes
//       (lower case, upper case, digit, special), or at least 14 characters
//       from 3 classes, or a passphrase;
//   passphrase: at least 5 words separated by runs of spaces, '-' or '_',
//       and at least 20 characters in all (our reading of CNIL's "phrase de
//       passe"; docs/adr/0005-logins-throttling-and-sessions.md);
//   rule "dictionary": libpwquality's pwquality_check with its default
//       settings (cracklib dictionary from cracklib-runtime, palindromes,
//       the user name in any form); for a passphrase, without cracklib
//       (made of words by design, judged by the rule "guessable");
//   rule "guessable": zxcvbn's estimate of the guesses a cracker needs is at
//       least 10^11 (kMinGuessesLog10), with the French words of
//       data/french_password_words.txt, the names of `coffre gen` and the
//       user name as its user dictionary: a word or a name with a year and
//       punctuation, a keyboard walk, a date or a repeated pattern is refused
//       while 12 random characters from 4 classes pass (ADR 0021);
//   rule "encoding": valid UTF-8 without control characters;
//   rule "max-length": at most 1024 bytes.
// Characters are counted as Unicode code points; "special" is every code
// point that is not an ASCII letter or digit (so "é" and a space count).
//
// A refusal is kInvalidArgument whose message starts with "password refused
// (rule NAME)" and never contains the password. A missing dictionary is
// kFailedPrecondition: fail closed.
//
// The rules are checked in the order above but "encoding" and "max-length"
// first; the first that fails is named.
//
// Thread-safety: thread-safe (cracklib's checks are serialised: it keeps
// global state; zxcvbn's need not be).
#pragma once

#include <string_view>

#include "common/status.h"

namespace coffre::auth {

struct PasswordContext {
  // Refused in any form inside the password (pwquality's user check).
  std::string_view user_name;
  // Rules "dictionary" and "guessable". Off only in fuzzing and in tests of
  // the length rules.
  bool dictionary_check = true;
};

inline constexpr size_t kMaxPasswordBytes = 1024;

// The rule "guessable": passwords whose estimate is below 10^11 guesses
// are refused (ADR 0021 gives the estimates of examples).
inline constexpr double kMinGuessesLog10 = 11.0;

[[nodiscard]] Status CheckPassword(std::string_view password, const PasswordContext& context = {});

// zxcvbn's estimate, in decimal digits, of the guesses a cracker needs for
// `password` (valid UTF-8 without NUL) knowing `user_name`, as the rule
// "guessable" computes it.
double EstimateGuessesLog10(std::string_view password, std::string_view user_name = {});

}  // namespace coffre::auth
