#include "nodes/node_service.h"

#include <iostream>

#include "absl/status/status.h"
#include "common/strings.h"
#include "rpc/identity.h"
#include "rpc/status.h"

namespace schakel::nodes {
namespace {

// One line on stderr for a refused call: code and message only. The
// messages come from the evaluator and the authorisation check, which name
// fields, counts and organisations, never identifiers (the node has none).
void LogRefusal(std::string_view rpc, const absl::Status& status) {
  std::cerr << StrCat("schakel-node: ", rpc, " refused: ", absl::StatusCodeToString(status.code()), ": ",
                      status.message())
            << std::endl;
}

}  // namespace

absl::Status NodeService::CheckCallerIsGateway(const grpc::ServerContext& context) const {
  auto peer = rpc::PeerIdentityFrom(context);
  if (!peer.ok()) {
    return absl::UnauthenticatedError(
        StrCat("the caller is not the gateway: ", peer.status().message()));
  }
  if (peer->org_id != gateway_org_id_) {
    return absl::UnauthenticatedError(
        StrCat("the caller is not the gateway: its certificate names organisation \"",
               peer->org_id, "\"; this node answers only \"", gateway_org_id_, "\""));
  }
  return absl::OkStatus();
}

grpc::Status NodeService::Evaluate(grpc::ServerContext* context,
                                   const v1::EvaluateRequest* request,
                                   v1::EvaluateResponse* response) {
  if (absl::Status s = CheckCallerIsGateway(*context); !s.ok()) {
    LogRefusal("Evaluate", s);
    return rpc::ToGrpcStatus(s);
  }
  absl::StatusOr<v1::EvaluateResponse> result = evaluator_->Evaluate(*request, now_ms_());
  if (!result.ok()) {
    LogRefusal("Evaluate", result.status());
    return rpc::ToGrpcStatus(result.status());
  }
  *response = *std::move(result);
  return grpc::Status::OK;
}

grpc::Status NodeService::Disclose(grpc::ServerContext* context, const v1::DiscloseRequest*,
                                   v1::DiscloseResponse*) {
  if (absl::Status s = CheckCallerIsGateway(*context); !s.ok()) {
    LogRefusal("Disclose", s);
    return rpc::ToGrpcStatus(s);
  }
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                      "Node.Disclose is not implemented by this version of schakel-node");
}

grpc::Status NodeService::DeliverNotifications(grpc::ServerContext* context,
                                               const v1::DeliverNotificationsRequest*,
                                               v1::DeliverNotificationsResponse*) {
  if (absl::Status s = CheckCallerIsGateway(*context); !s.ok()) {
    LogRefusal("DeliverNotifications", s);
    return rpc::ToGrpcStatus(s);
  }
  return grpc::Status(
      grpc::StatusCode::UNIMPLEMENTED,
      "Node.DeliverNotifications is not implemented by this version of schakel-node");
}

}  // namespace schakel::nodes
