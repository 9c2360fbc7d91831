#include "rpc/runtime.h"

#include <grpc/grpc.h>
#include <openssl/crypto.h>

namespace schakel::rpc {

GrpcRuntime::GrpcRuntime() {
  // Before gRPC initialises OpenSSL (only the first initialisation's options
  // count): no clean-up at exit, see runtime.h.
  OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, nullptr);
  grpc_init();
}

GrpcRuntime::~GrpcRuntime() { grpc_shutdown_blocking(); }

}  // namespace schakel::rpc
