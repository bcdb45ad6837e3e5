// The records family of operations (app/operations.h). Being ported from src/api.
#include "app/operations.h"

namespace coffre::app {

std::span<const Operation> RecordOperations() { return {}; }

}  // namespace coffre::app
