// schakel-node: a partner node's answering service as a process.
//
//   schakel-node --config FILE
//
// Reads the configuration (nodes/node_config.h, docs/node-config.md), loads
// the keys, the local policy and the TLS files, opens the data directory
// (RocksDB; accepted authorisation nonces live there, so a replay is refused
// also after a restart), and serves schakel.v1.Node over mutual TLS plus the
// standard gRPC health service (grpc.health.v1.Health). Start-up problems are
// all reported together, each naming its file or field; the process then
// exits 1 (2 for a usage error).
//
// Once serving it prints exactly one line on stdout,
//   listening on HOST:PORT
// with the port actually bound (useful with "127.0.0.1:0"), and logs to
// stderr. SIGTERM or SIGINT: stop accepting calls, give running calls up to
// 3 seconds, exit 0.
#include <signal.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include "common/strings.h"
#include "crypto/key_file.h"
#include "nodes/authorisation_check.h"
#include "nodes/evaluator.h"
#include "nodes/local_policy.h"
#include "nodes/node_config.h"
#include "nodes/node_service.h"
#include "rpc/channel.h"
#include "rpc/tls.h"
#include "store/rocksdb_store.h"

namespace {

using namespace schakel;  // NOLINT: a main file

constexpr char kUsage[] =
    "usage: schakel-node --config FILE\n"
    "\n"
    "Serves this organisation's answering role (schakel.v1.Node) to the gateway over\n"
    "mutual TLS. The configuration format is described in docs/node-config.md;\n"
    "deploy/examples/node.json is an example.\n"
    "\n"
    "Exit status: 0 stopped by SIGTERM/SIGINT, 1 could not start, 2 usage error.\n";

// gRPC's Shutdown waits until the deadline while a client (the gateway keeps
// a long-lived channel) still holds a connection, so this is also how long a
// stop takes when the gateway is connected; 3 s keeps it well within 5 s.
constexpr std::chrono::seconds kShutdownGrace{3};
constexpr int kNonceCleanupSeconds = 60;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void Log(std::string_view line) { std::cerr << "schakel-node: " << line << std::endl; }

// "--config FILE" or "--config=FILE"; nullopt after printing a usage error.
std::optional<std::string> ParseArgs(int argc, char** argv, bool& help) {
  std::optional<std::string> config;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      help = true;
      return std::nullopt;
    }
    if (arg == "--config" && i + 1 < argc) {
      config = argv[++i];
    } else if (arg.rfind("--config=", 0) == 0) {
      config = arg.substr(9);
    } else {
      std::cerr << "schakel-node: error: "
                << (arg == "--config" ? std::string("--config needs a file")
                                      : StrCat("unexpected argument \"", arg.substr(0, 40), "\""))
                << "\n"
                << kUsage;
      return std::nullopt;
    }
  }
  if (!config.has_value() || config->empty()) {
    std::cerr << "schakel-node: error: --config FILE is required\n" << kUsage;
    return std::nullopt;
  }
  return config;
}

// "127.0.0.1:0" with the bound port 43567 -> "127.0.0.1:43567".
std::string BoundAddress(const std::string& listen, int port) {
  const size_t colon = listen.rfind(':');
  return StrCat(listen.substr(0, colon), ":", port);
}

int Run(const std::string& config_path) {
  auto config = nodes::LoadNodeConfig(config_path);
  if (!config.ok()) {
    std::cerr << "schakel-node: error: " << config.status().message() << "\n";
    return 1;
  }

  // Load everything, collecting every problem before giving up.
  std::vector<std::string> problems;
  auto oprf_key = crypto::LoadOprfKey(config->oprf_key_file);
  if (!oprf_key.ok()) problems.push_back(StrCat("oprf_key_file: ", oprf_key.status().message()));
  auto signing_key = crypto::LoadSigningKey(config->signing_key_file);
  if (!signing_key.ok()) {
    problems.push_back(StrCat("signing_key_file: ", signing_key.status().message()));
  }
  auto policy = nodes::LoadLocalPolicy(config->local_policy);
  if (!policy.ok()) problems.push_back(StrCat("local_policy: ", policy.status().message()));
  auto credentials = rpc::ServerCredentialsFromFiles(
      {.ca_certificates = config->tls_ca, .certificate_chain = config->tls_cert,
       .private_key = config->tls_key});
  if (!credentials.ok()) problems.push_back(StrCat("tls: ", credentials.status().message()));
  std::vector<crypto::VerifyKey> gateway_keys;
  for (const crypto::Bytes& bytes : config->gateway_signing_public_keys) {
    gateway_keys.push_back(crypto::VerifyKey::FromBytes(bytes).value());  // checked by the config
  }
  std::unique_ptr<store::RocksDbStore> store;
  if (problems.empty()) {  // do not create a data directory for a node that cannot start
    auto opened = store::RocksDbStore::Open(config->data_dir.string());
    if (!opened.ok()) {
      problems.push_back(StrCat("data_dir: ", opened.status().message()));
    } else {
      store = *std::move(opened);
    }
  }
  if (!problems.empty()) {
    std::cerr << "schakel-node: error: cannot start, " << problems.size()
              << (problems.size() == 1 ? " problem:" : " problems:") << "\n";
    for (const std::string& p : problems) std::cerr << "  " << p << "\n";
    return 1;
  }

  std::vector<std::string> purposes;
  for (const auto& [id, purpose] : (*policy)->purposes()) purposes.push_back(id);

  nodes::AuthorisationCheck check(
      std::move(gateway_keys),
      {.own_org_id = config->org_id,
       .max_skew = std::chrono::milliseconds(config->max_clock_skew_ms)},
      store.get(), NowMs);
  nodes::Evaluator::Options options;
  options.own_org_id = config->org_id;
  options.daily_subject_quota = config->daily_subject_quota;
  options.threads = config->threads;
  for (const auto& [id, purpose] : (*policy)->purposes()) {
    if (!purpose.refused_requester_org_ids.empty()) {
      options.refused_requesters[id] = purpose.refused_requester_org_ids;
    }
  }
  auto evaluator = nodes::Evaluator::Create(*std::move(oprf_key), *std::move(signing_key),
                                            purposes, &check, std::move(options));
  if (!evaluator.ok()) {
    std::cerr << "schakel-node: error: cannot start: " << evaluator.status().message() << "\n";
    return 1;
  }
  nodes::NodeService service(evaluator->get(), config->gateway_org_id, NowMs);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  rpc::ConfigureServer(builder);
  int port = 0;
  builder.AddListeningPort(config->listen, *credentials, &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::cerr << "schakel-node: error: cannot listen on " << config->listen
              << " (address in use, or not an address of this host?)\n";
    return 1;
  }
  if (grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService()) {
    health->SetServingStatus("schakel.v1.Node", true);
  }

  std::string purpose_list;
  for (const std::string& p : purposes) purpose_list += purpose_list.empty() ? p : ", " + p;
  Log(StrCat("organisation ", config->org_id, ", local policy ", (*policy)->version(),
             ", answering purposes: ", purpose_list.empty() ? "(none)" : purpose_list,
             "; only the gateway \"", config->gateway_org_id, "\" may call"));
  const std::string bound = BoundAddress(config->listen, port);
  std::cout << "listening on " << bound << std::endl;
  Log(StrCat("listening on ", bound));

  // Wait for SIGTERM/SIGINT (blocked in every thread, see main), removing
  // expired nonces now and then.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  int signal_number = 0;
  while (true) {
    const timespec timeout{.tv_sec = kNonceCleanupSeconds, .tv_nsec = 0};
    signal_number = sigtimedwait(&stop_signals, nullptr, &timeout);
    if (signal_number > 0) break;
    if (errno == EAGAIN) {
      auto forgotten = check.ForgetExpiredNonces();
      if (!forgotten.ok()) {
        Log(StrCat("removing expired nonces failed: ", forgotten.status().message()));
      }
    }
  }
  Log(StrCat("received ", signal_number == SIGTERM ? "SIGTERM" : "SIGINT",
             "; shutting down (running calls get ", kShutdownGrace.count(), " s)"));
  server->Shutdown(std::chrono::system_clock::now() + kShutdownGrace);
  server->Wait();
  Log("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bool help = false;
  const std::optional<std::string> config = ParseArgs(argc, argv, help);
  if (help) {
    std::cout << kUsage;
    return 0;
  }
  if (!config.has_value()) return 2;

  // Block the stop signals before any thread exists, so that every thread
  // gRPC starts inherits the mask and only sigtimedwait in Run receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  return Run(*config);
}
