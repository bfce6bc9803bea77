// MappedFile: contents, empty files and open errors.
#include "engine/format/mapped_file.h"

#include <string>

#include "engine/format/test_writers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace stocha {
namespace {

using ::testing::HasSubstr;

TEST(MappedFileTest, MapsContents) {
  test::TempDir tmp;
  test::WriteFile(tmp.path("f"), "hello");
  auto f = MappedFile::Open(tmp.path("f"));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(std::string(reinterpret_cast<const char*>((*f)->bytes().data()), (*f)->bytes().size()),
            "hello");
  EXPECT_EQ((*f)->path(), tmp.path("f"));
}

TEST(MappedFileTest, EmptyFileMapsNothing) {
  test::TempDir tmp;
  test::WriteFile(tmp.path("empty"), "");
  auto f = MappedFile::Open(tmp.path("empty"));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_TRUE((*f)->bytes().empty());
}

TEST(MappedFileTest, ReportsErrorsWithThePath) {
  test::TempDir tmp;
  auto missing = MappedFile::Open(tmp.path("missing"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr(tmp.path("missing") + ": "));
  auto dir = MappedFile::Open(tmp.root());
  EXPECT_EQ(dir.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(dir.status().message()), HasSubstr(tmp.root() + ": not a regular file"));
}

}  // namespace
}  // namespace stocha
