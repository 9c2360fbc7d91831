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
//     "box_key_file": "keys/box.key",     // optional; needed to ask for disclosure
//     "gateway": {"org_id": "gateway", "signing_public_key": "<64 hex>",
//                 "endpoint": "gateway.example:8443",   // optional
//                 "server_name": "gateway"},            // optional
//     "local": {"listen": "127.0.0.1:9443"},              // optional
//     "local_policy": "local-policy.json",
//     "threads": 2,                       // optional, 1..64, default 2
//     "daily_subject_quota": 10000,       // optional, >= 1, default 10000
//     "max_clock_skew_ms": 5000,          // optional, 0..60000, default 5000
//     "retention_interval_s": 3600,       // optional, 1..604800, default 3600
//     "publish": {"batch_max_changes": 10000, "retry_ms": 1000},  // optional
//     "notification_poll_s": 30,          // optional, 1..86400, default 30
//     "node_secret_file": "node-secret.key",   // optional, default in data_dir
//     "bootstrap_admin_credential_file": "admin.credential",  // optional
//     "shutdown_grace_ms": 10000,         // optional, 0..300000, default 10000
//     "metrics": {"listen": "127.0.0.1:9465"}  // optional; off when absent
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
#include "common/json_checker.h"
#include "crypto/bytes.h"

namespace schakel::nodes {

// Largest config file accepted.
inline constexpr size_t kMaxNodeConfigBytes = kMaxConfigBytes;

struct NodeConfig {
  std::string org_id;
  std::string listen;  // "host:port"; port 0 picks a free port
  std::filesystem::path data_dir;
  std::filesystem::path tls_ca;
  std::filesystem::path tls_cert;
  std::filesystem::path tls_key;
  std::filesystem::path oprf_key_file;
  std::filesystem::path signing_key_file;
  // The node's X25519 key (crypto/key_file.h, kind x25519) that disclosed
  // payloads are sealed to; its public key must be in the directory. Empty:
  // the node cannot ask for disclosure (FAILED_PRECONDITION naming this
  // setting).
  std::filesystem::path box_key_file;
  std::string gateway_org_id;
  std::vector<crypto::Bytes> gateway_signing_public_keys;  // 32 bytes each, checked
  // Where the node calls the gateway ("host:port"); empty: the node does not
  // publish its index and cannot run matches (it still answers evaluations).
  std::string gateway_endpoint;
  // The name the gateway's TLS certificate must carry when it differs from
  // the endpoint's host; empty: the endpoint's host.
  std::string gateway_server_name;
  // The local API listener for the organisation's own users ("host:port");
  // TLS with the node's own certificate, no client certificate; users
  // authenticate with bearer credentials (local.proto). Empty: no local API.
  std::string local_listen;
  std::filesystem::path local_policy;
  int threads = 2;
  uint32_t daily_subject_quota = 10000;
  int64_t max_clock_skew_ms = 5000;
  // Seconds between retention runs (expired signals removed).
  int64_t retention_interval_s = 3600;
  // Index publication: most tag changes per IndexBatch sent, and the wait
  // before retrying after the gateway was unreachable.
  uint32_t publish_batch_max_changes = 10000;
  int64_t publish_retry_ms = 1000;
  // Seconds between two Gateway.FetchNotifications catch-ups (also done at
  // start); the gateway pushes in between.
  int64_t notification_poll_s = 30;
  // The node's own 32-byte secret (keys the credential hashes and the
  // node-local address/person digests); created with mode 0600 on first
  // start. Default: data_dir / "node-secret.key".
  std::filesystem::path node_secret_file;
  // When set and the node has no user yet: create user "admin" (ROLE_ADMIN)
  // and write "admin.<secret>" to this file (mode 0600). Empty: no bootstrap.
  std::filesystem::path bootstrap_admin_credential_file;
  // On SIGTERM/SIGINT: how long calls in progress may take to finish
  // before they are cancelled.
  int64_t shutdown_grace_ms = 10'000;
  // Where GET /metrics (Prometheus text format) is served, plain HTTP;
  // empty: no metrics endpoint.
  std::string metrics_listen;
};

// Parses and checks a config. Relative paths are resolved against
// `base_dir`; `source_name` starts the error message.
// Errors: INVALID_ARGUMENT "<source>: node configuration refused, N
// problem(s):" followed by one "<json path>: <problem>" line per problem
// (JSON syntax, a missing or unknown field, a wrong type, an invalid org id,
// an empty path, a listen address or endpoint that is not host:port, a
// gateway key that is not a valid Ed25519 public key in hex, a number out of
// range).
absl::StatusOr<NodeConfig> ParseNodeConfig(std::string_view text,
                                           const std::filesystem::path& base_dir,
                                           std::string_view source_name = "node configuration");

// Reads and parses a file. Errors: NOT_FOUND / FAILED_PRECONDITION when it
// cannot be read or is larger than kMaxNodeConfigBytes (naming the path);
// those of ParseNodeConfig.
absl::StatusOr<NodeConfig> LoadNodeConfig(const std::filesystem::path& path);

}  // namespace schakel::nodes

#endif  // SCHAKEL_NODES_NODE_CONFIG_H_
