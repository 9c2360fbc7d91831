// schakel.v1.Cases and schakel.v1.Audit on the node's local listener
// (local.proto, header): the node authenticates its user, overwrites the
// request's `actor` with that user and role, and forwards the call to the
// gateway unchanged over its mutual-TLS channel (the gateway takes the
// organisation from the node's certificate). The gateway's answer is passed
// back as it is: messages, stream messages in order, status code, message
// and ErrorDetail. A gateway that cannot be reached gives UNAVAILABLE. The
// local caller's deadline and cancellation travel on to the gateway.
//
// Roles (the gateway checks them again):
//   Cases.OpenCase, UpdateCase, CloseCase   ROLE_DIRECTOR
//   Cases.GetCase, ListCases                ROLE_ANALYST, ROLE_DIRECTOR or
//                                           ROLE_AUDITOR
//   Audit.*                                 ROLE_AUDITOR
//
// The node's own log:
//   CASE_CHANGED for OpenCase, UpdateCase and CloseCase, granted or refused,
//     with the gateway's receipts (reads are not recorded);
//   AUDIT_QUERY for every Audit call, granted or refused, with the gateway's
//     receipt.
// Fail closed: a granted call whose record cannot be written is answered
// with UNAVAILABLE and its result is withheld (for a stream: before any
// message is relayed; the first message, which carries the receipt, is
// held until the record is written). A case change then stands at the
// gateway; the message says so (OpenCase retried with the same request_id
// returns the same case and is recorded then).
//
// Thread safety: gRPC calls the handlers concurrently; everything they use
// is safe for that. Ownership: borrows the GatewayClient, the
// LocalAuthenticator and the LocalLog; they must outlive the services.
#ifndef SCHAKEL_NODES_FORWARDING_SERVICES_H_
#define SCHAKEL_NODES_FORWARDING_SERVICES_H_

#include <memory>

#include "nodes/gateway_client.h"
#include "nodes/local_auth.h"
#include "nodes/local_log.h"
#include "schakel/v1/audit.grpc.pb.h"
#include "schakel/v1/cases.grpc.pb.h"

namespace schakel::nodes {

class ForwardingCasesService final : public v1::Cases::Service {
 public:
  ForwardingCasesService(GatewayClient* gateway, LocalAuthenticator* authenticator, LocalLog* log);

  grpc::Status OpenCase(grpc::ServerContext* context, const v1::OpenCaseRequest* request,
                        v1::OpenCaseResponse* response) override;
  grpc::Status UpdateCase(grpc::ServerContext* context, const v1::UpdateCaseRequest* request,
                          v1::UpdateCaseResponse* response) override;
  grpc::Status CloseCase(grpc::ServerContext* context, const v1::CloseCaseRequest* request,
                         v1::CloseCaseResponse* response) override;
  grpc::Status GetCase(grpc::ServerContext* context, const v1::GetCaseRequest* request,
                       v1::GetCaseResponse* response) override;
  grpc::Status ListCases(grpc::ServerContext* context, const v1::ListCasesRequest* request,
                         v1::ListCasesResponse* response) override;

 private:
  GatewayClient* const gateway_;
  LocalAuthenticator* const authenticator_;
  LocalLog* const log_;
  const std::unique_ptr<v1::Cases::Stub> stub_;
};

class ForwardingAuditService final : public v1::Audit::Service {
 public:
  ForwardingAuditService(GatewayClient* gateway, LocalAuthenticator* authenticator, LocalLog* log);

  grpc::Status ListEntries(grpc::ServerContext* context, const v1::ListEntriesRequest* request,
                           grpc::ServerWriter<v1::ListEntriesResponse>* writer) override;
  grpc::Status GetEntries(grpc::ServerContext* context, const v1::GetEntriesRequest* request,
                          v1::GetEntriesResponse* response) override;
  grpc::Status FindSubjectEntries(grpc::ServerContext* context,
                                  const v1::FindSubjectEntriesRequest* request,
                                  v1::FindSubjectEntriesResponse* response) override;
  grpc::Status GetStats(grpc::ServerContext* context, const v1::GetStatsRequest* request,
                        v1::GetStatsResponse* response) override;
  grpc::Status VerifyChain(grpc::ServerContext* context, const v1::VerifyChainRequest* request,
                           grpc::ServerWriter<v1::VerifyChainResponse>* writer) override;
  grpc::Status ListChainLinks(grpc::ServerContext* context,
                              const v1::ListChainLinksRequest* request,
                              grpc::ServerWriter<v1::ListChainLinksResponse>* writer) override;
  grpc::Status ListCheckpoints(grpc::ServerContext* context,
                               const v1::ListCheckpointsRequest* request,
                               v1::ListCheckpointsResponse* response) override;
  grpc::Status Export(grpc::ServerContext* context, const v1::ExportRequest* request,
                      grpc::ServerWriter<v1::ExportResponse>* writer) override;

 private:
  GatewayClient* const gateway_;
  LocalAuthenticator* const authenticator_;
  LocalLog* const log_;
  const std::unique_ptr<v1::Audit::Stub> stub_;
};

}  // namespace schakel::nodes

#endif  // SCHAKEL_NODES_FORWARDING_SERVICES_H_
