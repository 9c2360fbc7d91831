// The process around a server (schakel-gateway, schakel-node): its command
// line ("--config FILE", "--config=FILE", -h/--help) and its stop signals.
//
//   int main(int argc, char** argv) {
//     return rpc::RunServerMain(argc, argv, "schakel-node", kUsage, Run);
//   }
//
// RunServerMain blocks SIGTERM, SIGINT and SIGHUP before any thread exists
// (so that every thread gRPC starts inherits the mask and only
// WaitForStopSignal / WaitForSignal receive them) and ignores SIGPIPE, then
// calls `run` with the config path, holding gRPC initialised around it
// (rpc/runtime.h: gRPC's threads have finished when RunServerMain returns).
// Usage errors print "<program>: error: <problem>" and the usage on stderr
// and give exit status 2; --help prints the usage on stdout, status 0.
//
// CallDrainer is the graceful part of a server's shutdown. gRPC's own
// Shutdown(deadline) waits for the deadline as long as a client keeps a
// connection open, even an idle one; the drainer instead tracks the calls
// in progress: Drain ends the long-lived ones a server holds open for its
// clients (a node's Gateway.PublishIndex stream, health Watch, reflection)
// and waits until the others have finished or the grace period is over;
// grpc::Server::Shutdown(now) then closes the connections and cancels what
// is left.
//
// Thread safety: RunServerMain belongs to main(); WaitForStopSignal is meant
// for one thread (the one that then shuts the server down). A CallDrainer
// may be used from any thread.
#ifndef SCHAKEL_RPC_SERVER_MAIN_H_
#define SCHAKEL_RPC_SERVER_MAIN_H_

#include <grpcpp/server_builder.h>

#include <functional>
#include <memory>
#include <mutex>
#include <set>
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

// Waits as WaitForStopSignal does, and for SIGHUP too; returns "SIGTERM",
// "SIGINT" or "SIGHUP" (a reload request: call it again afterwards).
std::string_view WaitForSignal(absl::Duration tick_interval = absl::InfiniteDuration(),
                               const std::function<void()>& tick = nullptr);

class CallDrainer {
 public:
  // Long-lived methods, cancelled at once by Drain: full method names.
  static const std::set<std::string>& DefaultLongMethods();

  explicit CallDrainer(std::set<std::string> long_methods = DefaultLongMethods());
  ~CallDrainer();
  CallDrainer(const CallDrainer&) = delete;
  CallDrainer& operator=(const CallDrainer&) = delete;

  // Adds the interceptor that tracks calls to `builder` (one builder per
  // drainer; the drainer must outlive the server built).
  void Install(grpc::ServerBuilder& builder);
  // Cancels the long-lived calls in progress (and each that starts from now
  // on), then waits until no other call is in progress or `grace` has
  // passed. Returns the number of calls still in progress.
  size_t Drain(absl::Duration grace);
  // Calls in progress (tests).
  size_t active() const;

  struct State;  // shared with the interceptors (server_main.cc)

 private:
  std::shared_ptr<State> state_;
};

}  // namespace schakel::rpc

#endif  // SCHAKEL_RPC_SERVER_MAIN_H_
