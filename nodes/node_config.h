// The configuration of a partner node process (schakel-node --config FILE).
//
// A JSON file (comments allowed) that docs/node-config.md describes field by
// field; deploy/examples/node.json is a complete example:
//
//   {
//     "org_id": "politie",
//     "listen": "0.0.0.0:8443",          // "127.0.0.1:0": any free port
//     "data_dir": "/var/lib/schakel-node",
//     "tls": {"ca": "ca.pem", "cert": "politie.pem", "key": "politie.key"},
//     "oprf_key_file": "keys/oprf.key",
//     "signing_key_file": "keys/signing.key",
//     "gateway": {"org_id": "gateway", "signing_public_key": "<64 hex>"},
//     "local_policy": "local-policy.json",
//     "threads": 2,                       // optional, 1..64, default 2
//     "daily_subject_quota": 10000,       // optional, >= 1, default 10000
//     "max_clock_skew_ms": 5000           // optional, 0..60000, default 5000
//   }
//
// Relative paths are taken relative to the directory of the config file.
// gateway.signing_public_key may also be a list of hex keys (during a key
// rotation of the gateway).
//
// Loading checks the whole file and refuses it with EVERY problem named, one
// "<json path>: <problem>" per line. Only the shape is checked here; the
// files it names are checked when they are loaded (key files, TLS files,
// local policy), each with its own message naming the file.
//
// Thread safety: a NodeConfig is a plain value.
#ifndef SCHAKEL_NODES_NODE_CONFIG_H_
#define SCHAKEL_NODES_NODE_CONFIG_H_

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "crypto/bytes.h"

namespace schakel::nodes {

// Largest config file accepted.
inline constexpr size_t kMaxNodeConfigBytes = 1 << 20;

struct NodeConfig {
  std::string org_id;
  std::string listen;  // "host:port"; port 0 picks a free port
  std::filesystem::path data_dir;
  std::filesystem::path tls_ca;
  std::filesystem::path tls_cert;
  std::filesystem::path tls_key;
  std::filesystem::path oprf_key_file;
  std::filesystem::path signing_key_file;
  std::string gateway_org_id;
  std::vector<crypto::Bytes> gateway_signing_public_keys;  // 32 bytes each, checked
  std::filesystem::path local_policy;
  int threads = 2;
  uint32_t daily_subject_quota = 10000;
  int64_t max_clock_skew_ms = 5000;
};

// Parses and checks a config. Relative paths are resolved against
// `base_dir`; `source_name` starts the error message.
// Errors: INVALID_ARGUMENT "<source>: node configuration refused, N
// problem(s):" followed by one "<json path>: <problem>" line per problem
// (JSON syntax, a missing or unknown field, a wrong type, an invalid org id,
// an empty path, a listen address that is not host:port, a gateway key that
// is not a valid Ed25519 public key in hex, a number out of range).
absl::StatusOr<NodeConfig> ParseNodeConfig(std::string_view text,
                                           const std::filesystem::path& base_dir,
                                           std::string_view source_name = "node configuration");

// Reads and parses a file. Errors: NOT_FOUND / FAILED_PRECONDITION when it
// cannot be read or is larger than kMaxNodeConfigBytes (naming the path);
// those of ParseNodeConfig.
absl::StatusOr<NodeConfig> LoadNodeConfig(const std::filesystem::path& path);

}  // namespace schakel::nodes

#endif  // SCHAKEL_NODES_NODE_CONFIG_H_
