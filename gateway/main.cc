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
// stderr as JSON lines (common/json_log.h): start-up events, policy reloads,
// and one note per refused call or failed partner with its status code and
// reason (never an identifier of a person: the gateway never has one).
// With "metrics" in the config, GET /metrics is served on its own address.
//
// SIGHUP: re-read the policy file, as GatewayAdmin.ReloadPolicy does, and
// then the directory file, as GatewayAdmin.ReloadDirectory does (each
// independently: a bad file is refused as a whole, logged, and what is in
// force stays; a change is written to the exchange log before it is put in
// force, and not made when the log cannot be written). A directory given
// inline in the config is not reloaded (a note says so): only a directory
// file can be. This is how a `schakel partners register|deactivate` takes
// effect without a restart.
// SIGTERM or SIGINT: stop accepting calls, give running calls up to
// shutdown_grace_ms (default 10 s), cancel what is left, exit 0.
#include <iostream>
#include <string>
#include <string_view>

#include "common/json_log.h"
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
    "deploy/examples/gateway.json is an example. SIGHUP re-reads the policy file and the\n"
    "directory file (a refused file changes nothing; an inline directory is not reloaded).\n"
    "\n"
    "Exit status: 0 stopped by SIGTERM/SIGINT, 1 could not start, 2 usage error.\n";

int Run(const std::string& config_path) {
  const JsonLog log("gateway");
  auto config = gateway::LoadGatewayConfig(config_path);
  if (!config.ok()) {
    std::cerr << "schakel-gateway: error: " << config.status().message() << "\n";
    return 1;
  }
  gateway::GatewayServer::Options options;
  options.log_line = [&log](std::string_view line) { log.Note(line); };
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
  log.Event(JsonLog::Level::kInfo, "started",
            {{"org_id", config->org_id},
             {"policy_version", policy->version()},
             {"purposes", policy->purposes().size()},
             {"directory_version", (*server)->directory()->version()},
             {"organisations", (*server)->directory()->organisations().size()},
             {"log_head", (*server)->log().head_sequence()},
             {"listen", (*server)->bound_address()},
             {"metrics", (*server)->metrics_address()}});
  const std::string bound = (*server)->bound_address();
  std::cout << "schakel-gateway: serving on " << bound << std::endl;

  std::string_view signal_name;
  while ((signal_name = rpc::WaitForSignal()) == "SIGHUP") {
    auto reloaded = (*server)->ReloadPolicy();
    if (reloaded.ok()) {
      log.Event(JsonLog::Level::kInfo, reloaded->changed ? "policy_reloaded" : "policy_unchanged",
                {{"signal", "SIGHUP"}, {"policy_version", reloaded->policy->version()}});
    } else {
      log.Event(JsonLog::Level::kError, "policy_reload_refused",
                {{"signal", "SIGHUP"},
                 {"code", absl::StatusCodeToString(reloaded.status().code())},
                 {"message", std::string(reloaded.status().message())},
                 {"policy_version", (*server)->policy()->version()}});
    }
    if (config->directory_file.empty()) {
      log.Event(JsonLog::Level::kInfo, "directory_not_reloaded",
                {{"signal", "SIGHUP"}, {"reason", "the directory is inline in the config; only a file can be reloaded"}});
      continue;
    }
    auto directory = (*server)->ReloadDirectory();
    if (directory.ok()) {
      log.Event(JsonLog::Level::kInfo, directory->changed ? "directory_reloaded" : "directory_unchanged",
                {{"signal", "SIGHUP"},
                 {"directory_version", directory->directory->version()},
                 {"changes", directory->changes.size()}});
    } else {
      log.Event(JsonLog::Level::kError, "directory_reload_refused",
                {{"signal", "SIGHUP"},
                 {"code", absl::StatusCodeToString(directory.status().code())},
                 {"message", std::string(directory.status().message())},
                 {"directory_version", (*server)->directory()->version()}});
    }
  }
  const absl::Duration grace = absl::Milliseconds(config->shutdown_grace_ms);
  log.Event(JsonLog::Level::kInfo, "stopping",
            {{"signal", std::string(signal_name)}, {"grace_ms", config->shutdown_grace_ms}});
  (*server)->Shutdown(grace);
  log.Event(JsonLog::Level::kInfo, "stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return rpc::RunServerMain(argc, argv, "schakel-gateway", kUsage, Run);
}
