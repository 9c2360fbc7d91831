// The one place where absl::Status, the error type of all Schakel code,
// meets grpc::Status at the gRPC edge.
//
// Services do their work in functions that return absl::Status or
// absl::StatusOr and convert once, on the way out (ToGrpcStatus); clients
// convert what a call returned once, on the way in (FromGrpcStatus), and
// carry on with absl::Status.
//
// Mapping:
// - Codes map one to one: absl::StatusCode and grpc::StatusCode both number
//   the canonical codes 0 (OK) to 16 (UNAUTHENTICATED) alike. A code outside
//   that range (possible for absl::Status built from a raw int, or a
//   grpc::Status from a misbehaving peer) becomes UNKNOWN.
// - The message is kept as it is, except that FromGrpcStatus replaces each
//   byte of a peer's message that is not valid UTF-8 with U+FFFD: messages
//   go into log records, whose protobuf strings must be valid UTF-8 to be
//   read back. An OK status has no message on either side
//   (absl::OkStatus() cannot hold one, so a grpc OK message is dropped).
// - Structured details (errors.proto): every payload of the absl::Status
//   becomes one google.protobuf.Any, with the payload's type URL and bytes,
//   in the RpcStatus (wire-compatible with google.rpc.Status) serialized into
//   grpc::Status::error_details(), the "grpc-status-details-bin" trailer; and
//   back. Schakel puts exactly one payload there, a schakel.v1.ErrorDetail
//   under kErrorDetailTypeUrl (WithErrorDetail, ErrorDetailOf). Details that
//   are not a parseable RpcStatus are dropped: the code and message still
//   arrive.
//
// Errors: none of these functions fails; they are total.
//
// Thread safety: all functions are reentrant.
#ifndef SCHAKEL_RPC_STATUS_H_
#define SCHAKEL_RPC_STATUS_H_

#include <grpcpp/support/status.h>

#include <optional>

#include "absl/status/status.h"
#include "schakel/v1/errors.pb.h"

namespace schakel::rpc {

// The type URL under which an ErrorDetail travels, both as the absl::Status
// payload key and as the Any's type_url inside RpcStatus.details.
inline constexpr char kErrorDetailTypeUrl[] = "type.googleapis.com/schakel.v1.ErrorDetail";

// absl::Status -> grpc::Status, for a service's return value.
grpc::Status ToGrpcStatus(const absl::Status& status);

// grpc::Status -> absl::Status, for what a client call returned.
absl::Status FromGrpcStatus(const grpc::Status& status);

// Returns `status` with `detail` attached (replacing an ErrorDetail it
// already had). An OK status is returned unchanged: OK carries no details.
absl::Status WithErrorDetail(absl::Status status, const schakel::v1::ErrorDetail& detail);

// The ErrorDetail attached to `status`, or nullopt when there is none or its
// bytes do not parse as an ErrorDetail.
std::optional<schakel::v1::ErrorDetail> ErrorDetailOf(const absl::Status& status);

}  // namespace schakel::rpc

#endif  // SCHAKEL_RPC_STATUS_H_
