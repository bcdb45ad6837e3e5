#include "cards/card_rules.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <new>

#include <boost/json.hpp>

#include "schema/card_names.h"

namespace coffre::cards {
namespace {

namespace json = boost::json;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsIdentifierKey(std::string_view key) {
  if (key.empty() || key.size() > 63) return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  });
}

std::string NameOf(std::string_view key) {
  return IsIdentifierKey(key) ? "'" + std::string(key) + "'" : std::string("a member");
}

std::string CodeNameMessage(std::string_view key) {
  return "card security codes (CVV, CVC, cryptogram) and PINs are never accepted: the request has a key named "
         "like one (" + NameOf(key) + "); nothing was stored";
}

std::string LoneDigitsMessage(std::string_view key) {
  return NameOf(key) + " holds a lone 3- or 4-digit value beside a card number, which is how a security code "
         "(CVV) looks: it is never accepted; nothing was stored";
}

// A string of 12 to 19 digits (spaces and '-' allowed) that passes Luhn.
// No allocation: it runs on every string of every imported row.
bool LooksLikePanValue(std::string_view s) {
  if (s.size() < 12 || s.size() > 64) return false;
  size_t digits = 0;
  for (char c : s) {
    if (IsDigit(c)) {
      ++digits;
    } else if (c != ' ' && c != '-') {
      return false;
    }
  }
  if (digits < 12 || digits > 19) return false;
  int sum = 0;
  size_t k = 0;
  for (size_t i = s.size(); i-- > 0;) {
    if (!IsDigit(s[i])) continue;
    int d = s[i] - '0';
    if (k++ % 2 == 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 == 0;
}

// ASCII whitespace: space, \t, \n, \v, \f, \r (a "123\n" is still 3 digits).
bool IsAsciiSpace(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

bool IsLoneDigitsString(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && IsAsciiSpace(s[b])) ++b;
  while (e > b && IsAsciiSpace(s[e - 1])) --e;
  size_t n = e - b;
  if (n != 3 && n != 4) return false;
  for (size_t i = b; i < e; ++i) {
    if (!IsDigit(s[i])) return false;
  }
  return true;
}

bool IsLoneDigitsInteger(int64_t v) { return v >= 100 && v <= 9999; }

// One member of an object, as the checks see it.
struct Member {
  std::string_view key;
  enum Kind { kString, kInteger, kOther } kind = kOther;
  std::string_view text;
  int64_t integer = 0;
  ValueHint hint = ValueHint::kUnknown;
  // The schema field the member is, if any: its name is already read.
  const schema::FieldDef* def = nullptr;
  schema::KeyClass names;  // filled by CheckMembers
};

// The rules on the members of one object (not their children).
std::optional<std::string> CheckMembers(Member* members, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    Member& m = members[i];
    if (m.def != nullptr) {
      m.names = m.def->name_class;
      m.hint = HintFor(m.def);
    } else {
      m.names = schema::ClassifyKey(m.key);
    }
    if (m.names.security_code) return CodeNameMessage(m.key);
  }
  bool carries_pan = false;
  for (size_t i = 0; i < n && !carries_pan; ++i) {
    const Member& m = members[i];
    carries_pan = m.names.pan || m.hint == ValueHint::kCardNumber ||
                  (m.hint == ValueHint::kUnknown && !m.names.other_number && m.kind == Member::kString &&
                   LooksLikePanValue(m.text));
  }
  if (!carries_pan) return std::nullopt;
  for (size_t i = 0; i < n; ++i) {
    const Member& m = members[i];
    if (m.names.pan || m.names.date || m.hint == ValueHint::kCardNumber) continue;
    bool lone = (m.kind == Member::kString && IsLoneDigitsString(m.text)) ||
                (m.kind == Member::kInteger && IsLoneDigitsInteger(m.integer));
    if (lone) return LoneDigitsMessage(m.key);
  }
  return std::nullopt;
}

Member FromJson(std::string_view key, const json::value& x) {
  Member m;
  m.key = key;
  if (x.is_string()) {
    m.kind = Member::kString;
    m.text = std::string_view(x.get_string().data(), x.get_string().size());
  } else if (x.is_int64()) {
    m.kind = Member::kInteger;
    m.integer = x.get_int64();
  }  // a uint64 is beyond int64: not 3 or 4 digits
  return m;
}

// `typed`: the collection whose fields the members of `v` are (a record's
// "fields" object), or null.
std::optional<std::string> Walk(const json::value& v, const schema::Collection* typed) {
  if (v.is_array()) {
    for (const json::value& item : v.get_array()) {
      if (auto why = Walk(item, nullptr)) return why;
    }
    return std::nullopt;
  }
  if (!v.is_object()) return std::nullopt;
  const json::object& o = v.get_object();
  std::vector<Member> members;
  members.reserve(o.size());
  for (const auto& kv : o) {
    std::string_view key(kv.key().data(), kv.key().size());
    members.push_back(FromJson(key, kv.value()));
    if (typed != nullptr) members.back().def = typed->Find(key);
  }
  if (auto why = CheckMembers(members.data(), members.size())) return why;
  for (const auto& kv : o) {
    if (auto why = Walk(kv.value(), nullptr)) return why;
  }
  return std::nullopt;
}

// A record body: its top-level "fields" object holds `collection`'s fields.
std::optional<std::string> WalkRecordBody(const json::value& v, const schema::Collection& collection) {
  if (!v.is_object()) return Walk(v, nullptr);
  const json::object& o = v.get_object();
  std::vector<Member> members;
  members.reserve(o.size());
  for (const auto& kv : o) members.push_back(FromJson(std::string_view(kv.key().data(), kv.key().size()), kv.value()));
  if (auto why = CheckMembers(members.data(), members.size())) return why;
  for (const auto& kv : o) {
    const bool fields = kv.key() == "fields" && kv.value().is_object();
    if (auto why = Walk(kv.value(), fields ? &collection : nullptr)) return why;
  }
  return std::nullopt;
}

std::optional<json::value> ParseBody(std::string_view body) {
  if (body.empty()) return std::nullopt;
  boost::system::error_code ec;
  json::value v = json::parse(json::string_view(body.data(), body.size()), ec);
  if (ec) return std::nullopt;
  return v;
}

}  // namespace

ValueHint HintFor(const schema::FieldDef* def) {
  if (def == nullptr) return ValueHint::kUnknown;
  switch (def->type) {
    case schema::FieldType::kPan: return ValueHint::kCardNumber;
    case schema::FieldType::kNir:
    case schema::FieldType::kIban:
    case schema::FieldType::kPhone:
    case schema::FieldType::kEmail:
    case schema::FieldType::kDate:
    case schema::FieldType::kInteger:
    case schema::FieldType::kBoolean:
    case schema::FieldType::kEnum: return ValueHint::kOtherNumber;
    case schema::FieldType::kText:
    case schema::FieldType::kName:
    case schema::FieldType::kPostalAddress: return ValueHint::kUnknown;
  }
  return ValueHint::kUnknown;
}

std::optional<std::string> FindSecurityCode(const json::value& value) { return Walk(value, nullptr); }

std::optional<std::string> FindSecurityCodeInBody(std::string_view body) {
  auto v = ParseBody(body);
  if (!v) return std::nullopt;
  return Walk(*v, nullptr);
}

std::optional<std::string> FindSecurityCodeInRecordBody(std::string_view body,
                                                        const schema::Collection& collection) {
  auto v = ParseBody(body);
  if (!v) return std::nullopt;
  return WalkRecordBody(*v, collection);
}

std::optional<std::string> FindSecurityCodeInRow(std::string_view row, const schema::Collection& collection) {
  auto v = ParseBody(row);
  if (!v) return std::nullopt;
  return Walk(*v, v->is_object() ? &collection : nullptr);
}

std::optional<std::string> FindSecurityCodeInFields(
    const std::vector<std::pair<std::string_view, schema::Input>>& fields, const schema::FieldDef* const* defs) {
  // On the stack for rows of up to 64 fields (every imported row comes
  // here), and only the members used are constructed.
  constexpr size_t kInline = 64;
  alignas(Member) unsigned char inline_storage[kInline * sizeof(Member)];
  std::vector<Member> heap;
  Member* members = reinterpret_cast<Member*>(inline_storage);
  if (fields.size() > kInline) {
    heap.resize(fields.size());
    members = heap.data();
  }
  for (size_t i = 0; i < fields.size(); ++i) {
    const auto& [key, in] = fields[i];
    Member& m = *new (&members[i]) Member{};
    m.key = key;
    if (in.kind == schema::Input::Kind::kString) {
      m.kind = Member::kString;
      m.text = in.text;
    } else if (in.kind == schema::Input::Kind::kInteger) {
      m.kind = Member::kInteger;
      m.integer = in.integer;
    }
    if (defs != nullptr) m.def = defs[i];
  }
  return CheckMembers(members, fields.size());
}

std::optional<std::string> FindSecurityCodeInFields(
    const std::vector<std::pair<std::string_view, schema::Input>>& fields, const schema::Collection* collection) {
  if (collection == nullptr) return FindSecurityCodeInFields(fields, static_cast<const schema::FieldDef* const*>(nullptr));
  std::vector<const schema::FieldDef*> defs(fields.size());
  for (size_t i = 0; i < fields.size(); ++i) defs[i] = collection->Find(fields[i].first);
  return FindSecurityCodeInFields(fields, defs.data());
}

bool PassesLuhn(std::string_view digits) {
  if (digits.empty()) return false;
  int sum = 0;
  for (size_t k = 0; k < digits.size(); ++k) {
    char c = digits[digits.size() - 1 - k];
    if (!IsDigit(c)) return false;
    int d = c - '0';
    if (k % 2 == 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 == 0;
}

Result<std::string> NormalizePan(std::string_view text) {
  std::string digits;
  for (char c : text) {
    if (c == ' ' || c == '-') continue;
    if (!IsDigit(c)) return Fail(ErrorCode::kInvalidArgument, "'pan' may only contain digits, spaces and '-'");
    if (digits.size() == 19) return Fail(ErrorCode::kInvalidArgument, "'pan' must have 12 to 19 digits");
    digits += c;
  }
  if (digits.size() < 12) return Fail(ErrorCode::kInvalidArgument, "'pan' must have 12 to 19 digits");
  if (!PassesLuhn(digits)) return Fail(ErrorCode::kInvalidArgument, "'pan' fails the Luhn check");
  return digits;
}

std::string Expiry::Text() const {
  std::string s(5, '/');
  s[0] = static_cast<char>('0' + month / 10);
  s[1] = static_cast<char>('0' + month % 10);
  s[3] = static_cast<char>('0' + (year % 100) / 10);
  s[4] = static_cast<char>('0' + year % 10);
  return s;
}

namespace {
// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

int64_t MonthStart(int64_t year, int64_t month0) {  // month0 may exceed 11
  year += month0 / 12;
  month0 %= 12;
  return DaysFromCivil(year, static_cast<unsigned>(month0 + 1), 1) * 86400;
}
}  // namespace

int64_t Expiry::EndUnixSeconds() const { return MonthStart(year, month); }

int64_t Expiry::EndPlusMonthsUnixSeconds(int months) const { return MonthStart(year, month + months); }

Result<Expiry> ParseExpiry(std::string_view text) {
  if (text.size() != 5 || text[2] != '/' || !IsDigit(text[0]) || !IsDigit(text[1]) || !IsDigit(text[3]) ||
      !IsDigit(text[4])) {
    return Fail(ErrorCode::kInvalidArgument, "'expiry' must read MM/YY (two digits, '/', two digits)");
  }
  Expiry e;
  e.month = (text[0] - '0') * 10 + (text[1] - '0');
  e.year = 2000 + (text[3] - '0') * 10 + (text[4] - '0');
  if (e.month < 1 || e.month > 12) return Fail(ErrorCode::kInvalidArgument, "'expiry': the month must be 01 to 12");
  return e;
}

// ---------------------------------------------------------------- tokens

namespace {

constexpr size_t kIdDigits = 39;  // 2^128 - 1 has 39 decimal digits

// The 16 big-endian bytes as 39 decimal digits, zero-padded; nullopt when
// `id` is not 16 bytes (a store key of another length, say).
std::optional<std::string> IdToDecimal(std::string_view id) {
  if (id.size() != kCardIdBytes) return std::nullopt;
  std::array<unsigned char, kCardIdBytes> n{};
  std::copy(id.begin(), id.end(), n.begin());
  std::string digits(kIdDigits, '0');
  for (size_t pos = kIdDigits; pos-- > 0;) {
    unsigned rem = 0;
    for (unsigned char& b : n) {
      unsigned cur = (rem << 8) | b;
      b = static_cast<unsigned char>(cur / 10);
      rem = cur % 10;
    }
    digits[pos] = static_cast<char>('0' + rem);
  }
  return digits;
}

// Back; nullopt when the number is 2^128 or more.
std::optional<std::string> DecimalToId(std::string_view digits) {
  std::array<unsigned char, kCardIdBytes> n{};
  for (char c : digits) {
    unsigned carry = static_cast<unsigned>(c - '0');
    for (size_t i = kCardIdBytes; i-- > 0;) {
      unsigned cur = n[i] * 10u + carry;
      n[i] = static_cast<unsigned char>(cur & 0xff);
      carry = cur >> 8;
    }
    if (carry != 0) return std::nullopt;
  }
  return std::string(reinterpret_cast<const char*>(n.data()), n.size());
}

// The digit at position 40 for `id_digits` and `last4`: the one that would
// make the 44 digits pass Luhn, plus 5 (mod 10), so that they fail it. The
// position is not doubled by Luhn (fifth from the right), so any other
// digit changes the sum by a non-multiple of 10.
char CheckDigit(std::string_view id_digits, std::string_view last4) {
  std::string all(id_digits);
  all += '0';
  all += last4;
  for (char c = '0'; c <= '9'; ++c) {
    all[kIdDigits] = c;
    if (PassesLuhn(all)) return static_cast<char>('0' + (c - '0' + 5) % 10);
  }
  return '0';  // unreachable: one digit always completes a Luhn sum
}

}  // namespace

Result<std::string> MakeToken(std::string_view card_id, std::string_view last4) {
  auto decimal = IdToDecimal(card_id);
  if (!decimal) return Fail(ErrorCode::kInvalidArgument, "a card id is 16 bytes");
  if (last4.size() != 4 || !std::all_of(last4.begin(), last4.end(), IsDigit)) {
    return Fail(ErrorCode::kInvalidArgument, "a card's last 4 are 4 digits");
  }
  const std::string& id_digits = *decimal;
  std::string t(kTokenPrefix);
  t += id_digits;
  t += CheckDigit(id_digits, last4);
  t += last4;
  return t;
}

Result<ParsedToken> ParseToken(std::string_view token) {
  auto bad = [] { return Fail(ErrorCode::kInvalidArgument, "not a card token (ct_ and 44 digits)"); };
  if (token.size() != kTokenPrefix.size() + kTokenDigits || token.substr(0, kTokenPrefix.size()) != kTokenPrefix) {
    return bad();
  }
  std::string_view digits = token.substr(kTokenPrefix.size());
  if (!std::all_of(digits.begin(), digits.end(), IsDigit)) return bad();
  std::string_view id_digits = digits.substr(0, kIdDigits);
  std::string_view last4 = digits.substr(kIdDigits + 1);
  if (digits[kIdDigits] != CheckDigit(id_digits, last4)) return bad();
  auto id = DecimalToId(id_digits);
  if (!id) return bad();
  return ParsedToken{std::move(*id), std::string(last4)};
}

}  // namespace coffre::cards
