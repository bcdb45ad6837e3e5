// Small helpers shared by the black-box and drill tests: scratch directories,
// whole-file I/O and the repository paths.
//
// Thread-safety: free functions are thread-safe; a TempDir belongs to one test.
#pragma once

#include <string>
#include <vector>

namespace coffre::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it
// when the object goes out of scope (kept if COFFRE_KEEP_TEST_DIRS is set,
// for debugging).
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + name
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The repository root (COFFRE_SOURCE_DIR compile definition).
std::string SourceDir();
// examples/people.toml in the repository.
std::string PeopleSchema();

// Whole-file read ("" and ok=false when it cannot be read) and write.
std::string ReadFileOrDie(const std::string& path);
bool ReadFile(const std::string& path, std::string& out);
void WriteFileOrDie(const std::string& path, const std::string& content);

// Every regular file below `dir`, recursively, sorted.
std::vector<std::string> ListFilesRecursively(const std::string& dir);

}  // namespace coffre::testing
