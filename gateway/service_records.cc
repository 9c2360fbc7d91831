#include "gateway/service_records.h"

#include <utility>

#include "common/strings.h"
#include "common/utf8.h"
#include "gateway/authoriser.h"
#include "gateway/directory.h"
#include "rpc/status.h"

namespace schakel::gateway {

std::string TruncateUtf8(std::string_view text, size_t max_chars) {
  size_t chars = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
      if (chars == max_chars) return std::string(text.substr(0, i));
      ++chars;
    }
  }
  return std::string(text);
}

v1::LogRecord NewLogRecord(v1::RecordKind kind, absl::Time now, const Policy* policy,
                           std::string_view purpose_id, std::string_view org_id,
                           const v1::Actor& actor) {
  v1::LogRecord r;
  r.set_kind(kind);
  SetMillis(r.mutable_recorded_at(), absl::ToUnixMillis(now));
  if (policy != nullptr) r.set_policy_version(policy->version());
  r.set_purpose_id(std::string(purpose_id));
  if (policy != nullptr && !purpose_id.empty()) {
    if (const Purpose* purpose = policy->Find(purpose_id); purpose != nullptr) {
      r.mutable_lawful_basis()->set_reference(purpose->lawful_basis.reference);
      r.mutable_lawful_basis()->set_text(purpose->lawful_basis.text);
    }
  }
  r.mutable_requester()->set_org_id(std::string(org_id));
  r.mutable_requester()->set_user_id(actor.user_id());
  r.mutable_requester()->set_role(actor.role());
  return r;
}

absl::Status LogRefusal(ExchangeLog& log, const ReceiptIssuer* receipts, v1::LogRecord record,
                        absl::Status error, v1::DenialReason reason,
                        std::vector<v1::FieldProblem> problems, std::string_view recipient_org_id) {
  record.set_outcome(v1::OUTCOME_REFUSED);
  record.add_denial_reasons(reason);
  record.set_detail(TruncateUtf8(std::string(error.message()), kMaxLogDetailChars));
  auto appended = log.Append(record);
  if (!appended.ok()) return appended.status();
  v1::ErrorDetail detail;
  detail.set_reason(reason);
  for (v1::FieldProblem& p : problems) *detail.add_problems() = std::move(p);
  if (receipts != nullptr && !recipient_org_id.empty()) {
    auto receipt = receipts->Issue(*appended, recipient_org_id, "");
    if (receipt.ok()) *detail.mutable_receipt() = *std::move(receipt);
  }
  return rpc::WithErrorDetail(std::move(error), detail);
}

absl::StatusOr<std::string> IdentifyCaller(const Directory& directory,
                                           const grpc::ServerContext& context, ExchangeLog& log,
                                           v1::LogRecord refusal) {
  auto org = directory.CallerOrg(context);
  if (org.ok()) return org;
  const std::string presented = PresentedIdentity(context);
  const v1::DenialReason reason = presented == "no client certificate"
                                      ? v1::DENIAL_REASON_UNAUTHENTICATED
                                      : v1::DENIAL_REASON_UNKNOWN_ORGANISATION;
  if (refusal.kind() == v1::RECORD_KIND_UNSPECIFIED) {
    v1::ErrorDetail detail;
    detail.set_reason(reason);
    return rpc::WithErrorDetail(org.status(), detail);
  }
  refusal.mutable_requester()->clear_org_id();
  refusal.set_peer_identity(presented);
  return LogRefusal(log, nullptr, std::move(refusal), org.status(), reason, {}, "");
}

v1::FieldProblem Problem(std::string field, std::string problem, std::string allowed) {
  v1::FieldProblem p;
  p.set_field(std::move(field));
  p.set_problem(std::move(problem));
  p.set_allowed(std::move(allowed));
  return p;
}

std::string ProblemsMessage(const std::vector<v1::FieldProblem>& problems) {
  if (problems.empty()) return "";
  const v1::FieldProblem& p = problems.front();
  std::string out = StrCat(p.field(), ": ", p.problem());
  if (!p.allowed().empty()) out += StrCat(" (", p.allowed(), ")");
  if (problems.size() > 1) {
    out += StrCat("; ", problems.size() - 1, " more problem", problems.size() > 2 ? "s" : "",
                  " in the error details");
  }
  return out;
}

}  // namespace schakel::gateway
