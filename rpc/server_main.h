// The process around a server (schakel-gateway, schakel-node): its command
// line ("--config FILE", "--config=FILE", -h/--help) and its stop signals.
//
//   int main(int argc, char** argv) {
//     return rpc::RunServerMain(argc, argv, "schakel-node", kUsage, Run);
//   }
//
// RunServerMain blocks SIGTERM and SIGINT before any thread exists (so that
// every thread gRPC starts inherits the mask and only WaitForStopSignal
// receives them) and ignores SIGPIPE, then calls `run` with the config path.
// Usage errors print "<program>: error: <problem>" and the usage on stderr
// and give exit status 2; --help prints the usage on stdout, status 0.
//
// Thread safety: RunServerMain belongs to main(); WaitForStopSignal is meant
// for one thread (the one that then shuts the server down).
#ifndef SCHAKEL_RPC_SERVER_MAIN_H_
#define SCHAKEL_RPC_SERVER_MAIN_H_

#include <functional>
#include <string>
#include <string_view>

#include "absl/time/time.h"

namespace schakel::rpc {

// Parses the command line and runs `run(config_path)`; returns what it
// returns (or 0 after --help, 2 after a usage error).
int RunServerMain(int argc, char** argv, std::string_view program, std::string_view usage,
                  const std::function<int(const std::string& config_path)>& run);

// Waits until SIGTERM or SIGINT arrives (blocked by RunServerMain) and
// returns its name ("SIGTERM" or "SIGINT"). With a `tick`, calls it every
// `tick_interval` while waiting (for housekeeping such as nonce cleanup).
std::string_view WaitForStopSignal(absl::Duration tick_interval = absl::InfiniteDuration(),
                                   const std::function<void()>& tick = nullptr);

}  // namespace schakel::rpc

#endif  // SCHAKEL_RPC_SERVER_MAIN_H_
