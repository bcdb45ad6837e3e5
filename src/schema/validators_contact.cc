// Contact types: email and phone.
#include <array>
#include <cstdint>

#include "schema/internal/utf8.h"
#include "schema/internal/validators.h"

namespace coffre::schema::internal {

namespace {

// Byte classes for email addresses, looked up instead of branched on: this
// runs once per imported person.
enum EmailClass : uint8_t {
  kAtext = 1,  // RFC 5322 atext: allowed in an unquoted local part
  kLabel = 2,  // allowed in a domain label, after lower-casing
  kBlank = 4,  // ASCII whitespace
  kCtrl = 8,   // other C0 controls and DEL
  kHigh = 16,  // non-ASCII byte
};

constexpr std::array<uint8_t, 256> MakeEmailClasses() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    uint8_t k = 0;
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (alnum || std::string_view("!#$%&'*+-/=?^_`{|}~").find(static_cast<char>(c)) !=
                     std::string_view::npos) {
      k |= kAtext;
    }
    if (alnum || c == '-') k |= kLabel;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') {
      k |= kBlank;
    } else if (c < 0x20 || c == 0x7F) {
      k |= kCtrl;
    }
    if (c >= 0x80) k |= kHigh;
    t[c] = k;
  }
  return t;
}

constexpr std::array<uint8_t, 256> kEmailClasses = MakeEmailClasses();

uint8_t EmailClassOf(char c) { return kEmailClasses[static_cast<unsigned char>(c)]; }

Rule CheckLocalPart(std::string_view local) {
  if (local.empty()) return "local part is empty";
  if (local.size() > 64) return "local part is longer than 64 characters";
  bool prev_dot = true;  // a leading dot counts as following a dot
  for (char c : local) {
    if (c == '.') {
      if (prev_dot) return "local part must not start or end with '.' or contain '..'";
      prev_dot = true;
    } else {
      if (!(EmailClassOf(c) & kAtext)) return "local part contains a character not allowed";
      prev_dot = false;
    }
  }
  if (prev_dot) return "local part must not start or end with '.' or contain '..'";
  return nullptr;
}

Rule CheckDomain(std::string_view domain) {
  if (domain.empty()) return "domain is empty";
  bool has_dot = false;
  size_t label_start = 0;
  for (size_t i = 0; i <= domain.size(); ++i) {
    if (i < domain.size() && domain[i] != '.') {
      if (!(EmailClassOf(domain[i]) & kLabel)) {
        return "domain labels may only contain a-z, 0-9 and '-'";
      }
      continue;
    }
    has_dot |= i < domain.size();
    const size_t len = i - label_start;
    if (len == 0) return "domain has an empty label";
    if (len > 63) return "domain label is longer than 63 characters";
    if (domain[label_start] == '-' || domain[i - 1] == '-') {
      return "domain labels must not start or end with '-'";
    }
    label_start = i + 1;
  }
  if (!has_dot) return "domain must contain a dot";
  return nullptr;
}

}  // namespace

Rule NormalizeEmail(std::string_view in, std::string& out) {
  in = TrimAscii(in);
  if (in.empty()) return kEmpty;
  if (in.size() > 254) return "is longer than 254 characters";
  size_t at = std::string_view::npos;
  uint8_t seen = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    seen |= EmailClassOf(in[i]);
    if (in[i] == '@') {
      if (at != std::string_view::npos) return "must contain exactly one '@'";
      at = i;
    }
  }
  if (seen & kBlank) return "must not contain spaces";
  if (seen & kCtrl) return "contains a control character";
  if (seen & kHigh) return "must be ASCII (internationalised domains in punycode)";
  if (at == std::string_view::npos) return "must contain exactly one '@'";

  // Lower-case once, then check the parts on the canonical bytes.
  const size_t start = out.size();
  out.append(in);
  for (size_t i = start; i < out.size(); ++i) out[i] = AsciiLower(out[i]);
  const std::string_view canon(out.data() + start, in.size());
  if (Rule r = CheckLocalPart(canon.substr(0, at))) return r;
  return CheckDomain(canon.substr(at + 1));
}

// Phone numbers are reduced to E.164 ("+<country><number>"), the only form
// under which two spellings of one number compare equal.
Rule NormalizePhone(std::string_view in, std::string& out) {
  in = TrimAscii(in);
  if (in.empty()) return kEmpty;
  constexpr Rule kLength = "must have 8 to 15 digits (E.164)";
  char digits[20];
  size_t n = 0;
  bool plus = false;
  int trunk_at = -1;  // digit position of a "(0)" trunk prefix, which is dropped
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (IsDigit(c)) {
      if (n == sizeof(digits)) return kLength;
      digits[n++] = c;
    } else if (c == '+') {
      if (i != 0) return "'+' is only allowed at the start";
      plus = true;
    } else if (c == '(' && i + 2 < in.size() && in[i + 1] == '0' && in[i + 2] == ')') {
      if (trunk_at >= 0) return "'(0)' may appear only once";
      trunk_at = static_cast<int>(n);
      i += 2;
    } else if (c != ' ' && c != '\t' && c != '.' && c != '-' && c != '(' && c != ')') {
      return "may only contain digits, '+', spaces, '.', '-', '(' and ')'";
    }
  }
  if (n == 0) return "has no digits";

  const bool has_trunk = trunk_at >= 0;
  const char* e164 = digits;
  size_t m = n;
  if (!plus) {
    if (has_trunk && !(n >= 2 && digits[0] == '0' && digits[1] == '0')) {
      return "'(0)' is only allowed after a country code";
    }
    if (n >= 2 && digits[0] == '0' && digits[1] == '0') {  // 00 international prefix
      e164 += 2;
      m -= 2;
      trunk_at -= 2;
    } else if (digits[0] == '0') {  // French national: 0X XX XX XX XX
      if (n != 10) return "French national number must have 10 digits";
      out.append("+33");
      out.append(digits + 1, 9);
      return nullptr;
    } else {
      return "must start with '+', '00' or, for a French number, '0'";
    }
  }
  if (has_trunk && (trunk_at < 1 || trunk_at > 3)) return "'(0)' must follow the country code";
  if (m == 0) return "has no digits";
  if (e164[0] == '0') return "country code must not start with 0";
  if (m < 8 || m > 15) return kLength;
  if (e164[0] == '3' && e164[1] == '3') {
    if (m != 11) return "French number must have 9 digits after +33";
    if (e164[2] == '0') return "French number must not have a 0 after +33";
  }
  out.push_back('+');
  out.append(e164, m);
  return nullptr;
}

}  // namespace coffre::schema::internal
