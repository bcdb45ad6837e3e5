// Local operations on the vault's data, for app/ops_admin.cc: the whole
// audit log (`coffre audit list`) and the master key's rotation (`coffre
// keys rotate`), run by whichever process holds the vault.
//
//   audit.scan   {principal?, subject? (hex), from_ms?, to_ms?} -> {entries: [JSON text]}
//                audited "audit.read", after the query (the listing does not show itself)
//   keys.rotate  {new_key_file? (absolute) | new_key_pkcs11? (URI)}
//                -> {rewrapped, key_source, key_file? (file), retired_key_file?}
//
// Thread-safety: as Admin.
#pragma once

#include <boost/json.hpp>
#include <string_view>

#include "app/runtime.h"
#include "audit/entry.h"
#include "common/status.h"

namespace coffre::app {

Result<boost::json::object> ScanAudit(Runtime& rt, std::string_view op,
                                      const boost::json::object& request, audit::Entry& entry);
Result<boost::json::object> RotateMasterKey(Runtime& rt, std::string_view op,
                                            const boost::json::object& request,
                                            audit::Entry& entry);

}  // namespace coffre::app
