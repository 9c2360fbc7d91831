// The configuration of the gateway process (schakel-gateway --config FILE).
//
// A JSON file (comments allowed) that docs/gateway-config.md describes field
// by field; deploy/examples/gateway.json is a complete example:
//
//   {
//     "org_id": "gateway",                 // the identity in its certificate
//     "listen": "0.0.0.0:8443",            // "127.0.0.1:0": any free port
//     "data_dir": "/var/lib/schakel-gateway",
//     "tls": {"ca": "ca.pem", "cert": "gateway.pem", "key": "gateway.key"},
//     "signing_key_file": "keys/gateway-signing.key",
//     "policy": "policy.json",
//     "directory": "directory.json",       // or the directory inline
//     "partner_deadline_ms": 5000,         // optional
//     "partner_deadline_per_element_us": 500,  // optional
//     "resolve_window_seconds": 300,       // optional
//     "authorisation_lifetime_ms": 30000,  // optional
//     "max_message_bytes": 67108864,       // optional
//     "max_tags_per_set": 50000000,        // optional
//     "checkpoint": {"every_entries": 1000, "every_seconds": 600},  // optional
//     "timezone": "Europe/Amsterdam",      // optional
//     "shutdown_grace_ms": 10000,          // optional
//     "metrics": {"listen": "127.0.0.1:9464"}  // optional; off when absent
//   }
//
// Relative paths are taken relative to the directory of the config file.
// "directory" is a path to a directory file (gateway/directory.h), or the
// same content inline: an object {"organisations": [...]} or just the list.
//
// Loading checks the whole file and refuses it with EVERY problem named,
// one "<json path>: <problem>" per line. Only the shape is checked here (and
// that the time zone exists); the files it names are checked when they are
// loaded (key file, TLS files, policy, directory), each with its own message
// naming the file.
//
// The checking itself is common/json_checker.h (JsonChecker,
// ReadConfigText), shared with the directory file and the node config.
//
// Thread safety: a GatewayConfig is a plain value.
#ifndef SCHAKEL_GATEWAY_GATEWAY_CONFIG_H_
#define SCHAKEL_GATEWAY_GATEWAY_CONFIG_H_

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/json_checker.h"

namespace schakel::gateway {

// Largest config (and directory) file accepted.
inline constexpr size_t kMaxGatewayConfigBytes = kMaxConfigBytes;

struct GatewayConfig {
  // The gateway's own organisation id: what its TLS certificate names, and
  // what nodes put in their config as gateway.org_id.
  std::string org_id;
  std::string listen;  // "host:port"; port 0 picks a free port
  std::filesystem::path data_dir;
  std::filesystem::path tls_ca;
  std::filesystem::path tls_cert;
  std::filesystem::path tls_key;
  std::filesystem::path signing_key_file;
  std::filesystem::path policy_file;
  // Exactly one of these is set: a directory file, or the directory inline
  // (its JSON text, parsed by ParseDirectory).
  std::filesystem::path directory_file;
  std::string directory_inline;
  // The name an inline directory is reported under in messages.
  std::string directory_source = "directory";

  // Longest the gateway waits for one partner's evaluation; always less
  // than what is left of the caller's deadline.
  int64_t partner_deadline_ms = 5000;
  // Added to it for each element the partner evaluates (microseconds).
  int64_t partner_deadline_per_element_us = 500;
  // How long after OpenExchange ResolveMatches is accepted.
  int64_t resolve_window_seconds = 300;
  // Lifetime of an authorisation sent to a node (at most 60 s).
  int64_t authorisation_lifetime_ms = 30000;
  // Largest gRPC message received or sent.
  int64_t max_message_bytes = 64 << 20;
  // Largest tag set per organisation and purpose.
  uint64_t max_tags_per_set = 50'000'000;
  // Checkpoint interval (gateway/checkpoints.h): every this many entries,
  // or after this many seconds when anything was appended; 0 disables one.
  uint64_t checkpoint_every_entries = 1000;
  int64_t checkpoint_every_seconds = 600;
  // Zone of the quota day (and of the policy's dates).
  std::string timezone = "Europe/Amsterdam";
  absl::TimeZone zone;
  // On SIGTERM/SIGINT: how long calls in progress may take to finish
  // before they are cancelled.
  int64_t shutdown_grace_ms = 10'000;
  // Where GET /metrics (Prometheus text format) is served, plain HTTP;
  // empty: no metrics endpoint.
  std::string metrics_listen;
};

// Parses and checks a config. Relative paths are resolved against
// `base_dir`; `source_name` starts the error message.
// Errors: INVALID_ARGUMENT "<source>: gateway configuration refused, N
// problem(s):" followed by one "<json path>: <problem>" line per problem
// (JSON syntax, a missing or unknown field, a wrong type, an invalid org id,
// an empty path, a listen address that is not host:port, a number out of
// range, a time zone that cannot be loaded).
absl::StatusOr<GatewayConfig> ParseGatewayConfig(std::string_view text,
                                                 const std::filesystem::path& base_dir,
                                                 std::string_view source_name = "gateway configuration");

// Reads and parses a file. Errors: NOT_FOUND / FAILED_PRECONDITION when it
// cannot be read or is larger than kMaxGatewayConfigBytes (naming the path);
// those of ParseGatewayConfig.
absl::StatusOr<GatewayConfig> LoadGatewayConfig(const std::filesystem::path& path);

}  // namespace schakel::gateway

#endif  // SCHAKEL_GATEWAY_GATEWAY_CONFIG_H_
