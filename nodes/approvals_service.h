// schakel.v1.Approvals on the node's local listener (local.proto): a thin
// gRPC adapter over DisclosureResponder, for the organisation's approvers.
//
// Authentication as local.proto says (nodes/local_auth.h): ListApprovals
// and GetApproval need ROLE_APPROVER or ROLE_AUDITOR; Approve and Deny need
// ROLE_APPROVER. The decision is logged by the responder with the caller's
// user id and role, atomically with it. GetApproval shows the
// organisation's own signals in clear: local only.
//
// Thread safety: safe for concurrent calls. Ownership: borrows the
// responder and the authenticator; they must outlive the service.
#ifndef SCHAKEL_NODES_APPROVALS_SERVICE_H_
#define SCHAKEL_NODES_APPROVALS_SERVICE_H_

#include "nodes/disclosure_responder.h"
#include "nodes/local_auth.h"
#include "schakel/v1/local.grpc.pb.h"

namespace schakel::nodes {

class ApprovalsService final : public v1::Approvals::Service {
 public:
  ApprovalsService(DisclosureResponder* responder, LocalAuthenticator* authenticator)
      : responder_(responder), authenticator_(authenticator) {}

  grpc::Status ListApprovals(grpc::ServerContext* context, const v1::ListApprovalsRequest* request,
                             v1::ListApprovalsResponse* response) override;
  grpc::Status GetApproval(grpc::ServerContext* context, const v1::GetApprovalRequest* request,
                           v1::GetApprovalResponse* response) override;
  grpc::Status Approve(grpc::ServerContext* context, const v1::ApproveRequest* request,
                       v1::ApproveResponse* response) override;
  grpc::Status Deny(grpc::ServerContext* context, const v1::DenyRequest* request,
                    v1::DenyResponse* response) override;

 private:
  DisclosureResponder* const responder_;
  LocalAuthenticator* const authenticator_;
};

}  // namespace schakel::nodes

#endif  // SCHAKEL_NODES_APPROVALS_SERVICE_H_
