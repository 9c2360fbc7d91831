#include "nodes/node_secret.h"

#include <sodium.h>
#include <sys/stat.h>

#include <array>
#include <cerrno>
#include <string>

#include "common/strings.h"
#include "crypto/checked_file.h"
#include "crypto/key_file.h"
#include "crypto/random.h"
#include "proto/canonical.h"

namespace schakel::nodes {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kMagic = "schakel-node-secret-v1";
constexpr std::string_view kComment = "# Schakel node secret. Keep it private: mode 0600.";
constexpr std::string_view kSecretField = "secret: ";

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
    if (absl::Status written = crypto::WriteFileAtomically(
            path, content.bytes(), crypto::Overwrite::kRefuse, "node secret file");
        !written.ok()) {
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

}  // namespace schakel::nodes
