// The node's own 32-byte secret, and the keyed digests built on it.
//
// One random secret per node, in a file of its own (node config
// "node_secret_file", default <data_dir>/node-secret.key, mode 0600),
// created on first start. It never leaves the node. From it the node
// derives, by BLAKE2b-256 keyed with the secret over a context string:
//   * the key of the user credential hashes (nodes/users.h), and
//   * the node-local digests of addresses and persons in the signal store
//     (nodes/signal_store.h),
// so that a copy of the database alone allows no offline guessing of
// credentials, addresses or persons (a BSN has only 10^9 values: an
// unkeyed digest of it would be reversible).
//
// File format (ASCII):
//   schakel-node-secret-v1
//   # Schakel node secret. Keep it private: mode 0600.
//   secret: <64 hex digits>
// Read with crypto::ReadCheckedFile (no symbolic link, mode 0600 or 0400);
// written with crypto::WriteFileAtomically (temporary file, mode 0600,
// fsync, link into place so an existing secret is never replaced, fsync of
// the directory).
//
// Errors: NOT_FOUND / PERMISSION_DENIED / FAILED_PRECONDITION (unsafe mode,
// symbolic link) from reading, INVALID_ARGUMENT for a malformed file, each
// naming the path and never containing the secret.
//
// Thread safety: a NodeSecret is immutable after construction; concurrent
// use is safe. It wipes its bytes on destruction.
#ifndef SCHAKEL_NODES_NODE_SECRET_H_
#define SCHAKEL_NODES_NODE_SECRET_H_

#include <filesystem>
#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "crypto/bytes.h"
#include "crypto/hash.h"
#include "crypto/secret.h"

namespace schakel::nodes {

// Context strings, one per use.
inline constexpr char kCredentialHashContext[] = "schakel:v1:node-credential";
inline constexpr char kAddressDigestContext[] = "schakel:v1:node-address";
inline constexpr char kPersonDigestContext[] = "schakel:v1:node-person";

class NodeSecret {
 public:
  explicit NodeSecret(crypto::SecretBytes<32> secret) : secret_(std::move(secret)) {}

  // A fresh random secret (tests, and the first start).
  static NodeSecret Random();

  // Loads the file, or creates it with a random secret when it does not
  // exist (`created` says which). Errors: see the top of this file.
  static absl::StatusOr<NodeSecret> LoadOrCreate(const std::filesystem::path& path,
                                                 bool* created = nullptr);

  // BLAKE2b-256 keyed with the secret over CE(string context) || data.
  crypto::Blake2b256Digest Digest(std::string_view context, crypto::ByteView data) const;
  crypto::Blake2b256Digest Digest(std::string_view context, std::string_view data) const {
    return Digest(context, crypto::AsBytes(data));
  }

  // A 32-byte key for one use: Digest(context, "key").
  crypto::SecretBytes<32> DeriveKey(std::string_view context) const;

  NodeSecret Clone() const { return NodeSecret(secret_.Clone()); }

 private:
  crypto::SecretBytes<32> secret_;
};

// BLAKE2b-256 keyed with `key` over `data` (the credential hash).
crypto::Blake2b256Digest KeyedBlake2b256(const crypto::SecretBytes<32>& key, crypto::ByteView data);

}  // namespace schakel::nodes

#endif  // SCHAKEL_NODES_NODE_SECRET_H_
