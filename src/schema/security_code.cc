#include "schema/security_code.h"

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cctype>
#include <new>

#include "schema/card_names.h"

namespace coffre::schema {
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
  return "card security codes (CVV, CVC, cryptogram) and PINs are never accepted: the request has "
         "a key named "
         "like one (" +
         NameOf(key) + "); nothing was stored";
}

std::string LoneDigitsMessage(std::string_view key) {
  return NameOf(key) +
         " holds a lone 3- or 4-digit value beside a card number, which is how a security code "
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
  const FieldDef* def = nullptr;
  KeyClass names;  // filled by CheckMembers
};

// The rules on the members of one object (not their children).
std::optional<std::string> CheckMembers(Member* members, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    Member& m = members[i];
    if (m.def != nullptr) {
      m.names = m.def->name_class;
      m.hint = HintFor(m.def);
    } else {
      m.names = ClassifyKey(m.key);
    }
    if (m.names.security_code) return CodeNameMessage(m.key);
  }
  bool carries_pan = false;
  for (size_t i = 0; i < n && !carries_pan; ++i) {
    const Member& m = members[i];
    carries_pan = m.names.pan || m.hint == ValueHint::kCardNumber ||
                  (m.hint == ValueHint::kUnknown && !m.names.other_number &&
                   m.kind == Member::kString && LooksLikePanValue(m.text));
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
std::optional<std::string> Walk(const json::value& v, const Collection* typed) {
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
std::optional<std::string> WalkRecordBody(const json::value& v, const Collection& collection) {
  if (!v.is_object()) return Walk(v, nullptr);
  const json::object& o = v.get_object();
  std::vector<Member> members;
  members.reserve(o.size());
  for (const auto& kv : o)
    members.push_back(FromJson(std::string_view(kv.key().data(), kv.key().size()), kv.value()));
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

ValueHint HintFor(const FieldDef* def) {
  if (def == nullptr) return ValueHint::kUnknown;
  switch (def->type) {
    case FieldType::kPan:
      return ValueHint::kCardNumber;
    case FieldType::kNir:
    case FieldType::kIban:
    case FieldType::kPhone:
    case FieldType::kEmail:
    case FieldType::kDate:
    case FieldType::kInteger:
    case FieldType::kBoolean:
    case FieldType::kEnum:
      return ValueHint::kOtherNumber;
    case FieldType::kText:
    case FieldType::kName:
    case FieldType::kPostalAddress:
      return ValueHint::kUnknown;
  }
  return ValueHint::kUnknown;
}

std::optional<std::string> FindSecurityCode(const json::value& value) {
  return Walk(value, nullptr);
}

std::optional<std::string> FindSecurityCodeInBody(std::string_view body) {
  auto v = ParseBody(body);
  if (!v) return std::nullopt;
  return Walk(*v, nullptr);
}

std::optional<std::string> FindSecurityCodeInRecordBody(std::string_view body,
                                                        const Collection& collection) {
  auto v = ParseBody(body);
  if (!v) return std::nullopt;
  return WalkRecordBody(*v, collection);
}

std::optional<std::string> FindSecurityCodeInRow(std::string_view row,
                                                 const Collection& collection) {
  auto v = ParseBody(row);
  if (!v) return std::nullopt;
  return Walk(*v, v->is_object() ? &collection : nullptr);
}

std::optional<std::string> FindSecurityCodeInFields(
    const std::vector<std::pair<std::string_view, Input>>& fields, const FieldDef* const* defs) {
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
    if (in.kind == Input::Kind::kString) {
      m.kind = Member::kString;
      m.text = in.text;
    } else if (in.kind == Input::Kind::kInteger) {
      m.kind = Member::kInteger;
      m.integer = in.integer;
    }
    if (defs != nullptr) m.def = defs[i];
  }
  return CheckMembers(members, fields.size());
}

std::optional<std::string> FindSecurityCodeInFields(
    const std::vector<std::pair<std::string_view, Input>>& fields, const Collection* collection) {
  if (collection == nullptr)
    return FindSecurityCodeInFields(fields, static_cast<const FieldDef* const*>(nullptr));
  std::vector<const FieldDef*> defs(fields.size());
  for (size_t i = 0; i < fields.size(); ++i) defs[i] = collection->Find(fields[i].first);
  return FindSecurityCodeInFields(fields, defs.data());
}
}  // namespace coffre::schema
