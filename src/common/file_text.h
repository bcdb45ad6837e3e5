// Reading a whole (small) file into memory: schemas, policies, TLS material.
//
//   COFFRE_ASSIGN_OR_RETURN(std::string pem, ReadWholeFile(path, "TLS certificate"));
//
// Errors name what the file is for and its path, never its content:
// kNotFound when it does not exist, kIoError when it cannot be opened or read.
// Thread-safety: a free function; safe from any thread.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace coffre {

// The bytes of the file at `path`; `what` names it in errors ("policy file").
Result<std::string> ReadWholeFile(const std::string& path, std::string_view what);

}  // namespace coffre
