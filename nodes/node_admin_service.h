// schakel.v1.NodeAdmin on the node's local listener (node_admin.proto): what
// the node's operators look at.
//
//   GetLocalPolicy  the local policy in force (version, categories and
//                   their retention, purposes answered, disclosure rules,
//                   how many excluded addresses: never the addresses).
//   GetIndexStatus  index publication: batches queued and acknowledged,
//                   whether the stream is connected, and per purpose the
//                   node's tag count against the gateway's.
// Both need ROLE_ADMIN or ROLE_AUDITOR and are not logged (they show no
// signal and no person). GetIndexStatus answers FAILED_PRECONDITION on a
// node without a gateway (nothing is published).
//
// A policy change takes effect when the node restarts: the policy is read
// at start, and there is no reload. Before the restarted node serves,
// SignalStore::Create re-derives the tags of the stored signals whose
// category became, or stopped being, matchable under a purpose (or whose
// purpose is no longer answered), and queues the additions and withdrawals
// for publication; GetIndexStatus shows them go out and
// `schakel node status --wait-published` waits for them. The service shows
// the policy it was given and never changes it.
//
// Thread safety: safe for concurrent calls. Ownership: borrows the
// authenticator and the publisher, which must outlive the service.
#ifndef SCHAKEL_NODES_NODE_ADMIN_SERVICE_H_
#define SCHAKEL_NODES_NODE_ADMIN_SERVICE_H_

#include <memory>

#include "absl/time/time.h"
#include "nodes/index_publisher.h"
#include "nodes/local_auth.h"
#include "nodes/local_policy.h"
#include "schakel/v1/node_admin.grpc.pb.h"

namespace schakel::nodes {

class NodeAdminService final : public v1::NodeAdmin::Service {
 public:
  // `publisher` may be null (a node without a gateway).
  NodeAdminService(LocalAuthenticator* authenticator, std::shared_ptr<const LocalPolicy> policy,
                   absl::Time policy_loaded_at, const IndexPublisher* publisher)
      : authenticator_(authenticator),
        policy_(std::move(policy)),
        policy_loaded_at_(policy_loaded_at),
        publisher_(publisher) {}

  grpc::Status GetLocalPolicy(grpc::ServerContext* context, const v1::GetLocalPolicyRequest* request,
                              v1::GetLocalPolicyResponse* response) override;
  grpc::Status GetIndexStatus(grpc::ServerContext* context, const v1::GetIndexStatusRequest* request,
                              v1::GetIndexStatusResponse* response) override;

 private:
  LocalAuthenticator* const authenticator_;
  const std::shared_ptr<const LocalPolicy> policy_;
  const absl::Time policy_loaded_at_;
  const IndexPublisher* const publisher_;
};

}  // namespace schakel::nodes

#endif  // SCHAKEL_NODES_NODE_ADMIN_SERVICE_H_
