#include "common/file_text.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace coffre {
namespace {

class ReadWholeFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/coffre-file-text-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(ReadWholeFileTest, ReadsEveryByte) {
  const std::string bytes("line one\n\0binary\xff\n", 18);
  std::ofstream(dir_ + "/f", std::ios::binary) << bytes;
  auto text = ReadWholeFile(dir_ + "/f", "test file");
  ASSERT_TRUE(text) << text.error().message;
  EXPECT_EQ(*text, bytes);
  std::ofstream(dir_ + "/empty", std::ios::binary).flush();
  auto empty = ReadWholeFile(dir_ + "/empty", "test file");
  ASSERT_TRUE(empty);
  EXPECT_EQ(*empty, "");
}

TEST_F(ReadWholeFileTest, AMissingFileIsNotFoundAndNamed) {
  auto text = ReadWholeFile(dir_ + "/absent", "policy file");
  ASSERT_FALSE(text);
  EXPECT_TRUE(IsNotFound(text));
  EXPECT_NE(text.error().message.find("policy file"), std::string::npos);
  EXPECT_NE(text.error().message.find(dir_ + "/absent"), std::string::npos);
}

TEST_F(ReadWholeFileTest, AnUnreadableFileIsAnIoError) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads files whatever their mode";
  std::ofstream(dir_ + "/secret") << "x";
  ASSERT_EQ(::chmod((dir_ + "/secret").c_str(), 0), 0);
  auto text = ReadWholeFile(dir_ + "/secret", "TLS key");
  ASSERT_FALSE(text);
  EXPECT_EQ(text.error().code, ErrorCode::kIoError);
  EXPECT_NE(text.error().message.find("TLS key"), std::string::npos);
}

}  // namespace
}  // namespace coffre
