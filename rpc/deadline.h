// A deadline on every client call.
//
// Every call a Schakel process makes carries a deadline (a gRPC call without
// one can wait forever on a hung peer). Set it on the ClientContext before
// the call:
//
//   grpc::ClientContext context;
//   rpc::SetDeadline(context, std::chrono::milliseconds(2000));
//   grpc::Status status = stub->GetHealth(&context, request, &response);
//
// The deadline travels to the server, which sees it in its ServerContext and
// should pass what is left on to the calls it makes in turn (the gateway's
// fan-out to nodes).
//
// Thread safety: reentrant; a ClientContext itself belongs to one call and is
// not shared between threads.
#ifndef SCHAKEL_RPC_DEADLINE_H_
#define SCHAKEL_RPC_DEADLINE_H_

#include <grpcpp/client_context.h>

#include <chrono>

namespace schakel::rpc {

// Makes the call on `context` end with DEADLINE_EXCEEDED if it has not
// finished `timeout` from now (measured on the system clock). Give a
// positive timeout: with zero or less the deadline has already passed, and
// gRPC ends the call with DEADLINE_EXCEEDED when it notices, which a fast
// local call can beat. Call it before starting the call; setting it again
// replaces the deadline. Cannot fail.
void SetDeadline(grpc::ClientContext& context, std::chrono::milliseconds timeout);

}  // namespace schakel::rpc

#endif  // SCHAKEL_RPC_DEADLINE_H_
