// schakel-gateway: the gateway as a process.
//
//   schakel-gateway --config FILE
//
// Reads the configuration (gateway/gateway_config.h, docs/gateway-config.md),
// loads the signing key, the policy, the directory and the TLS files, opens
// the data directory (RocksDB: exchange log, checkpoints, cases, tag sets,
// quotas, open exchanges) and serves schakel.v1.Gateway, schakel.v1.Cases,
// schakel.v1.Audit and the standard gRPC health service over mutual TLS
// (gateway/gateway_server.h). Start-up problems are reported together, each
// naming its field or file; the process then exits 1 (2 for a usage error).
// It refuses to start when the exchange log's head entry does not verify.
//
// Once serving it prints exactly one line on stdout,
//   schakel-gateway: serving on HOST:PORT
// with the port actually bound (useful with "127.0.0.1:0"), and logs to
// stderr: start-up events, and one line per refused call or failed partner
// with its status code and reason (never an identifier of a person: the
// gateway never has one). SIGTERM or SIGINT: stop accepting calls, give
// running calls up to 3 seconds, exit 0.
#include <iostream>
#include <string>
#include <string_view>

#include "common/strings.h"
#include "gateway/gateway_config.h"
#include "gateway/gateway_server.h"
#include "rpc/server_main.h"

namespace {

using namespace schakel;  // NOLINT: a main file

constexpr char kUsage[] =
    "usage: schakel-gateway --config FILE\n"
    "\n"
    "Serves the Schakel gateway (schakel.v1.Gateway, Cases, Audit) to the partner nodes\n"
    "over mutual TLS. The configuration format is described in docs/gateway-config.md;\n"
    "deploy/examples/gateway.json is an example.\n"
    "\n"
    "Exit status: 0 stopped by SIGTERM/SIGINT, 1 could not start, 2 usage error.\n";

constexpr absl::Duration kShutdownGrace = absl::Seconds(3);

void Log(std::string_view line) { std::cerr << "schakel-gateway: " << line << std::endl; }

int Run(const std::string& config_path) {
  auto config = gateway::LoadGatewayConfig(config_path);
  if (!config.ok()) {
    std::cerr << "schakel-gateway: error: " << config.status().message() << "\n";
    return 1;
  }
  gateway::GatewayServer::Options options;
  options.log_line = Log;
  auto server = gateway::GatewayServer::Create(*config, options);
  if (!server.ok()) {
    std::cerr << "schakel-gateway: error: " << server.status().message() << "\n";
    return 1;
  }
  auto port = (*server)->Start();
  if (!port.ok()) {
    std::cerr << "schakel-gateway: error: " << port.status().message() << "\n";
    return 1;
  }
  const auto policy = (*server)->policy();
  Log(StrCat("gateway \"", config->org_id, "\", policy ", policy->version(), " (",
             policy->purposes().size(), " purposes), directory version ",
             (*server)->directory().version(), " (", (*server)->directory().organisations().size(),
             " organisations), exchange log at entry ", (*server)->log().head_sequence()));
  const std::string bound = (*server)->bound_address();
  std::cout << "schakel-gateway: serving on " << bound << std::endl;

  const std::string_view stop_signal = rpc::WaitForStopSignal();
  Log(StrCat("received ", stop_signal,
             "; shutting down (running calls get ", absl::ToInt64Seconds(kShutdownGrace), " s)"));
  (*server)->Shutdown(kShutdownGrace);
  Log("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return rpc::RunServerMain(argc, argv, "schakel-gateway", kUsage, Run);
}
