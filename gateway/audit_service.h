// schakel.v1.Audit at the gateway (audit.proto): the compliance view of the
// exchange log for auditors (compliance reviewers, the FG).
//
// Each rpc: the caller's organisation from its mTLS certificate
// (Directory::CallerOrg), then Actor.role must be ROLE_AUDITOR
// (PERMISSION_DENIED otherwise), then the request is checked. Every query,
// and every refusal of one, is logged (AUDIT_QUERY, with the method and the
// filter as given) before it is answered; the answer carries the receipt
// of that entry (refusals: in ErrorDetail.receipt).
//
// Scope (audit.proto): auditors of a supervisor organisation
// (Policy::supervisor_org_ids) see every entry; other auditors only the
// entries their organisation took part in (requester, answerer, notified
// party, case director), others are left out silently. Chain links,
// checkpoints and VerifyChain (sequence numbers and problem kinds only) are
// open to every auditor.
//
// Served: ListEntries (LogFilter, gateway/log_filter.h), VerifyChain
// (ExchangeLog::Verify over the range, checkpoints included),
// ListChainLinks, ListCheckpoints, GetEntries, FindSubjectEntries (through
// the log's tag and exchange index, ExchangeLog::SequencesWithTag; every
// entry found is re-checked against the request), GetStats (StatsTable)
// and Export (JSON Lines or CSV, log_filter.h).
//
// Policy text for Export: the canonical text of every policy version the
// service has seen is kept in the store under "audit/policy/<version>"
// (ArchivePolicy; the service archives the policy in force on each query,
// and the server should call it on every load). An entry whose version
// was never archived gets a policy_text saying so.
//
// The *For methods do the work for a caller whose organisation is already
// known (tests call them in-process); the rpc overrides add the
// certificate check and the gRPC status mapping.
//
// Thread safety: all methods may be called concurrently.
#ifndef SCHAKEL_GATEWAY_AUDIT_SERVICE_H_
#define SCHAKEL_GATEWAY_AUDIT_SERVICE_H_

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/checkpoints.h"
#include "gateway/directory.h"
#include "gateway/exchange_log.h"
#include "gateway/exchange_state.h"
#include "gateway/policy.h"
#include "schakel/v1/audit.grpc.pb.h"

namespace schakel::gateway {

class ReceiptIssuer;

class AuditService final : public v1::Audit::Service {
 public:
  // None of the pointers is owned; all must outlive the service.
  // `current_directory` returns the directory in force (read once per
  // call, to identify the caller).
  // `receipts` signs the receipts of the AUDIT_QUERY entries; when null,
  // an issuer with the key the checkpoint store holds (the gateway's) is
  // used.
  AuditService(ExchangeLog* log, CheckpointStore* checkpoints, CurrentDirectory current_directory,
               std::function<std::shared_ptr<const Policy>()> current_policy,
               std::function<absl::Time()> now, const ReceiptIssuer* receipts = nullptr);
  ~AuditService() override;

  grpc::Status VerifyChain(grpc::ServerContext* context, const v1::VerifyChainRequest* request,
                           grpc::ServerWriter<v1::VerifyChainResponse>* writer) override;
  grpc::Status ListChainLinks(grpc::ServerContext* context,
                              const v1::ListChainLinksRequest* request,
                              grpc::ServerWriter<v1::ListChainLinksResponse>* writer) override;
  grpc::Status ListCheckpoints(grpc::ServerContext* context,
                               const v1::ListCheckpointsRequest* request,
                               v1::ListCheckpointsResponse* response) override;
  grpc::Status GetEntries(grpc::ServerContext* context, const v1::GetEntriesRequest* request,
                          v1::GetEntriesResponse* response) override;
  grpc::Status ListEntries(grpc::ServerContext* context, const v1::ListEntriesRequest* request,
                           grpc::ServerWriter<v1::ListEntriesResponse>* writer) override;
  grpc::Status FindSubjectEntries(grpc::ServerContext* context,
                                  const v1::FindSubjectEntriesRequest* request,
                                  v1::FindSubjectEntriesResponse* response) override;
  grpc::Status GetStats(grpc::ServerContext* context, const v1::GetStatsRequest* request,
                        v1::GetStatsResponse* response) override;
  grpc::Status Export(grpc::ServerContext* context, const v1::ExportRequest* request,
                      grpc::ServerWriter<v1::ExportResponse>* writer) override;

  // The rpcs for a caller whose organisation `caller_org` is known. The
  // streaming ones hand each message to `send`, which returns false when
  // the client has gone (the stream then stops).
  // Errors: as audit.proto lists them, with an ErrorDetail.
  absl::Status VerifyChainFor(std::string_view caller_org, const v1::VerifyChainRequest& request,
                              const std::function<bool(const v1::VerifyChainResponse&)>& send);
  absl::Status ListChainLinksFor(
      std::string_view caller_org, const v1::ListChainLinksRequest& request,
      const std::function<bool(const v1::ListChainLinksResponse&)>& send);
  absl::StatusOr<v1::ListCheckpointsResponse> ListCheckpointsFor(
      std::string_view caller_org, const v1::ListCheckpointsRequest& request);
  absl::Status ListEntriesFor(std::string_view caller_org, const v1::ListEntriesRequest& request,
                              const std::function<bool(const v1::ListEntriesResponse&)>& send);
  absl::StatusOr<v1::GetEntriesResponse> GetEntriesFor(std::string_view caller_org,
                                                       const v1::GetEntriesRequest& request);
  absl::StatusOr<v1::FindSubjectEntriesResponse> FindSubjectEntriesFor(
      std::string_view caller_org, const v1::FindSubjectEntriesRequest& request);
  absl::StatusOr<v1::GetStatsResponse> GetStatsFor(std::string_view caller_org,
                                                   const v1::GetStatsRequest& request);
  absl::Status ExportFor(std::string_view caller_org, const v1::ExportRequest& request,
                         const std::function<bool(const v1::ExportResponse&)>& send);

  // Keeps `policy`'s canonical text for Export (durably; idempotent).
  // Errors: store errors.
  absl::Status ArchivePolicy(const Policy& policy);
  // ArchivePolicy once per version (the server calls it at start and on
  // every reload; queries call it too). A failure only leaves Export
  // without that version's text, which Export then says.
  void ArchiveCurrent(const std::shared_ptr<const Policy>& policy);

 private:
  // The caller's organisation; an unknown certificate is logged as a
  // refused AUDIT_QUERY of `method`.
  absl::StatusOr<std::string> Caller(grpc::ServerContext* context, std::string_view method,
                                     const v1::Actor& actor);

  // The text of the purpose's section of policy `version`; a note when
  // the version was not archived.
  std::string PolicyTextFor(const Policy& current, std::string_view version,
                            std::string_view purpose_id,
                            std::map<std::string, std::string>& cache) const;
  // Streams the entries in [from, to] that match `filter` and the scope.
  absl::Status Scan(std::string_view caller_org, const Policy& policy,
                    const v1::LogFilter& filter, uint64_t to,
                    const std::function<bool(v1::LogEntry&)>& each) const;

  ExchangeLog* const log_;
  CheckpointStore* const checkpoints_;
  const CurrentDirectory current_directory_;
  const std::function<std::shared_ptr<const Policy>()> current_policy_;
  const std::function<absl::Time()> now_;
  std::unique_ptr<ReceiptIssuer> own_receipts_;  // when none was given
  const ReceiptIssuer* const receipts_;
  std::unique_ptr<ExchangeStore> exchanges_;  // the shape of exchanges
  std::mutex archived_mu_;
  std::string archived_version_;  // guarded by archived_mu_
};

}  // namespace schakel::gateway

#endif  // SCHAKEL_GATEWAY_AUDIT_SERVICE_H_
