// An output file of the bulk importer (the rejects file, the --ids-out
// file): created with mode 0600 and O_NOFOLLOW, written with write(2) in
// whole buffers (docs/adr/0015-import-accounts-for-every-row.md).
//
//   ImportOutFile ids;
//   COFFRE_TRY(ids.Open(path, /*exclusive=*/true));  // kAlreadyExists if it exists
//   COFFRE_TRY(ids.Write(lines));
//
// Thread-safety: none; one writer. Closed by its destructor.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace coffre::vault {

class ImportOutFile {
 public:
  ImportOutFile() = default;
  ImportOutFile(const ImportOutFile&) = delete;
  ImportOutFile& operator=(const ImportOutFile&) = delete;
  ~ImportOutFile() { Close(); }

  // `exclusive`: fail with kAlreadyExists if the path exists; otherwise a
  // regular file there is truncated and keeps no wider mode than 0600.
  Status Open(const std::string& path, bool exclusive);
  // Writes to a copy of `fd` (a file the caller created; `name` in
  // messages). The caller keeps `fd`.
  Status Adopt(int fd, const std::string& name);
  bool is_open() const { return fd_ >= 0; }
  Status Write(std::string_view bytes);
  void Close();

 private:
  int fd_ = -1;
  std::string path_;
};

}  // namespace coffre::vault
