// Key files: a node's or the gateway's secret keys on disk.
//
// Format (version 1; docs/key-files.md says the same with examples). A key
// file is ASCII text, at most 4096 bytes, lines ending in "\n" (a "\r" before
// it is tolerated):
//
//   schakel-key-v1
//   # Schakel secret key. Keep it private: mode 0600. Format: docs/key-files.md
//   kind: ed25519
//   created: 2026-11-23T10:00:00Z
//   secret: <64 hex digits>
//   public: <64 hex digits>
//
// - The first line is exactly "schakel-key-v1".
// - After it, empty lines and lines starting with "#" are ignored; every
//   other line is "<field>: <value>" (spaces around the value are ignored).
// - The fields kind, created, secret and public each appear exactly once, in
//   any order; no other field is allowed.
// - kind is one of
//     oprf-ristretto255-sha512  secret: the RFC 9497 private key, a canonical
//                               non-zero scalar (32 bytes, little-endian);
//                               public: the ristretto255 element secret·G
//     ed25519                   secret: the RFC 8032 private key (the 32-byte
//                               seed); public: the RFC 8032 public key
//     x25519                    secret: the X25519 secret key (32 bytes);
//                               public: X25519(secret, 9)
// - created is the UTC time the key was written, as YYYY-MM-DDTHH:MM:SSZ.
//   It is informational; nothing depends on it.
// - secret and public are hex (written lower-case, read in either case).
//   public is redundant: it lets a person or tool see which public key a file
//   holds; on load it must equal the key derived from secret.
// - A secret of all zero bytes is refused for every kind.
//
// File safety. Saving writes a temporary file in the target's directory
// (O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600), fsyncs it, moves it into place
// (rename, or link when overwriting is refused, so that an existing key is
// never replaced by accident even in a race) and fsyncs the directory: the
// key file is either absent or complete, and is never readable by others.
// Loading opens the file without following a symbolic link in its last path
// component and checks the opened file itself (no race between check and
// read): it must be a regular file whose mode gives no permission to group or
// others (0600 or 0400).
//
// Errors, for every function below:
//   NOT_FOUND            the file (or, when saving, its directory) does not
//                        exist; PERMISSION_DENIED when the operating system
//                        refuses access; other system errors map by errno
//                        (absl::ErrnoToStatus), all naming the path.
//   FAILED_PRECONDITION  the file is unsafe to read a secret from: it is a
//                        symbolic link, not a regular file, or its mode gives
//                        any permission to group or others. The message says
//                        how to fix it ("key file <path> has mode 0644; it
//                        must be 0600 ... (chmod 600 <path>)").
//   INVALID_ARGUMENT     the content is wrong: larger than 4096 bytes, wrong
//                        first line, a line that is not "field: value", an
//                        unknown, missing or repeated field, an unknown kind, a
//                        malformed created time, bad hex, a wrong length, a
//                        secret that is not a valid key of its kind (e.g. a
//                        non-canonical or zero OPRF scalar), a public key that
//                        does not match the secret, or a kind other than the
//                        loader's. Messages name the path and, where one
//                        exists, the line number.
//   ALREADY_EXISTS       saving with Overwrite::kRefuse over an existing file.
// No message ever contains the secret, or a value from the file that looks
// like key material.
//
// Ownership: loaders return keys that own (and wipe) their secret; the file's
// content is read into a SecretBuffer and wiped after parsing, and the secret
// is decoded from hex in constant time straight into wiping storage. Savers
// only read the key they are given.
//
// Thread safety: all functions are reentrant. Two processes saving to the
// same path with Overwrite::kRefuse cannot both succeed.
#ifndef SCHAKEL_CRYPTO_KEY_FILE_H_
#define SCHAKEL_CRYPTO_KEY_FILE_H_

#include <filesystem>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "crypto/bytes.h"
#include "crypto/oprf.h"
#include "crypto/sealed_box.h"
#include "crypto/signing.h"

namespace schakel::crypto {

// What a key file holds, named in the file by KeyKindName.
enum class KeyKind {
  kOprfRistretto255Sha512,  // "oprf-ristretto255-sha512": a node's OPRF key
  kEd25519,                 // "ed25519": a signing key
  kX25519,                  // "x25519": a sealed-box key
};

// The name the file format uses for `kind`.
std::string_view KeyKindName(KeyKind kind);
// The kind a name stands for. Errors: INVALID_ARGUMENT for any other name,
// listing the allowed ones.
absl::StatusOr<KeyKind> ParseKeyKind(std::string_view name);

// Whether saving may replace an existing file.
enum class Overwrite { kRefuse, kReplace };

// Writes `content` to `path` with mode exactly 0600, atomically: a temporary
// file in the same directory (O_EXCL, O_NOFOLLOW), fsync, then link() (which
// refuses to replace anything, even a dangling link, when `overwrite` is
// kRefuse) or rename(), then fsync of the directory. A crash leaves the old
// file or the new one, never half of it; a failure removes the temporary
// file. The key savers below and other secret files (the node secret, the
// bootstrap credential) use it.
// `what` names the file in messages ("key file", "node secret file").
// Errors: INVALID_ARGUMENT (`path` names no file), ALREADY_EXISTS (with
// kRefuse), or the errno of the failing step; each names the path, never the
// content.
absl::Status WriteFileAtomically(const std::filesystem::path& path, ByteView content,
                                 Overwrite overwrite, std::string_view what);

absl::Status SaveOprfKey(const std::filesystem::path& path, const oprf::PrivateKey& key,
                         Overwrite overwrite);
absl::Status SaveSigningKey(const std::filesystem::path& path, const SigningKey& key,
                            Overwrite overwrite);
absl::Status SaveBoxSecretKey(const std::filesystem::path& path, const BoxSecretKey& key,
                              Overwrite overwrite);

// Each loader refuses a file of another kind (INVALID_ARGUMENT).
absl::StatusOr<oprf::PrivateKey> LoadOprfKey(const std::filesystem::path& path);
absl::StatusOr<SigningKey> LoadSigningKey(const std::filesystem::path& path);
absl::StatusOr<BoxSecretKey> LoadBoxSecretKey(const std::filesystem::path& path);

// The public half of a key file of any kind.
struct KeyFilePublicInfo {
  KeyKind kind;
  std::string created;  // as written, YYYY-MM-DDTHH:MM:SSZ
  Bytes public_key;     // 32 bytes, in the encoding of `kind`
};

// Reads a key file of any kind and returns its public half. The whole file is
// checked exactly as the loaders check it (including that public matches
// secret), so a file this accepts is one a loader accepts; the secret is
// wiped before returning.
absl::StatusOr<KeyFilePublicInfo> ReadKeyFilePublic(const std::filesystem::path& path);

}  // namespace schakel::crypto

#endif  // SCHAKEL_CRYPTO_KEY_FILE_H_
