// The partner node as one object: everything schakel-node runs, composed
// from a NodeConfig (nodes/node_config.h, docs/node-config.md).
//
// Start:
//   1. loads the keys, the local policy and the TLS files, collecting every
//      problem (each naming its field or file) before giving up;
//   2. opens the data directory (RocksDB), the node secret
//      (nodes/node_secret.h), the node's own log (nodes/local_log.h), the
//      users (nodes/users.h) and the signals (nodes/signal_store.h);
//   3. completes or removes imports a stop interrupted
//      (SignalImport::Recover) before anything is served;
//   4. bootstrap: when bootstrap_admin_credential_file is set and the node
//      has no user, creates "admin" (ROLE_ADMIN) and writes
//      "admin.<secret>" to that file (mode 0600, atomically); only the path
//      is printed, never the secret;
//   5. serves schakel.v1.Node to the gateway over mutual
//      TLS on `listen`, and - when local.listen is set - the local API on
//      its own listener: TLS with the node's certificate (tls.cert), no
//      client certificate, bearer credentials per call (local.proto):
//      Signals, Users, LocalLog, and with gateway.endpoint also Matching,
//      Cases and Audit (forwarded to the gateway);
//   6. with gateway.endpoint: the index publisher (a sequenced, resumable
//      stream to the gateway); always: the retention schedule;
//   7. with metrics.listen: GET /metrics (Prometheus text format, plain
//      HTTP): schakel_node_store_write_seconds, _store_write_failures_total,
//      _index_queue_batches (batches queued, not yet acknowledged),
//      _index_publication_connected, _store_memory_bytes{part}.
// Both listeners also serve gRPC health (grpc.health.v1.Health: "" and each
// service name; NOT_SERVING once a write to the node's store has failed, and
// from the start of Shutdown) and server reflection.
//
// Thread safety: Start, Tick and Shutdown are called from one thread (the
// process's main thread); the services run on gRPC's threads.
#ifndef SCHAKEL_NODES_NODE_SERVER_H_
#define SCHAKEL_NODES_NODE_SERVER_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "nodes/node_config.h"

namespace schakel::nodes {

class NodeServer {
 public:
  // Where start-up and running notes go (stderr in schakel-node); one line
  // each, never an identifier or a secret.
  using LogFn = std::function<void(std::string_view line)>;

  // Builds and starts everything. Errors: FAILED_PRECONDITION "cannot start,
  // N problem(s):" followed by one "  <field>: <problem>" line per problem;
  // UNAVAILABLE when a listener cannot bind; others from the store.
  static absl::StatusOr<std::unique_ptr<NodeServer>> Start(const NodeConfig& config, LogFn log);

  ~NodeServer();
  NodeServer(const NodeServer&) = delete;
  NodeServer& operator=(const NodeServer&) = delete;

  // "host:port" actually bound (port 0 resolved).
  const std::string& gateway_facing_address() const;
  // Empty when local.listen is not set.
  const std::string& local_address() const;
  // Empty when metrics.listen is not set.
  const std::string& metrics_address() const;

  // Periodic housekeeping (expired authorisation nonces); call about once a
  // minute.
  void Tick();

  // Health goes NOT_SERVING; stops accepting calls, gives running calls
  // until `grace` has passed and then cancels them, stops the background
  // tasks. Idempotent. (The store closes when the NodeServer is destroyed.)
  void Shutdown(std::chrono::milliseconds grace);

  struct Parts;  // defined in node_server.cc

 private:
  explicit NodeServer(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace schakel::nodes

#endif  // SCHAKEL_NODES_NODE_SERVER_H_
