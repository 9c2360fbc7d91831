#include "nodes/node_service.h"

#include <iostream>

#include "absl/status/status.h"
#include "common/strings.h"
#include "nodes/notifications_service.h"
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

// The local log record of an evaluation: what the authorisation says (no
// identifiers exist at this point, only blinded elements and counts).
v1::LocalLogRecord EvaluationRecord(const v1::EvaluateRequest& request, v1::LocalEventKind kind,
                                    v1::Outcome outcome) {
  const v1::AuthorisationPayload& a = request.authorisation().payload();
  v1::LocalLogRecord record;
  record.set_kind(kind);
  record.set_purpose_id(a.purpose_id());
  record.set_case_id(a.case_id());
  record.set_exchange_id(a.exchange_id());
  record.set_counterpart_org_id(a.requester_org_id());
  record.set_subject_count(a.subject_count());
  record.set_element_count(static_cast<uint64_t>(request.blinded_elements_size()));
  record.set_policy_version(a.policy_version());
  record.set_outcome(outcome);
  if (request.has_receipt()) *record.add_receipts() = request.receipt();
  return record;
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
  // The answer's record and the authorisation's nonce in one synced write.
  Evaluator::Write record_answer = nullptr;
  if (log_ != nullptr) {
    record_answer = [&](store::WriteBatch nonce) {
      auto logged = log_->AppendWith(
          EvaluationRecord(*request, v1::LOCAL_EVENT_KIND_EVALUATION_ANSWERED, v1::OUTCOME_GRANTED),
          std::move(nonce));
      return logged.ok() ? absl::OkStatus()
                         : absl::Status(logged.status().code(),
                                        StrCat("with the local log's record of the answer: ",
                                               logged.status().message()));
    };
  }
  absl::StatusOr<v1::EvaluateResponse> result = evaluator_->Evaluate(*request, now_ms_(), record_answer);
  if (!result.ok()) {
    LogRefusal("Evaluate", result.status());
    if (log_ != nullptr) {
      v1::LocalLogRecord record = EvaluationRecord(
          *request, v1::LOCAL_EVENT_KIND_EVALUATION_REFUSED, v1::OUTCOME_REFUSED);
      if (auto detail = rpc::ErrorDetailOf(result.status());
          detail && detail->reason() != v1::DENIAL_REASON_UNSPECIFIED) {
        record.add_denial_reasons(detail->reason());
      }
      record.set_detail(std::string(result.status().message().substr(0, 2000)));
      // The refusal stands whether or not its record could be written.
      if (auto logged = log_->Append(std::move(record)); !logged.ok()) {
        LogRefusal("Evaluate (local log)", logged.status());
      }
    }
    return rpc::ToGrpcStatus(result.status());
  }
  *response = *std::move(result);
  return grpc::Status::OK;
}

grpc::Status NodeService::Disclose(grpc::ServerContext* context,
                                   const v1::DiscloseRequest* request,
                                   v1::DiscloseResponse* response) {
  if (absl::Status s = CheckCallerIsGateway(*context); !s.ok()) {
    LogRefusal("Disclose", s);
    return rpc::ToGrpcStatus(s);
  }
  if (responder_ == nullptr) {
    return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                        "Node.Disclose is not enabled on this schakel-node");
  }
  absl::StatusOr<v1::DiscloseResponse> answer = responder_->Disclose(*request);
  if (!answer.ok()) {
    LogRefusal("Disclose", answer.status());
    return rpc::ToGrpcStatus(answer.status());
  }
  *response = *std::move(answer);
  return grpc::Status::OK;
}

grpc::Status NodeService::DeliverNotifications(grpc::ServerContext* context,
                                               const v1::DeliverNotificationsRequest* request,
                                               v1::DeliverNotificationsResponse* response) {
  if (absl::Status s = CheckCallerIsGateway(*context); !s.ok()) {
    LogRefusal("DeliverNotifications", s);
    return rpc::ToGrpcStatus(s);
  }
  const grpc::Status delivered = DeliverNotificationsRpc(inbox_, *request, response);
  if (!delivered.ok()) LogRefusal("DeliverNotifications", rpc::FromGrpcStatus(delivered));
  return delivered;
}

}  // namespace schakel::nodes
