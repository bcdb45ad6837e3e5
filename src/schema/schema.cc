// Lookups and file loading. The TOML format itself is read in toml_reader.cc.
#include "schema/schema.h"

#include "common/file_text.h"

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
  COFFRE_ASSIGN_OR_RETURN(std::string text, ReadWholeFile(path, "schema file"));
  return Parse(text, path);
}

}  // namespace coffre::schema
