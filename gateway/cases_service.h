// schakel.v1.Cases at the gateway (cases.proto): directors open, change and
// close cases; directors, requesters and auditors read them.
//
// Each rpc: the caller's organisation from its mTLS certificate
// (Directory::CallerOrg), the role from Actor, then the policy in force
// (gateway/policy.h: the purpose's case_director_org_ids), then the values
// (every problem named by its field path, no value echoed). Every change
// and every refusal of a change is logged (CASE_OPENED / CASE_UPDATED /
// CASE_CLOSED, refusals with their DenialReason, the policy version and
// the purpose's lawful basis in force), and a change is written together
// with its log entry in one synced write (case_store.h). Responses and
// refusals carry the receipt of their entry (ErrorDetail.receipt). Reads
// (GetCase, ListCases) are not logged.
//
// Visibility (GetCase, ListCases): the purpose's case directors, the
// organisations that may ask under it, and auditors (ROLE_AUDITOR) of a
// supervisor organisation, or of an organisation that takes part in the
// purpose. A case not visible is NOT_FOUND, as if it did not exist.
//
// The Open/Update/Close/Get/List methods do the work for a caller whose
// organisation is already known (tests call them in-process); the rpc
// overrides add the certificate check and the gRPC status mapping.
//
// Thread safety: all methods may be called concurrently.
#ifndef SCHAKEL_GATEWAY_CASES_SERVICE_H_
#define SCHAKEL_GATEWAY_CASES_SERVICE_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/case_store.h"
#include "gateway/directory.h"
#include "gateway/exchange_log.h"
#include "gateway/policy.h"
#include "schakel/v1/cases.grpc.pb.h"
#include "schakel/v1/errors.pb.h"

namespace schakel::gateway {

class ReceiptIssuer;

class CasesService final : public v1::Cases::Service {
 public:
  // None of the pointers is owned; all must outlive the service. `cases`
  // must be kept in the same KvStore as `log` (a case change and its log
  // entry are one write). `current_directory` returns the directory in
  // force: each call reads it once (the caller's identity and the
  // partners it names are checked against the same directory).
  // `current_policy` returns the policy in force;
  // `now` the clock. `receipts` (gateway/receipts.h) signs the receipts
  // responses and logged refusals carry; when null, they carry none.
  CasesService(CaseStore* cases, ExchangeLog* log, CurrentDirectory current_directory,
               std::function<std::shared_ptr<const Policy>()> current_policy,
               std::function<absl::Time()> now, const ReceiptIssuer* receipts = nullptr);

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

  // The rpcs for a caller whose organisation `caller_org` is known (from
  // its certificate). Errors: as cases.proto lists them per rpc, with an
  // ErrorDetail (reason, field problems, receipt of a logged refusal).
  // `directory` is the one the caller was identified with (null: the one
  // in force).
  absl::StatusOr<v1::OpenCaseResponse> Open(std::string_view caller_org,
                                            const v1::OpenCaseRequest& request,
                                            std::shared_ptr<const Directory> directory = nullptr);
  absl::StatusOr<v1::UpdateCaseResponse> Update(std::string_view caller_org,
                                                const v1::UpdateCaseRequest& request,
                                                std::shared_ptr<const Directory> directory = nullptr);
  absl::StatusOr<v1::CloseCaseResponse> Close(std::string_view caller_org,
                                              const v1::CloseCaseRequest& request);
  absl::StatusOr<v1::GetCaseResponse> Get(std::string_view caller_org,
                                          const v1::GetCaseRequest& request) const;
  absl::StatusOr<v1::ListCasesResponse> List(std::string_view caller_org,
                                             const v1::ListCasesRequest& request) const;

  // Records every open case that passed its end date as EXPIRED: stored,
  // and logged as CASE_CLOSED with outcome EXPIRED (the gateway acting, no
  // requester). Call it now and then (the gateway's background work);
  // reads report such cases as EXPIRED meanwhile. Returns how many.
  // Errors: UNAVAILABLE when the log cannot be written; store errors.
  absl::StatusOr<size_t> RecordExpiries();

 private:
  struct Call;
  // Logs `call` refused with `reason` and returns `error` with its detail.
  absl::Status Refuse(const Call& call, absl::Status error, v1::DenialReason reason,
                      std::vector<v1::FieldProblem> problems = {}) const;
  // A Commit that writes the change with its log entry (outcome GRANTED,
  // `detail`) and keeps the entry in `call` for the receipt.
  CaseStore::Commit LoggedCommit(Call& call, std::string detail) const;
  // Adds the receipt of the change's entry, when there is one.
  absl::Status AddReceipt(const Call& call,
                          google::protobuf::RepeatedPtrField<v1::Receipt>& out) const;
  // UpdateCase and CloseCase: the director role, the case (visible to the
  // caller), opened by the caller's organisation; the case goes to
  // call.current. Otherwise the logged refusal.
  absl::Status FindOwnCase(Call& call, std::string_view verb);
  // The caller, identified with `directory` (the call's snapshot).
  absl::StatusOr<std::string> Caller(grpc::ServerContext* context, v1::RecordKind kind,
                                     const v1::Actor& actor, std::string_view case_id,
                                     const Directory& directory);

  CaseStore* const cases_;
  ExchangeLog* const log_;
  const CurrentDirectory current_directory_;
  const std::function<std::shared_ptr<const Policy>()> current_policy_;
  const std::function<absl::Time()> now_;
  const ReceiptIssuer* const receipts_;
};

}  // namespace schakel::gateway

#endif  // SCHAKEL_GATEWAY_CASES_SERVICE_H_
