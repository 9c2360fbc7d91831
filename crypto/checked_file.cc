#include "crypto/checked_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>

#include "common/strings.h"

namespace schakel::crypto {

std::string_view FileTypeName(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a named pipe";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "a special file";
}

absl::StatusOr<SecretBuffer> ReadCheckedFile(const std::filesystem::path& path,
                                             const CheckedFileSpec& spec) {
  const std::string& named = spec.named;
  // O_NONBLOCK: opening a named pipe must not hang; it is refused below.
  int flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
  if (spec.secret) flags |= O_NOFOLLOW;
  const int raw = ::open(path.c_str(), flags);
  if (raw < 0) {
    const int error = errno;
    struct stat link_stat {};
    if (spec.secret && error == ELOOP && ::lstat(path.c_str(), &link_stat) == 0 &&
        S_ISLNK(link_stat.st_mode)) {
      return absl::FailedPreconditionError(StrCat(
          named, " is a symbolic link; refusing to follow it for a secret (name the file itself)"));
    }
    return absl::ErrnoToStatus(error, StrCat("cannot open ", named));
  }
  FileDescriptor fd(raw);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return absl::ErrnoToStatus(errno, StrCat("cannot inspect ", named));
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        StrCat(named, " is not a regular file (it is ", FileTypeName(st.st_mode), ")"));
  }
  if (spec.secret && (st.st_mode & 077) != 0) {
    return absl::FailedPreconditionError(fmt::format(
        "{} has mode {:04o}; it must be 0600, with no access for group or others (chmod 600 {})",
        named, st.st_mode & 07777, path.string()));
  }
  const auto too_large = [&] {
    return absl::InvalidArgumentError(
        StrCat(named, " is larger than ", spec.max_size, " bytes", spec.size_note));
  };
  if (st.st_size > static_cast<off_t>(spec.max_size)) return too_large();
  // Room for one byte more than allowed, to notice a file that grew meanwhile.
  SecretBuffer content(spec.max_size + 1);
  size_t total = 0;
  while (total < content.size()) {
    const ssize_t n = ::read(fd.get(), content.data() + total, content.size() - total);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, StrCat("cannot read ", named));
    }
    if (n == 0) break;
    total += static_cast<size_t>(n);
  }
  if (total > spec.max_size) return too_large();
  content.Resize(total);
  return content;
}

}  // namespace schakel::crypto
