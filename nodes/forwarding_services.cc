#include "nodes/forwarding_services.h"

#include <grpcpp/client_context.h>

#include <array>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "common/strings.h"
#include "rpc/deadline.h"
#include "rpc/status.h"

namespace schakel::nodes {
namespace {

constexpr std::array<v1::Role, 1> kDirector = {v1::ROLE_DIRECTOR};
constexpr std::array<v1::Role, 3> kCaseReaders = {v1::ROLE_ANALYST, v1::ROLE_DIRECTOR,
                                                  v1::ROLE_AUDITOR};
constexpr std::array<v1::Role, 1> kAuditor = {v1::ROLE_AUDITOR};

// What a forwarded call leaves in the node's own log.
enum class Recording { kNone, kCaseChanged, kAuditQuery };

// The shared steps of every forwarded call; `Stub` is v1::Cases::Stub or
// v1::Audit::Stub.
class Forwarder {
 public:
  Forwarder(GatewayClient* gateway, LocalAuthenticator* authenticator, LocalLog* log)
      : gateway_(gateway), authenticator_(authenticator), log_(log) {}

  template <typename Stub, typename Request, typename Response>
  grpc::Status Unary(grpc::ServerContext* context, const Request& request, Response* response,
                     std::span<const v1::Role> roles, Recording recording, std::string_view method,
                     Stub& stub,
                     grpc::Status (Stub::*rpc)(grpc::ClientContext*, const Request&, Response*)) {
    auto caller = authenticator_->Authenticate(*context, roles);
    if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
    const Request forwarded = WithActor(request, *caller);
    std::unique_ptr<grpc::ClientContext> client = grpc::ClientContext::FromServerContext(*context);
    rpc::SetDeadline(*client, gateway_->options().call_timeout);
    Response answer;
    const absl::Status status =
        GatewayClient::FromGateway((stub.*rpc)(client.get(), forwarded, &answer), method);
    if (recording != Recording::kNone) {
      v1::LocalLogRecord record = Describe(recording, method, *caller, forwarded, status);
      AddReceipts(answer, record);
      if (absl::Status logged = Append(std::move(record)); !logged.ok() && status.ok()) {
        return rpc::ToGrpcStatus(Withheld(recording, method, answer, logged));
      }
    }
    if (!status.ok()) return rpc::ToGrpcStatus(status);
    *response = std::move(answer);
    return grpc::Status::OK;
  }

  template <typename Stub, typename Request, typename Response>
  grpc::Status Stream(grpc::ServerContext* context, const Request& request,
                      grpc::ServerWriter<Response>* writer, std::string_view method, Stub& stub,
                      std::unique_ptr<grpc::ClientReader<Response>> (Stub::*rpc)(
                          grpc::ClientContext*, const Request&)) {
    auto caller = authenticator_->Authenticate(*context, kAuditor);
    if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
    const Request forwarded = WithActor(request, *caller);
    std::unique_ptr<grpc::ClientContext> client = grpc::ClientContext::FromServerContext(*context);
    rpc::SetDeadline(*client, gateway_->options().stream_timeout);
    std::unique_ptr<grpc::ClientReader<Response>> reader = (stub.*rpc)(client.get(), forwarded);
    Response message;
    if (!reader->Read(&message)) {  // an error, or an empty stream
      const absl::Status status = GatewayClient::FromGateway(reader->Finish(), method);
      v1::LocalLogRecord record =
          Describe(Recording::kAuditQuery, method, *caller, forwarded, status);
      if (absl::Status logged = Append(std::move(record)); !logged.ok() && status.ok()) {
        return rpc::ToGrpcStatus(Withheld(Recording::kAuditQuery, method, message, logged));
      }
      return rpc::ToGrpcStatus(status);
    }
    // The first message carries the receipt; nothing is relayed before the
    // query is recorded.
    v1::LocalLogRecord record =
        Describe(Recording::kAuditQuery, method, *caller, forwarded, absl::OkStatus());
    AddReceipts(message, record);
    if (absl::Status logged = Append(std::move(record)); !logged.ok()) {
      client->TryCancel();
      (void)reader->Finish();
      return rpc::ToGrpcStatus(Withheld(Recording::kAuditQuery, method, message, logged));
    }
    do {
      if (!writer->Write(message)) {  // the local caller went away
        client->TryCancel();
        break;
      }
    } while (reader->Read(&message));
    return rpc::ToGrpcStatus(GatewayClient::FromGateway(reader->Finish(), method));
  }

 private:
  template <typename Request>
  static Request WithActor(const Request& request, const LocalCaller& caller) {
    Request forwarded = request;
    forwarded.mutable_actor()->set_user_id(caller.user_id);
    forwarded.mutable_actor()->set_role(caller.role);
    return forwarded;
  }

  template <typename Request>
  static v1::LocalLogRecord Describe(Recording recording, std::string_view method,
                                     const LocalCaller& caller, const Request& request,
                                     const absl::Status& status) {
    v1::LocalLogRecord record;
    record.set_kind(recording == Recording::kCaseChanged ? v1::LOCAL_EVENT_KIND_CASE_CHANGED
                                                         : v1::LOCAL_EVENT_KIND_AUDIT_QUERY);
    record.set_user_id(caller.user_id);
    record.set_role(caller.role);
    if constexpr (requires { request.purpose_id(); }) record.set_purpose_id(request.purpose_id());
    if constexpr (requires { request.case_id(); }) record.set_case_id(request.case_id());
    if (status.ok()) {
      record.set_outcome(v1::OUTCOME_GRANTED);
      record.set_detail(std::string(method));
      return record;
    }
    record.set_outcome(absl::IsUnavailable(status) || absl::IsInternal(status) ||
                               absl::IsUnknown(status) || absl::IsDeadlineExceeded(status)
                           ? v1::OUTCOME_FAILED
                           : v1::OUTCOME_REFUSED);
    if (auto detail = rpc::ErrorDetailOf(status); detail.has_value()) {
      if (detail->reason() != v1::DENIAL_REASON_UNSPECIFIED) {
        record.add_denial_reasons(detail->reason());
      }
      if (detail->has_receipt()) *record.add_receipts() = detail->receipt();
    }
    // The gateway's messages name fields and reasons, never identifiers
    // (and case texts carry none by contract); cut to the record's limit.
    std::string detail =
        StrCat(method, ": ", absl::StatusCodeToString(status.code()), ": ", status.message());
    if (detail.size() > 1000) {
      detail.resize(1000);
      while (!detail.empty() && (static_cast<uint8_t>(detail.back()) & 0x80) != 0) {
        detail.pop_back();
      }
    }
    record.set_detail(detail);
    return record;
  }

  template <typename Response>
  static void AddReceipts(const Response& response, v1::LocalLogRecord& record) {
    if constexpr (requires { response.receipts(); }) {
      for (const v1::Receipt& r : response.receipts()) *record.add_receipts() = r;
    } else if constexpr (requires { response.receipt(); }) {
      if (response.has_receipt()) *record.add_receipts() = response.receipt();
    }
    if constexpr (requires { response.case_info(); }) {
      if (response.has_case_info()) {
        record.set_case_id(response.case_info().case_id());
        record.set_purpose_id(response.case_info().purpose_id());
      }
    }
  }

  template <typename Response>
  static absl::Status Withheld(Recording recording, std::string_view method,
                               const Response& response, const absl::Status& logged) {
    if (recording == Recording::kCaseChanged) {
      std::string case_id;
      if constexpr (requires { response.case_info(); }) case_id = response.case_info().case_id();
      return absl::UnavailableError(
          StrCat(method, " was done at the gateway", case_id.empty() ? "" : " (case ", case_id,
                 case_id.empty() ? "" : ")",
                 " and stands there, but this node's log could not record it: ",
                 logged.message()));
    }
    return absl::UnavailableError(StrCat(method,
                                         ": this node's log could not record the audit query, so "
                                         "its result is withheld: ",
                                         logged.message()));
  }

  absl::Status Append(v1::LocalLogRecord record) { return log_->Append(std::move(record)).status(); }

  GatewayClient* const gateway_;
  LocalAuthenticator* const authenticator_;
  LocalLog* const log_;
};

}  // namespace

ForwardingCasesService::ForwardingCasesService(GatewayClient* gateway,
                                               LocalAuthenticator* authenticator, LocalLog* log)
    : gateway_(gateway), authenticator_(authenticator), log_(log),
      stub_(v1::Cases::NewStub(gateway->channel())) {}

grpc::Status ForwardingCasesService::OpenCase(grpc::ServerContext* context,
                                              const v1::OpenCaseRequest* request,
                                              v1::OpenCaseResponse* response) {
  return Forwarder(gateway_, authenticator_, log_)
      .Unary(context, *request, response, kDirector, Recording::kCaseChanged, "Cases.OpenCase",
             *stub_, &v1::Cases::Stub::OpenCase);
}

grpc::Status ForwardingCasesService::UpdateCase(grpc::ServerContext* context,
                                                const v1::UpdateCaseRequest* request,
                                                v1::UpdateCaseResponse* response) {
  return Forwarder(gateway_, authenticator_, log_)
      .Unary(context, *request, response, kDirector, Recording::kCaseChanged, "Cases.UpdateCase",
             *stub_, &v1::Cases::Stub::UpdateCase);
}

grpc::Status ForwardingCasesService::CloseCase(grpc::ServerContext* context,
                                               const v1::CloseCaseRequest* request,
                                               v1::CloseCaseResponse* response) {
  return Forwarder(gateway_, authenticator_, log_)
      .Unary(context, *request, response, kDirector, Recording::kCaseChanged, "Cases.CloseCase",
             *stub_, &v1::Cases::Stub::CloseCase);
}

grpc::Status ForwardingCasesService::GetCase(grpc::ServerContext* context,
                                             const v1::GetCaseRequest* request,
                                             v1::GetCaseResponse* response) {
  return Forwarder(gateway_, authenticator_, log_)
      .Unary(context, *request, response, kCaseReaders, Recording::kNone, "Cases.GetCase", *stub_,
             &v1::Cases::Stub::GetCase);
}

grpc::Status ForwardingCasesService::ListCases(grpc::ServerContext* context,
                                               const v1::ListCasesRequest* request,
                                               v1::ListCasesResponse* response) {
  return Forwarder(gateway_, authenticator_, log_)
      .Unary(context, *request, response, kCaseReaders, Recording::kNone, "Cases.ListCases",
             *stub_, &v1::Cases::Stub::ListCases);
}

ForwardingAuditService::ForwardingAuditService(GatewayClient* gateway,
                                               LocalAuthenticator* authenticator, LocalLog* log)
    : gateway_(gateway), authenticator_(authenticator), log_(log),
      stub_(v1::Audit::NewStub(gateway->channel())) {}

grpc::Status ForwardingAuditService::ListEntries(
    grpc::ServerContext* context, const v1::ListEntriesRequest* request,
    grpc::ServerWriter<v1::ListEntriesResponse>* writer) {
  return Forwarder(gateway_, authenticator_, log_)
      .Stream(context, *request, writer, "Audit.ListEntries", *stub_,
              &v1::Audit::Stub::ListEntries);
}

grpc::Status ForwardingAuditService::GetEntries(grpc::ServerContext* context,
                                                const v1::GetEntriesRequest* request,
                                                v1::GetEntriesResponse* response) {
  return Forwarder(gateway_, authenticator_, log_)
      .Unary(context, *request, response, kAuditor, Recording::kAuditQuery, "Audit.GetEntries",
             *stub_, &v1::Audit::Stub::GetEntries);
}

grpc::Status ForwardingAuditService::FindSubjectEntries(
    grpc::ServerContext* context, const v1::FindSubjectEntriesRequest* request,
    v1::FindSubjectEntriesResponse* response) {
  return Forwarder(gateway_, authenticator_, log_)
      .Unary(context, *request, response, kAuditor, Recording::kAuditQuery,
             "Audit.FindSubjectEntries", *stub_, &v1::Audit::Stub::FindSubjectEntries);
}

grpc::Status ForwardingAuditService::GetStats(grpc::ServerContext* context,
                                              const v1::GetStatsRequest* request,
                                              v1::GetStatsResponse* response) {
  return Forwarder(gateway_, authenticator_, log_)
      .Unary(context, *request, response, kAuditor, Recording::kAuditQuery, "Audit.GetStats",
             *stub_, &v1::Audit::Stub::GetStats);
}

grpc::Status ForwardingAuditService::VerifyChain(
    grpc::ServerContext* context, const v1::VerifyChainRequest* request,
    grpc::ServerWriter<v1::VerifyChainResponse>* writer) {
  return Forwarder(gateway_, authenticator_, log_)
      .Stream(context, *request, writer, "Audit.VerifyChain", *stub_,
              &v1::Audit::Stub::VerifyChain);
}

grpc::Status ForwardingAuditService::ListChainLinks(
    grpc::ServerContext* context, const v1::ListChainLinksRequest* request,
    grpc::ServerWriter<v1::ListChainLinksResponse>* writer) {
  return Forwarder(gateway_, authenticator_, log_)
      .Stream(context, *request, writer, "Audit.ListChainLinks", *stub_,
              &v1::Audit::Stub::ListChainLinks);
}

grpc::Status ForwardingAuditService::ListCheckpoints(grpc::ServerContext* context,
                                                     const v1::ListCheckpointsRequest* request,
                                                     v1::ListCheckpointsResponse* response) {
  return Forwarder(gateway_, authenticator_, log_)
      .Unary(context, *request, response, kAuditor, Recording::kAuditQuery,
             "Audit.ListCheckpoints", *stub_, &v1::Audit::Stub::ListCheckpoints);
}

grpc::Status ForwardingAuditService::Export(grpc::ServerContext* context,
                                            const v1::ExportRequest* request,
                                            grpc::ServerWriter<v1::ExportResponse>* writer) {
  return Forwarder(gateway_, authenticator_, log_)
      .Stream(context, *request, writer, "Audit.Export", *stub_, &v1::Audit::Stub::Export);
}

}  // namespace schakel::nodes
