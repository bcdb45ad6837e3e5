#include <gtest/gtest.h>

#include <string>

#include "common/status.h"

namespace coffre {
namespace {

TEST(IsNotFound, OnlyAFailureWithTheNotFoundCode) {
  EXPECT_TRUE(IsNotFound(Status(Fail(ErrorCode::kNotFound, "no such record"))));
  EXPECT_TRUE(IsNotFound(Result<int>(Fail(ErrorCode::kNotFound, "no such record"))));
  EXPECT_FALSE(IsNotFound(Status(Ok())));
  EXPECT_FALSE(IsNotFound(Result<int>(7)));
  EXPECT_FALSE(IsNotFound(Status(Fail(ErrorCode::kDataLoss, "tag mismatch"))));
  EXPECT_FALSE(IsNotFound(Result<std::string>(Fail(ErrorCode::kIoError, "disk"))));
}

}  // namespace
}  // namespace coffre
