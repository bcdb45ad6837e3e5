#include "storage/store.h"

namespace coffre::storage {

std::string_view SpaceName(Space s) {
  // These strings name on-disk column families: never change them.
  switch (s) {
    case Space::kMeta:
      return "meta";
    case Space::kKeys:
      return "keys";
    case Space::kRecords:
      return "records";
    case Space::kIndex:
      return "index";
    case Space::kSubjects:
      return "subjects";
  }
  return "unknown";
}

Status Store::IngestAtomically(const std::vector<IngestSet>& /*sets*/) {
  return Fail(ErrorCode::kFailedPrecondition, "this storage backend cannot ingest sorted files");
}

}  // namespace coffre::storage
