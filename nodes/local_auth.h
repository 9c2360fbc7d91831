// Authentication and role selection for the node's local API (local.proto,
// "Authentication").
//
// Every call carries "authorization: Bearer <user_id>.<secret>" and may
// carry "x-schakel-role: <role>" (professional, analyst, approver, director,
// auditor, admin). The authenticator checks the credential against the
// UserStore and picks the role:
//   * with x-schakel-role: that role, when the user holds it and the rpc
//     accepts it; otherwise PERMISSION_DENIED;
//   * without: the first role in Role order that the user holds and the rpc
//     accepts; PERMISSION_DENIED when there is none.
// A missing, malformed or wrong credential, or a disabled user, gives
// UNAUTHENTICATED and a LOGIN_FAILED record in the local log (with the user
// id claimed, never the offered secret). Errors never echo the credential.
//
// An empty `accepted_roles` means "any role the user holds" (for rpcs open
// to every authenticated user, such as Users.WhoAmI): the named role, or
// the user's first role.
//
// Thread safety: safe for concurrent use (the UserStore and LocalLog are).
// Ownership: borrows both; they must outlive the authenticator.
#ifndef SCHAKEL_NODES_LOCAL_AUTH_H_
#define SCHAKEL_NODES_LOCAL_AUTH_H_

#include <grpcpp/server_context.h>

#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "nodes/local_log.h"
#include "nodes/users.h"
#include "schakel/v1/common.pb.h"

namespace schakel::nodes {

// Metadata keys (lower case, as gRPC delivers them).
inline constexpr char kAuthorizationMetadata[] = "authorization";
inline constexpr char kRoleMetadata[] = "x-schakel-role";

// The authenticated caller of a local rpc.
struct LocalCaller {
  std::string user_id;
  v1::Role role = v1::ROLE_UNSPECIFIED;
};

// "professional" for ROLE_PROFESSIONAL, ...; empty for an unknown value.
std::string_view RoleName(v1::Role role);
// The inverse (lower case names only); ROLE_UNSPECIFIED when unknown.
v1::Role RoleFromName(std::string_view name);

class LocalAuthenticator {
 public:
  LocalAuthenticator(UserStore* users, LocalLog* log) : users_(users), log_(log) {}

  // Checks "authorization: Bearer <user_id>.<secret>" (and optional
  // "x-schakel-role") against the user store; picks the role as local.proto
  // says. Errors: UNAUTHENTICATED (and a LOGIN_FAILED local log record) or
  // PERMISSION_DENIED (naming the role and the roles the rpc accepts);
  // UNAVAILABLE when the failed login cannot be logged (fail closed).
  absl::StatusOr<LocalCaller> Authenticate(const grpc::ServerContext& context,
                                           std::span<const v1::Role> accepted_roles);

  // The same over the two metadata values (nullptr when absent), for tests
  // and non-gRPC callers.
  absl::StatusOr<LocalCaller> AuthenticateValues(const std::string* authorization,
                                                 const std::string* role,
                                                 std::span<const v1::Role> accepted_roles);

  UserStore* users() const { return users_; }

 private:
  UserStore* const users_;
  LocalLog* const log_;
};

}  // namespace schakel::nodes

#endif  // SCHAKEL_NODES_LOCAL_AUTH_H_
