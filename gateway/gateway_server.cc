#include "gateway/gateway_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/server_builder.h>

#include <chrono>
#include <utility>
#include <vector>

#include "common/strings.h"
#include "crypto/key_file.h"
#include "rpc/channel.h"
#include "rpc/tls.h"
#include "store/rocksdb_store.h"

namespace schakel::gateway {
namespace {

// Health: "" (the whole server) and each service report the same status.
constexpr const char* kHealthServices[] = {"", "schakel.v1.Gateway", "schakel.v1.Cases",
                                           "schakel.v1.Audit", "schakel.v1.GatewayAdmin"};
// How often the background thread looks at checkpoints and the log's health
// when nothing was appended.
constexpr auto kBackgroundTick = std::chrono::seconds(1);

crypto::SigningKey CopyKey(const crypto::SigningKey& key) { return crypto::SigningKey::FromSeed(key.seed()); }

void SetServing(grpc::Server* server, bool serving) {
  if (server == nullptr) return;
  if (grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService()) {
    for (const char* service : kHealthServices) health->SetServingStatus(service, serving);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<GatewayServer>> GatewayServer::Create(const GatewayConfig& config,
                                                                     Options options) {
  std::unique_ptr<GatewayServer> s(new GatewayServer(config, std::move(options)));
  const std::function<absl::Time()> now = s->options_.now ? s->options_.now : absl::Now;

  // Everything that can be checked before touching the store, every problem.
  std::vector<std::string> problems;
  auto key = crypto::LoadSigningKey(config.signing_key_file);
  if (!key.ok()) problems.push_back(StrCat("signing_key_file: ", key.status().message()));
  auto policy = LoadPolicy(config.policy_file);
  if (!policy.ok()) problems.push_back(StrCat("policy: ", policy.status().message()));
  auto directory = config.directory_file.empty()
                       ? Directory::Parse(config.directory_inline, config.directory_source)
                       : Directory::Load(config.directory_file);
  if (!directory.ok()) problems.push_back(StrCat("directory: ", directory.status().message()));
  const rpc::TlsFiles tls{.ca_certificates = config.tls_ca,
                          .certificate_chain = config.tls_cert,
                          .private_key = config.tls_key};
  auto server_credentials = rpc::ServerCredentialsFromFiles(tls);
  if (!server_credentials.ok()) problems.push_back(StrCat("tls: ", server_credentials.status().message()));
  auto client_credentials = server_credentials.ok() ? rpc::ClientCredentialsFromFiles(tls)
                                                    : absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>>(nullptr);
  if (!client_credentials.ok()) problems.push_back(StrCat("tls: ", client_credentials.status().message()));
  if (directory.ok() && (*directory)->Find(config.org_id) != nullptr) {
    problems.push_back(StrCat("org_id: \"", config.org_id,
                              "\" is also an organisation in the directory; the gateway needs its own id"));
  }
  if (problems.empty()) {  // no data directory for a gateway that cannot start
    auto opened = store::RocksDbStore::Open(config.data_dir.string(),
                                            {.env = s->options_.rocksdb_env,
                                             .write_buffer_size = store::RocksDbStore::kSmallWriteBuffer});
    if (!opened.ok()) {
      problems.push_back(StrCat("data_dir: ", opened.status().message()));
    } else {
      s->rocksdb_ = *std::move(opened);
    }
  }
  if (!problems.empty()) {
    std::string message = StrCat("cannot start, ", problems.size(),
                                 problems.size() == 1 ? " problem:" : " problems:");
    for (std::string p : problems) {
      // A problem's own lines (a refused file lists its problems) indented under it.
      for (size_t at = p.find('\n'); at != std::string::npos; at = p.find('\n', at + 5)) p.replace(at, 1, "\n    ");
      message += StrCat("\n  ", p);
    }
    return absl::FailedPreconditionError(message);
  }

  s->kv_ = s->rocksdb_.get();
  if (s->options_.wrap_store) {
    s->wrapper_ = s->options_.wrap_store(s->rocksdb_.get());
    s->kv_ = s->wrapper_.get();
  }
  {
    GatewayServer* self = s.get();
    s->observed_ = std::make_unique<ObservedStore>(
        s->kv_, [self](const store::WriteBatch& batch, store::Durability durability, absl::Duration took,
                       const absl::Status& result) {
          if (self->metrics_ != nullptr) self->metrics_->ObserveWrite(batch, durability, took, result);
        });
    s->kv_ = s->observed_.get();
  }
  s->server_credentials_ = *std::move(server_credentials);
  s->node_credentials_ = *std::move(client_credentials);

  auto fail = [](std::string_view what, const absl::Status& status) {
    const std::string_view message(status.message().data(), status.message().size());
    return absl::Status(status.code(), message.starts_with(what)
                                           ? StrCat("cannot start: ", message)
                                           : StrCat("cannot start: ", what, ": ", message));
  };
  auto log = ExchangeLog::Open(s->kv_);
  if (!log.ok()) return fail("exchange log", log.status());
  s->log_ = *std::move(log);
  GatewayServer* const server = s.get();
  s->policy_ = std::make_unique<PolicyInForce>(
      *std::move(policy), now(), s->log_.get(),
      PolicyInForce::Options{
          .file = config.policy_file,
          .now = now,
          .log_line = s->options_.log_line,
          // Every version in force gets its text archived for exports, not
          // only those an audit query happened to see.
          .on_reloaded =
              [server](const std::shared_ptr<const Policy>& p) {
                if (server->audit_service_) server->audit_service_->ArchiveCurrent(p);
              }});
  if (!config.metrics_listen.empty()) {
    s->metrics_ = std::make_unique<GatewayMetrics>(s->log_.get(), [server] { return server->policy(); });
  }
  auto tags = TagIndex::Open(s->kv_, TagIndex::Options{.max_tags_per_set = config.max_tags_per_set});
  if (!tags.ok()) return fail("tag index", tags.status());
  s->tags_ = *std::move(tags);
  auto quota = QuotaBook::Open(s->kv_, config.zone, now());
  if (!quota.ok()) return fail("quotas", quota.status());
  s->quota_ = *std::move(quota);
  s->exchanges_ = ExchangeStore::Open(s->kv_);
  auto cases = CaseStore::Open(s->kv_);
  if (!cases.ok()) return fail("cases", cases.status());
  s->cases_ = *std::move(cases);
  auto checkpoints = CheckpointStore::Open(
      s->kv_, s->log_.get(), CopyKey(*key),
      CheckpointOptions{.every_entries = config.checkpoint_every_entries,
                        .every = absl::Seconds(config.checkpoint_every_seconds)},
      now);
  if (!checkpoints.ok()) return fail("checkpoints", checkpoints.status());
  s->checkpoints_ = *std::move(checkpoints);
  auto authoriser = Authoriser::Create(CopyKey(*key),
                                       std::chrono::milliseconds(config.authorisation_lifetime_ms),
                                       [now] { return absl::ToUnixMillis(now()); });
  if (!authoriser.ok()) return fail("authorisations", authoriser.status());
  s->authoriser_ = *std::move(authoriser);
  s->receipts_ = std::make_unique<ReceiptIssuer>(*std::move(key), now);

  if (absl::Status recorded = s->RecordStart(config.policy_file, *std::move(directory)); !recorded.ok()) {
    return fail("recording the policy and directory in the log", recorded);
  }

  GatewayServer* self = s.get();
  auto current_policy = [self] { return self->policy(); };
  auto current_directory = [self] { return self->directory(); };
  GatewayService::Options service_options;
  service_options.gateway_org_id = config.org_id;
  service_options.partner_deadline = absl::Milliseconds(config.partner_deadline_ms);
  service_options.partner_deadline_per_element = absl::Microseconds(config.partner_deadline_per_element_us);
  service_options.resolve_window = absl::Seconds(config.resolve_window_seconds);
  service_options.zone = config.zone;
  service_options.node_credentials = s->node_credentials_;
  service_options.node_target_name_override = s->options_.node_target_name_override;
  service_options.now = now;
  service_options.log_line = s->options_.log_line;
  service_options.on_appended = [self] {
    {
      std::lock_guard lock(self->background_mu_);
      self->appended_ = true;
    }
    self->background_cv_.notify_one();
  };
  s->gateway_service_ = std::make_unique<GatewayService>(
      GatewayService::Parts{.log = s->log_.get(),
                            .tags = s->tags_.get(),
                            .quota = s->quota_.get(),
                            .exchanges = s->exchanges_.get(),
                            .cases = s->cases_.get(),
                            .current_directory = current_directory,
                            .authoriser = s->authoriser_.get(),
                            .receipts = s->receipts_.get(),
                            .current_policy = current_policy},
      std::move(service_options));
  s->cases_service_ = std::make_unique<CasesService>(s->cases_.get(), s->log_.get(),
                                                     current_directory, current_policy, now,
                                                     s->receipts_.get());
  s->audit_service_ = std::make_unique<AuditService>(s->log_.get(), s->checkpoints_.get(),
                                                     current_directory, current_policy, now,
                                                     s->receipts_.get());
  s->audit_service_->ArchiveCurrent(s->policy());
  s->admin_service_ = std::make_unique<AdminService>(s->policy_.get(), s->directory_.get(), s->log_.get(),
                                                     s->receipts_.get(), config.zone, now,
                                                     s->checkpoints_.get());
  return s;
}

absl::Status GatewayServer::RecordStart(const std::filesystem::path& policy_source,
                                        std::unique_ptr<Directory> directory) {
  const absl::Time now = absl::FromUnixMillis(absl::ToUnixMillis(options_.now ? options_.now() : absl::Now()));
  const std::shared_ptr<const Policy> policy = this->policy();
  auto base_record = [&](v1::RecordKind kind) {
    v1::LogRecord r;
    r.set_kind(kind);
    SetMillis(r.mutable_recorded_at(), absl::ToUnixMillis(now));
    r.set_policy_version(policy->version());
    r.mutable_requester()->set_org_id(config_.org_id);
    r.set_outcome(v1::OUTCOME_GRANTED);
    return r;
  };

  auto previous = kv_->Get(kPolicyVersionKey);
  if (!previous.ok()) return previous.status();
  const std::string previous_version = previous->value_or("");
  if (previous_version != policy->version()) {
    v1::LogRecord r = base_record(v1::RECORD_KIND_POLICY_LOADED);
    v1::PolicyRecord& p = *r.mutable_policy();
    p.set_policy_version(policy->version());
    p.set_policy_hash(std::string(policy->digest().begin(), policy->digest().end()));
    p.set_previous_version(previous_version);
    r.set_detail(StrCat("policy loaded at start from ", policy_source.filename().string(),
                        previous_version.empty() ? " (first start)" : StrCat(", replacing ", previous_version)));
    auto appended = log_->Append(r, [&](uint64_t, store::WriteBatch& batch) {
      batch.Put(kPolicyVersionKey, policy->version());
    });
    if (!appended.ok()) return appended.status();
    Log(StrCat("policy ", policy->version(), " loaded",
               previous_version.empty() ? "" : StrCat(" (was ", previous_version, ")")));
  }

  v1::Requester by;
  by.set_org_id(config_.org_id);
  GatewayServer* const self = this;
  auto in_force = DirectoryInForce::Start(
      std::move(directory), log_.get(), by,
      DirectoryInForce::Options{.file = config_.directory_file,
                                .gateway_org_id = config_.org_id,
                                .now = options_.now ? options_.now : absl::Now,
                                .policy_version = [self] { return self->policy()->version(); },
                                .log_line = options_.log_line});
  if (!in_force.ok()) return in_force.status();
  directory_ = *std::move(in_force);
  return absl::OkStatus();
}

GatewayServer::~GatewayServer() { Shutdown(absl::ZeroDuration()); }

std::shared_ptr<const Policy> GatewayServer::policy() const { return policy_->current(); }

std::shared_ptr<const Directory> GatewayServer::directory() const { return directory_->current(); }

absl::StatusOr<PolicyInForce::Reloaded> GatewayServer::ReloadPolicy() {
  v1::Requester by;
  by.set_org_id(config_.org_id);
  return policy_->Reload(by, /*dry_run=*/false);
}

absl::StatusOr<DirectoryInForce::Reloaded> GatewayServer::ReloadDirectory() {
  v1::Requester by;
  by.set_org_id(config_.org_id);
  return directory_->Reload(by, /*dry_run=*/false);
}

void GatewayServer::Log(std::string_view line) const {
  if (options_.log_line) options_.log_line(line);
}

absl::StatusOr<int> GatewayServer::Start() {
  if (server_ != nullptr) return absl::FailedPreconditionError("the gateway is already serving");
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  rpc::ConfigureServer(builder);
  builder.SetMaxReceiveMessageSize(static_cast<int>(config_.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(config_.max_message_bytes));
  builder.AddListeningPort(config_.listen, server_credentials_, &port_);
  builder.RegisterService(gateway_service_.get());
  builder.RegisterService(cases_service_.get());
  builder.RegisterService(audit_service_.get());
  builder.RegisterService(admin_service_.get());
  calls_.Install(builder);
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    server_.reset();
    return absl::UnavailableError(StrCat("cannot listen on ", config_.listen,
                                         " (address in use, or not an address of this host?)"));
  }
  if (metrics_ != nullptr) {
    std::vector<std::shared_ptr<prometheus::Collectable>> scraped = metrics_->scraped();
    scraped.push_back(StoreMemoryGauge("schakel_gateway_store_memory_bytes", rocksdb_.get()));
    auto endpoint = MetricsEndpoint::Start(config_.metrics_listen, metrics_->registry(), std::move(scraped));
    if (!endpoint.ok()) {
      server_->Shutdown(std::chrono::system_clock::now());
      server_->Wait();
      server_.reset();
      return endpoint.status();
    }
    metrics_endpoint_ = *std::move(endpoint);
  }
  SetServing(server_.get(), true);
  {
    std::lock_guard lock(background_mu_);
    stopping_ = false;
  }
  background_ = std::thread([this] { Background(); });
  return port_;
}

void GatewayServer::Background() {
  bool serving = true;
  bool durable_failed = false;  // said once
  std::chrono::steady_clock::time_point last_durable_record;
  std::unique_lock lock(background_mu_);
  while (!stopping_) {
    background_cv_.wait_for(lock, kBackgroundTick, [&] { return stopping_ || appended_; });
    if (stopping_) break;
    appended_ = false;
    lock.unlock();
    if (absl::Status made = checkpoints_->MaybeCheckpoint(); !made.ok()) {
      Log(StrCat("checkpoint: ", made.message()));
    }
    if (metrics_ != nullptr) {
      if (absl::Status counted = metrics_->CatchUp(); !counted.ok()) {
        Log(StrCat("metrics: reading the exchange log failed: ", counted.message()));
      }
    }
    // The record of what is durable (store/rocksdb_store.h), at most once a
    // second: a store file damaged or cut short later is refused at start.
    if (const auto now_steady = std::chrono::steady_clock::now();
        serving && now_steady - last_durable_record >= kBackgroundTick) {
      last_durable_record = now_steady;
      if (absl::Status recorded = rocksdb_->RecordDurable(); !recorded.ok() && !durable_failed) {
        durable_failed = true;
        Log(StrCat("store: ", recorded.message()));
      }
    }
    if (serving && !log_->healthy()) {
      serving = false;
      Log("the exchange log failed a write: not serving (restart to recover)");
      SetServing(server_.get(), false);
    }
    lock.lock();
  }
}

void GatewayServer::Shutdown(absl::Duration grace) {
  if (server_ == nullptr) return;
  SetServing(server_.get(), false);
  if (const size_t left = calls_.Drain(grace); left > 0) {
    Log(StrCat(left, left == 1 ? " call" : " calls", " still running after the grace period: cancelled"));
  }
  server_->Shutdown(std::chrono::system_clock::now());
  server_->Wait();
  {
    std::lock_guard lock(background_mu_);
    stopping_ = true;
  }
  background_cv_.notify_all();
  if (background_.joinable()) background_.join();
  metrics_endpoint_.reset();
  server_.reset();
}

std::string GatewayServer::metrics_address() const {
  return metrics_endpoint_ != nullptr ? metrics_endpoint_->bound_address() : std::string();
}

std::string GatewayServer::bound_address() const {
  const size_t colon = config_.listen.rfind(':');
  return StrCat(config_.listen.substr(0, colon), ":", port_);
}

}  // namespace schakel::gateway
