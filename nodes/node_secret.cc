#include "nodes/node_secret.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <string>

#include "common/strings.h"
#include "crypto/checked_file.h"
#include "crypto/random.h"
#include "proto/canonical.h"

namespace schakel::nodes {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kMagic = "schakel-node-secret-v1";
constexpr std::string_view kComment = "# Schakel node secret. Keep it private: mode 0600.";
constexpr std::string_view kSecretField = "secret: ";

absl::Status SyncDirectory(const fs::path& dir) {
  const int raw = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (raw < 0) return absl::ErrnoToStatus(errno, StrCat("cannot open directory ", dir.string()));
  crypto::FileDescriptor fd(raw);
  if (::fsync(fd.get()) != 0) {
    return absl::ErrnoToStatus(errno, StrCat("cannot sync directory ", dir.string()));
  }
  return absl::OkStatus();
}

// Parses the file's content into `out`; the hex is decoded in constant time.
absl::Status Parse(const crypto::SecretBuffer& content, const fs::path& path,
                   crypto::SecretBytes<32>& out) {
  const std::string_view text(reinterpret_cast<const char*>(content.data()), content.size());
  const auto bad = [&path](std::string_view what) {
    return absl::InvalidArgumentError(StrCat("node secret file ", path.string(), ": ", what,
                                             " (format: docs/node-config.md, node_secret_file)"));
  };
  if (!text.starts_with(kMagic) || text.size() <= kMagic.size() || text[kMagic.size()] != '\n') {
    return bad(StrCat("the first line is not \"", kMagic, "\""));
  }
  bool found = false;
  size_t pos = kMagic.size() + 1;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    if (!line.starts_with(kSecretField) || found)
      return bad("expected one \"secret: <64 hex>\" line");
    const std::string_view hex = line.substr(kSecretField.size());
    size_t decoded = 0;
    if (hex.size() != 64 ||
        sodium_hex2bin(out.data(), out.size(), hex.data(), hex.size(), nullptr, &decoded,
                       nullptr) != 0 ||
        decoded != 32) {
      return bad("the secret is not 64 hex digits");
    }
    found = true;
  }
  if (!found) return bad("no \"secret:\" line");
  static constexpr std::array<uint8_t, 32> kZero{};
  if (sodium_memcmp(out.data(), kZero.data(), 32) == 0) return bad("the secret is all zeros");
  return absl::OkStatus();
}

}  // namespace

NodeSecret NodeSecret::Random() {
  crypto::SecretBytes<32> secret;
  crypto::RandomBytes(secret.mutable_bytes());
  return NodeSecret(std::move(secret));
}

absl::StatusOr<NodeSecret> NodeSecret::LoadOrCreate(const fs::path& path, bool* created) {
  if (created != nullptr) *created = false;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 && errno == ENOENT) {
    NodeSecret fresh = Random();
    const std::string head = StrCat(kMagic, "\n", kComment, "\n", kSecretField);
    crypto::SecretBuffer content(head.size() + 64 + 1);
    char* out = reinterpret_cast<char*>(content.data());
    std::copy(head.begin(), head.end(), out);
    // sodium_bin2hex writes a NUL after the digits; the newline replaces it.
    sodium_bin2hex(out + head.size(), 65, fresh.secret_.data(), 32);
    out[head.size() + 64] = '\n';
    if (absl::Status written = WriteSecretFile(path, content.bytes()); !written.ok()) {
      // Another process may have created it meanwhile: read that one.
      if (!absl::IsAlreadyExists(written)) return written;
    } else {
      if (created != nullptr) *created = true;
      return fresh;
    }
  }
  auto content = crypto::ReadCheckedFile(path, {.named = StrCat("node secret file ", path.string()),
                                                .max_size = 4096,
                                                .secret = true,
                                                .size_note = {}});
  if (!content.ok()) return content.status();
  crypto::SecretBytes<32> secret;
  if (absl::Status parsed = Parse(*content, path, secret); !parsed.ok()) return parsed;
  return NodeSecret(std::move(secret));
}

crypto::Blake2b256Digest NodeSecret::Digest(std::string_view context, crypto::ByteView data) const {
  crypto_generichash_state state;
  crypto_generichash_init(&state, secret_.data(), secret_.size(), 32);
  const crypto::Bytes prefix = canonical::EncodeString(context);
  crypto_generichash_update(&state, prefix.data(), prefix.size());
  crypto_generichash_update(&state, data.data(), data.size());
  crypto::Blake2b256Digest out{};
  crypto_generichash_final(&state, out.data(), out.size());
  sodium_memzero(&state, sizeof(state));
  return out;
}

crypto::SecretBytes<32> NodeSecret::DeriveKey(std::string_view context) const {
  crypto::Blake2b256Digest d = Digest(context, std::string_view("key"));
  crypto::SecretBytes<32> key{std::span<const uint8_t, 32>(d)};
  sodium_memzero(d.data(), d.size());
  return key;
}

crypto::Blake2b256Digest KeyedBlake2b256(const crypto::SecretBytes<32>& key,
                                         crypto::ByteView data) {
  crypto::Blake2b256Digest out{};
  crypto_generichash(out.data(), out.size(), data.data(), data.size(), key.data(), key.size());
  return out;
}

absl::Status WriteSecretFile(const fs::path& path, crypto::ByteView content) {
  if (!path.has_filename()) {
    return absl::InvalidArgumentError(StrCat("path ", path.string(), " does not name a file"));
  }
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::array<uint8_t, 8> nonce{};
  crypto::RandomBytes(nonce);
  const fs::path temp = dir / StrCat(".", path.filename().string(), ".tmp-", crypto::ToHex(nonce));
  const int raw = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (raw < 0) {
    return absl::ErrnoToStatus(errno, StrCat("cannot create a temporary file in ", dir.string()));
  }
  crypto::FileDescriptor fd(raw);
  const auto fail = [&temp](int error, std::string_view what) {
    ::unlink(temp.c_str());
    return absl::ErrnoToStatus(error, StrCat(what, " ", temp.string()));
  };
  if (::fchmod(fd.get(), 0600) != 0) return fail(errno, "cannot set mode 0600 on");
  size_t written = 0;
  while (written < content.size()) {
    const ssize_t n = ::write(fd.get(), content.data() + written, content.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(errno, "cannot write");
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return fail(errno, "cannot sync");
  if (fd.Close() != 0) return fail(errno, "cannot close");
  // link() refuses to replace anything already at `path` (rename would not).
  if (::link(temp.c_str(), path.c_str()) != 0) {
    const int error = errno;
    ::unlink(temp.c_str());
    if (error == EEXIST) {
      return absl::AlreadyExistsError(
          StrCat(path.string(), " already exists; refusing to replace it"));
    }
    return absl::ErrnoToStatus(error, StrCat("cannot move the file into place at ", path.string()));
  }
  ::unlink(temp.c_str());
  return SyncDirectory(dir);
}

}  // namespace schakel::nodes
