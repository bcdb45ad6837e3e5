// TOTP (RFC 6238, HMAC-SHA-1) for human principals' second factor, and the
// text a terminal shows at enrolment: the base32 secret, the otpauth URI and
// a QR code drawn with Unicode half blocks.
//
//   std::string secret = crypto::RandomString(totp::kSecretBytes);
//   std::string uri = totp::OtpauthUri("alice", secret);
//   auto qr = totp::QrText(uri);                       // print *qr
//   auto code = totp::Generate(secret, now);           // "123456"
//   auto step = totp::Verify(secret, "123456", now, last_step);
//   if (step) last_step = *step;                       // remember: no replay
//
// Codes are checked at the current 30-second step and one step either side
// (clock drift between phone and server); a step at or before `last_step`
// is never accepted again, so an observed code cannot be replayed.
//
// HMAC-SHA-1 comes from liboath (libsodium has no SHA-1).
// Thread-safety: free functions, thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace coffre::auth::totp {

inline constexpr size_t kSecretBytes = 20;  // RFC 4226 recommends 160 bits
inline constexpr int64_t kPeriodSeconds = 30;
inline constexpr int kDigits = 6;
inline constexpr int64_t kWindowSteps = 1;  // accepted drift, in steps

// RFC 4648 base32, upper case, without padding.
std::string Base32Encode(std::string_view bytes);
// Accepts upper or lower case, optional '=' padding at the end; refuses any
// other character or a non-canonical length (kInvalidArgument).
Result<std::string> Base32Decode(std::string_view text);

// The time step that contains `unix_seconds`.
int64_t StepAt(int64_t unix_seconds);

// The code for `unix_seconds`, `digits` in 6..8, zero-padded.
Result<std::string> Generate(std::string_view secret, int64_t unix_seconds, int digits = kDigits);

// The matching step when `code` (exactly kDigits ASCII digits) is the code of
// a step within kWindowSteps of `unix_seconds` and after `last_step` (pass -1
// when no code was ever accepted); nullopt otherwise.
[[nodiscard]] std::optional<int64_t> Verify(std::string_view secret, std::string_view code,
                                            int64_t unix_seconds, int64_t last_step);

inline constexpr std::string_view kDefaultIssuer = "coffre";

// An issuer (the name an authenticator app shows above the code): 1 to 64
// printable ASCII characters, no ':' (it separates issuer and account in
// the label). kInvalidArgument naming the rule.
[[nodiscard]] Status ValidateIssuer(std::string_view issuer);

// otpauth://totp/ISSUER:ACCOUNT?secret=BASE32&issuer=ISSUER&algorithm=SHA1&digits=6&period=30
// with ISSUER percent-encoded (RFC 3986 unreserved characters kept).
// `account` must be URI-safe (principal names are: [a-z0-9._-]); `issuer`
// must pass ValidateIssuer.
std::string OtpauthUri(std::string_view account, std::string_view secret,
                       std::string_view issuer = kDefaultIssuer);

// How QrText draws: the terminal's background is unknown, so either colours
// are set explicitly (kAnsi: black modules on a white field, readable on
// dark and light terminals alike) or the caller says which background the
// text will be shown on.
enum class QrStyle {
  kAnsi,         // ANSI colours (30;107), reset at the end of every line
  kDarkOnLight,  // dark modules drawn as ink: light background (paper, files)
  kLightOnDark,  // light modules drawn as ink: dark background, no colours
};

// `text` as a QR code (error correction M) drawn with "█▀▄ " in rows of two
// modules, with a 2-module quiet zone. Lines end with '\n'.
Result<std::string> QrText(std::string_view text, QrStyle style = QrStyle::kAnsi);

}  // namespace coffre::auth::totp
