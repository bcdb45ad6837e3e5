// PKCS#11 URIs (RFC 7512): the name of a key inside a token, with the module
// that reaches the token and where its PIN is.
//
//   auto uri = crypto::ParsePkcs11Uri(
//       "pkcs11:token=coffre;object=master"
//       "?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/coffre/pin");
//   COFFRE_TRY(crypto::CheckMasterKeyUri(*uri));   // what coffre needs of it
//   auto pin = crypto::ReadPin(*uri);              // from pin-source, if any
//
// ParsePkcs11Uri is the RFC's syntax: attributes split on ';' (path) and '&'
// (query), values percent-decoded, a path attribute given twice refused.
// CheckMasterKeyUri is coffre's policy on top (docs/adr/0038-...):
// module-path required and absolute, pin-value refused (argv and config
// files are not the place for a PIN), only attributes coffre matches on.
// Errors never quote a PIN.
//
// Thread-safety: free functions and a plain value type.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace coffre::crypto {

struct Pkcs11Uri {
  // Path attributes, percent-decoded; nullopt when absent (an attribute
  // given empty, as `serial=`, matches the empty value).
  std::optional<std::string> token, manufacturer, model, serial;
  std::optional<std::string> object, id, type;  // id: raw bytes
  std::optional<std::string> slot_id, slot_description, slot_manufacturer;
  std::optional<std::string> library_manufacturer, library_description, library_version;
  // Query attributes.
  std::optional<std::string> module_path, module_name, pin_source, pin_value;
  // Any other attribute (vendor-specific), in order: path then query.
  std::vector<std::pair<std::string, std::string>> vendor_path, vendor_query;

  // The path attributes coffre matches on, re-encoded: the key's identity
  // without module or PIN ("pkcs11:token=coffre;object=master").
  std::string Identity() const;
};

Result<Pkcs11Uri> ParsePkcs11Uri(std::string_view text);

// coffre's requirements for a master key URI (kInvalidArgument naming the
// attribute): module-path given and absolute, no module-name alone, no
// pin-value, pin-source a `file:` URI or an absolute path, type absent or
// `secret-key`, `object` or `id` given, no slot-*, library-* or vendor path
// attribute (coffre would not match on them).
[[nodiscard]] Status CheckMasterKeyUri(const Pkcs11Uri& uri);

// The file named by pin-source: `file:/p`, `file:///p` or `/p`.
Result<std::string> PinSourcePath(const Pkcs11Uri& uri);

// The PIN from pin-source (trailing newline removed); nullopt without
// pin-source. A file readable by others is refused (kPermissionDenied).
Result<std::optional<std::string>> ReadPin(const Pkcs11Uri& uri);

}  // namespace coffre::crypto
