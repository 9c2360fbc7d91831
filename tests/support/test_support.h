// Small helpers shared by the unit and integration tests.
#ifndef SCHAKEL_TESTS_SUPPORT_TEST_SUPPORT_H_
#define SCHAKEL_TESTS_SUPPORT_TEST_SUPPORT_H_

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace schakel::testing {

// A fresh directory under the system temp dir, removed with everything in it
// when the object goes away.
class TempDir {
 public:
  explicit TempDir(const std::string& stem = "schakel-test") {
    std::string tmpl = (std::filesystem::temp_directory_path() / (stem + "-XXXXXX")).string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The value of a "<field>: <value>" line in a command's output, or "".
inline std::string OutputField(const std::string& out, const std::string& field) {
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ": ", 0) == 0) return line.substr(field.size() + 2);
  }
  return "";
}

inline void WriteFile(const std::filesystem::path& p, const std::string& content) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << content;
}

}  // namespace schakel::testing

#endif  // SCHAKEL_TESTS_SUPPORT_TEST_SUPPORT_H_
