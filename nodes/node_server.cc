#include "nodes/node_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <optional>
#include <vector>

#include "common/metrics.h"
#include "common/observed_store.h"
#include "common/strings.h"
#include "crypto/checked_file.h"
#include "crypto/key_file.h"
#include "nodes/approvals.h"
#include "nodes/approvals_service.h"
#include "nodes/authorisation_check.h"
#include "nodes/disclosure_responder.h"
#include "nodes/evaluator.h"
#include "nodes/forwarding_services.h"
#include "nodes/gateway_client.h"
#include "nodes/import.h"
#include "nodes/index_publisher.h"
#include "nodes/node_admin_service.h"
#include "nodes/local_auth.h"
#include "nodes/local_log.h"
#include "nodes/local_log_service.h"
#include "nodes/local_policy.h"
#include "nodes/matching_service.h"
#include "nodes/node_secret.h"
#include "nodes/node_service.h"
#include "nodes/notifications.h"
#include "nodes/notifications_service.h"
#include "nodes/outgoing_disclosures.h"
#include "nodes/retention_scheduler.h"
#include "nodes/signal_store.h"
#include "nodes/signals_service.h"
#include "nodes/users.h"
#include "nodes/users_service.h"
#include "rpc/channel.h"
#include "rpc/server_main.h"
#include "rpc/tls.h"
#include "store/rocksdb_store.h"

namespace schakel::nodes {
namespace {

constexpr char kBootstrapUser[] = "admin";

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string BoundAddress(const std::string& listen, int port) {
  const size_t colon = listen.rfind(':');
  return StrCat(listen.substr(0, colon), ":", port);
}

// Whether a file can be created at `path` (for the bootstrap credential):
// its directory exists and nothing is there yet.
absl::Status CanCreate(const std::filesystem::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    return absl::AlreadyExistsError(
        StrCat(path.string(),
               " already exists, but the node has no user; remove it so that "
               "the node can write a new admin credential there"));
  }
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return absl::NotFoundError(StrCat("directory ", dir.string(), " does not exist"));
  }
  return absl::OkStatus();
}

// Health names per listener, "" (the whole server) first.
void SetServing(grpc::Server* server, const std::vector<std::string>& services, bool serving) {
  if (server == nullptr) return;
  if (grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService()) {
    for (const std::string& service : services) health->SetServingStatus(service, serving);
  }
}

}  // namespace

// Members in construction order: destruction runs in reverse, so servers
// go before the services they call and the stores last.
struct NodeServer::Parts {
  std::unique_ptr<store::RocksDbStore> kv;
  // Over kv: every part writes through it, so a failed write is seen.
  std::unique_ptr<ObservedStore> observed;
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  prometheus::Histogram* store_write_seconds = nullptr;
  prometheus::Counter* store_write_failures = nullptr;
  std::unique_ptr<LocalLog> log;
  std::unique_ptr<UserStore> users;
  std::unique_ptr<SignalStore> signals;
  std::unique_ptr<AuthorisationCheck> check;
  std::unique_ptr<Evaluator> evaluator;
  std::unique_ptr<NodeService> node_service;
  std::unique_ptr<LocalAuthenticator> authenticator;
  std::unique_ptr<SignalsService> signals_service;
  std::unique_ptr<UsersService> users_service;
  std::unique_ptr<LocalLogService> local_log_service;
  std::unique_ptr<NodeAdminService> admin_service;
  std::unique_ptr<GatewayClient> gateway;
  std::unique_ptr<MatchingService> matching_service;
  std::unique_ptr<ForwardingCasesService> cases_service;
  std::unique_ptr<ForwardingAuditService> audit_service;
  std::unique_ptr<IndexPublisher> publisher;
  std::unique_ptr<ApprovalStore> approvals;
  std::unique_ptr<DisclosureResponder> disclosures;
  std::unique_ptr<ApprovalsService> approvals_service;
  std::unique_ptr<crypto::BoxSecretKey> box_key;  // requesting side (box_key_file)
  std::unique_ptr<OutgoingDisclosures> outgoing;
  std::unique_ptr<NotificationInbox> inbox;
  std::unique_ptr<InboxService> inbox_service;
  std::unique_ptr<NotificationPoller> notification_poller;
  std::unique_ptr<RetentionScheduler> retention;
  std::unique_ptr<grpc::Server> gateway_server;
  std::unique_ptr<grpc::Server> local_server;
  std::vector<std::string> gateway_health_names;
  std::vector<std::string> local_health_names;
  std::atomic<bool> serving{false};  // set once both listeners are up
  rpc::CallDrainer calls;            // both listeners' calls
  std::unique_ptr<MetricsEndpoint> metrics;
  std::string gateway_address;
  std::string local_address;
  std::string metrics_address;
  LogFn log_line;
  bool stopped = false;

  void SetServingAll(bool on) {
    SetServing(gateway_server.get(), gateway_health_names, on);
    SetServing(local_server.get(), local_health_names, on);
  }
};

NodeServer::NodeServer(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}

NodeServer::~NodeServer() { Shutdown(std::chrono::milliseconds(0)); }

const std::string& NodeServer::gateway_facing_address() const { return parts_->gateway_address; }
const std::string& NodeServer::local_address() const { return parts_->local_address; }
const std::string& NodeServer::metrics_address() const { return parts_->metrics_address; }

absl::StatusOr<std::unique_ptr<NodeServer>> NodeServer::Start(const NodeConfig& config,
                                                              LogFn log_line) {
  if (!log_line) log_line = [](std::string_view) {};
  auto parts = std::make_unique<Parts>();
  parts->log_line = log_line;

  // Load everything, collecting every problem before giving up.
  std::vector<std::string> problems;
  auto oprf_key = crypto::LoadOprfKey(config.oprf_key_file);
  if (!oprf_key.ok()) problems.push_back(StrCat("oprf_key_file: ", oprf_key.status().message()));
  auto tag_key = crypto::LoadOprfKey(config.oprf_key_file);  // the signal store's copy
  auto signing_key = crypto::LoadSigningKey(config.signing_key_file);
  if (!signing_key.ok()) {
    problems.push_back(StrCat("signing_key_file: ", signing_key.status().message()));
  }
  auto policy = LoadLocalPolicy(config.local_policy);
  const absl::Time policy_loaded_at = absl::Now();
  if (!policy.ok()) problems.push_back(StrCat("local_policy: ", policy.status().message()));
  if (!config.box_key_file.empty()) {
    auto box_key = crypto::LoadBoxSecretKey(config.box_key_file);
    if (!box_key.ok()) {
      problems.push_back(StrCat("box_key_file: ", box_key.status().message()));
    } else {
      parts->box_key = std::make_unique<crypto::BoxSecretKey>(*std::move(box_key));
    }
  }
  const rpc::TlsFiles tls{.ca_certificates = config.tls_ca,
                          .certificate_chain = config.tls_cert,
                          .private_key = config.tls_key};
  auto credentials = rpc::ServerCredentialsFromFiles(tls);
  if (!credentials.ok()) problems.push_back(StrCat("tls: ", credentials.status().message()));
  std::shared_ptr<grpc::ServerCredentials> local_credentials;
  if (!config.local_listen.empty() && credentials.ok()) {
    auto local = rpc::ServerCredentialsWithoutClientCertificate(tls);
    if (!local.ok()) {
      problems.push_back(StrCat("local: ", local.status().message()));
    } else {
      local_credentials = *std::move(local);
    }
  }
  std::vector<crypto::VerifyKey> gateway_keys;
  for (const crypto::Bytes& bytes : config.gateway_signing_public_keys) {
    gateway_keys.push_back(crypto::VerifyKey::FromBytes(bytes).value());  // checked by the config
  }
  if (problems.empty()) {  // do not create a data directory for a node that cannot start
    auto opened = store::RocksDbStore::Open(config.data_dir.string());
    if (!opened.ok()) {
      problems.push_back(StrCat("data_dir: ", opened.status().message()));
    } else {
      parts->kv = *std::move(opened);
    }
  }
  std::optional<NodeSecret> secret;
  if (problems.empty()) {
    bool created = false;
    auto loaded = NodeSecret::LoadOrCreate(config.node_secret_file, &created);
    if (!loaded.ok()) {
      problems.push_back(StrCat("node_secret_file: ", loaded.status().message()));
    } else {
      secret.emplace(*std::move(loaded));
      if (created) log_line(StrCat("created the node secret ", config.node_secret_file.string()));
    }
  }
  if (!problems.empty()) {
    std::string message = StrCat("cannot start, ", problems.size(),
                                 problems.size() == 1 ? " problem:" : " problems:");
    for (const std::string& p : problems) message += StrCat("\n  ", p);
    return absl::FailedPreconditionError(message);
  }

  // Every write goes through the observed store: its latency is a metric,
  // and a failed one turns health to NOT_SERVING (restart to recover).
  parts->store_write_seconds = &prometheus::BuildHistogram()
                                    .Name("schakel_node_store_write_seconds")
                                    .Help("Synced writes to the node's store")
                                    .Register(*parts->registry)
                                    .Add({}, LatencyBuckets());
  parts->store_write_failures = &prometheus::BuildCounter()
                                     .Name("schakel_node_store_write_failures_total")
                                     .Help("Writes to the node's store that failed")
                                     .Register(*parts->registry)
                                     .Add({});
  {
    Parts* p = parts.get();
    parts->observed = std::make_unique<ObservedStore>(
        parts->kv.get(), [p](const store::WriteBatch&, store::Durability durability, absl::Duration took,
                             const absl::Status& result) {
          if (!result.ok()) {
            p->store_write_failures->Increment();
            if (p->serving.exchange(false)) {
              p->log_line("a write to the store failed: not serving (restart to recover)");
              p->SetServingAll(false);
            }
            return;
          }
          if (durability == store::Durability::kSynced) {
            p->store_write_seconds->Observe(absl::ToDoubleSeconds(took));
          }
        });
  }
  store::KvStore* const kv = parts->observed.get();

  // The node's own state.
  auto log = LocalLog::Open(kv);
  if (!log.ok()) return log.status();
  parts->log = *std::move(log);
  auto users = UserStore::Create(kv, parts->log.get(),
                                 secret->DeriveKey(kCredentialHashContext));
  if (!users.ok()) return users.status();
  parts->users = *std::move(users);
  std::vector<std::string> purposes;
  for (const auto& [id, purpose] : (*policy)->purposes()) purposes.push_back(id);
  std::map<std::string, crypto::PurposeKey> purpose_keys;
  std::map<std::string, crypto::PurposeKey> audit_purpose_keys;  // LocalLog.AuditSubject
  {
    const crypto::oprf::PoprfServer server(*std::move(tag_key));
    for (const std::string& id : purposes) {
      auto key = crypto::PurposeKey::Create(server, id);
      if (!key.ok()) return key.status();
      purpose_keys.emplace(id, *std::move(key));
      auto audit_key = crypto::PurposeKey::Create(server, id);
      if (!audit_key.ok()) return audit_key.status();
      audit_purpose_keys.emplace(id, *std::move(audit_key));
    }
  }
  auto signals = SignalStore::Create(kv, *policy, std::move(purpose_keys),
                                     secret->Clone(), parts->log.get());
  if (!signals.ok()) return signals.status();
  parts->signals = *std::move(signals);
  if (const auto& retag = parts->signals->retag(); retag.has_value()) {
    // The local policy's matchable categories changed since the last start:
    // the changes are queued before anything is served (and published once
    // the publisher starts).
    log_line(StrCat("local policy ", (*policy)->version(), ": ", retag->Describe()));
  }
  if (const auto& recheck = parts->signals->address_recheck(); recheck.has_value()) {
    // The exclusion list or max_persons_per_address changed since the last
    // start: the address decisions were re-applied likewise (counts only).
    log_line(StrCat("local policy ", (*policy)->version(), ": ", recheck->Describe()));
  }
  auto recovered = SignalImport::Recover(parts->signals.get(), kv);
  if (!recovered.ok()) {
    return absl::Status(
        recovered.status().code(),
        StrCat("rolling back an interrupted import failed: ", recovered.status().message()));
  }
  if (*recovered > 0) {
    log_line(StrCat("rolled back ", *recovered,
                    " import(s) interrupted by the last stop; nothing of them is stored, "
                    "import the file(s) again"));
  }

  // Bootstrap admin.
  if (!config.bootstrap_admin_credential_file.empty()) {
    auto empty = parts->users->Empty();
    if (!empty.ok()) return empty.status();
    if (*empty) {
      const std::filesystem::path& path = config.bootstrap_admin_credential_file;
      if (absl::Status can = CanCreate(path); !can.ok()) {
        return absl::FailedPreconditionError(
            StrCat("cannot start, 1 problem:\n  bootstrap_admin_credential_file: ", can.message()));
      }
      auto issued = parts->users->CreateUser({}, kBootstrapUser, "Administrator (bootstrap)",
                                             {v1::ROLE_ADMIN});
      if (!issued.ok()) return issued.status();
      crypto::SecretBuffer content(issued->credential.size() + 1);
      std::copy(issued->credential.bytes().begin(), issued->credential.bytes().end(),
                content.data());
      content.data()[issued->credential.size()] = '\n';
      if (absl::Status written = crypto::WriteFileAtomically(
              path, content.bytes(), crypto::Overwrite::kRefuse, "file");
          !written.ok()) {
        return absl::Status(written.code(),
                            StrCat("bootstrap_admin_credential_file: ", written.message(),
                                   " (user \"admin\" was created; its credential is lost: "
                                   "start over with an empty data_dir)"));
      }
      log_line(StrCat("created user \"admin\" (role admin); its credential is in ", path.string(),
                      " (mode 0600): use it, then remove the file"));
    }
  }

  // The answering role (gateway-facing).
  const std::vector<crypto::VerifyKey> receipt_keys = gateway_keys;  // LocalLog.ReconcileReceipts
  parts->check = std::make_unique<AuthorisationCheck>(
      std::move(gateway_keys),
      AuthorisationCheck::Options{.own_org_id = config.org_id,
                                  .max_skew = std::chrono::milliseconds(config.max_clock_skew_ms)},
      kv, NowMs);
  Evaluator::Options evaluator_options;
  evaluator_options.own_org_id = config.org_id;
  evaluator_options.daily_subject_quota = config.daily_subject_quota;
  evaluator_options.threads = config.threads;
  evaluator_options.quota_store = kv;
  for (const auto& [id, purpose] : (*policy)->purposes()) {
    if (!purpose.refused_requester_org_ids.empty()) {
      evaluator_options.refused_requesters[id] = purpose.refused_requester_org_ids;
    }
    if (purpose.daily_element_quota > 0) {
      evaluator_options.purpose_element_quotas[id] = purpose.daily_element_quota;
    }
  }
  auto evaluator = Evaluator::Create(*std::move(oprf_key), *std::move(signing_key), purposes,
                                     parts->check.get(), std::move(evaluator_options));
  if (!evaluator.ok()) return evaluator.status();
  parts->evaluator = *std::move(evaluator);
  parts->node_service =
      std::make_unique<NodeService>(parts->evaluator.get(), config.gateway_org_id, NowMs,
                                    parts->log.get());

  // The local API.
  parts->authenticator = std::make_unique<LocalAuthenticator>(parts->users.get(), parts->log.get());
  SignalsService::Options signals_options;
  signals_options.import.threads = config.threads;
  // An import chunk becomes one queued IndexBatch: keep it within the
  // publication limit (about 3 keys per signal under each purpose).
  signals_options.import.chunk_size = std::clamp<size_t>(
      config.publish_batch_max_changes / (3 * std::max<size_t>(purposes.size(), 1)), 1, 1000);
  parts->signals_service =
      std::make_unique<SignalsService>(parts->signals.get(), kv, parts->log.get(),
                                       parts->authenticator.get(), std::move(signals_options));
  parts->users_service =
      std::make_unique<UsersService>(parts->users.get(), parts->authenticator.get(), config.org_id);
  parts->local_log_service =
      std::make_unique<LocalLogService>(parts->log.get(), parts->authenticator.get());

  // The requesting side and index publication, when the gateway is known.
  if (!config.gateway_endpoint.empty()) {
    auto gateway = GatewayClient::Connect(tls, config.gateway_endpoint, config.gateway_server_name,
                                          GatewayClient::Options{});
    if (!gateway.ok()) return gateway.status();
    parts->gateway = *std::move(gateway);
    parts->outgoing = std::make_unique<OutgoingDisclosures>(
        kv, parts->log.get(), parts->gateway.get(),
        OutgoingDisclosures::Options{
            .own_org_id = config.org_id, .box_key = parts->box_key.get(), .now = {}});
    MatchingService::Options matching_options;
    matching_options.threads = config.threads;
    matching_options.disclosures = parts->outgoing.get();
    parts->matching_service = std::make_unique<MatchingService>(
        parts->gateway.get(), parts->authenticator.get(), parts->log.get(), matching_options);
    parts->cases_service = std::make_unique<ForwardingCasesService>(
        parts->gateway.get(), parts->authenticator.get(), parts->log.get());
    parts->audit_service = std::make_unique<ForwardingAuditService>(
        parts->gateway.get(), parts->authenticator.get(), parts->log.get());
    parts->local_log_service->EnableAudit({.gateway = parts->gateway.get(),
                                           .own_org_id = config.org_id,
                                           .gateway_keys = receipt_keys,
                                           .purpose_keys = std::move(audit_purpose_keys),
                                           .now = {}});
    IndexPublisher::Options publisher_options;
    publisher_options.retry = std::chrono::milliseconds(config.publish_retry_ms);
    publisher_options.max_changes_per_batch = config.publish_batch_max_changes;
    SignalStore* store = parts->signals.get();
    publisher_options.republish = [store](uint64_t after, uint32_t max_changes) {
      return store->Republish(after, max_changes);
    };
    parts->publisher = std::make_unique<IndexPublisher>(parts->gateway.get(), store,
                                                        parts->log.get(), publisher_options);
    IndexPublisher* publisher = parts->publisher.get();
    parts->signals_service->set_on_queued([publisher] { publisher->Notify(); });
  }
  // Disclosure (answering side): orders from the gateway, approvals, the
  // outbox of later decisions.
  {
    auto disclosure_key = crypto::LoadSigningKey(config.signing_key_file);
    if (!disclosure_key.ok()) return disclosure_key.status();
    parts->approvals = std::make_unique<ApprovalStore>(kv, parts->log.get());
    std::shared_ptr<const LocalPolicy> disclosure_policy = *policy;
    parts->disclosures = std::make_unique<DisclosureResponder>(
        parts->approvals.get(), parts->signals.get(),
        [disclosure_policy] { return disclosure_policy; }, parts->check.get(),
        parts->gateway.get(), *std::move(disclosure_key), parts->log.get(), NowMs,
        DisclosureResponder::Options{.own_org_id = config.org_id});
    parts->node_service->set_disclosure_responder(parts->disclosures.get());
    parts->approvals_service =
        std::make_unique<ApprovalsService>(parts->disclosures.get(), parts->authenticator.get());
  }
  // Notifications from the gateway: pushed (Node.DeliverNotifications) and
  // fetched to catch up (at start and every notification_poll_s).
  {
    auto inbox = NotificationInbox::Open(kv, parts->log.get(), parts->signals.get(),
                                         parts->outgoing.get());
    if (!inbox.ok()) return inbox.status();
    parts->inbox = *std::move(inbox);
    parts->node_service->set_notification_inbox(parts->inbox.get());
    parts->inbox_service =
        std::make_unique<InboxService>(parts->inbox.get(), parts->authenticator.get());
    if (parts->gateway) {
      NotificationPoller::Options poller_options;
      poller_options.interval = std::chrono::milliseconds(config.notification_poll_s * 1000);
      poller_options.log_line = log_line;
      parts->notification_poller = std::make_unique<NotificationPoller>(
          parts->gateway.get(), parts->inbox.get(), poller_options);
    }
  }
  RetentionScheduler::Options retention_options;
  retention_options.interval = std::chrono::milliseconds(config.retention_interval_s * 1000);
  parts->retention = std::make_unique<RetentionScheduler>(
      parts->signals.get(), parts->publisher.get(), retention_options);
  parts->admin_service = std::make_unique<NodeAdminService>(
      parts->authenticator.get(), *policy, policy_loaded_at, parts->publisher.get());

  // Listeners.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  {
    grpc::ServerBuilder builder;
    rpc::ConfigureServer(builder);
    int port = 0;
    builder.AddListeningPort(config.listen, *credentials, &port);
    parts->gateway_health_names = {"", "schakel.v1.Node"};
    parts->calls.Install(builder);
    builder.RegisterService(parts->node_service.get());
    parts->gateway_server = builder.BuildAndStart();
    if (parts->gateway_server == nullptr || port == 0) {
      return absl::UnavailableError(StrCat("cannot listen on ", config.listen,
                                           " (address in use, or not an address of this host?)"));
    }
    parts->gateway_address = BoundAddress(config.listen, port);
  }
  if (!config.local_listen.empty()) {
    grpc::ServerBuilder builder;
    rpc::ConfigureServer(builder);
    int port = 0;
    builder.AddListeningPort(config.local_listen, local_credentials, &port);
    parts->calls.Install(builder);
    parts->local_health_names = {"", "schakel.v1.Signals", "schakel.v1.Users", "schakel.v1.LocalLog"};
    if (parts->matching_service) {
      for (const char* name : {"schakel.v1.Matching", "schakel.v1.Cases", "schakel.v1.Audit"}) {
        parts->local_health_names.push_back(name);
      }
    }
    builder.RegisterService(parts->signals_service.get());
    builder.RegisterService(parts->users_service.get());
    builder.RegisterService(parts->local_log_service.get());
    builder.RegisterService(parts->admin_service.get());
    builder.RegisterService(parts->approvals_service.get());
    builder.RegisterService(parts->inbox_service.get());
    if (parts->matching_service) builder.RegisterService(parts->matching_service.get());
    if (parts->cases_service) builder.RegisterService(parts->cases_service.get());
    if (parts->audit_service) builder.RegisterService(parts->audit_service.get());
    parts->local_server = builder.BuildAndStart();
    if (parts->local_server == nullptr || port == 0) {
      parts->gateway_server->Shutdown(std::chrono::system_clock::now());
      return absl::UnavailableError(StrCat("cannot listen on local.listen ", config.local_listen,
                                           " (address in use, or not an address of this host?)"));
    }
    parts->local_address = BoundAddress(config.local_listen, port);
  }
  if (!config.metrics_listen.empty()) {
    SignalStore* store = parts->signals.get();
    IndexPublisher* publisher = parts->publisher.get();
    std::vector<std::shared_ptr<prometheus::Collectable>> scraped;
    scraped.push_back(std::make_shared<CallbackGauge>(
        "schakel_node_index_queue_batches",
        "Index batches queued for the gateway and not yet acknowledged", [store] {
          std::vector<std::pair<CallbackGauge::Labels, double>> out;
          auto status = store->GetIndexStatus();
          if (status.ok()) {
            out.push_back({{}, static_cast<double>(status->queued_through - status->acknowledged_through)});
          }
          return out;
        }));
    scraped.push_back(std::make_shared<CallbackGauge>(
        "schakel_node_index_publication_connected",
        "1 while the index publication stream to the gateway is open", [publisher] {
          return std::vector<std::pair<CallbackGauge::Labels, double>>{
              {{}, publisher != nullptr && publisher->status().connected ? 1.0 : 0.0}};
        }));
    scraped.push_back(StoreMemoryGauge("schakel_node_store_memory_bytes", parts->kv.get()));
    auto endpoint = MetricsEndpoint::Start(config.metrics_listen, parts->registry, std::move(scraped));
    if (!endpoint.ok()) {
      parts->gateway_server->Shutdown(std::chrono::system_clock::now());
      if (parts->local_server) parts->local_server->Shutdown(std::chrono::system_clock::now());
      return endpoint.status();
    }
    parts->metrics = *std::move(endpoint);
    parts->metrics_address = parts->metrics->bound_address();
  }
  parts->serving = !parts->observed->write_failed();
  parts->SetServingAll(parts->serving);

  if (parts->publisher) parts->publisher->Start();
  if (parts->notification_poller) parts->notification_poller->Start();
  parts->disclosures->Start();
  parts->retention->Start();

  std::string purpose_list;
  for (const std::string& p : purposes) purpose_list += purpose_list.empty() ? p : ", " + p;
  log_line(StrCat("organisation ", config.org_id, ", local policy ", (*policy)->version(),
                  ", answering purposes: ", purpose_list.empty() ? "(none)" : purpose_list,
                  "; only the gateway \"", config.gateway_org_id, "\" may call"));
  log_line(config.gateway_endpoint.empty()
               ? std::string("no gateway.endpoint: the index is not published and matches, "
                             "cases and audit are not available")
               : StrCat("gateway at ", config.gateway_endpoint,
                        config.gateway_server_name.empty()
                            ? std::string()
                            : StrCat(" (certificate name ", config.gateway_server_name, ")"),
                        ": publishing the index"));
  log_line(config.local_listen.empty()
               ? std::string("no local.listen: the local API is not served")
               : StrCat("local API (TLS, bearer credentials) on ", parts->local_address));
  return std::unique_ptr<NodeServer>(new NodeServer(std::move(parts)));
}

void NodeServer::Tick() {
  auto forgotten = parts_->check->ForgetExpiredNonces();
  if (!forgotten.ok()) {
    parts_->log_line(StrCat("removing expired nonces failed: ", forgotten.status().message()));
  }
}

void NodeServer::Shutdown(std::chrono::milliseconds grace) {
  if (parts_ == nullptr || parts_->stopped) return;
  parts_->stopped = true;
  parts_->serving = false;
  parts_->SetServingAll(false);
  if (const size_t left = parts_->calls.Drain(absl::FromChrono(grace)); left > 0) {
    parts_->log_line(StrCat(left, left == 1 ? " call" : " calls",
                            " still running after the grace period: cancelled"));
  }
  // Now: the calls that mattered are done; what is left is cancelled.
  const auto deadline = std::chrono::system_clock::now();
  if (parts_->local_server) parts_->local_server->Shutdown(deadline);
  if (parts_->gateway_server) parts_->gateway_server->Shutdown(deadline);
  if (parts_->retention) parts_->retention->Stop();
  if (parts_->publisher) parts_->publisher->Stop();
  if (parts_->notification_poller) parts_->notification_poller->Stop();
  if (parts_->disclosures) parts_->disclosures->Stop();
  if (parts_->local_server) parts_->local_server->Wait();
  if (parts_->gateway_server) parts_->gateway_server->Wait();
  parts_->metrics.reset();
}

}  // namespace schakel::nodes
