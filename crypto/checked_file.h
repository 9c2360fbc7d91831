// Reading a file that may hold a secret (a key file, a TLS private key) or
// that must be what its name says (a certificate): opened without following
// a final symbolic link when secret, checked on the opened descriptor (type,
// permissions, size) so nothing can be swapped in between, and read whole
// into wiping storage. Messages name the file as the caller describes it and
// never contain its content.
//
// Thread safety: free functions; reentrant.
#ifndef SCHAKEL_CRYPTO_CHECKED_FILE_H_
#define SCHAKEL_CRYPTO_CHECKED_FILE_H_

#include <sys/types.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "crypto/secret.h"

namespace schakel::crypto {

struct CheckedFileSpec {
  // How every message names the file, e.g. "key file /etc/schakel/node.key".
  std::string named;
  // Largest size accepted, in bytes.
  size_t max_size = 4096;
  // A secret: refuse a symbolic link and any permission for group or others.
  bool secret = true;
  // Appended to "<named> is larger than N bytes", e.g. ", the most a key
  // file may have".
  std::string_view size_note;
};

// Errors: NOT_FOUND / PERMISSION_DENIED from the system ("cannot open
// <named>: ..."); FAILED_PRECONDITION for a symbolic link (secret only), a
// file that is not a regular file, or mode bits for group/others (secret
// only, naming the mode and the chmod that fixes it); INVALID_ARGUMENT when
// larger than max_size.
absl::StatusOr<SecretBuffer> ReadCheckedFile(const std::filesystem::path& path,
                                             const CheckedFileSpec& spec);

// "a directory", "a named pipe", ... for messages.
std::string_view FileTypeName(mode_t mode);

// Closes a file descriptor when it goes out of scope.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;

  int get() const { return fd_; }
  // Closes now; returns close()'s result, since a failing close can mean the
  // data was not written.
  int Close() {
    const int result = ::close(fd_);
    fd_ = -1;
    return result;
  }

 private:
  int fd_;
};

}  // namespace schakel::crypto

#endif  // SCHAKEL_CRYPTO_CHECKED_FILE_H_
