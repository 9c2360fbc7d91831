// schakel-node: a partner node as a process.
//
//   schakel-node --config FILE
//
// Reads the configuration (nodes/node_config.h, docs/node-config.md) and
// runs nodes::NodeServer (nodes/node_server.h): the answering role
// (schakel.v1.Node over mutual TLS, for the gateway only), the local API for
// the organisation's own users (Signals, Users, LocalLog, Matching, Cases,
// Audit) on local.listen, index publication and the retention schedule.
// Start-up problems are all reported together, each naming its file or
// field; the process then exits 1 (2 for a usage error).
//
// Once serving it prints on stdout one line per listener,
//   listening on HOST:PORT        (the gateway-facing listener)
//   local API on HOST:PORT        (only with local.listen)
// with the ports actually bound (useful with "127.0.0.1:0"), and logs to
// stderr. SIGTERM or SIGINT: stop accepting calls, give running calls up to
// 3 seconds, stop the background tasks, exit 0.
#include <chrono>
#include <iostream>
#include <string>
#include <string_view>

#include "common/strings.h"
#include "nodes/node_config.h"
#include "nodes/node_server.h"
#include "rpc/server_main.h"

namespace {

using namespace schakel;  // NOLINT: a main file

constexpr char kUsage[] =
    "usage: schakel-node --config FILE\n"
    "\n"
    "Runs this organisation's partner node: its answering role for the gateway\n"
    "(mutual TLS) and, with local.listen, the local API for its own users. The\n"
    "configuration format is described in docs/node-config.md;\n"
    "deploy/examples/node.json is an example.\n"
    "\n"
    "Exit status: 0 stopped by SIGTERM/SIGINT, 1 could not start, 2 usage error.\n";

// gRPC's Shutdown waits until the deadline while a client (the gateway keeps
// a long-lived channel) still holds a connection, so this is also how long a
// stop takes when the gateway is connected; 3 s keeps it well within 5 s.
constexpr std::chrono::seconds kShutdownGrace{3};
constexpr absl::Duration kNonceCleanupInterval = absl::Seconds(60);

void Log(std::string_view line) { std::cerr << "schakel-node: " << line << std::endl; }

int Run(const std::string& config_path) {
  auto config = nodes::LoadNodeConfig(config_path);
  if (!config.ok()) {
    std::cerr << "schakel-node: error: " << config.status().message() << "\n";
    return 1;
  }
  auto server = nodes::NodeServer::Start(*config, Log);
  if (!server.ok()) {
    std::cerr << "schakel-node: error: " << server.status().message() << "\n";
    return 1;
  }
  // One line per listener on stdout (tests and scripts read the ports).
  std::cout << "listening on " << (*server)->gateway_facing_address() << std::endl;
  if (!(*server)->local_address().empty()) {
    std::cout << "local API on " << (*server)->local_address() << std::endl;
  }
  Log(StrCat("listening on ", (*server)->gateway_facing_address()));

  // Wait for SIGTERM/SIGINT (blocked in every thread by RunServerMain), removing
  // expired nonces now and then.
  const std::string_view stop_signal =
      rpc::WaitForStopSignal(kNonceCleanupInterval, [&server] { (*server)->Tick(); });
  Log(StrCat("received ", stop_signal,
             "; shutting down (running calls get ", kShutdownGrace.count(), " s)"));
  (*server)->Shutdown(kShutdownGrace);
  server->reset();
  Log("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return rpc::RunServerMain(argc, argv, "schakel-node", kUsage, Run);
}
