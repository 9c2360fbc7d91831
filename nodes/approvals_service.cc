#include "nodes/approvals_service.h"

#include <array>

#include "rpc/status.h"

namespace schakel::nodes {
namespace {

constexpr std::array<v1::Role, 2> kReaders = {v1::ROLE_APPROVER, v1::ROLE_AUDITOR};
constexpr std::array<v1::Role, 1> kDeciders = {v1::ROLE_APPROVER};

ApproverActor ActorOf(const LocalCaller& caller) { return {caller.user_id, caller.role}; }

}  // namespace

grpc::Status ApprovalsService::ListApprovals(grpc::ServerContext* context,
                                             const v1::ListApprovalsRequest* request,
                                             v1::ListApprovalsResponse* response) {
  auto caller = authenticator_->Authenticate(*context, kReaders);
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  auto listed = responder_->List(*request);
  if (!listed.ok()) return rpc::ToGrpcStatus(listed.status());
  *response = *std::move(listed);
  return grpc::Status::OK;
}

grpc::Status ApprovalsService::GetApproval(grpc::ServerContext* context,
                                           const v1::GetApprovalRequest* request,
                                           v1::GetApprovalResponse* response) {
  auto caller = authenticator_->Authenticate(*context, kReaders);
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  auto approval = responder_->Get(request->disclosure_id());
  if (!approval.ok()) return rpc::ToGrpcStatus(approval.status());
  *response->mutable_approval() = *std::move(approval);
  return grpc::Status::OK;
}

grpc::Status ApprovalsService::Approve(grpc::ServerContext* context,
                                       const v1::ApproveRequest* request,
                                       v1::ApproveResponse* response) {
  auto caller = authenticator_->Authenticate(*context, kDeciders);
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  auto approval = responder_->Approve(*request, ActorOf(*caller));
  if (!approval.ok()) return rpc::ToGrpcStatus(approval.status());
  *response->mutable_approval() = *std::move(approval);
  return grpc::Status::OK;
}

grpc::Status ApprovalsService::Deny(grpc::ServerContext* context, const v1::DenyRequest* request,
                                    v1::DenyResponse* response) {
  auto caller = authenticator_->Authenticate(*context, kDeciders);
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  auto approval = responder_->Deny(*request, ActorOf(*caller));
  if (!approval.ok()) return rpc::ToGrpcStatus(approval.status());
  *response->mutable_approval() = *std::move(approval);
  return grpc::Status::OK;
}

}  // namespace schakel::nodes
