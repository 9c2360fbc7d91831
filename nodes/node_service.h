// schakel.v1.Node over gRPC: the thin adapter between the network and the
// node's answering logic (nodes/evaluator.h).
//
// Every call first establishes who is calling from the verified mutual-TLS
// client certificate (rpc/identity.h); only the gateway named in the node's
// configuration may call, anyone else gets UNAUTHENTICATED "the caller is not
// the gateway". Then:
//   Evaluate              Evaluator::Evaluate with the current time; its
//                         absl::Status maps one to one (rpc/status.h).
//   Disclose              DisclosureResponder::Disclose
//                         (nodes/disclosure_responder.h), which logs the
//                         order and its decision itself; UNIMPLEMENTED when
//                         no responder is set.
//   DeliverNotifications  NotificationInbox::Deliver (nodes/notifications.h):
//                         stored once by sequence; UNIMPLEMENTED when no
//                         inbox is set.
//
// The node's own log: EVALUATION_ANSWERED (purpose, case, exchange,
// requester, counts, the gateway's receipt) before the answer leaves, and
// EVALUATION_REFUSED with the reason for a refusal after the caller was
// established as the gateway.
//
// Logging: one line per refused call on stderr with the status code and
// message. The node never receives identifiers (only blinded elements), and
// the messages of the evaluator and the authorisation check name fields and
// counts only, so no identifier can reach a log line.
//
// Thread safety: gRPC calls the handlers concurrently; Evaluator is safe for
// that. The evaluator is not owned and must outlive the service.
#ifndef SCHAKEL_NODES_NODE_SERVICE_H_
#define SCHAKEL_NODES_NODE_SERVICE_H_

#include <cstdint>
#include <functional>
#include <string>

#include "nodes/disclosure_responder.h"
#include "nodes/evaluator.h"
#include "nodes/local_log.h"
#include "schakel/v1/node.grpc.pb.h"

namespace schakel::nodes {

class NotificationInbox;

class NodeService final : public v1::Node::Service {
 public:
  // `now_ms`: milliseconds since the Unix epoch. `log` (not owned; null
  // only in tests that do not look at it) receives one record per
  // evaluation answered or refused; an answer whose record cannot be
  // written is withheld (UNAVAILABLE): fail closed.
  NodeService(Evaluator* evaluator, std::string gateway_org_id, std::function<int64_t()> now_ms,
              LocalLog* log = nullptr)
      : evaluator_(evaluator), gateway_org_id_(std::move(gateway_org_id)),
        now_ms_(std::move(now_ms)), log_(log) {}

  grpc::Status Evaluate(grpc::ServerContext* context, const v1::EvaluateRequest* request,
                        v1::EvaluateResponse* response) override;
  grpc::Status Disclose(grpc::ServerContext* context, const v1::DiscloseRequest* request,
                        v1::DiscloseResponse* response) override;
  // Answers Node.Disclose with `responder` (not owned; must outlive the
  // service). Call before the server starts.
  void set_disclosure_responder(DisclosureResponder* responder) { responder_ = responder; }
  // Answers Node.DeliverNotifications with `inbox` (not owned; must outlive
  // the service). Call before the server starts.
  void set_notification_inbox(NotificationInbox* inbox) { inbox_ = inbox; }
  grpc::Status DeliverNotifications(grpc::ServerContext* context,
                                    const v1::DeliverNotificationsRequest* request,
                                    v1::DeliverNotificationsResponse* response) override;

 private:
  // OK when the caller's certificate names the gateway; else UNAUTHENTICATED.
  absl::Status CheckCallerIsGateway(const grpc::ServerContext& context) const;

  Evaluator* const evaluator_;
  const std::string gateway_org_id_;
  const std::function<int64_t()> now_ms_;
  LocalLog* const log_;
  DisclosureResponder* responder_ = nullptr;
  NotificationInbox* inbox_ = nullptr;
};

}  // namespace schakel::nodes

#endif  // SCHAKEL_NODES_NODE_SERVICE_H_
