// The gateway as a whole: everything a GatewayConfig names, loaded and
// checked, and the gRPC server over it (schakel-gateway is main.cc around
// this class; tests start it in-process on 127.0.0.1:0).
//
// Create:
//   1. loads the signing key, the policy, the directory and the TLS files,
//      collecting EVERY problem before giving up (each naming its field and
//      file);
//   2. opens the RocksDB store under data_dir (one store: log, checkpoints,
//      cases, tag sets, quotas, exchanges, directory history) and the exchange
//      log, which refuses to open when its head entry does not verify;
//   3. records at start what changed since the last run: POLICY_LOADED when
//      the policy version differs from the last one recorded,
//      DIRECTORY_CHANGED per organisation registered, changed or deactivated
//      (directory_version counts them; directory_in_force.h).
// Start serves, over mutual TLS: schakel.v1.Gateway (gateway_service.h),
// schakel.v1.Cases, schakel.v1.Audit, schakel.v1.GatewayAdmin
// (admin_service.h), the standard gRPC health service (grpc.health.v1.Health;
// "" and each service name report SERVING until the exchange log fails a
// write or Shutdown begins) and server reflection. With config
// "metrics.listen" it also serves GET /metrics (gateway_metrics.h) on that
// plain-HTTP address. A background thread makes checkpoints when due
// (entries or time, config "checkpoint") and keeps the metrics up to date.
//
// The policy in force is PolicyInForce's (admin_service.h), the directory
// in force DirectoryInForce's (directory_in_force.h): ReloadPolicy and
// ReloadDirectory (the rpcs, or SIGHUP in schakel-gateway) swap them
// without a restart, each fail-closed (logged first, nothing changes when
// the log cannot be written). Every service reads both per call.
//
// Errors: Create returns FAILED_PRECONDITION "cannot start, N problem(s):"
// with one indented line per problem (INVALID_ARGUMENT when the config
// itself is unusable, DATA_LOSS when the log's head does not verify); Start
// returns UNAVAILABLE when the address cannot be bound.
//
// Thread safety: Create, Start and Shutdown from one thread; the parts may be
// used from any thread (each is thread-safe).
#ifndef SCHAKEL_GATEWAY_GATEWAY_SERVER_H_
#define SCHAKEL_GATEWAY_GATEWAY_SERVER_H_

#include <grpcpp/server.h>

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "common/observed_store.h"
#include "gateway/admin_service.h"
#include "gateway/audit_service.h"
#include "gateway/authoriser.h"
#include "gateway/case_store.h"
#include "gateway/cases_service.h"
#include "gateway/checkpoints.h"
#include "gateway/directory.h"
#include "gateway/directory_in_force.h"
#include "gateway/exchange_log.h"
#include "gateway/exchange_state.h"
#include "gateway/gateway_config.h"
#include "gateway/gateway_metrics.h"
#include "gateway/gateway_service.h"
#include "gateway/policy.h"
#include "gateway/quota.h"
#include "gateway/receipts.h"
#include "gateway/tag_index.h"
#include "rpc/server_main.h"
#include "store/kv_store.h"
#include "store/rocksdb_store.h"

namespace schakel::gateway {

class GatewayServer {
 public:
  struct Options {
    // The clock (tests move it: resolve windows, quota days).
    std::function<absl::Time()> now = absl::Now;
    // One line per refusal, partner failure and start-up event (stderr in
    // schakel-gateway); may be empty.
    std::function<void(std::string_view)> log_line;
    // Tests: wraps the opened RocksDB store (e.g. in a store::FaultyStore);
    // the server owns the wrapper and uses it for everything.
    std::function<std::unique_ptr<store::KvStore>(store::KvStore* rocksdb)> wrap_store;
    // Tests: the RocksDB Env (file system) of the store, e.g. one that
    // simulates a failing disk (tests/support/crash_test_fs.h).
    std::shared_ptr<rocksdb::Env> rocksdb_env = nullptr;
    // Tests: the TLS name every node's certificate must carry, instead of
    // the endpoint's host.
    std::string node_target_name_override;
  };

  // Loads and checks everything (see the top of this file). Does not listen
  // yet.
  static absl::StatusOr<std::unique_ptr<GatewayServer>> Create(const GatewayConfig& config,
                                                               Options options);
  ~GatewayServer();
  GatewayServer(const GatewayServer&) = delete;
  GatewayServer& operator=(const GatewayServer&) = delete;

  // Starts serving on config.listen; returns the port bound (useful with
  // port 0). Errors: UNAVAILABLE when the address cannot be bound;
  // FAILED_PRECONDITION when already started.
  absl::StatusOr<int> Start();

  // Health goes NOT_SERVING, the nodes' index publication streams are
  // ended (they would hold the server open), new calls are refused, running
  // calls get up to `grace` to finish and are then cancelled; the
  // background thread stops. Idempotent.
  void Shutdown(absl::Duration grace = absl::Seconds(10));

  // Re-reads the policy file (SIGHUP): as GatewayAdmin.ReloadPolicy by the
  // gateway itself (admin_service.h).
  absl::StatusOr<PolicyInForce::Reloaded> ReloadPolicy();
  // Re-reads the directory file (SIGHUP): as GatewayAdmin.ReloadDirectory
  // by the gateway itself (directory_in_force.h). FAILED_PRECONDITION for
  // an inline directory (config.directory_file empty).
  absl::StatusOr<DirectoryInForce::Reloaded> ReloadDirectory();

  // "host:port" with the bound port (after Start).
  std::string bound_address() const;
  // "host:port" of GET /metrics; empty when not configured (after Start).
  std::string metrics_address() const;

  // The parts, for tests and tools.
  const GatewayConfig& config() const { return config_; }
  ExchangeLog& log() { return *log_; }
  TagIndex& tags() { return *tags_; }
  QuotaBook& quota() { return *quota_; }
  ExchangeStore& exchanges() { return *exchanges_; }
  CaseStore& cases() { return *cases_; }
  CheckpointStore& checkpoints() { return *checkpoints_; }
  // The directory in force (a snapshot: a reload does not change it).
  std::shared_ptr<const Directory> directory() const;
  DirectoryInForce& directory_in_force() { return *directory_; }
  GatewayService& service() { return *gateway_service_; }
  CasesService& cases_service() { return *cases_service_; }
  std::shared_ptr<const Policy> policy() const;
  PolicyInForce& policy_in_force() { return *policy_; }
  AdminService& admin_service() { return *admin_service_; }
  AuditService& audit_service() { return *audit_service_; }
  const crypto::VerifyKey& signing_public_key() const { return receipts_->verify_key(); }
  store::KvStore& store() { return *kv_; }

 private:
  GatewayServer(GatewayConfig config, Options options) : config_(std::move(config)), options_(std::move(options)) {}
  // Records the policy and `directory` at start and puts the directory in
  // force (directory_).
  absl::Status RecordStart(const std::filesystem::path& policy_source,
                           std::unique_ptr<Directory> directory);
  void Background();
  void Log(std::string_view line) const;

  const GatewayConfig config_;
  const Options options_;

  std::unique_ptr<store::RocksDbStore> rocksdb_;
  std::unique_ptr<store::KvStore> wrapper_;
  std::unique_ptr<ObservedStore> observed_;  // over the above: log write figures
  store::KvStore* kv_ = nullptr;
  std::shared_ptr<grpc::ServerCredentials> server_credentials_;
  std::shared_ptr<grpc::ChannelCredentials> node_credentials_;
  std::unique_ptr<PolicyInForce> policy_;
  std::unique_ptr<DirectoryInForce> directory_;
  std::unique_ptr<ExchangeLog> log_;
  std::unique_ptr<TagIndex> tags_;
  std::unique_ptr<QuotaBook> quota_;
  std::unique_ptr<ExchangeStore> exchanges_;
  std::unique_ptr<CaseStore> cases_;
  std::unique_ptr<CheckpointStore> checkpoints_;
  std::unique_ptr<Authoriser> authoriser_;
  std::unique_ptr<ReceiptIssuer> receipts_;
  std::unique_ptr<GatewayService> gateway_service_;
  std::unique_ptr<CasesService> cases_service_;
  std::unique_ptr<AuditService> audit_service_;
  std::unique_ptr<AdminService> admin_service_;
  std::unique_ptr<GatewayMetrics> metrics_;  // only with config metrics_listen
  std::unique_ptr<MetricsEndpoint> metrics_endpoint_;
  rpc::CallDrainer calls_;

  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;

  std::mutex background_mu_;
  std::condition_variable background_cv_;
  bool stopping_ = false;    // guarded by background_mu_
  bool appended_ = false;    // guarded by background_mu_
  std::thread background_;
};

}  // namespace schakel::gateway

#endif  // SCHAKEL_GATEWAY_GATEWAY_SERVER_H_
