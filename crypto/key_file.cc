#include "crypto/key_file.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <ctime>

#include <fmt/format.h>

#include "common/strings.h"
#include "crypto/checked_file.h"
#include "crypto/random.h"
#include "crypto/secret.h"

namespace schakel::crypto {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kMagic = "schakel-key-v1";
constexpr std::string_view kMagicPrefix = "schakel-key-v";
constexpr std::string_view kComment =
    "# Schakel secret key. Keep it private: mode 0600. Format: docs/key-files.md";
constexpr size_t kMaxFileSize = 4096;
constexpr size_t kKeySize = 32;  // secret and public, for every kind
constexpr size_t kKeyHexSize = 2 * kKeySize;

struct KindName {
  KeyKind kind;
  std::string_view name;
};
constexpr std::array<KindName, 3> kKindNames = {{
    {KeyKind::kOprfRistretto255Sha512, "oprf-ristretto255-sha512"},
    {KeyKind::kEd25519, "ed25519"},
    {KeyKind::kX25519, "x25519"},
}};
constexpr std::string_view kAllowedKinds = "oprf-ristretto255-sha512, ed25519, x25519";

std::string_view MessageOf(const absl::Status& status) {
  return {status.message().data(), status.message().size()};
}

// "key file <path>, line <n>".
std::string At(const fs::path& path, int line) {
  return StrCat("key file ", path.string(), ", line ", line);
}

// A value taken from the file, for an error message: quoted, shortened, with
// unprintable characters replaced, and withheld altogether when it contains a
// run of hex digits (it might be, or be part of, the secret).
std::string Shown(std::string_view value) {
  constexpr size_t kMaxShown = 40;
  constexpr size_t kMaxHexRun = 7;  // "ed25519" is a run of 7
  size_t run = 0;
  for (char c : value) {
    run = std::isxdigit(static_cast<unsigned char>(c)) != 0 ? run + 1 : 0;
    if (run > kMaxHexRun) return "(not shown: it may be key material)";
  }
  std::string out = "\"";
  for (size_t i = 0; i < value.size() && i < kMaxShown; ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    out.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?');
  }
  if (value.size() > kMaxShown) out += "...";
  out += "\"";
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// YYYY-MM-DDTHH:MM:SSZ with plausible field values.
bool IsUtcTime(std::string_view v) {
  static constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:ddZ";
  if (v.size() != kShape.size()) return false;
  for (size_t i = 0; i < kShape.size(); ++i) {
    const bool digit = std::isdigit(static_cast<unsigned char>(v[i])) != 0;
    if (kShape[i] == 'd' ? !digit : v[i] != kShape[i]) return false;
  }
  const auto number = [v](size_t at) { return (v[at] - '0') * 10 + (v[at + 1] - '0'); };
  const int month = number(5), day = number(8), hour = number(11), minute = number(14),
            second = number(17);
  return month >= 1 && month <= 12 && day >= 1 && day <= 31 && hour <= 23 && minute <= 59 &&
         second <= 60;
}

std::string NowUtc() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::array<char, 32> text{};
  const size_t n = std::strftime(text.data(), text.size(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(text.data(), n);
}

// ------------------------------------------------------------------ reading

// Reads a key file whole into wiping storage (crypto/checked_file.h).
absl::StatusOr<SecretBuffer> ReadContent(const fs::path& path) {
  return ReadCheckedFile(path, {.named = StrCat("key file ", path.string()),
                                .max_size = kMaxFileSize,
                                .secret = true,
                                .size_note = ", the most a key file may have (is this a key file?)"});
}

// The content of a key file, checked for syntax and encodings but not yet
// for the secret being a valid key of its kind.
struct ParsedKeyFile {
  KeyKind kind = KeyKind::kEd25519;
  std::string created;
  SecretBytes<kKeySize> secret;
  std::array<uint8_t, kKeySize> public_key{};
  int kind_line = 0;
  int secret_line = 0;
  int public_line = 0;
};

struct RawField {
  std::string_view name;
  std::string_view value;  // points into the file's content
  int line = 0;            // 0 while the field has not been seen
};

absl::StatusOr<ParsedKeyFile> Parse(const fs::path& path, std::string_view text) {
  if (text.empty()) {
    return absl::InvalidArgumentError(StrCat("key file ", path.string(), " is empty"));
  }
  std::array<RawField, 4> fields = {{{"kind", {}, 0},
                                     {"created", {}, 0},
                                     {"secret", {}, 0},
                                     {"public", {}, 0}}};
  RawField& kind = fields[0];
  RawField& created = fields[1];
  RawField& secret = fields[2];
  RawField& pub = fields[3];

  int line_number = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t end = text.find('\n', pos);
    std::string_view line =
        text.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    pos = end == std::string_view::npos ? text.size() : end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

    if (line_number == 1) {
      if (line == kMagic) continue;
      if (line.starts_with(kMagicPrefix)) {
        return absl::InvalidArgumentError(
            StrCat(At(path, 1), ": unsupported key file version; this program reads ", kMagic));
      }
      return absl::InvalidArgumentError(StrCat(
          At(path, 1), ": not a Schakel key file (the first line must be \"", kMagic, "\")"));
    }
    if (Trim(line).empty() || line.front() == '#') continue;

    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      return absl::InvalidArgumentError(
          StrCat(At(path, line_number), ": expected \"<field>: <value>\", a comment (#) or an "
                                        "empty line"));
    }
    const std::string_view name = Trim(line.substr(0, colon));
    auto field = std::find_if(fields.begin(), fields.end(),
                              [name](const RawField& f) { return f.name == name; });
    if (field == fields.end()) {
      return absl::InvalidArgumentError(StrCat(At(path, line_number), ": unknown field ",
                                               Shown(name),
                                               "; allowed: kind, created, secret, public"));
    }
    if (field->line != 0) {
      return absl::InvalidArgumentError(StrCat(At(path, line_number), ": field \"", field->name,
                                               "\" appears again (first on line ", field->line,
                                               "); each field appears once"));
    }
    field->value = Trim(line.substr(colon + 1));
    field->line = line_number;
  }
  for (const RawField& f : fields) {
    if (f.line == 0) {
      return absl::InvalidArgumentError(
          StrCat("key file ", path.string(), ": missing field \"", f.name,
                 "\"; a key file has the fields kind, created, secret and public"));
    }
  }

  ParsedKeyFile parsed;
  auto parsed_kind = ParseKeyKind(kind.value);
  if (!parsed_kind.ok()) {
    return absl::InvalidArgumentError(StrCat(At(path, kind.line), ": unknown kind ",
                                             Shown(kind.value), "; allowed: ", kAllowedKinds));
  }
  parsed.kind = *parsed_kind;
  parsed.kind_line = kind.line;

  if (!IsUtcTime(created.value)) {
    return absl::InvalidArgumentError(
        StrCat(At(path, created.line), ": created is ", Shown(created.value),
               "; it must be a UTC time written as YYYY-MM-DDTHH:MM:SSZ"));
  }
  parsed.created = std::string(created.value);

  // The secret: its length is not secret, its digits are; decode them in
  // constant time straight into wiping storage and never echo them.
  if (secret.value.size() != kKeyHexSize) {
    return absl::InvalidArgumentError(StrCat(At(path, secret.line), ": secret has ",
                                             secret.value.size(), " hex digits; it must have ",
                                             kKeyHexSize, " (", kKeySize, " bytes)"));
  }
  size_t decoded = 0;
  if (sodium_hex2bin(parsed.secret.data(), kKeySize, secret.value.data(), secret.value.size(),
                     nullptr, &decoded, nullptr) != 0 ||
      decoded != kKeySize) {
    return absl::InvalidArgumentError(StrCat(
        At(path, secret.line), ": secret is not hex (allowed: 0-9, a-f, A-F, no separators)"));
  }
  if (sodium_is_zero(parsed.secret.data(), kKeySize) == 1) {
    return absl::InvalidArgumentError(
        StrCat(At(path, secret.line), ": secret is all zero, which is never a valid key"));
  }
  parsed.secret_line = secret.line;

  if (pub.value.size() != kKeyHexSize) {
    return absl::InvalidArgumentError(StrCat(At(path, pub.line), ": public has ",
                                             pub.value.size(), " hex digits; it must have ",
                                             kKeyHexSize, " (", kKeySize, " bytes)"));
  }
  auto public_bytes = FromHex(pub.value, "public");
  if (!public_bytes.ok()) {
    return absl::InvalidArgumentError(
        StrCat(At(path, pub.line), ": ", MessageOf(public_bytes.status())));
  }
  std::copy(public_bytes->begin(), public_bytes->end(), parsed.public_key.begin());
  parsed.public_line = pub.line;
  return parsed;
}

absl::StatusOr<ParsedKeyFile> ReadAndParse(const fs::path& path) {
  auto content = ReadContent(path);
  if (!content.ok()) return content.status();
  // `content` wipes the file's bytes when it goes out of scope; nothing of
  // the secret is copied out of it except into `ParsedKeyFile::secret`.
  const std::string_view text(reinterpret_cast<const char*>(content->data()), content->size());
  return Parse(path, text);
}

// ------------------------------------------------------- kinds and key types

template <typename Key>
struct KeyTraits;

template <>
struct KeyTraits<oprf::PrivateKey> {
  static constexpr KeyKind kKind = KeyKind::kOprfRistretto255Sha512;
  static absl::StatusOr<oprf::PrivateKey> FromSecret(std::span<const uint8_t, kKeySize> s) {
    return oprf::PrivateKey::FromBytes(s);
  }
  static ByteView Secret(const oprf::PrivateKey& key) { return key.scalar().bytes(); }
  static ByteView Public(const oprf::PrivateKey& key) { return key.public_key().bytes(); }
};

template <>
struct KeyTraits<SigningKey> {
  static constexpr KeyKind kKind = KeyKind::kEd25519;
  static absl::StatusOr<SigningKey> FromSecret(std::span<const uint8_t, kKeySize> s) {
    return SigningKey::FromSeed(s);
  }
  static ByteView Secret(const SigningKey& key) { return key.seed(); }
  static ByteView Public(const SigningKey& key) { return key.verify_key().bytes(); }
};

template <>
struct KeyTraits<BoxSecretKey> {
  static constexpr KeyKind kKind = KeyKind::kX25519;
  static absl::StatusOr<BoxSecretKey> FromSecret(std::span<const uint8_t, kKeySize> s) {
    return BoxSecretKey::FromBytes(s);
  }
  static ByteView Secret(const BoxSecretKey& key) { return key.secret_bytes(); }
  static ByteView Public(const BoxSecretKey& key) { return key.public_key().bytes(); }
};

// The key a parsed file holds, checked to be of the kind `Key` stands for,
// valid, and matching the file's public key.
template <typename Key>
absl::StatusOr<Key> KeyFromParsed(const fs::path& path, const ParsedKeyFile& file) {
  using Traits = KeyTraits<Key>;
  if (file.kind != Traits::kKind) {
    return absl::InvalidArgumentError(StrCat(At(path, file.kind_line), ": kind is ",
                                             KeyKindName(file.kind), "; this needs a key of kind ",
                                             KeyKindName(Traits::kKind)));
  }
  auto key = Traits::FromSecret(file.secret.bytes());
  if (!key.ok()) {
    return absl::InvalidArgumentError(StrCat(At(path, file.secret_line),
                                             ": secret is not a valid ", KeyKindName(file.kind),
                                             " key (", MessageOf(key.status()), ")"));
  }
  if (!ConstantTimeEquals(Traits::Public(*key), file.public_key)) {
    return absl::InvalidArgumentError(
        StrCat(At(path, file.public_line),
               ": public does not match the public key of secret (the file is damaged, or its "
               "lines come from different keys)"));
  }
  return key;
}

template <typename Key>
absl::StatusOr<Key> LoadKey(const fs::path& path) {
  auto file = ReadAndParse(path);
  if (!file.ok()) return file.status();
  return KeyFromParsed<Key>(path, *file);
}

// ------------------------------------------------------------------ writing

absl::Status SyncDirectory(const fs::path& dir) {
  const int raw = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (raw < 0) return absl::ErrnoToStatus(errno, StrCat("cannot open directory ", dir.string()));
  FileDescriptor fd(raw);
  if (::fsync(fd.get()) != 0) {
    return absl::ErrnoToStatus(errno, StrCat("cannot sync directory ", dir.string()));
  }
  return absl::OkStatus();
}

absl::Status AlreadyExists(const fs::path& path, std::string_view what) {
  return absl::AlreadyExistsError(
      StrCat(what, " ", path.string(), " already exists; refusing to replace it"));
}

}  // namespace

absl::Status WriteFileAtomically(const fs::path& path, ByteView content, Overwrite overwrite,
                                 std::string_view what) {
  if (!path.has_filename()) {
    return absl::InvalidArgumentError(StrCat(what, " path ", path.string(), " does not name a file"));
  }
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  if (overwrite == Overwrite::kRefuse) {
    // Early, friendly answer; link() below is what makes refusing race-free.
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) return AlreadyExists(path, what);
  }

  std::array<uint8_t, 8> nonce{};
  RandomBytes(nonce);
  const fs::path temp = dir / StrCat(".", path.filename().string(), ".tmp-", ToHex(nonce));
  const int raw = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (raw < 0) {
    return absl::ErrnoToStatus(errno, StrCat("cannot create a temporary ", what, " in ", dir.string()));
  }
  FileDescriptor fd(raw);
  // Every failure from here on removes the temporary file.
  const auto fail = [&temp](int error, std::string_view step) {
    ::unlink(temp.c_str());
    return absl::ErrnoToStatus(error, StrCat(step, " ", temp.string()));
  };
  // The umask may have removed bits from 0600; the mode must be exact.
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

  if (overwrite == Overwrite::kRefuse) {
    // link() fails with EEXIST if anything (even a dangling symbolic link)
    // has appeared at `path` meanwhile; rename() would replace it.
    if (::link(temp.c_str(), path.c_str()) != 0) {
      const int error = errno;
      ::unlink(temp.c_str());
      if (error == EEXIST) return AlreadyExists(path, what);
      return absl::ErrnoToStatus(error,
                                 StrCat("cannot move the ", what, " into place at ", path.string()));
    }
    if (::unlink(temp.c_str()) != 0) {
      return absl::ErrnoToStatus(
          errno, StrCat("the ", what, " was saved to ", path.string(),
                        ", but the temporary file could not be removed: ", temp.string()));
    }
  } else if (::rename(temp.c_str(), path.c_str()) != 0) {
    return fail(errno, StrCat("cannot move the ", what, " into place at ", path.string(), " from"));
  }
  return SyncDirectory(dir);
}

namespace {

template <typename Key>
absl::Status SaveKey(const fs::path& path, const Key& key, Overwrite overwrite) {
  using Traits = KeyTraits<Key>;
  const ByteView secret = Traits::Secret(key);
  const std::string head = StrCat(kMagic, "\n", kComment, "\nkind: ", KeyKindName(Traits::kKind),
                                  "\ncreated: ", NowUtc(), "\nsecret: ");
  const std::string tail = StrCat("\npublic: ", ToHex(Traits::Public(key)), "\n");
  // The secret's hex exists only inside `content`, which wipes itself.
  SecretBuffer content(head.size() + kKeyHexSize + tail.size());
  char* out = reinterpret_cast<char*>(content.data());
  std::copy(head.begin(), head.end(), out);
  // sodium_bin2hex (constant time) writes a terminating NUL after the digits;
  // `tail` overwrites it.
  sodium_bin2hex(out + head.size(), kKeyHexSize + 1, secret.data(), secret.size());
  std::copy(tail.begin(), tail.end(), out + head.size() + kKeyHexSize);
  absl::Status written = WriteFileAtomically(path, content.bytes(), overwrite, "key file");
  if (absl::IsAlreadyExists(written)) {
    return absl::AlreadyExistsError(
        StrCat("key file ", path.string(),
               " already exists; refusing to overwrite a key (remove it first, or ask to "
               "overwrite)"));
  }
  return written;
}

}  // namespace

std::string_view KeyKindName(KeyKind kind) {
  for (const KindName& k : kKindNames) {
    if (k.kind == kind) return k.name;
  }
  return "unknown";
}

absl::StatusOr<KeyKind> ParseKeyKind(std::string_view name) {
  for (const KindName& k : kKindNames) {
    if (k.name == name) return k.kind;
  }
  return absl::InvalidArgumentError(
      StrCat("key kind ", Shown(name), " is not known; allowed: ", kAllowedKinds));
}

absl::Status SaveOprfKey(const fs::path& path, const oprf::PrivateKey& key, Overwrite overwrite) {
  return SaveKey(path, key, overwrite);
}
absl::Status SaveSigningKey(const fs::path& path, const SigningKey& key, Overwrite overwrite) {
  return SaveKey(path, key, overwrite);
}
absl::Status SaveBoxSecretKey(const fs::path& path, const BoxSecretKey& key,
                              Overwrite overwrite) {
  return SaveKey(path, key, overwrite);
}

absl::StatusOr<oprf::PrivateKey> LoadOprfKey(const fs::path& path) {
  return LoadKey<oprf::PrivateKey>(path);
}
absl::StatusOr<SigningKey> LoadSigningKey(const fs::path& path) {
  return LoadKey<SigningKey>(path);
}
absl::StatusOr<BoxSecretKey> LoadBoxSecretKey(const fs::path& path) {
  return LoadKey<BoxSecretKey>(path);
}

absl::StatusOr<KeyFilePublicInfo> ReadKeyFilePublic(const fs::path& path) {
  auto file = ReadAndParse(path);
  if (!file.ok()) return file.status();
  absl::Status valid;
  switch (file->kind) {
    case KeyKind::kOprfRistretto255Sha512:
      valid = KeyFromParsed<oprf::PrivateKey>(path, *file).status();
      break;
    case KeyKind::kEd25519:
      valid = KeyFromParsed<SigningKey>(path, *file).status();
      break;
    case KeyKind::kX25519:
      valid = KeyFromParsed<BoxSecretKey>(path, *file).status();
      break;
  }
  if (!valid.ok()) return valid;
  return KeyFilePublicInfo{file->kind, file->created,
                           Bytes(file->public_key.begin(), file->public_key.end())};
}

}  // namespace schakel::crypto
