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
// stderr as JSON lines (common/json_log.h). SIGTERM or SIGINT: health goes
// NOT_SERVING, stop accepting calls, give running calls up to
// shutdown_grace_ms (default 10 s), stop the background tasks, close the
// store, exit 0. SIGHUP is logged and otherwise ignored (the local policy
// is re-read on restart).
#include <chrono>
#include <iostream>
#include <string>
#include <string_view>

#include "common/json_log.h"
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

constexpr absl::Duration kNonceCleanupInterval = absl::Seconds(60);

int Run(const std::string& config_path) {
  const JsonLog log("node");
  auto config = nodes::LoadNodeConfig(config_path);
  if (!config.ok()) {
    std::cerr << "schakel-node: error: " << config.status().message() << "\n";
    return 1;
  }
  auto server = nodes::NodeServer::Start(*config, [&log](std::string_view line) { log.Note(line); });
  if (!server.ok()) {
    std::cerr << "schakel-node: error: " << server.status().message() << "\n";
    return 1;
  }
  // One line per listener on stdout (tests and scripts read the ports).
  std::cout << "listening on " << (*server)->gateway_facing_address() << std::endl;
  if (!(*server)->local_address().empty()) {
    std::cout << "local API on " << (*server)->local_address() << std::endl;
  }
  log.Event(JsonLog::Level::kInfo, "started",
            {{"org_id", config->org_id},
             {"listen", (*server)->gateway_facing_address()},
             {"local_listen", (*server)->local_address()},
             {"metrics", (*server)->metrics_address()}});

  // Wait for SIGTERM/SIGINT (blocked in every thread by RunServerMain), removing
  // expired nonces now and then.
  std::string_view signal_name;
  while ((signal_name = rpc::WaitForSignal(kNonceCleanupInterval, [&server] { (*server)->Tick(); })) ==
         "SIGHUP") {
    log.Event(JsonLog::Level::kWarning, "reload_not_supported",
              {{"signal", "SIGHUP"},
               {"message", "the node re-reads its local policy only when it starts; restart it"}});
  }
  log.Event(JsonLog::Level::kInfo, "stopping",
            {{"signal", std::string(signal_name)}, {"grace_ms", config->shutdown_grace_ms}});
  (*server)->Shutdown(std::chrono::milliseconds(config->shutdown_grace_ms));
  server->reset();
  log.Event(JsonLog::Level::kInfo, "stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return rpc::RunServerMain(argc, argv, "schakel-node", kUsage, Run);
}
