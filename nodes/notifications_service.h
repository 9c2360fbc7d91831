// schakel.v1.Inbox (local.proto): the organisation's users read the
// notifications the gateway sent this node (nodes/notifications.h), on the
// node's local listener. A thin adapter: authentication and roles here,
// everything else in NotificationInbox.
//
//   ListNotifications      any authenticated user: notifications about
//                          signals they own and disclosures they asked for;
//                          ROLE_ADMIN and ROLE_AUDITOR see all (or one
//                          owner's, with owner_user_id).
//   MarkNotificationsRead  any authenticated user, for themselves.
//
// Node.DeliverNotifications (the gateway's push) is served by NodeService
// on the gateway-facing listener, after its caller check; its body is
// NotificationInbox::Deliver (DeliverNotificationsRpc below).
//
// Errors: as local.proto says (INVALID_ARGUMENT naming the field,
// UNAUTHENTICATED, PERMISSION_DENIED for another owner without the role).
//
// Thread safety: gRPC calls the handlers concurrently; the inbox and the
// authenticator are safe for that. Ownership: borrows both.
#ifndef SCHAKEL_NODES_NOTIFICATIONS_SERVICE_H_
#define SCHAKEL_NODES_NOTIFICATIONS_SERVICE_H_

#include "nodes/local_auth.h"
#include "nodes/notifications.h"
#include "schakel/v1/local.grpc.pb.h"
#include "schakel/v1/node.pb.h"

namespace schakel::nodes {

class InboxService final : public v1::Inbox::Service {
 public:
  InboxService(NotificationInbox* inbox, LocalAuthenticator* authenticator)
      : inbox_(inbox), authenticator_(authenticator) {}

  grpc::Status ListNotifications(grpc::ServerContext* context,
                                 const v1::ListNotificationsRequest* request,
                                 v1::ListNotificationsResponse* response) override;
  grpc::Status MarkNotificationsRead(grpc::ServerContext* context,
                                     const v1::MarkNotificationsReadRequest* request,
                                     v1::MarkNotificationsReadResponse* response) override;

 private:
  NotificationInbox* const inbox_;
  LocalAuthenticator* const authenticator_;
};

// Node.DeliverNotifications once the caller is known to be the gateway:
// NotificationInbox::Deliver as a grpc::Status. A null inbox answers
// UNIMPLEMENTED.
grpc::Status DeliverNotificationsRpc(NotificationInbox* inbox,
                                     const v1::DeliverNotificationsRequest& request,
                                     v1::DeliverNotificationsResponse* response);

}  // namespace schakel::nodes

#endif  // SCHAKEL_NODES_NOTIFICATIONS_SERVICE_H_
