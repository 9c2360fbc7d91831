// schakel: the command-line tool. Everything happens in RunSchakel
// (cli/app.h); this file only connects it to the process.
#include <grpc/support/log.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "cli/app.h"
#include "rpc/runtime.h"

namespace {
// gRPC's own log lines (e.g. "Handshake failed ...") would come between the
// CLI's error and its hint; the CLI reports every failed call itself.
void DropGrpcLog(gpr_log_func_args*) {}
}  // namespace

int main(int argc, char** argv) {
  if (std::getenv("GRPC_VERBOSITY") == nullptr) gpr_set_log_function(DropGrpcLog);
  const schakel::rpc::GrpcRuntime grpc;  // every channel is gone when RunSchakel returns
  const std::vector<std::string> args(argv + 1, argv + argc);
  return schakel::cli::RunSchakel(args, std::cout, std::cerr,
                                  schakel::cli::ProcessEnvironment(::isatty(STDERR_FILENO) == 1));
}
