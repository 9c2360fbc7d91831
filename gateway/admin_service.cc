#include "gateway/admin_service.h"

#include <utility>
#include <vector>

#include "common/strings.h"
#include "crypto/hash.h"
#include "gateway/authoriser.h"
#include "gateway/checkpoints.h"
#include "gateway/directory.h"
#include "gateway/receipts.h"
#include "gateway/service_records.h"
#include "rpc/status.h"
#include "schakel/v1/errors.pb.h"
#include "schakel/v1/log.pb.h"

namespace schakel::gateway {
namespace {

std::string DigestBytes(const crypto::Blake2b256Digest& d) { return std::string(d.begin(), d.end()); }

// BLAKE2b-256 of the file as it is on disk (what a refused file is known
// by); empty when it cannot be read.
std::string FileHash(const std::filesystem::path& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return "";
  crypto::Blake2b256 hash;
  char buffer[65536];
  size_t n = 0;
  size_t total = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0 && total <= kMaxPolicyBytes) {
    hash.Update(std::string_view(buffer, n));
    total += n;
  }
  std::fclose(f);
  return DigestBytes(hash.Final());
}

v1::LogRecord PolicyRecordBase(absl::Time now, const Policy& in_force, const v1::Requester& by,
                               v1::Outcome outcome) {
  v1::LogRecord r;
  r.set_kind(v1::RECORD_KIND_POLICY_LOADED);
  SetMillis(r.mutable_recorded_at(), absl::ToUnixMillis(now));
  r.set_policy_version(in_force.version());
  *r.mutable_requester() = by;
  r.set_outcome(outcome);
  return r;
}

}  // namespace

// ------------------------------------------------------------ PolicyInForce

PolicyInForce::PolicyInForce(Policy initial, absl::Time loaded_at, ExchangeLog* log, Options options)
    : log_(log), options_(std::move(options)) {
  in_force_.store(std::make_shared<const InForce>(InForce{std::move(initial), loaded_at}));
}

std::shared_ptr<const Policy> PolicyInForce::current() const {
  std::shared_ptr<const InForce> in_force = in_force_.load();
  return std::shared_ptr<const Policy>(in_force, &in_force->policy);  // keeps the whole alive
}

absl::Time PolicyInForce::loaded_at() const { return in_force_.load()->loaded_at; }

absl::Status PolicyInForce::LogRefused(const v1::Requester& by, const std::string& file_hash,
                                       const std::vector<std::string>& problems,
                                       std::string_view detail) {
  const absl::Time now = options_.now ? options_.now() : absl::Now();
  const std::shared_ptr<const Policy> old = current();
  v1::LogRecord r = PolicyRecordBase(now, *old, by, v1::OUTCOME_REFUSED);
  v1::PolicyRecord& p = *r.mutable_policy();
  p.set_policy_hash(file_hash);
  p.set_previous_version(old->version());
  for (const std::string& problem : problems) p.add_problems(TruncateUtf8(problem, kMaxLogDetailChars));
  r.set_detail(TruncateUtf8(detail, kMaxLogDetailChars));
  auto appended = log_->Append(r);
  return appended.ok() ? absl::OkStatus() : appended.status();
}

absl::StatusOr<PolicyInForce::Reloaded> PolicyInForce::Reload(const v1::Requester& by, bool dry_run) {
  std::lock_guard lock(reload_mu_);
  auto note = [&](std::string_view line) {
    if (options_.log_line) options_.log_line(line);
  };
  const std::string file_name = options_.file.filename().string();
  std::vector<PolicyProblem> problems;
  absl::StatusOr<Policy> loaded = LoadPolicy(options_.file, &problems);
  if (!loaded.ok()) {
    const bool unreadable = problems.empty();
    absl::Status error =
        unreadable ? absl::FailedPreconditionError(StrCat("ReloadPolicy: ", loaded.status().message(),
                                                          "; the policy in force stays"))
                   : absl::InvalidArgumentError(StrCat("ReloadPolicy: ", loaded.status().message(),
                                                       "\nthe policy in force stays"));
    v1::ErrorDetail detail;
    detail.set_reason(v1::DENIAL_REASON_MALFORMED_REQUEST);
    std::vector<std::string> lines;
    for (const PolicyProblem& p : problems) {
      v1::FieldProblem& fp = *detail.add_problems();
      fp.set_field(p.path);
      fp.set_problem(p.problem);
      lines.push_back(p.ToString());
    }
    if (unreadable) lines.push_back(std::string(loaded.status().message()));
    if (!dry_run) {
      if (absl::Status logged = LogRefused(
              by, FileHash(options_.file), lines,
              StrCat("policy reload refused: ", file_name,
                     unreadable ? " cannot be read" : StrCat(" has ", problems.size(), " problem(s)"),
                     "; ", current()->version(), " stays in force"));
          !logged.ok()) {
        return logged;
      }
      note(StrCat("policy reload refused (", lines.size(), " problem(s)); ", current()->version(),
                  " stays in force"));
    }
    return rpc::WithErrorDetail(std::move(error), detail);
  }

  Reloaded out;
  const std::shared_ptr<const Policy> old = current();
  if (loaded->digest() == old->digest() || dry_run) {
    out.policy = old;
    return out;
  }
  const absl::Time now = absl::FromUnixMillis(absl::ToUnixMillis(options_.now ? options_.now() : absl::Now()));
  v1::LogRecord r = PolicyRecordBase(now, *loaded, by, v1::OUTCOME_GRANTED);
  v1::PolicyRecord& p = *r.mutable_policy();
  p.set_policy_version(loaded->version());
  p.set_policy_hash(DigestBytes(loaded->digest()));
  p.set_previous_version(old->version());
  r.set_detail(StrCat("policy reloaded from ", file_name, ", replacing ", old->version()));
  const std::string version = loaded->version();
  auto appended = log_->Append(r, [&](uint64_t, store::WriteBatch& batch) {
    batch.Put(kPolicyVersionKey, version);
  });
  if (!appended.ok()) {
    note(StrCat("policy reload of ", version, " not done: the log could not be written (",
                appended.status().message(), ")"));
    return absl::UnavailableError(StrCat("ReloadPolicy: the exchange log could not be written; ",
                                         old->version(), " stays in force"));
  }
  in_force_.store(std::make_shared<const InForce>(InForce{*std::move(loaded), now}));
  out.policy = current();
  out.changed = true;
  out.entry = *appended;
  if (options_.on_reloaded) options_.on_reloaded(out.policy);
  note(StrCat("policy ", version, " in force (was ", old->version(), ")"));
  return out;
}

// ------------------------------------------------------------- AdminService

AdminService::AdminService(PolicyInForce* policy, DirectoryInForce* directory, ExchangeLog* log,
                           const ReceiptIssuer* receipts, absl::TimeZone zone,
                           std::function<absl::Time()> now,
                           CheckpointStore* checkpoints)
    : policy_(policy),
      directory_(directory),
      log_(log),
      receipts_(receipts),
      zone_(zone),
      now_(now ? std::move(now) : std::function<absl::Time()>(absl::Now)),
      checkpoints_(checkpoints) {}

v1::PolicyInfo AdminService::Info(const Policy& policy) const {
  v1::PolicyInfo info = ToProto(policy, zone_);
  // loaded_at belongs to the version in force; a caller may hold an older
  // one only for the moment a reload takes.
  SetMillis(info.mutable_loaded_at(), absl::ToUnixMillis(policy_->loaded_at()));
  return info;
}

absl::StatusOr<v1::GetPolicyResponse> AdminService::GetPolicyFor(
    std::string_view caller_org, const v1::GetPolicyRequest& request) const {
  const std::shared_ptr<const Policy> policy = policy_->current();
  if (absl::Status allowed = CheckOperatorAdminOrAuditor(caller_org, request.actor().role(), *policy,
                                                         "GetPolicy", "read the policy");
      !allowed.ok()) {
    return allowed;
  }
  v1::GetPolicyResponse response;
  *response.mutable_policy() = Info(*policy);
  if (request.include_text()) response.set_policy_text(policy->text());
  return response;
}

absl::Status AdminService::CheckOperatorAdminOrAuditor(std::string_view caller_org, v1::Role role,
                                                       const Policy& policy, std::string_view method,
                                                       std::string_view what) {
  if (role == v1::ROLE_AUDITOR || (role == v1::ROLE_ADMIN && policy.IsOperator(caller_org))) {
    return absl::OkStatus();
  }
  v1::ErrorDetail detail;
  detail.set_reason(role == v1::ROLE_ADMIN ? v1::DENIAL_REASON_ORGANISATION_NOT_ALLOWED
                                           : v1::DENIAL_REASON_ROLE_NOT_ALLOWED);
  return rpc::WithErrorDetail(
      absl::PermissionDeniedError(
          role == v1::ROLE_ADMIN
              ? StrCat(method, ": the organisation is not an operator of the gateway (operator_org_ids)")
              : StrCat(method, ": role ", RoleName(role), " may not ", what, "; admin or auditor required")),
      detail);
}

absl::StatusOr<v1::CreateCheckpointResponse> AdminService::CreateCheckpointFor(
    std::string_view caller_org, const v1::CreateCheckpointRequest& request) {
  if (absl::Status allowed = CheckOperatorAdminOrAuditor(
          caller_org, request.actor().role(), *policy_->current(), "CreateCheckpoint",
          "ask for a checkpoint");
      !allowed.ok()) {
    return allowed;
  }
  if (checkpoints_ == nullptr) {
    return absl::FailedPreconditionError("CreateCheckpoint: this gateway signs no checkpoints");
  }
  auto checkpoint = checkpoints_->CheckpointNow();
  if (!checkpoint.ok()) return checkpoint.status();
  v1::CreateCheckpointResponse response;
  *response.mutable_checkpoint() = *std::move(checkpoint);
  return response;
}

v1::Requester AdminService::Requester(std::string_view caller_org, const v1::Actor& actor) {
  v1::Requester by;
  by.set_org_id(std::string(caller_org));
  by.set_user_id(actor.user_id());
  by.set_role(actor.role());
  return by;
}

v1::LogRecord AdminService::RefusalRecord(v1::RecordKind kind, const Policy& policy,
                                         const v1::Requester& by) const {
  v1::LogRecord r;
  r.set_kind(kind);
  SetMillis(r.mutable_recorded_at(), absl::ToUnixMillis(now_()));
  r.set_policy_version(policy.version());
  *r.mutable_requester() = by;
  return r;
}

absl::Status AdminService::CheckOperatorAdmin(std::string_view caller_org, const v1::Requester& by,
                                              const Policy& policy, v1::RecordKind kind,
                                              std::string_view method, std::string_view what) const {
  auto refuse = [&](v1::DenialReason reason, std::string message) {
    v1::LogRecord r = RefusalRecord(kind, policy, by);
    if (kind == v1::RECORD_KIND_POLICY_LOADED) r.mutable_policy()->set_previous_version(policy.version());
    return LogRefusal(*log_, receipts_, std::move(r), absl::PermissionDeniedError(std::move(message)),
                      reason, {}, caller_org);
  };
  if (by.role() != v1::ROLE_ADMIN) {
    return refuse(v1::DENIAL_REASON_ROLE_NOT_ALLOWED,
                  StrCat(method, ": role ", RoleName(by.role()), " may not ", what, "; admin required"));
  }
  if (!policy.IsOperator(caller_org)) {
    return refuse(v1::DENIAL_REASON_ORGANISATION_NOT_ALLOWED,
                  StrCat(method, ": the organisation is not an operator of the gateway (operator_org_ids)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::ReloadPolicyResponse> AdminService::ReloadPolicyFor(
    std::string_view caller_org, const v1::ReloadPolicyRequest& request) {
  const v1::Requester by = Requester(caller_org, request.actor());
  if (absl::Status allowed = CheckOperatorAdmin(caller_org, by, *policy_->current(), v1::RECORD_KIND_POLICY_LOADED,
                                                "ReloadPolicy", "reload the policy");
      !allowed.ok()) {
    return allowed;
  }
  auto reloaded = policy_->Reload(by, request.dry_run());
  if (!reloaded.ok()) return reloaded.status();
  v1::ReloadPolicyResponse response;
  *response.mutable_policy() = Info(*reloaded->policy);
  response.set_changed(reloaded->changed);
  if (reloaded->entry.has_value() && receipts_ != nullptr) {
    auto receipt = receipts_->Issue(*reloaded->entry, caller_org, "");
    if (!receipt.ok()) return receipt.status();
    *response.add_receipts() = *std::move(receipt);
  }
  return response;
}

absl::StatusOr<v1::ReloadDirectoryResponse> AdminService::ReloadDirectoryFor(
    std::string_view caller_org, const v1::ReloadDirectoryRequest& request) {
  const v1::Requester by = Requester(caller_org, request.actor());
  if (absl::Status allowed =
          CheckOperatorAdmin(caller_org, by, *policy_->current(), v1::RECORD_KIND_DIRECTORY_CHANGED,
                             "ReloadDirectory", "reload the directory");
      !allowed.ok()) {
    return allowed;
  }
  auto reloaded = directory_->Reload(by, request.dry_run());
  if (!reloaded.ok()) return reloaded.status();
  v1::ReloadDirectoryResponse response;
  response.set_directory_version(reloaded->directory->version());
  response.set_changed(reloaded->changed);
  for (const v1::DirectoryRecord& change : reloaded->changes) *response.add_changes() = change;
  if (receipts_ != nullptr) {
    for (const ExchangeLog::Appended& entry : reloaded->entries) {
      auto receipt = receipts_->Issue(entry, caller_org, "");
      if (!receipt.ok()) return receipt.status();
      *response.add_receipts() = *std::move(receipt);
    }
  }
  return response;
}

grpc::Status AdminService::GetPolicy(grpc::ServerContext* context, const v1::GetPolicyRequest* request,
                                     v1::GetPolicyResponse* response) {
  auto org = IdentifyCaller(*directory_->current(), *context, *log_, v1::LogRecord());
  return AnswerUnary(org, response, [&](const std::string& caller) { return GetPolicyFor(caller, *request); });
}

grpc::Status AdminService::ReloadPolicy(grpc::ServerContext* context,
                                        const v1::ReloadPolicyRequest* request,
                                        v1::ReloadPolicyResponse* response) {
  auto org = IdentifyCaller(*directory_->current(), *context, *log_,
                            RefusalRecord(v1::RECORD_KIND_POLICY_LOADED, *policy_->current(), Requester("", request->actor())));
  return AnswerUnary(org, response, [&](const std::string& caller) { return ReloadPolicyFor(caller, *request); });
}

grpc::Status AdminService::ReloadDirectory(grpc::ServerContext* context,
                                           const v1::ReloadDirectoryRequest* request,
                                           v1::ReloadDirectoryResponse* response) {
  auto org = IdentifyCaller(*directory_->current(), *context, *log_,
                            RefusalRecord(v1::RECORD_KIND_DIRECTORY_CHANGED, *policy_->current(), Requester("", request->actor())));
  return AnswerUnary(org, response,
                     [&](const std::string& caller) { return ReloadDirectoryFor(caller, *request); });
}

grpc::Status AdminService::CreateCheckpoint(grpc::ServerContext* context,
                                            const v1::CreateCheckpointRequest* request,
                                            v1::CreateCheckpointResponse* response) {
  auto org = IdentifyCaller(*directory_->current(), *context, *log_, v1::LogRecord());
  return AnswerUnary(org, response,
                     [&](const std::string& caller) { return CreateCheckpointFor(caller, *request); });
}

}  // namespace schakel::gateway
