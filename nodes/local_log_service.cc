#include "nodes/local_log_service.h"

#include <array>

#include "common/strings.h"
#include "rpc/status.h"

namespace schakel::nodes {
namespace {

constexpr std::array<v1::Role, 2> kListRoles = {v1::ROLE_AUDITOR, v1::ROLE_ADMIN};
constexpr std::array<v1::Role, 1> kAuditorRoles = {v1::ROLE_AUDITOR};

int64_t Millis(const google::protobuf::Timestamp& ts) {
  return ts.seconds() * 1000 + ts.nanos() / 1'000'000;
}

absl::Status Problem(std::string field, std::string problem) {
  v1::ErrorDetail detail;
  v1::FieldProblem* p = detail.add_problems();
  p->set_field(field);
  p->set_problem(problem);
  return rpc::WithErrorDetail(absl::InvalidArgumentError(StrCat(field, ": ", problem)), detail);
}

}  // namespace

grpc::Status LocalLogService::ListLocalLog(grpc::ServerContext* context,
                                           const v1::ListLocalLogRequest* request,
                                           grpc::ServerWriter<v1::ListLocalLogResponse>* writer) {
  auto caller = authenticator_->Authenticate(*context, kListRoles);
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  LocalLogFilter filter;
  if (request->time().has_from()) filter.from_ms = Millis(request->time().from());
  if (request->time().has_to()) filter.to_ms = Millis(request->time().to());
  if (filter.from_ms && filter.to_ms && *filter.from_ms > *filter.to_ms) {
    return rpc::ToGrpcStatus(Problem("time", "from is after to (an inverted range)"));
  }
  for (int i = 0; i < request->kinds_size(); ++i) {
    if (!v1::LocalEventKind_IsValid(request->kinds(i)) ||
        request->kinds(i) == v1::LOCAL_EVENT_KIND_UNSPECIFIED) {
      return rpc::ToGrpcStatus(Problem(StrCat("kinds[", i, "]"), "not an event kind"));
    }
    filter.kinds.push_back(request->kinds(i));
  }
  if (!request->exchange_id().empty() && request->exchange_id().size() != 16) {
    return rpc::ToGrpcStatus(
        Problem("exchange_id", StrCat(request->exchange_id().size(), " bytes; exactly 16")));
  }
  filter.from_sequence = std::max<uint64_t>(request->from_sequence(), 1);
  filter.user_id = request->user_id();
  filter.purpose_id = request->purpose_id();
  filter.exchange_id = request->exchange_id();
  filter.limit = request->limit();

  // The query is recorded before anything is read (fail closed).
  v1::LocalLogRecord record;
  record.set_kind(v1::LOCAL_EVENT_KIND_AUDIT_QUERY);
  record.set_user_id(caller->user_id);
  record.set_role(caller->role);
  record.set_purpose_id(request->purpose_id());
  record.set_exchange_id(request->exchange_id());
  record.set_outcome(v1::OUTCOME_GRANTED);
  record.set_detail(
      StrCat("ListLocalLog from sequence ", filter.from_sequence,
             request->user_id().empty() ? "" : StrCat(", user ", request->user_id()),
             filter.kinds.empty() ? "" : StrCat(", ", filter.kinds.size(), " kind(s)"),
             filter.limit == 0 ? "" : StrCat(", limit ", filter.limit)));
  if (auto logged = log_->Append(std::move(record)); !logged.ok()) {
    return rpc::ToGrpcStatus(absl::UnavailableError(
        StrCat("the node cannot record the query in its log: ", logged.status().message())));
  }

  bool cancelled = false;
  absl::Status scanned =
      log_->Scan(filter, kLocalLogBatch, [&](std::vector<v1::LocalLogEntry>& entries) {
        v1::ListLocalLogResponse response;
        for (v1::LocalLogEntry& e : entries) *response.add_entries() = std::move(e);
        if (!writer->Write(response)) {
          cancelled = true;
          return false;
        }
        return true;
      });
  if (cancelled) return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
  return rpc::ToGrpcStatus(scanned);
}

grpc::Status LocalLogService::AuditSubject(grpc::ServerContext* context,
                                           const v1::AuditSubjectRequest* /*request*/,
                                           v1::AuditSubjectResponse* /*response*/) {
  auto caller = authenticator_->Authenticate(*context, kAuditorRoles);
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                      "LocalLog.AuditSubject is not implemented in this version of schakel-node; "
                      "it comes in a later version");
}

grpc::Status LocalLogService::ReconcileReceipts(
    grpc::ServerContext* context, const v1::ReconcileReceiptsRequest* /*request*/,
    grpc::ServerWriter<v1::ReconcileReceiptsResponse>* /*writer*/) {
  auto caller = authenticator_->Authenticate(*context, kAuditorRoles);
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                      "LocalLog.ReconcileReceipts is not implemented in this version of "
                      "schakel-node; it comes in a later version");
}

}  // namespace schakel::nodes
