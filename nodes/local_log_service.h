// schakel.v1.LocalLog on the node's local listener (local.proto): the
// node's own log for its auditors.
//
// ListLocalLog needs ROLE_AUDITOR or ROLE_ADMIN; the query itself is
// logged first (AUDIT_QUERY; fail closed: no record, no answer). Entries
// are streamed ascending, up to 1000 per message.
//
// AuditSubject and ReconcileReceipts need ROLE_AUDITOR and the gateway
// (EnableAudit; without it they answer FAILED_PRECONDITION):
//   AuditSubject derives the person's match keys
//     (SignalStore::MatchKeysOf), computes this node's own tag of each key
//     under each purpose it answers (PurposeKey::TagFor, as the signal
//     store does), and asks Audit.FindSubjectEntries. Only tags leave the
//     node; the identifiers are never logged or sent.
//   ReconcileReceipts checks every receipt kept in the local log (records'
//     `receipts`, issued in the time range): its signature with the
//     gateway's keys, its entry (Audit.GetEntries: missing, or entry_hash
//     or record no longer hashing to it: changed), and, up to the latest
//     checkpoint (Audit.ListCheckpoints), that the chain links
//     (Audit.ListChainLinks) lead from entry 1 to the signed head through
//     the receipt's entry_hash.
// Both are recorded in the local log (AUDIT_QUERY, with the gateway's
// receipts) before the answer is given; a record that cannot be written
// withholds the answer (UNAVAILABLE).
//
// Thread safety: safe for concurrent calls (EnableAudit before serving).
// Ownership: borrows the log, the authenticator and the gateway client;
// they must outlive the service.
#ifndef SCHAKEL_NODES_LOCAL_LOG_SERVICE_H_
#define SCHAKEL_NODES_LOCAL_LOG_SERVICE_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "crypto/pseudonym.h"
#include "crypto/signing.h"
#include "nodes/gateway_client.h"
#include "nodes/local_auth.h"
#include "nodes/local_log.h"
#include "schakel/v1/audit.grpc.pb.h"
#include "schakel/v1/local.grpc.pb.h"

namespace schakel::nodes {

// Entries per ListLocalLogResponse.
inline constexpr size_t kLocalLogBatch = 1000;

class LocalLogService final : public v1::LocalLog::Service {
 public:
  LocalLogService(LocalLog* log, LocalAuthenticator* authenticator)
      : log_(log), authenticator_(authenticator) {}

  // What AuditSubject and ReconcileReceipts need.
  struct AuditOptions {
    // The gateway (not owned).
    GatewayClient* gateway = nullptr;
    // This node's organisation (the TagSets' org_id).
    std::string own_org_id;
    // The keys the gateway signs receipts and checkpoints with.
    std::vector<crypto::VerifyKey> gateway_keys;
    // This node's tag key per purpose it answers.
    std::map<std::string, crypto::PurposeKey> purpose_keys;
    // The clock (absl::Now when unset).
    std::function<absl::Time()> now;
  };
  // Call once, before the service is served.
  void EnableAudit(AuditOptions options);

  grpc::Status ListLocalLog(grpc::ServerContext* context, const v1::ListLocalLogRequest* request,
                            grpc::ServerWriter<v1::ListLocalLogResponse>* writer) override;
  grpc::Status AuditSubject(grpc::ServerContext* context, const v1::AuditSubjectRequest* request,
                            v1::AuditSubjectResponse* response) override;
  grpc::Status ReconcileReceipts(
      grpc::ServerContext* context, const v1::ReconcileReceiptsRequest* request,
      grpc::ServerWriter<v1::ReconcileReceiptsResponse>* writer) override;

 private:
  LocalLog* const log_;
  LocalAuthenticator* const authenticator_;
  AuditOptions audit_;
  std::unique_ptr<v1::Audit::Stub> audit_stub_;  // set by EnableAudit
};

}  // namespace schakel::nodes

#endif  // SCHAKEL_NODES_LOCAL_LOG_SERVICE_H_
