// Local operations on the vault's data, for app/ops_admin.cc: the whole
// audit log (`coffre audit list`) and the master key's rotation (`coffre
// keys rotate`), run by whichever process holds the vault.
//
//   audit.scan   {principal?, subject? (hex), from_ms?, to_ms?} -> {entries: [JSON text]}
//                audited "audit.read", after the query (the listing does not show itself)
//   keys.rotate  {new_key_file? (absolute) | new_key_pkcs11? (URI)}
//                -> {rewrapped, key_source, key_file? (file), retired_key_file?}
//                (refused on a vault whose key is split into shares)
//   keys.resplit {threshold, recipients: [hex public keys], out_dir (its name, for
//                messages)} with the out directory's descriptor -> {rewrapped, generation,
//                threshold, shares: [file]}: a new master key split into a new set of
//                shares (docs/key-custody.md), audited "keys.rotate"
//
// Thread-safety: as Admin.
#pragma once

#include <boost/json.hpp>
#include <span>
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

Result<boost::json::object> RotateMasterKeyToShares(Runtime& rt, const boost::json::object& request,
                                                    std::span<const int> fds, audit::Entry& entry);

}  // namespace coffre::app
