#include "nodes/notifications_service.h"

#include "rpc/status.h"

namespace schakel::nodes {

grpc::Status InboxService::ListNotifications(grpc::ServerContext* context,
                                             const v1::ListNotificationsRequest* request,
                                             v1::ListNotificationsResponse* response) {
  auto caller = authenticator_->Authenticate(*context, {});
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  auto listed = inbox_->List(*request, *caller);
  if (!listed.ok()) return rpc::ToGrpcStatus(listed.status());
  *response = *std::move(listed);
  return grpc::Status::OK;
}

grpc::Status InboxService::MarkNotificationsRead(grpc::ServerContext* context,
                                                 const v1::MarkNotificationsReadRequest* request,
                                                 v1::MarkNotificationsReadResponse* response) {
  auto caller = authenticator_->Authenticate(*context, {});
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  auto marked = inbox_->MarkRead(*request, caller->user_id);
  if (!marked.ok()) return rpc::ToGrpcStatus(marked.status());
  response->set_marked(*marked);
  return grpc::Status::OK;
}

grpc::Status DeliverNotificationsRpc(NotificationInbox* inbox,
                                     const v1::DeliverNotificationsRequest& request,
                                     v1::DeliverNotificationsResponse* response) {
  if (inbox == nullptr) {
    return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                        "this node keeps no notifications (no inbox configured)");
  }
  auto delivered = inbox->Deliver(request);
  if (!delivered.ok()) return rpc::ToGrpcStatus(delivered.status());
  *response = *std::move(delivered);
  return grpc::Status::OK;
}

}  // namespace schakel::nodes
