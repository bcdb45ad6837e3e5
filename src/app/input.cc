#include "app/internal/input.h"

#include <algorithm>

#include "common/bytes.h"
#include "common/names.h"
#include "common/time_text.h"

namespace coffre::app::internal {
namespace json = boost::json;

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%') {
      if (i + 2 >= s.size())
        return Fail(ErrorCode::kInvalidArgument, "the query string has a bad escape");
      int hi = HexValue(s[i + 1]);
      int lo = HexValue(s[i + 2]);
      if (hi < 0 || lo < 0)
        return Fail(ErrorCode::kInvalidArgument, "the query string has a bad escape");
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

OpResult<json::object> ParseObjectBody(std::string_view body) {
  if (body.size() > kMaxBodyBytes)
    return tl::unexpected(PayloadTooLarge("the body is larger than 1 MiB"));
  json::parse_options options;
  options.max_depth = 32;
  boost::system::error_code ec;
  json::value v = json::parse(body, ec, {}, options);
  if (ec) return tl::unexpected(InvalidJson("the body is not valid JSON"));
  if (!v.is_object()) return tl::unexpected(InvalidJson("the body must be a JSON object"));
  return std::move(v.as_object());
}

OpResult<void> CheckKeys(const json::object& object,
                         std::initializer_list<std::string_view> allowed,
                         std::initializer_list<std::string_view> required) {
  std::string list;
  for (std::string_view a : allowed) {
    if (!list.empty()) list += ", ";
    list += a;
  }
  for (const auto& kv : object) {
    bool ok = false;
    for (std::string_view a : allowed) ok = ok || kv.key() == a;
    // The key is named only if it is an identifier: it is the client's text.
    if (!ok) {
      return tl::unexpected(InvalidRequest(
          "the body has an unknown key " + QuotedName(kv.key()) +
          (list.empty() ? " (this route takes an empty object)" : " (allowed: " + list + ")")));
    }
  }
  for (std::string_view r : required) {
    if (!object.contains(r))
      return tl::unexpected(InvalidRequest("the body lacks '" + std::string(r) + "'"));
  }
  return {};
}

OpResult<std::optional<std::string_view>> StringMember(const json::object& object,
                                                       std::string_view key) {
  auto it = object.find(key);
  if (it == object.end()) return std::optional<std::string_view>();
  if (!it->value().is_string())
    return tl::unexpected(InvalidRequest("'" + std::string(key) + "' must be a string"));
  return std::optional<std::string_view>(it->value().get_string());
}

Result<std::vector<std::pair<std::string, std::string>>> ParseQuery(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t pos = 0;
  while (pos < query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string_view::npos) amp = query.size();
    std::string_view part = query.substr(pos, amp - pos);
    pos = amp + 1;
    if (part.empty()) continue;
    size_t eq = part.find('=');
    COFFRE_ASSIGN_OR_RETURN(std::string key, PercentDecode(part.substr(0, eq)));
    COFFRE_ASSIGN_OR_RETURN(std::string value,
                            PercentDecode(eq == std::string_view::npos ? "" : part.substr(eq + 1)));
    for (const auto& kv : out) {
      if (kv.first == key)
        return Fail(ErrorCode::kInvalidArgument, "a query parameter is repeated");
    }
    out.emplace_back(std::move(key), std::move(value));
  }
  return out;
}

OpResult<std::string> ParseHexId(std::string_view hex, std::string_view what) {
  auto id = ParseId(hex, what);
  if (!id) return tl::unexpected(InvalidRequest(id.error().message));
  return std::move(*id);
}

// Form decoding turns an unescaped '+' into a space, and a time holds no
// space: "10:00:00+01:00" typed into a URL arrives as "10:00:00 01:00".
Result<int64_t> ParseQueryTime(std::string value, std::string_view key) {
  std::replace(value.begin(), value.end(), ' ', '+');
  return ParseTime(value, key == "to" ? TimeBound::kTo : TimeBound::kFrom, key);
}

Result<std::string> RequiredString(const boost::json::object& object, std::string_view key) {
  auto it = object.find(key);
  if (it == object.end() || !it->value().is_string()) {
    return Fail(ErrorCode::kInvalidArgument, "'" + std::string(key) + "' is required (a string)");
  }
  return std::string(it->value().get_string());
}

Result<std::optional<std::string>> OptionalString(const boost::json::object& object,
                                                  std::string_view key) {
  auto it = object.find(key);
  if (it == object.end() || it->value().is_null()) return std::optional<std::string>();
  if (!it->value().is_string()) {
    return Fail(ErrorCode::kInvalidArgument, "'" + std::string(key) + "' must be a string");
  }
  return std::optional<std::string>(std::string(it->value().get_string()));
}

}  // namespace coffre::app::internal
