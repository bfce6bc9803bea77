// MappedFile: contents, empty files and open errors.
#include "engine/format/mapped_file.h"

#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <sstream>
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

// Resident KiB of the mapping that contains `p` (/proc/self/smaps "Rss:"), -1 if none.
int64_t ResidentKib(const void* p) {
  std::ifstream smaps("/proc/self/smaps");
  const auto addr = reinterpret_cast<uintptr_t>(p);
  bool inside = false;
  for (std::string line; std::getline(smaps, line);) {
    uintptr_t lo = 0, hi = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> lo >> dash >> hi && dash == '-') {
      inside = lo <= addr && addr < hi;
    } else if (inside && line.rfind("Rss:", 0) == 0) {
      return std::stoll(line.substr(4));
    }
  }
  return -1;
}

// The released pages leave the process (its Rss of the mapping drops by them) and read
// back the same bytes; ranges outside the mapping are not touched.
TEST(MappedFileTest, ReleasePagesDropsResidencyAndKeepsTheBytes) {
  const int64_t page = sysconf(_SC_PAGESIZE), pages = 64;
  std::string content(page * pages, '\0');
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i * 131 % 251);
  test::TempDir tmp;
  test::WriteFile(tmp.path("w"), content);
  auto f = MappedFile::Open(tmp.path("w"));
  ASSERT_TRUE(f.ok()) << f.status();
  const uint8_t* data = (*f)->bytes().data();
  uint64_t sum = 0;
  for (int64_t i = 0; i < page * pages; i += 64) sum += data[i];  // fault every page in
  EXPECT_GT(sum, 0u);
  const int64_t before = ResidentKib(data);
  ASSERT_GE(before, page * pages / 1024);
  // From mid-page 1 to mid-page 41: pages 2..40 (39 whole pages) are released.
  EXPECT_TRUE((*f)->ReleasePages(data + page + 100, page * 40));
  const int64_t after = ResidentKib(data);
  EXPECT_EQ(before - after, 39 * page / 1024);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(data), content.size()), content);
  EXPECT_FALSE((*f)->ReleasePages(content.data(), 4 * page));   // not this mapping
  EXPECT_FALSE((*f)->ReleasePages(data + page, page * pages));  // runs past its end
  EXPECT_FALSE((*f)->ReleasePages(data + page + 1, page - 2));  // no whole page
}

}  // namespace
}  // namespace stocha
