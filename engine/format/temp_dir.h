// A temporary directory for tests: created fresh under $TMPDIR, removed with everything
// in it on destruction. Header-only and free of the engine, so any test can use it.
#ifndef STOCHA_ENGINE_FORMAT_TEMP_DIR_H_
#define STOCHA_ENGINE_FORMAT_TEMP_DIR_H_

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace stocha::test {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "stocha_test_XXXXXX").string();
    path_ = mkdtemp(tmpl.data()) != nullptr ? tmpl : "";
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string path(const std::string& name) const { return path_ + "/" + name; }
  const std::string& root() const { return path_; }

 private:
  std::string path_;
};

}  // namespace stocha::test

#endif  // STOCHA_ENGINE_FORMAT_TEMP_DIR_H_
