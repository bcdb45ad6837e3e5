// Unit tests of the importer's output files: mode 0600, exclusive creation
// never replaces a file, symbolic links are not followed.
#include "vault/import_out_file.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace coffre::vault {
namespace {

namespace fs = std::filesystem;

class ImportOutFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "coffre-outfile-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  static std::string Contents(const std::string& path) {
    std::ifstream in(path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }
  static mode_t Mode(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0);
    return st.st_mode & 07777;
  }
  std::string dir_;
};

TEST_F(ImportOutFileTest, CreatesWithMode0600AndWritesEverything) {
  const std::string path = dir_ + "/ids";
  {
    ImportOutFile out;
    ASSERT_TRUE(out.Open(path, true));
    EXPECT_TRUE(out.is_open());
    ASSERT_TRUE(out.Write("one\n"));
    ASSERT_TRUE(out.Write(std::string(100000, 'x')));
    out.Close();
    EXPECT_FALSE(out.is_open());
  }
  EXPECT_EQ(Mode(path), 0600u);
  EXPECT_EQ(Contents(path).size(), 4u + 100000u);
}

TEST_F(ImportOutFileTest, ExclusiveNeverReplacesAFile) {
  const std::string path = dir_ + "/ids";
  std::ofstream(path) << "earlier import";
  ImportOutFile out;
  Status s = out.Open(path, true);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kAlreadyExists);
  EXPECT_EQ(Contents(path), "earlier import");
}

TEST_F(ImportOutFileTest, NonExclusiveTruncatesAndNarrowsTheMode) {
  const std::string path = dir_ + "/rejects";
  std::ofstream(path) << "stale reasons";
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  ImportOutFile out;
  ASSERT_TRUE(out.Open(path, false));
  ASSERT_TRUE(out.Write("line 2: reason\n"));
  out.Close();
  EXPECT_EQ(Contents(path), "line 2: reason\n");
  EXPECT_EQ(Mode(path), 0600u);
}

TEST_F(ImportOutFileTest, DoesNotFollowASymbolicLink) {
  const std::string target = dir_ + "/target";
  std::ofstream(target) << "keep";
  fs::create_symlink(target, dir_ + "/link");
  ImportOutFile out;
  Status s = out.Open(dir_ + "/link", false);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kIoError);
  EXPECT_EQ(Contents(target), "keep");
}

}  // namespace
}  // namespace coffre::vault
