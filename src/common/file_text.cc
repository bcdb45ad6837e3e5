#include "common/file_text.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace coffre {

Result<std::string> ReadWholeFile(const std::string& path, std::string_view what) {
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    return Fail(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIoError,
                "cannot read " + std::string(what) + " " + path + ": " +
                    (err != 0 ? std::strerror(err) : "cannot open"));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Fail(ErrorCode::kIoError, "cannot read " + std::string(what) + " " + path);
  return std::move(text).str();
}

}  // namespace coffre
