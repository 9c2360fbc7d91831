// Mutual TLS credentials for Schakel's servers and clients, from PEM files.
//
// Every node <-> gateway channel is mutual TLS (protocol.md, "Transport and
// identity"): both sides present a certificate and both verify the other's
// against their CA certificates. The server side built here requires and
// verifies a client certificate (GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_
// CERTIFICATE_AND_VERIFY), so a call without a valid client certificate never
// reaches a service: the handshake fails and the client sees UNAVAILABLE.
// (The one exception, ServerCredentialsWithoutClientCertificate, is for the
// node's local API, where users authenticate per call.)
// Who the verified client is comes from identity.h, never from metadata.
// deploy/pki.sh makes a demonstration PKI; docs/pki.md describes it.
//
// The files are checked before gRPC sees them, so that a mistake is reported
// at start-up with the file and the problem named, not as failed handshakes
// later. Checks:
// - every file: exists, can be read, is a regular file, is not empty and not
//   larger than 1 MiB;
// - CA certificates and certificate chain: one or more PEM certificates
//   ("-----BEGIN CERTIFICATE-----") that OpenSSL parses, nothing else;
// - private key: opened without following a symbolic link; mode gives no
//   access to group or others (0600 or 0400, like every Schakel secret, see
//   docs/key-files.md); one unencrypted PEM private key that OpenSSL parses;
//   it must belong to the first certificate of the chain.
// Validity dates are not checked here: the peer checks them at every
// handshake, and a certificate can expire while a server runs.
//
// Errors of the functions (every message names the file and its role, e.g.
// "private key file /etc/schakel/tls/node.key"):
//   NOT_FOUND            a file does not exist.
//   PERMISSION_DENIED    the operating system refuses to open a file; other
//                        system errors map by errno (absl::ErrnoToStatus).
//   FAILED_PRECONDITION  a file is not a regular file; the private key file
//                        is a symbolic link, or its mode gives any access to
//                        group or others (the message says "chmod 600 ...").
//   INVALID_ARGUMENT     a path is empty; a file is empty or larger than
//                        1 MiB, is not PEM of the expected kind (a certificate
//                        where a key belongs or the reverse is named as such),
//                        or does not parse; the key file is encrypted or holds
//                        more than one key; the key does not belong to the
//                        first certificate of the chain.
// No message ever contains file content. The private key's bytes are wiped
// from this code's buffers once gRPC holds its own copy.
//
// Ownership: the returned credentials are shared, immutable gRPC objects that
// hold copies of the PEM data; the files may change afterwards without
// effect (restart to reload).
//
// Thread safety: the functions are reentrant; the credentials may be used
// from any thread.
#ifndef SCHAKEL_RPC_TLS_H_
#define SCHAKEL_RPC_TLS_H_

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <filesystem>
#include <memory>

#include "absl/status/statusor.h"

namespace schakel::rpc {

// The files of one party's mutual-TLS identity, all PEM.
struct TlsFiles {
  // The CA certificate(s) the peer's certificate must chain to.
  std::filesystem::path ca_certificates;
  // This party's certificate, followed by any intermediate CA certificates.
  std::filesystem::path certificate_chain;
  // The private key of the first certificate in certificate_chain:
  // unencrypted (PKCS#8 or traditional), mode 0600 or 0400.
  std::filesystem::path private_key;
};

// Server credentials that present `files.certificate_chain` and require every
// client to present a certificate that chains to `files.ca_certificates`.
// Errors: see the top of this file.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFromFiles(
    const TlsFiles& files);

// Server credentials that present `files.certificate_chain` but ask for no
// client certificate: for a listener whose callers authenticate per call
// (the node's local API, bearer credentials in local.proto), never for
// node <-> gateway traffic. The files, the CA certificates included, are
// checked exactly as for ServerCredentialsFromFiles, so that one bad file
// is reported the same way for either listener.
// Errors: see the top of this file.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsWithoutClientCertificate(
    const TlsFiles& files);

// Client credentials that present `files.certificate_chain` and accept only a
// server whose certificate chains to `files.ca_certificates` and names the
// host being called (or the target name override, see channel.h).
// Errors: see the top of this file.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ClientCredentialsFromFiles(
    const TlsFiles& files);

}  // namespace schakel::rpc

#endif  // SCHAKEL_RPC_TLS_H_
