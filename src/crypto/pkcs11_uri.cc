#include "crypto/pkcs11_uri.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace coffre::crypto {
namespace {

constexpr std::string_view kScheme = "pkcs11:";
// A PIN file is small; anything bigger is not one.
constexpr size_t kMaxPinBytes = 256;

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// `name` is shown in errors, never the value (it may be a PIN).
Result<std::string> PercentDecode(std::string_view in, std::string_view name) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%') {
      const int hi = i + 2 < in.size() ? HexDigit(in[i + 1]) : -1;
      const int lo = i + 2 < in.size() ? HexDigit(in[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        return Fail(ErrorCode::kInvalidArgument, "PKCS#11 URI: attribute '" + std::string(name) +
                                                     "' has a '%' not followed by two hex digits");
      }
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '"' || c == '<' ||
               c == '>' || c == '\\' || c == '^' || c == '`' || c == '{' || c == '}' || c == '#' ||
               c == '%') {
      return Fail(ErrorCode::kInvalidArgument,
                  "PKCS#11 URI: attribute '" + std::string(name) +
                      "' has a character that must be percent-encoded");
    } else {
      out.push_back(c);
    }
  }
  return out;
}

bool ValidName(std::string_view n) {
  if (n.empty() || !(n[0] >= 'a' && n[0] <= 'z')) return false;
  for (char c : n) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) return false;
  }
  return true;
}

std::optional<std::string>* PathSlot(Pkcs11Uri& u, std::string_view n) {
  if (n == "token") return &u.token;
  if (n == "manufacturer") return &u.manufacturer;
  if (n == "model") return &u.model;
  if (n == "serial") return &u.serial;
  if (n == "object") return &u.object;
  if (n == "id") return &u.id;
  if (n == "type") return &u.type;
  if (n == "slot-id") return &u.slot_id;
  if (n == "slot-description") return &u.slot_description;
  if (n == "slot-manufacturer") return &u.slot_manufacturer;
  if (n == "library-manufacturer") return &u.library_manufacturer;
  if (n == "library-description") return &u.library_description;
  if (n == "library-version") return &u.library_version;
  return nullptr;
}

std::optional<std::string>* QuerySlot(Pkcs11Uri& u, std::string_view n) {
  if (n == "module-path") return &u.module_path;
  if (n == "module-name") return &u.module_name;
  if (n == "pin-source") return &u.pin_source;
  if (n == "pin-value") return &u.pin_value;
  return nullptr;
}

// Splits `part` on `sep` into name=value attributes and stores them.
Status ParseAttributes(std::string_view part, char sep, bool path, Pkcs11Uri& u) {
  if (!part.empty() && part.back() == sep) {
    return Fail(ErrorCode::kInvalidArgument,
                std::string("PKCS#11 URI: an empty attribute (a '") + sep + "' at the end)");
  }
  while (!part.empty()) {
    size_t end = part.find(sep);
    std::string_view attr = part.substr(0, end);
    part = end == std::string_view::npos ? std::string_view() : part.substr(end + 1);
    if (attr.empty()) {
      return Fail(ErrorCode::kInvalidArgument,
                  std::string("PKCS#11 URI: an empty attribute (two '") + sep +
                      "' in a row, or one at the end)");
    }
    size_t eq = attr.find('=');
    if (eq == std::string_view::npos) {
      return Fail(ErrorCode::kInvalidArgument,
                  "PKCS#11 URI: an attribute without '=' (name=value expected)");
    }
    std::string_view name = attr.substr(0, eq);
    if (!ValidName(name)) {
      return Fail(ErrorCode::kInvalidArgument, "PKCS#11 URI: an attribute name is malformed");
    }
    COFFRE_ASSIGN_OR_RETURN(std::string value, PercentDecode(attr.substr(eq + 1), name));
    std::optional<std::string>* slot = path ? PathSlot(u, name) : QuerySlot(u, name);
    if (slot == nullptr) {
      auto& vendor = path ? u.vendor_path : u.vendor_query;
      for (const auto& [n, v] : vendor) {
        if (path && n == name) {
          return Fail(ErrorCode::kInvalidArgument,
                      "PKCS#11 URI: attribute '" + std::string(name) + "' is given twice");
        }
      }
      vendor.emplace_back(std::string(name), std::move(value));
      continue;
    }
    if (slot->has_value()) {
      return Fail(ErrorCode::kInvalidArgument,
                  "PKCS#11 URI: attribute '" + std::string(name) + "' is given twice");
    }
    *slot = std::move(value);
  }
  return Ok();
}

void AppendEncoded(std::string& out, std::string_view v) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : v) {
    auto b = static_cast<unsigned char>(c);
    bool plain = (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') ||
                 b == '-' || b == '.' || b == '_' || b == '~';
    if (plain) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[b >> 4]);
      out.push_back(kHex[b & 15]);
    }
  }
}

}  // namespace

std::string Pkcs11Uri::Identity() const {
  std::string out(kScheme);
  bool first = true;
  auto add = [&](std::string_view name, const std::optional<std::string>& v, bool all_hex) {
    if (!v) return;
    if (!first) out.push_back(';');
    first = false;
    out += name;
    out.push_back('=');
    if (all_hex) {
      static constexpr char kHex[] = "0123456789ABCDEF";
      for (unsigned char b : *v) {
        out.push_back('%');
        out.push_back(kHex[b >> 4]);
        out.push_back(kHex[b & 15]);
      }
    } else {
      AppendEncoded(out, *v);
    }
  };
  add("token", token, false);
  add("manufacturer", manufacturer, false);
  add("model", model, false);
  add("serial", serial, false);
  add("object", object, false);
  add("id", id, true);
  add("type", type, false);
  return out;
}

Result<Pkcs11Uri> ParsePkcs11Uri(std::string_view text) {
  if (text.size() < kScheme.size() ||
      !std::equal(kScheme.begin(), kScheme.end(), text.begin(),
                  [](char a, char b) { return a == (b >= 'A' && b <= 'Z' ? b - 'A' + 'a' : b); })) {
    return Fail(ErrorCode::kInvalidArgument, "a PKCS#11 URI starts with 'pkcs11:'");
  }
  text.remove_prefix(kScheme.size());
  Pkcs11Uri u;
  size_t q = text.find('?');
  COFFRE_TRY(ParseAttributes(text.substr(0, q), ';', true, u));
  if (q != std::string_view::npos) COFFRE_TRY(ParseAttributes(text.substr(q + 1), '&', false, u));
  return u;
}

Status CheckMasterKeyUri(const Pkcs11Uri& u) {
  if (u.pin_value) {
    return Fail(ErrorCode::kInvalidArgument,
                "PKCS#11 URI: pin-value is refused (a PIN in a URI sits in argv and config files); "
                "put the PIN in a file and name it with pin-source=file:/path");
  }
  if (!u.module_path) {
    return Fail(ErrorCode::kInvalidArgument,
                u.module_name
                    ? "PKCS#11 URI: module-name is not enough, coffre loads the module "
                      "named by module-path (an absolute path)"
                    : "PKCS#11 URI: module-path (the token's PKCS#11 library) is missing");
  }
  if (u.module_path->empty() || (*u.module_path)[0] != '/') {
    return Fail(ErrorCode::kInvalidArgument, "PKCS#11 URI: module-path must be an absolute path");
  }
  if (u.pin_source) {
    auto path = PinSourcePath(u);
    if (!path) return Fail(std::move(path).error());
  }
  if (u.type && *u.type != "secret-key") {
    return Fail(
        ErrorCode::kInvalidArgument,
        "PKCS#11 URI: the master key is a secret key (type=secret-key), not '" + *u.type + "'");
  }
  if (!u.object && !u.id) {
    return Fail(ErrorCode::kInvalidArgument,
                "PKCS#11 URI: name the key with object=LABEL (or id=...)");
  }
  if (u.object && u.object->empty()) {
    return Fail(ErrorCode::kInvalidArgument, "PKCS#11 URI: object (the key's label) is empty");
  }
  const char* unmatched = u.slot_id                ? "slot-id"
                          : u.slot_description     ? "slot-description"
                          : u.slot_manufacturer    ? "slot-manufacturer"
                          : u.library_manufacturer ? "library-manufacturer"
                          : u.library_description  ? "library-description"
                          : u.library_version      ? "library-version"
                                                   : nullptr;
  if (unmatched == nullptr && !u.vendor_path.empty()) unmatched = u.vendor_path[0].first.c_str();
  if (unmatched != nullptr) {
    return Fail(ErrorCode::kInvalidArgument,
                std::string("PKCS#11 URI: coffre does not select a key by '") + unmatched +
                    "'; use token, manufacturer, model, serial, object and id");
  }
  return Ok();
}

Result<std::string> PinSourcePath(const Pkcs11Uri& u) {
  if (!u.pin_source) return Fail(ErrorCode::kInvalidArgument, "PKCS#11 URI: no pin-source");
  std::string_view s = *u.pin_source;
  if (s.starts_with("file://")) {
    s.remove_prefix(7);  // file:///p (empty host) -> /p
  } else if (s.starts_with("file:")) {
    s.remove_prefix(5);
  }
  if (s.empty() || s[0] != '/') {
    return Fail(ErrorCode::kInvalidArgument,
                "PKCS#11 URI: pin-source must be file:/absolute/path (or an absolute path)");
  }
  return std::string(s);
}

Result<std::optional<std::string>> ReadPin(const Pkcs11Uri& u) {
  if (!u.pin_source) return std::optional<std::string>();
  COFFRE_ASSIGN_OR_RETURN(std::string path, PinSourcePath(u));
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return Fail(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kPermissionDenied,
                "cannot open the PKCS#11 PIN file " + path + ": " + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Fail(ErrorCode::kInvalidArgument, "the PKCS#11 PIN file " + path + " is not a file");
  }
  if ((st.st_mode & S_IRWXO) != 0) {
    ::close(fd);
    return Fail(ErrorCode::kPermissionDenied,
                "the PKCS#11 PIN file " + path + " is readable by others; chmod o-rwx it");
  }
  std::string pin(kMaxPinBytes + 1, '\0');
  size_t got = 0;
  while (got < pin.size()) {
    ssize_t n = ::read(fd, pin.data() + got, pin.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return Fail(ErrorCode::kIoError,
                  "cannot read the PKCS#11 PIN file " + path + ": " + std::strerror(err));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  if (got > kMaxPinBytes) {
    return Fail(ErrorCode::kInvalidArgument, "the PKCS#11 PIN file " + path + " is too long");
  }
  pin.resize(got);
  while (!pin.empty() && (pin.back() == '\n' || pin.back() == '\r')) pin.pop_back();
  return std::optional<std::string>(std::move(pin));
}

}  // namespace coffre::crypto
