#include "auth/totp.h"

#include <liboath/oath.h>
#include <qrencode.h>

#include <array>
#include <memory>
#include <mutex>

#include "crypto/crypto.h"

namespace coffre::auth::totp {
namespace {

constexpr std::string_view kBase32Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

int Base32Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= '2' && c <= '7') return c - '2' + 26;
  return -1;
}

bool OathReady() {
  static const bool ready = oath_init() == OATH_OK;
  return ready;
}

}  // namespace

std::string Base32Encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 8 + 4) / 5);
  uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char b : bytes) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out.push_back(kBase32Alphabet[(buffer >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  if (bits > 0) out.push_back(kBase32Alphabet[(buffer << (5 - bits)) & 31]);
  return out;
}

Result<std::string> Base32Decode(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  // Lengths 1, 3 and 6 (mod 8) encode no whole number of bytes.
  const size_t tail = text.size() % 8;
  if (tail == 1 || tail == 3 || tail == 6) {
    return Fail(ErrorCode::kInvalidArgument, "base32: invalid length");
  }
  std::string out;
  out.reserve(text.size() * 5 / 8);
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    const int v = Base32Value(c);
    if (v < 0) return Fail(ErrorCode::kInvalidArgument, "base32: invalid character");
    buffer = (buffer << 5) | static_cast<uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      out.push_back(static_cast<char>((buffer >> (bits - 8)) & 0xff));
      bits -= 8;
    }
  }
  // Canonical form: the unused low bits of the last character are zero.
  if ((buffer & ((1u << bits) - 1)) != 0) {
    return Fail(ErrorCode::kInvalidArgument, "base32: non-canonical trailing bits");
  }
  return out;
}

int64_t StepAt(int64_t unix_seconds) {
  // Floor division: times before the epoch never occur in practice, but the
  // result must still be monotonic.
  return unix_seconds >= 0 ? unix_seconds / kPeriodSeconds
                           : -((-unix_seconds + kPeriodSeconds - 1) / kPeriodSeconds);
}

Result<std::string> Generate(std::string_view secret, int64_t unix_seconds, int digits) {
  if (digits < 6 || digits > 8) {
    return Fail(ErrorCode::kInvalidArgument, "totp: digits must be 6, 7 or 8");
  }
  if (!OathReady()) return Fail(ErrorCode::kInternal, "totp: liboath failed to initialise");
  std::array<char, 16> out{};
  const int rc = oath_totp_generate(secret.data(), secret.size(), static_cast<time_t>(unix_seconds),
                                    kPeriodSeconds, 0, static_cast<unsigned>(digits), out.data());
  if (rc != OATH_OK) return Fail(ErrorCode::kInternal, "totp: code generation failed");
  return std::string(out.data());
}

std::optional<int64_t> Verify(std::string_view secret, std::string_view code, int64_t unix_seconds,
                              int64_t last_step) {
  if (code.size() != static_cast<size_t>(kDigits)) return std::nullopt;
  for (char c : code) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  const int64_t now_step = StepAt(unix_seconds);
  std::optional<int64_t> matched;
  // Every candidate is computed and compared, so the time taken does not
  // say which step matched.
  for (int64_t step = now_step - kWindowSteps; step <= now_step + kWindowSteps; ++step) {
    auto expected = Generate(secret, step * kPeriodSeconds, kDigits);
    if (!expected) return std::nullopt;
    if (crypto::ConstantTimeEquals(*expected, code) && step > last_step && !matched) {
      matched = step;
    }
  }
  return matched;
}

Status ValidateIssuer(std::string_view issuer) {
  bool ok = !issuer.empty() && issuer.size() <= 64;
  for (char c : issuer) ok = ok && c >= 0x20 && c < 0x7f && c != ':';
  if (!ok) {
    return Fail(ErrorCode::kInvalidArgument,
                "TOTP issuer must be 1 to 64 printable ASCII characters without ':'");
  }
  return Ok();
}

namespace {

std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace

std::string OtpauthUri(std::string_view account, std::string_view secret, std::string_view issuer) {
  const std::string encoded_issuer = PercentEncode(issuer);
  std::string uri = "otpauth://totp/";
  uri.append(encoded_issuer).append(":");
  uri.append(account);
  uri.append("?secret=");
  uri.append(Base32Encode(secret));
  uri.append("&issuer=").append(encoded_issuer).append("&algorithm=SHA1&digits=");
  uri.append(std::to_string(kDigits));
  uri.append("&period=");
  uri.append(std::to_string(kPeriodSeconds));
  return uri;
}

Result<std::string> QrText(std::string_view text, QrStyle style) {
  const std::string owned(text);  // qrencode wants a NUL-terminated string
  std::unique_ptr<QRcode, decltype(&QRcode_free)> qr(
      QRcode_encodeString(owned.c_str(), 0, QR_ECLEVEL_M, QR_MODE_8, 1), &QRcode_free);
  if (!qr) return Fail(ErrorCode::kInvalidArgument, "qr: text too long to encode");
  constexpr int kQuiet = 2;
  const int width = qr->width;
  const int size = width + 2 * kQuiet;
  auto dark = [&](int x, int y) {
    x -= kQuiet;
    y -= kQuiet;
    if (x < 0 || y < 0 || x >= width || y >= width) return false;
    return (qr->data[y * width + x] & 1) != 0;
  };
  // Which modules are drawn as ink: the dark ones on a light field (set by
  // colours, or the caller's), else the light ones on a dark background.
  const bool ink_dark = style != QrStyle::kLightOnDark;
  std::string out;
  for (int y = 0; y < size; y += 2) {
    if (style == QrStyle::kAnsi) out += "\x1b[30;107m";
    for (int x = 0; x < size; ++x) {
      const bool top = dark(x, y) == ink_dark;
      // Below the last row: nothing drawn.
      const bool bottom = y + 1 < size ? dark(x, y + 1) == ink_dark : false;
      if (top && bottom) {
        out += "\u2588";
      } else if (top) {
        out += "\u2580";
      } else if (bottom) {
        out += "\u2584";
      } else {
        out += ' ';
      }
    }
    if (style == QrStyle::kAnsi) out += "\x1b[0m";
    out += '\n';
  }
  return out;
}

}  // namespace coffre::auth::totp
