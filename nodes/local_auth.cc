#include "nodes/local_auth.h"

#include <algorithm>
#include <cctype>

#include "common/strings.h"

namespace schakel::nodes {
namespace {

constexpr std::string_view kBearer = "Bearer ";

std::string AcceptedList(std::span<const v1::Role> roles) {
  std::string out;
  for (v1::Role r : roles) out += StrCat(out.empty() ? "" : ", ", RoleName(r));
  return out;
}

bool Holds(const v1::User& user, v1::Role role) {
  return std::find(user.roles().begin(), user.roles().end(), role) != user.roles().end();
}

bool Accepts(std::span<const v1::Role> accepted, v1::Role role) {
  return accepted.empty() || std::find(accepted.begin(), accepted.end(), role) != accepted.end();
}

}  // namespace

std::string_view RoleName(v1::Role role) {
  switch (role) {
    case v1::ROLE_PROFESSIONAL:
      return "professional";
    case v1::ROLE_ANALYST:
      return "analyst";
    case v1::ROLE_APPROVER:
      return "approver";
    case v1::ROLE_DIRECTOR:
      return "director";
    case v1::ROLE_AUDITOR:
      return "auditor";
    case v1::ROLE_ADMIN:
      return "admin";
    default:
      return "";
  }
}

v1::Role RoleFromName(std::string_view name) {
  for (int r = v1::Role_MIN; r <= v1::Role_MAX; ++r) {
    const auto role = static_cast<v1::Role>(r);
    if (v1::Role_IsValid(r) && role != v1::ROLE_UNSPECIFIED && RoleName(role) == name) return role;
  }
  return v1::ROLE_UNSPECIFIED;
}

absl::StatusOr<LocalCaller> LocalAuthenticator::Authenticate(
    const grpc::ServerContext& context, std::span<const v1::Role> accepted_roles) {
  const auto& metadata = context.client_metadata();
  std::optional<std::string> authorization, role;
  if (auto it = metadata.find(kAuthorizationMetadata); it != metadata.end()) {
    authorization.emplace(it->second.data(), it->second.size());
  }
  if (auto it = metadata.find(kRoleMetadata); it != metadata.end()) {
    role.emplace(it->second.data(), it->second.size());
  }
  auto caller = AuthenticateValues(authorization ? &*authorization : nullptr,
                                   role ? &*role : nullptr, accepted_roles);
  if (authorization) {
    // The credential is a secret: do not leave it in this frame's heap.
    std::fill(authorization->begin(), authorization->end(), '\0');
  }
  return caller;
}

absl::StatusOr<LocalCaller> LocalAuthenticator::AuthenticateValues(
    const std::string* authorization, const std::string* role,
    std::span<const v1::Role> accepted_roles) {
  // Failed logins are logged with the user id claimed (when it is one),
  // never with the secret offered.
  const auto failed = [this](std::string claimed_user, const std::string& why) -> absl::Status {
    v1::LocalLogRecord record;
    record.set_kind(v1::LOCAL_EVENT_KIND_LOGIN_FAILED);
    record.set_user_id(std::move(claimed_user));
    record.set_outcome(v1::OUTCOME_REFUSED);
    record.set_detail(StrCat("login failed: ", why));
    auto logged = log_->Append(std::move(record));
    if (!logged.ok()) {
      return absl::UnavailableError(
          StrCat("the node cannot record the failed login (", logged.status().message(), ")"));
    }
    return absl::UnauthenticatedError(why);
  };
  if (authorization == nullptr || authorization->empty()) {
    return failed("",
                  "no credential: send the metadata \"authorization: Bearer "
                  "<user_id>.<secret>\"");
  }
  if (!std::string_view(*authorization).starts_with(kBearer)) {
    return failed("", "the authorization metadata must be \"Bearer <user_id>.<secret>\"");
  }
  const std::string_view credential = std::string_view(*authorization).substr(kBearer.size());
  auto user = users_->Verify(credential);
  if (!user.ok()) {
    if (!absl::IsUnauthenticated(user.status())) return user.status();
    const size_t dot = credential.rfind('.');
    std::string claimed;
    if (dot != std::string_view::npos && IsValidUserId(credential.substr(0, dot))) {
      claimed = std::string(credential.substr(0, dot));
    }
    return failed(std::move(claimed), std::string(user.status().message()));
  }

  LocalCaller caller;
  caller.user_id = user->user_id();
  if (role != nullptr) {
    std::string lower = *role;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](char c) { return static_cast<char>(std::tolower(c)); });
    const v1::Role wanted = RoleFromName(lower);
    if (wanted == v1::ROLE_UNSPECIFIED) {
      return absl::PermissionDeniedError(
          StrCat(kRoleMetadata,
                 ": not a role; use professional, analyst, approver, director, "
                 "auditor or admin"));
    }
    if (!Holds(*user, wanted)) {
      return absl::PermissionDeniedError(
          StrCat("user ", caller.user_id, " does not hold the role ", RoleName(wanted)));
    }
    if (!Accepts(accepted_roles, wanted)) {
      return absl::PermissionDeniedError(StrCat("this call does not accept the role ",
                                                RoleName(wanted), "; it accepts ",
                                                AcceptedList(accepted_roles)));
    }
    caller.role = wanted;
  } else {
    // Roles are stored in Role order, so the first match is the first in
    // Role order.
    for (int r : user->roles()) {
      if (Accepts(accepted_roles, static_cast<v1::Role>(r))) {
        caller.role = static_cast<v1::Role>(r);
        break;
      }
    }
    if (caller.role == v1::ROLE_UNSPECIFIED) {
      return absl::PermissionDeniedError(StrCat("user ", caller.user_id,
                                                " holds no role this call accepts (",
                                                AcceptedList(accepted_roles), ")"));
    }
  }
  (void)users_->Touch(caller.user_id);  // best effort: last_seen_at only
  return caller;
}

}  // namespace schakel::nodes
