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
//       passe"; docs/adr/0004-password-policy.md);
//   rule "dictionary": libpwquality's pwquality_check with its default
//       settings (cracklib dictionary from cracklib-runtime, palindromes,
//       the user name in any form);
//   rule "encoding": valid UTF-8 without control characters;
//   rule "max-length": at most 1024 bytes.
// Characters are counted as Unicode code points; "special" is every code
// point that is not an ASCII letter or digit (so "é" and a space count).
//
// A refusal is kInvalidArgument whose message starts with "password refused
// (rule NAME)" and never contains the password. A missing dictionary is
// kFailedPrecondition: fail closed.
//
// Thread-safety: thread-safe (dictionary checks are serialised: cracklib
// keeps global state).
#pragma once

#include <string_view>

#include "common/status.h"

namespace coffre::auth {

struct PasswordContext {
  // Refused in any form inside the password (pwquality's user check).
  std::string_view user_name;
  // Off only in fuzzing and in tests of the length rules.
  bool dictionary_check = true;
};

inline constexpr size_t kMaxPasswordBytes = 1024;

[[nodiscard]] Status CheckPassword(std::string_view password, const PasswordContext& context = {});

}  // namespace coffre::auth
