#include "cli/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/strings.h"

namespace schakel::cli {

absl::Status WriteFileWhole(const std::string& path, std::string_view content) {
  const std::string partial = StrCat(path, ".partial");
  const auto fail = [&](const char* what) {
    const std::string reason = std::strerror(errno);
    ::unlink(partial.c_str());
    return absl::FailedPreconditionError(StrCat("cannot ", what, " ", path, ": ", reason));
  };
  const int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return fail("write");
  size_t written = 0;
  while (written < content.size()) {
    const ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return fail("write");
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    return fail("write");
  }
  if (::close(fd) != 0) return fail("write");
  if (std::rename(partial.c_str(), path.c_str()) != 0) return fail("replace");
  return absl::OkStatus();
}

}  // namespace schakel::cli
