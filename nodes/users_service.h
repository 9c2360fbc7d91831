// schakel.v1.Users on the node's local listener (node_admin.proto): a thin
// gRPC adapter over UserStore.
//
// Every rpc needs ROLE_ADMIN except WhoAmI (any authenticated user) and
// RotateCredential for one's own credential. Every change is logged by the
// UserStore (USER_CHANGED) atomically with it; a credential is returned
// once and never logged.
//
// Thread safety: safe for concurrent calls. Ownership: borrows the store
// and the authenticator; they must outlive the service.
#ifndef SCHAKEL_NODES_USERS_SERVICE_H_
#define SCHAKEL_NODES_USERS_SERVICE_H_

#include <string>

#include "nodes/local_auth.h"
#include "nodes/users.h"
#include "schakel/v1/node_admin.grpc.pb.h"

namespace schakel::nodes {

class UsersService final : public v1::Users::Service {
 public:
  UsersService(UserStore* users, LocalAuthenticator* authenticator, std::string org_id)
      : users_(users), authenticator_(authenticator), org_id_(std::move(org_id)) {}

  grpc::Status WhoAmI(grpc::ServerContext* context, const v1::WhoAmIRequest* request,
                      v1::WhoAmIResponse* response) override;
  grpc::Status CreateUser(grpc::ServerContext* context, const v1::CreateUserRequest* request,
                          v1::CreateUserResponse* response) override;
  grpc::Status ListUsers(grpc::ServerContext* context, const v1::ListUsersRequest* request,
                         v1::ListUsersResponse* response) override;
  grpc::Status UpdateUser(grpc::ServerContext* context, const v1::UpdateUserRequest* request,
                          v1::UpdateUserResponse* response) override;
  grpc::Status DisableUser(grpc::ServerContext* context, const v1::DisableUserRequest* request,
                           v1::DisableUserResponse* response) override;
  grpc::Status RotateCredential(grpc::ServerContext* context,
                                const v1::RotateCredentialRequest* request,
                                v1::RotateCredentialResponse* response) override;

 private:
  UserStore* const users_;
  LocalAuthenticator* const authenticator_;
  const std::string org_id_;
};

}  // namespace schakel::nodes

#endif  // SCHAKEL_NODES_USERS_SERVICE_H_
