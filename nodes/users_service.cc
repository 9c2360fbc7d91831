#include "nodes/users_service.h"

#include <array>

#include "common/strings.h"
#include "rpc/status.h"

namespace schakel::nodes {
namespace {

constexpr std::array<v1::Role, 1> kAdmin = {v1::ROLE_ADMIN};

UserActor ActorOf(const LocalCaller& caller) { return {caller.user_id, caller.role}; }

std::vector<v1::Role> RolesOf(const google::protobuf::RepeatedField<int>& roles) {
  std::vector<v1::Role> out;
  for (int r : roles) out.push_back(static_cast<v1::Role>(r));
  return out;
}

// The credential goes into the response and nowhere else.
std::string CredentialText(const IssuedCredential& issued) {
  return std::string(issued.credential_view());
}

}  // namespace

grpc::Status UsersService::WhoAmI(grpc::ServerContext* context,
                                  const v1::WhoAmIRequest* /*request*/,
                                  v1::WhoAmIResponse* response) {
  auto caller = authenticator_->Authenticate(*context, {});
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  auto user = users_->GetUser(caller->user_id);
  if (!user.ok()) return rpc::ToGrpcStatus(user.status());
  *response->mutable_user() = *std::move(user);
  response->set_acting_role(caller->role);
  response->set_org_id(org_id_);
  return grpc::Status::OK;
}

grpc::Status UsersService::CreateUser(grpc::ServerContext* context,
                                      const v1::CreateUserRequest* request,
                                      v1::CreateUserResponse* response) {
  auto caller = authenticator_->Authenticate(*context, kAdmin);
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  auto issued = users_->CreateUser(ActorOf(*caller), request->user_id(), request->display_name(),
                                   RolesOf(request->roles()));
  if (!issued.ok()) return rpc::ToGrpcStatus(issued.status());
  *response->mutable_user() = issued->user;
  response->set_credential(CredentialText(*issued));
  return grpc::Status::OK;
}

grpc::Status UsersService::ListUsers(grpc::ServerContext* context,
                                     const v1::ListUsersRequest* request,
                                     v1::ListUsersResponse* response) {
  auto caller = authenticator_->Authenticate(*context, kAdmin);
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  auto page =
      users_->ListUsers(request->include_disabled(), request->page_size(), request->page_token());
  if (!page.ok()) return rpc::ToGrpcStatus(page.status());
  for (v1::User& u : page->users) *response->add_users() = std::move(u);
  response->set_next_page_token(page->next_page_token);
  return grpc::Status::OK;
}

grpc::Status UsersService::UpdateUser(grpc::ServerContext* context,
                                      const v1::UpdateUserRequest* request,
                                      v1::UpdateUserResponse* response) {
  auto caller = authenticator_->Authenticate(*context, kAdmin);
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  std::optional<std::string> display_name;
  std::optional<std::vector<v1::Role>> roles;
  if (request->update_mask().paths_size() == 0) {
    return rpc::ToGrpcStatus(
        absl::InvalidArgumentError("update_mask: no path; allowed: \"display_name\", \"roles\""));
  }
  for (int i = 0; i < request->update_mask().paths_size(); ++i) {
    const std::string& path = request->update_mask().paths(i);
    if (path == "display_name") {
      display_name = request->user().display_name();
    } else if (path == "roles") {
      roles = RolesOf(request->user().roles());
    } else {
      return rpc::ToGrpcStatus(absl::InvalidArgumentError(
          StrCat("update_mask.paths[", i, "]: \"", path.substr(0, 64),
                 "\" cannot be changed; allowed: \"display_name\", \"roles\"")));
    }
  }
  auto user = users_->UpdateUser(ActorOf(*caller), request->user().user_id(),
                                 std::move(display_name), std::move(roles));
  if (!user.ok()) return rpc::ToGrpcStatus(user.status());
  *response->mutable_user() = *std::move(user);
  return grpc::Status::OK;
}

grpc::Status UsersService::DisableUser(grpc::ServerContext* context,
                                       const v1::DisableUserRequest* request,
                                       v1::DisableUserResponse* response) {
  auto caller = authenticator_->Authenticate(*context, kAdmin);
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  auto user = users_->DisableUser(ActorOf(*caller), request->user_id(), request->reason());
  if (!user.ok()) return rpc::ToGrpcStatus(user.status());
  *response->mutable_user() = *std::move(user);
  return grpc::Status::OK;
}

grpc::Status UsersService::RotateCredential(grpc::ServerContext* context,
                                            const v1::RotateCredentialRequest* request,
                                            v1::RotateCredentialResponse* response) {
  auto caller = authenticator_->Authenticate(*context, {});
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  std::string target = request->user_id().empty() ? caller->user_id : request->user_id();
  if (target != caller->user_id) {
    // Another user's credential: only as an admin.
    caller = authenticator_->Authenticate(*context, kAdmin);
    if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  }
  auto issued = users_->RotateCredential(ActorOf(*caller), target);
  if (!issued.ok()) return rpc::ToGrpcStatus(issued.status());
  response->set_credential(CredentialText(*issued));
  return grpc::Status::OK;
}

}  // namespace schakel::nodes
