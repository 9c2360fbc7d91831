#include "rpc/identity.h"

#include <cctype>

#include <grpc/grpc_security_constants.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/org_id.h"
#include "common/strings.h"

namespace schakel::rpc {
namespace {

std::vector<std::string> Values(const grpc::AuthContext& context, const char* property) {
  std::vector<std::string> out;
  for (const grpc::string_ref& value : context.FindPropertyValues(property)) {
    out.emplace_back(value.data(), value.size());
  }
  return out;
}

// A value from a certificate, fit to quote in a message: printable ASCII
// only, at most 80 characters.
std::string Quoted(std::string_view value) {
  for (char c : value) {
    if (c < 0x20 || c > 0x7e) return "(a value with non-printable characters, not shown)";
  }
  if (value.size() > 80) return StrCat("\"", value.substr(0, 77), "...\"");
  return StrCat("\"", value, "\"");
}

constexpr std::string_view kOrgIdRule =
    "an organisation id is 2 to 63 characters of [a-z0-9-], starting with a letter";

}  // namespace

bool IsValidOrgId(std::string_view org_id) { return schakel::IsValidOrgId(org_id); }

absl::StatusOr<PeerIdentity> PeerIdentityFromAuthContext(const grpc::AuthContext* auth_context) {
  if (auth_context == nullptr || !auth_context->IsPeerAuthenticated()) {
    return absl::UnauthenticatedError(
        "no authenticated peer: the call did not come with a verified TLS client certificate");
  }
  const std::vector<std::string> transport =
      Values(*auth_context, GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME);
  if (transport.size() != 1 || transport[0] != GRPC_SSL_TRANSPORT_SECURITY_TYPE) {
    return absl::UnauthenticatedError(
        StrCat("no authenticated peer: the call did not come over TLS (transport security: ",
               transport.empty() ? std::string("none") : Quoted(transport[0]), ")"));
  }

  PeerIdentity identity;
  const std::vector<std::string> common_names = Values(*auth_context, GRPC_X509_CN_PROPERTY_NAME);
  if (!common_names.empty()) identity.common_name = common_names.front();

  std::string uri_org;
  for (const std::string& uri : Values(*auth_context, GRPC_PEER_URI_PROPERTY_NAME)) {
    if (!std::string_view(uri).starts_with(kOrgUriPrefix)) {
      // A schakel URI in any other spelling is a mistake, never a reason to
      // fall back to the common name.
      std::string lower = uri;
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (lower.starts_with("schakel:")) {
        return absl::UnauthenticatedError(StrCat("client certificate URI SAN ", Quoted(uri),
                                                 " is not of the form ", kOrgUriPrefix, "<org-id>"));
      }
      continue;
    }
    const std::string org = uri.substr(kOrgUriPrefix.size());
    if (!IsValidOrgId(org)) {
      return absl::UnauthenticatedError(
          StrCat("client certificate URI SAN ", Quoted(uri),
                 " does not name a valid organisation: ", kOrgIdRule));
    }
    if (!uri_org.empty() && uri_org != org) {
      return absl::UnauthenticatedError(
          StrCat("client certificate names more than one organisation in its URI SANs (\"", uri_org,
                 "\" and \"", org, "\"); it must name exactly one"));
    }
    uri_org = org;
  }
  if (!uri_org.empty()) {
    identity.org_id = std::move(uri_org);
    identity.source = PeerIdentity::Source::kUriSan;
    return identity;
  }

  if (common_names.empty()) {
    return absl::UnauthenticatedError(
        StrCat("client certificate names no organisation: it has neither a URI SAN ", kOrgUriPrefix,
               "<org-id> nor a subject common name"));
  }
  if (!IsValidOrgId(identity.common_name)) {
    return absl::UnauthenticatedError(StrCat(
        "client certificate has no URI SAN ", kOrgUriPrefix, "<org-id>, and its common name ",
        Quoted(identity.common_name), " is not a valid organisation id: ", kOrgIdRule));
  }
  identity.org_id = identity.common_name;
  identity.source = PeerIdentity::Source::kCommonName;
  return identity;
}

absl::StatusOr<PeerIdentity> PeerIdentityFrom(const grpc::ServerContextBase& context) {
  const std::shared_ptr<const grpc::AuthContext> auth_context = context.auth_context();
  return PeerIdentityFromAuthContext(auth_context.get());
}

}  // namespace schakel::rpc
