// The sessions family of operations (app/operations.h). Being ported from src/api.
#include "app/operations.h"

namespace coffre::app {

std::span<const Operation> SessionOperations() { return {}; }

}  // namespace coffre::app
