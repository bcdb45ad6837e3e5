#include "storage/space_handle.h"

namespace coffre::storage {

tl::unexpected<Error> SpaceHandle::Refused(std::string_view what, SpaceSet spaces) const {
  std::string names;
  for (int i = 0; i < 64; ++i) {
    if ((spaces & (SpaceSet{1} << i)) == 0) continue;
    if (!names.empty()) names += ", ";
    names += i < kSpaceCount ? "'" + std::string(SpaceName(static_cast<Space>(i))) + "'"
                             : std::string("an unknown space");
  }
  if (names.empty()) names = "any space";
  return Fail(ErrorCode::kInternal, "module '" + std::string(owner_) + "' may not " +
                                        std::string(what) + " " + names + " (not granted to it)");
}

}  // namespace coffre::storage
