// Who is calling: the organisation named by the caller's verified TLS client
// certificate.
//
// protocol.md: "the organisation's identity is taken from its certificate
// and checked against the directory". This file does the first half: it
// reads the identity from the call's TLS auth context, which gRPC fills from
// the certificate chain it verified during the mutual-TLS handshake (tls.h).
// It never reads request fields or metadata: a client can send any metadata
// it likes (including keys named "x509_common_name"), but cannot change the
// auth context. The caller then looks the organisation up in the directory
// (and compares PeerIdentity::common_name with the directory's
// certificate_identity where it keeps one).
//
// The identity rule:
// 1. The call must have an authenticated peer over TLS: the auth context
//    says the peer is authenticated and its transport security type is
//    "ssl". Otherwise UNAUTHENTICATED.
// 2. If the certificate has URI subject alternative names of the form
//    "schakel://org/<org-id>" (gRPC's "peer_uri" property, which holds the
//    URI SANs only, so a DNS name or e-mail SAN can never be taken for one),
//    they must all name the same organisation; that is the organisation
//    (Source::kUriSan). Other URI SANs (e.g. spiffe://) are ignored.
// 3. Otherwise the subject common name ("x509_common_name") is the
//    organisation (Source::kCommonName).
// 4. Either way the value must be a valid organisation id (common.proto:
//    2 to 63 characters of [a-z0-9-], starting with a letter); it is used
//    exactly as written, never normalised (no case folding, no trimming).
//
// Errors: UNAUTHENTICATED, with the reason: no authenticated peer (no
// auth context, no verified certificate, or a transport other than TLS);
// URI SANs that name different organisations; a "schakel://org/" URI SAN or
// (without one) a common name that is not a valid organisation id; neither
// a "schakel://org/" URI SAN nor a common name. A value from the certificate
// is quoted in a message only when it is printable ASCII, shortened to 80
// characters.
//
// Thread safety: reentrant. grpc::ServerContextBase::auth_context() fills a
// cache on first use, so call PeerIdentityFrom on a given call's context
// from one thread at a time (as a handler does anyway).
#ifndef SCHAKEL_RPC_IDENTITY_H_
#define SCHAKEL_RPC_IDENTITY_H_

#include <grpcpp/security/auth_context.h>
#include <grpcpp/server_context.h>

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace schakel::rpc {

// The URI SAN prefix that names an organisation: "schakel://org/<org-id>".
inline constexpr std::string_view kOrgUriPrefix = "schakel://org/";

// The caller as its verified certificate names it.
struct PeerIdentity {
  // Where org_id was taken from (see the rule above).
  enum class Source { kUriSan, kCommonName };

  // The organisation id, valid per IsValidOrgId.
  std::string org_id;
  Source source = Source::kUriSan;
  // The certificate's subject common name as gRPC reports it; empty when the
  // subject has none. Equal to org_id when source is kCommonName.
  std::string common_name;
};

// The identity of the caller of the current call. Errors: see the top of
// this file.
absl::StatusOr<PeerIdentity> PeerIdentityFrom(const grpc::ServerContextBase& context);

// The same rule applied to an auth context directly (null: no peer). For
// code that has only the auth context, and for tests.
absl::StatusOr<PeerIdentity> PeerIdentityFromAuthContext(const grpc::AuthContext* auth_context);

// True when `org_id` is 2 to 63 characters of [a-z0-9-] starting with a
// letter (common.proto).
bool IsValidOrgId(std::string_view org_id);

}  // namespace schakel::rpc

#endif  // SCHAKEL_RPC_IDENTITY_H_
