#include "nodes/node_admin_service.h"

#include <array>

#include "rpc/status.h"

namespace schakel::nodes {
namespace {

constexpr std::array<v1::Role, 2> kRoles = {v1::ROLE_ADMIN, v1::ROLE_AUDITOR};

}  // namespace

grpc::Status NodeAdminService::GetLocalPolicy(grpc::ServerContext* context,
                                              const v1::GetLocalPolicyRequest* /*request*/,
                                              v1::GetLocalPolicyResponse* response) {
  auto caller = authenticator_->Authenticate(*context, kRoles);
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  v1::LocalPolicyInfo* info = response->mutable_policy();
  *info = policy_->ToProto();
  const int64_t micros = absl::ToUnixMicros(policy_loaded_at_);
  info->mutable_loaded_at()->set_seconds(micros / 1'000'000);
  info->mutable_loaded_at()->set_nanos(static_cast<int32_t>((micros % 1'000'000) * 1000));
  return grpc::Status::OK;
}

grpc::Status NodeAdminService::GetIndexStatus(grpc::ServerContext* context,
                                              const v1::GetIndexStatusRequest* /*request*/,
                                              v1::GetIndexStatusResponse* response) {
  auto caller = authenticator_->Authenticate(*context, kRoles);
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  if (publisher_ == nullptr) {
    return rpc::ToGrpcStatus(absl::FailedPreconditionError(
        "this node has no gateway configured (gateway.endpoint): it publishes no index"));
  }
  auto status = publisher_->GetIndexStatus();
  if (!status.ok()) return rpc::ToGrpcStatus(status.status());
  *response = *std::move(status);
  return grpc::Status::OK;
}

}  // namespace schakel::nodes
