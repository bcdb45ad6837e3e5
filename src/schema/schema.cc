// Lookups and file loading. The TOML format itself is read in toml_reader.cc.
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "schema/schema.h"

namespace coffre::schema {

const FieldDef* Collection::Find(std::string_view field) const {
  for (const FieldDef& f : fields) {
    if (f.name == field) return &f;
  }
  return nullptr;
}

const FieldDef* Collection::Find(std::string_view field, size_t hint) const {
  if (hint < fields.size() && fields[hint].name == field) return &fields[hint];
  return Find(field);
}

const Collection* Schema::Find(std::string_view collection) const {
  for (const Collection& c : collections_) {
    if (c.name == collection) return &c;
  }
  return nullptr;
}

Result<Schema> Schema::LoadFile(const std::string& path) {
  errno = 0;
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    const int err = errno;
    const ErrorCode code = err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIoError;
    return Fail(code, "schema file '" + path + "': cannot open: " +
                          (err != 0 ? std::strerror(err) : "unknown error"));
  }
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) return Fail(ErrorCode::kIoError, "schema file '" + path + "': read failed");
  return Parse(text.str(), path);
}

}  // namespace coffre::schema
