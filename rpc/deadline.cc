#include "rpc/deadline.h"

namespace schakel::rpc {

void SetDeadline(grpc::ClientContext& context, std::chrono::milliseconds timeout) {
  context.set_deadline(std::chrono::system_clock::now() + timeout);
}

}  // namespace schakel::rpc
