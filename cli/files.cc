#include "cli/files.h"

#include "crypto/bytes.h"
#include "crypto/key_file.h"

namespace schakel::cli {

absl::Status WriteFileWhole(const std::string& path, std::string_view content) {
  return crypto::WriteFileAtomically(path, crypto::AsBytes(content), crypto::Overwrite::kReplace,
                                     "file");
}

}  // namespace schakel::cli
