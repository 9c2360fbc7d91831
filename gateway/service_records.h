// What the Cases and Audit services share when they log an event: the
// common fields of a LogRecord, and a refusal that is logged first and then
// returned with its ErrorDetail (reason, field problems, receipt).
//
// Thread safety: free functions; reentrant.
#ifndef SCHAKEL_GATEWAY_SERVICE_RECORDS_H_
#define SCHAKEL_GATEWAY_SERVICE_RECORDS_H_

#include <string>
#include <string_view>
#include <vector>

#include <grpcpp/server_context.h>
#include <grpcpp/support/sync_stream.h>

#include <functional>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/exchange_log.h"
#include "gateway/policy.h"
#include "gateway/receipts.h"
#include "rpc/status.h"
#include "schakel/v1/common.pb.h"
#include "schakel/v1/errors.pb.h"
#include "schakel/v1/log.pb.h"

namespace schakel::gateway {

class Directory;

// LogRecord.detail holds at most this many characters.
inline constexpr size_t kMaxLogDetailChars = 2000;

// Utf8Chars (characters in a text) is in common/utf8.h.

// `text` cut to at most `max_chars` characters, on a character boundary.
std::string TruncateUtf8(std::string_view text, size_t max_chars);

// A record of `kind` recorded at `now` (whole milliseconds) under `policy`
// (null: no policy version), by `org_id` as `actor`; with purpose_id and,
// when the purpose is in the policy, its lawful basis as in force.
v1::LogRecord NewLogRecord(v1::RecordKind kind, absl::Time now, const Policy* policy,
                           std::string_view purpose_id, std::string_view org_id,
                           const v1::Actor& actor);

// Logs `record` as a refusal (outcome REFUSED, `reason`, `error`'s message
// as detail) and returns `error` with an ErrorDetail carrying `reason`,
// `problems` and, when `receipts` is given and `recipient_org_id` is not
// empty, the receipt of the entry. When the log cannot be written, returns
// the log's error instead (UNAVAILABLE: nothing was done).
absl::Status LogRefusal(ExchangeLog& log, const ReceiptIssuer* receipts, v1::LogRecord record,
                        absl::Status error, v1::DenialReason reason,
                        std::vector<v1::FieldProblem> problems, std::string_view recipient_org_id);

// The calling organisation (Directory::CallerOrg). When the certificate
// names none and `refusal` has a kind, the refusal is logged first (no
// org, peer_identity: what was presented; reason UNAUTHENTICATED without a
// certificate, UNKNOWN_ORGANISATION otherwise); a `refusal` of
// RECORD_KIND_UNSPECIFIED (reads) is not logged. The error carries an
// ErrorDetail with the reason; no receipt (there is no one to issue it to).
absl::StatusOr<std::string> IdentifyCaller(const Directory& directory,
                                           const grpc::ServerContext& context, ExchangeLog& log,
                                           v1::LogRecord refusal);

// The gRPC edge of a unary rpc: the refusal when `caller` is not OK, else
// what `work(org)` returns.
template <typename Response, typename Work>
grpc::Status AnswerUnary(const absl::StatusOr<std::string>& caller, Response* response, Work work) {
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  auto result = work(*caller);
  if (!result.ok()) return rpc::ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

// The same for a server-streaming rpc: `work(org, send)` writes through
// `send`, which returns false when the client has gone.
template <typename Message, typename Work>
grpc::Status AnswerStream(const absl::StatusOr<std::string>& caller,
                          grpc::ServerWriter<Message>* writer, Work work) {
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  const std::function<bool(const Message&)> send = [writer](const Message& m) {
    return writer->Write(m);
  };
  return rpc::ToGrpcStatus(work(*caller, send));
}

// A FieldProblem.
v1::FieldProblem Problem(std::string field, std::string problem, std::string allowed);

// "<field>: <problem> (<allowed>)" for the first problem, and "; N more
// problem(s) in the error details" when there are more.
std::string ProblemsMessage(const std::vector<v1::FieldProblem>& problems);

}  // namespace schakel::gateway

#endif  // SCHAKEL_GATEWAY_SERVICE_RECORDS_H_
