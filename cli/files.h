// Files the CLI writes for people: whole or not at all.
//
// Thread safety: reentrant.
#ifndef SCHAKEL_CLI_FILES_H_
#define SCHAKEL_CLI_FILES_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace schakel::cli {

// Writes `content` to `path` (mode 0600: what the CLI saves may name people
// by their labels) atomically, so that `path` is the old file or the whole
// new one: crypto::WriteFileAtomically (temporary file, fsync, rename, fsync
// of the folder). Errors: those of WriteFileAtomically, naming the path.
absl::Status WriteFileWhole(const std::string& path, std::string_view content);

}  // namespace schakel::cli

#endif  // SCHAKEL_CLI_FILES_H_
