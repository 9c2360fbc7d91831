// The policy in force and schakel.v1.GatewayAdmin (admin.proto).
//
// PolicyInForce holds the policy every part of the gateway reads (the
// Gateway, Cases and Audit services through their `current_policy`, and
// through them the quotas and the log records): one immutable Policy behind
// a shared_ptr that a reload swaps atomically. A call takes the pointer once
// and keeps it, so an exchange in flight finishes under the version it
// started with while the next call sees the new one.
//
// Reload (ReloadPolicy, SIGHUP in schakel-gateway) re-reads the configured
// file and:
//   - cannot be read: FAILED_PRECONDITION, refusal logged, nothing changes;
//   - has errors: INVALID_ARGUMENT with ErrorDetail.problems naming each
//     (field = its JSON path), refusal logged (POLICY_LOADED, outcome
//     REFUSED, PolicyRecord.problems), the previous version stays;
//   - means the same (same digest): nothing happens (changed = false);
//   - else: POLICY_LOADED is appended (synced, with the version key the
//     next start compares against) and only then the new version is put in
//     force: a policy no log entry names is never used. When the log cannot
//     be written: UNAVAILABLE and the previous version stays.
// A dry run only checks the file and logs nothing. Reloads are serialised.
//
// AdminService: every rpc needs a client certificate of an organisation in
// the directory (else UNAUTHENTICATED). GetPolicy: an admin of an operator
// organisation (PolicyInfo.operator_org_ids) or an auditor of any; not
// logged. ReloadPolicy: an admin of an operator organisation; a refusal is
// logged with its reason (ROLE_NOT_ALLOWED, ORGANISATION_NOT_ALLOWED) and
// receipt. ReloadDirectory: the same authorisation and refusals (logged as
// DIRECTORY_CHANGED); the reload itself is DirectoryInForce's
// (directory_in_force.h); its response lists the changes with one receipt
// per DIRECTORY_CHANGED entry. The directory has no rpcs to edit it: the
// operator edits the file (`schakel partners`) and reloads.
// CreateCheckpoint: as GetPolicy (an admin of an operator organisation, or
// an auditor of any: an auditor may want a fresh signed head before a
// verification); not logged, as it discloses nothing and changes no entry.
// It signs the current head (checkpoints.h, CheckpointNow) besides the
// periodic checkpoints.
//
// Thread safety: all methods may be called concurrently.
#ifndef SCHAKEL_GATEWAY_ADMIN_SERVICE_H_
#define SCHAKEL_GATEWAY_ADMIN_SERVICE_H_

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/directory_in_force.h"
#include "gateway/exchange_log.h"
#include "gateway/policy.h"
#include "schakel/v1/admin.grpc.pb.h"
#include "schakel/v1/common.pb.h"

namespace schakel::gateway {

class CheckpointStore;
class ReceiptIssuer;

// Store key of the version last recorded in the log (POLICY_LOADED): a
// start compares the file's version with it.
inline constexpr char kPolicyVersionKey[] = "policy/v";

class PolicyInForce {
 public:
  struct Options {
    // The policy file a reload reads.
    std::filesystem::path file;
    // The clock (whole milliseconds are recorded).
    std::function<absl::Time()> now = absl::Now;
    // One line per reload and refusal; may be empty.
    std::function<void(std::string_view)> log_line;
    // Called with each policy put in force by a reload (the audit service
    // keeps its text for exports); may be empty.
    std::function<void(const std::shared_ptr<const Policy>&)> on_reloaded;
  };

  // `log` is not owned and must outlive this object. `initial` was loaded
  // at `loaded_at` (its POLICY_LOADED entry is the start's business).
  PolicyInForce(Policy initial, absl::Time loaded_at, ExchangeLog* log, Options options);

  // The policy in force; never null.
  std::shared_ptr<const Policy> current() const;
  // When the version in force was put in force.
  absl::Time loaded_at() const;

  struct Reloaded {
    std::shared_ptr<const Policy> policy;  // in force after the call
    bool changed = false;
    std::optional<ExchangeLog::Appended> entry;  // POLICY_LOADED, when changed
  };
  // See the top of this file. `by` is who asked (the gateway itself for
  // SIGHUP); it goes into the log record.
  absl::StatusOr<Reloaded> Reload(const v1::Requester& by, bool dry_run);

 private:
  struct InForce {
    Policy policy;
    absl::Time loaded_at;
  };
  absl::Status LogRefused(const v1::Requester& by, const std::string& file_hash,
                          const std::vector<std::string>& problems, std::string_view detail);

  ExchangeLog* const log_;
  const Options options_;
  std::mutex reload_mu_;  // one reload at a time
  std::atomic<std::shared_ptr<const InForce>> in_force_;
};

class AdminService final : public v1::GatewayAdmin::Service {
 public:
  // None of the pointers is owned; all must outlive the service.
  // `directory` is the directory in force (callers are identified with it;
  // ReloadDirectory reloads it). `receipts` signs the receipts of logged
  // entries; `zone` is the zone of the policy's dates.
  // `checkpoints` signs CreateCheckpoint's checkpoints; null: that rpc
  // answers FAILED_PRECONDITION.
  AdminService(PolicyInForce* policy, DirectoryInForce* directory, ExchangeLog* log,
               const ReceiptIssuer* receipts, absl::TimeZone zone, std::function<absl::Time()> now,
               CheckpointStore* checkpoints = nullptr);

  // The work for a caller whose organisation is known (tests call these).
  absl::StatusOr<v1::GetPolicyResponse> GetPolicyFor(std::string_view caller_org,
                                                     const v1::GetPolicyRequest& request) const;
  absl::StatusOr<v1::ReloadPolicyResponse> ReloadPolicyFor(std::string_view caller_org,
                                                           const v1::ReloadPolicyRequest& request);
  absl::StatusOr<v1::ReloadDirectoryResponse> ReloadDirectoryFor(std::string_view caller_org,
                                                                 const v1::ReloadDirectoryRequest& request);
  absl::StatusOr<v1::CreateCheckpointResponse> CreateCheckpointFor(
      std::string_view caller_org, const v1::CreateCheckpointRequest& request);

  grpc::Status GetPolicy(grpc::ServerContext* context, const v1::GetPolicyRequest* request,
                         v1::GetPolicyResponse* response) override;
  grpc::Status ReloadPolicy(grpc::ServerContext* context, const v1::ReloadPolicyRequest* request,
                            v1::ReloadPolicyResponse* response) override;
  grpc::Status ReloadDirectory(grpc::ServerContext* context, const v1::ReloadDirectoryRequest* request,
                               v1::ReloadDirectoryResponse* response) override;
  grpc::Status CreateCheckpoint(grpc::ServerContext* context,
                                const v1::CreateCheckpointRequest* request,
                                v1::CreateCheckpointResponse* response) override;

 private:
  v1::PolicyInfo Info(const Policy& policy) const;
  static v1::Requester Requester(std::string_view caller_org, const v1::Actor& actor);
  // A record of `kind` by `by`, now, under `policy`: what a refusal logs.
  v1::LogRecord RefusalRecord(v1::RecordKind kind, const Policy& policy, const v1::Requester& by) const;
  // OK for an admin of an operator organisation or an auditor of any;
  // otherwise PERMISSION_DENIED "<method>: ..." with its denial reason (not
  // logged).
  static absl::Status CheckOperatorAdminOrAuditor(std::string_view caller_org, v1::Role role,
                                                  const Policy& policy, std::string_view method,
                                                  std::string_view what);
  // OK for an admin of an operator organisation; otherwise the refusal,
  // logged as a `kind` record by `by` (PERMISSION_DENIED "<method>: ...",
  // ROLE_NOT_ALLOWED or ORGANISATION_NOT_ALLOWED, with its receipt).
  absl::Status CheckOperatorAdmin(std::string_view caller_org, const v1::Requester& by,
                                  const Policy& policy, v1::RecordKind kind, std::string_view method,
                                  std::string_view what) const;

  PolicyInForce* const policy_;
  DirectoryInForce* const directory_;
  ExchangeLog* const log_;
  const ReceiptIssuer* const receipts_;
  const absl::TimeZone zone_;
  const std::function<absl::Time()> now_;
  CheckpointStore* const checkpoints_;
};

}  // namespace schakel::gateway

#endif  // SCHAKEL_GATEWAY_ADMIN_SERVICE_H_
