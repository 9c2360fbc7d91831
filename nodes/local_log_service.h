// schakel.v1.LocalLog on the node's local listener (local.proto): the
// node's own log for its auditors.
//
// ListLocalLog needs ROLE_AUDITOR or ROLE_ADMIN; the query itself is
// logged first (AUDIT_QUERY; fail closed: no record, no answer). Entries
// are streamed ascending, up to 1000 per message.
// AuditSubject and ReconcileReceipts need ROLE_AUDITOR and are not
// implemented yet (UNIMPLEMENTED "in a later version").
//
// Thread safety: safe for concurrent calls. Ownership: borrows the log and
// the authenticator; they must outlive the service.
#ifndef SCHAKEL_NODES_LOCAL_LOG_SERVICE_H_
#define SCHAKEL_NODES_LOCAL_LOG_SERVICE_H_

#include "nodes/local_auth.h"
#include "nodes/local_log.h"
#include "schakel/v1/local.grpc.pb.h"

namespace schakel::nodes {

// Entries per ListLocalLogResponse.
inline constexpr size_t kLocalLogBatch = 1000;

class LocalLogService final : public v1::LocalLog::Service {
 public:
  LocalLogService(LocalLog* log, LocalAuthenticator* authenticator)
      : log_(log), authenticator_(authenticator) {}

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
};

}  // namespace schakel::nodes

#endif  // SCHAKEL_NODES_LOCAL_LOG_SERVICE_H_
