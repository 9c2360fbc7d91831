// The answering node's side of a disclosure (protocol.md, flow 3;
// node.proto Node.Disclose; local.proto Approvals), without the network.
//
// Disclose(request):
//   1. shape (INVALID_ARGUMENT, MALFORMED_REQUEST): an order with a 16-byte
//      disclosure id equal to the authorisation's, at least one target,
//      16-byte tags, at least one field, a 32-byte usable X25519 box key;
//   2. the gateway's DISCLOSE authorisation (nodes/authorisation_check.h)
//      against D("schakel:v1:disclosure-order", order): signature,
//      addressee, digest (PERMISSION_DENIED, AUTHORISATION_INVALID), expiry
//      (FAILED_PRECONDITION, AUTHORISATION_EXPIRED), purpose answered
//      (PERMISSION_DENIED, NODE_POLICY), nonce (ALREADY_EXISTS,
//      AUTHORISATION_REPLAYED);
//   3. idempotent by disclosure id: an order already received with the
//      same digest is answered with where it stands now (also when the
//      retry reuses the nonce); another order under the same id is
//      ALREADY_EXISTS;
//   4. decide_by already passed: FAILED_PRECONDITION;
//   5. requester_box_key must be one of the requester's currently valid
//      box keys in the node's own copy of the directory
//      (GatewayClient::Directory, not refreshed for this check), so the
//      gateway cannot swap in a key of its own: PERMISSION_DENIED
//      (AUTHORISATION_INVALID); UNAVAILABLE when the node has no copy;
//   6. the tags resolve to the node's own signals
//      (SignalStore::SignalsWithTag under the purpose);
//   7. the local policy: the first disclosure rule for the purpose and
//      requester decides (LocalPolicy::FindDisclosureRule). None, a
//      requester the purpose refuses, or no asked field the rule allows:
//      DENIED_BY_POLICY, a signed statement without a box. A mandate:
//      APPROVED_BY_MANDATE, the payload sealed to the requester's key and
//      the statement signed at once (DELIVERED). Otherwise the order is
//      queued for an approver (PENDING_APPROVAL).
// A refusal by local policy is not an error: it is a signed denial.
//
// The payload (DisclosedContent) holds only the fields asked AND allowed
// (an approver may narrow them further), only signals of the categories
// asked AND allowed, and never the subject's identifiers. It exists in
// clear only in memory while it is sealed (crypto_box_seal) and is wiped
// afterwards. The statement is signed with the node's Ed25519 key as
// SM("schakel:v1:disclosure", statement); payload_hash is BLAKE2b-256 of
// the sealed box as relayed.
//
// Decisions after the call (Approve, Deny, and expiry at decide_by) are
// signed the same way, stored with their log record in one atomic write
// (nodes/approvals.h) and put in a durable outbox; a background thread
// (Start) sends them with Gateway.CompleteDisclosure until the gateway
// acknowledges, retrying while it is unreachable and after a restart. A
// decision the gateway refuses for good (INVALID_ARGUMENT, NOT_FOUND,
// FAILED_PRECONDITION, PERMISSION_DENIED) leaves the outbox with a log
// record naming the refusal; delivered_to_gateway stays false.
//
// The node's own log (local.proto): DISCLOSURE_REQUEST_RECEIVED for every
// order (outcome PENDING or the decision; REFUSED with the reason when the
// call fails other than UNAVAILABLE), DISCLOSURE_DECIDED for every decision (rule name in the
// detail, or the approver's user id and role; denial reason NODE_POLICY,
// APPROVER_DENIED or APPROVAL_EXPIRED), and DISCLOSURE_DECIDED with the
// gateway's receipts when a later decision was delivered. Records carry
// signal ids, field and category names and counts; never an identifier,
// signal content or the free-text reasons. An answer whose record cannot be
// written is withheld (UNAVAILABLE): fail closed.
//
// Thread safety: every method may be called from several threads at once;
// decisions on the store are serialised by an internal mutex. Ownership:
// borrows everything passed to the constructor; they must outlive it (and
// Stop must have been called before they go).
#ifndef SCHAKEL_NODES_DISCLOSURE_RESPONDER_H_
#define SCHAKEL_NODES_DISCLOSURE_RESPONDER_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "crypto/signing.h"
#include "nodes/approvals.h"
#include "nodes/authorisation_check.h"
#include "nodes/gateway_client.h"
#include "nodes/local_log.h"
#include "nodes/local_policy.h"
#include "nodes/signal_store.h"
#include "schakel/v1/local.pb.h"
#include "schakel/v1/node.pb.h"

namespace schakel::nodes {

// Who decides on the local API.
struct ApproverActor {
  std::string user_id;
  v1::Role role = v1::ROLE_UNSPECIFIED;
};

class DisclosureResponder {
 public:
  struct Options {
    std::string own_org_id;
    // How often the background thread looks for expired orders and retries
    // the outbox (it also wakes at once after a decision).
    std::chrono::milliseconds retry{5000};
  };
  // The local policy in force (may change on a reload).
  using PolicyFn = std::function<std::shared_ptr<const LocalPolicy>()>;

  // `gateway` may be null (a node without gateway.endpoint): orders are then
  // refused with UNAVAILABLE (the requester's key cannot be checked) and
  // nothing is delivered. `now_ms`: milliseconds since the Unix epoch.
  DisclosureResponder(ApprovalStore* approvals, SignalStore* signals, PolicyFn policy,
                      AuthorisationCheck* check, GatewayClient* gateway,
                      crypto::SigningKey signing_key, LocalLog* log,
                      std::function<int64_t()> now_ms, Options options);
  ~DisclosureResponder();
  DisclosureResponder(const DisclosureResponder&) = delete;
  DisclosureResponder& operator=(const DisclosureResponder&) = delete;

  // Node.Disclose. Errors: see the top of this file; each carries an
  // ErrorDetail with its DenialReason.
  absl::StatusOr<v1::DiscloseResponse> Disclose(const v1::DiscloseRequest& request);

  // Approvals.ListApprovals (without signals).
  absl::StatusOr<v1::ListApprovalsResponse> List(const v1::ListApprovalsRequest& request) const;

  // Approvals.GetApproval: with the signals the order's tags resolve to now.
  // Errors: INVALID_ARGUMENT (disclosure_id not 16 bytes), NOT_FOUND.
  absl::StatusOr<v1::Approval> Get(std::string_view disclosure_id) const;

  // Approvals.Approve: seals the asked-and-allowed fields (or the subset in
  // `request.fields`) of the signals (or the subset in signal_ids), signs,
  // stores and queues the decision for the gateway. Errors:
  // INVALID_ARGUMENT ("fields[i]", "signal_ids[i]", "reason"), NOT_FOUND,
  // FAILED_PRECONDITION (not pending, or decide_by passed: then it is
  // expired now), UNAVAILABLE (not stored: nothing decided).
  absl::StatusOr<v1::Approval> Approve(const v1::ApproveRequest& request,
                                       const ApproverActor& actor);

  // Approvals.Deny. Errors: INVALID_ARGUMENT (reason empty or longer than
  // 2,000 characters), NOT_FOUND, FAILED_PRECONDITION, UNAVAILABLE.
  absl::StatusOr<v1::Approval> Deny(const v1::DenyRequest& request, const ApproverActor& actor);

  // Expires every pending order whose decide_by has passed (signed EXPIRED
  // statement, into the outbox); returns how many.
  absl::StatusOr<size_t> ExpireDue();

  // Sends every outbox entry to the gateway once; returns how many the
  // gateway acknowledged. Entries it cannot send stay for the next try.
  absl::StatusOr<size_t> FlushOutbox();

  // The background thread: ExpireDue and FlushOutbox every Options::retry,
  // and at once after a decision. Start is idempotent; Stop joins.
  void Start();
  void Stop();

 private:
  struct Built;  // a sealed and signed decision
  struct Decision;

  // Disclose without the log record of a refusal.
  absl::StatusOr<v1::DiscloseResponse> Answer(const v1::DiscloseRequest& request);
  absl::StatusOr<v1::DiscloseResponse> DiscloseChecked(const v1::DiscloseRequest& request,
                                                       const canonical::DigestBytes& digest);
  absl::Status CheckBoxKey(const std::string& requester_org_id, const std::string& box_key);
  // Per target (in order), the signals its tags resolve to now under the
  // purpose, of the categories `record.allowance` lets go out; each signal
  // once per target.
  absl::StatusOr<std::vector<std::vector<v1::Signal>>> Disclosable(
      const ApprovalRecord& record) const;
  // Signs (and, when approving, seals) a decision on `record`.
  absl::StatusOr<Built> Build(const ApprovalRecord& record, const Decision& decision) const;
  // The approval with the signals it concerns (local view).
  absl::StatusOr<v1::Approval> WithSignals(const ApprovalRecord& record) const;
  // Records a decision taken after the call on a pending record, with its
  // log record, into the outbox. Caller holds decide_mu_.
  absl::StatusOr<ApprovalRecord> DecideLater(const ApprovalRecord& record,
                                             const Decision& decision, const ApproverActor& actor);
  absl::Status ExpireLocked(const ApprovalRecord& record);
  // The pending record, or NOT_FOUND / FAILED_PRECONDITION (expiring it when
  // decide_by has passed) / INVALID_ARGUMENT for a bad id. Caller holds
  // decide_mu_.
  absl::StatusOr<ApprovalRecord> PendingLocked(std::string_view disclosure_id);
  v1::LocalLogRecord RecordFor(const ApprovalRecord& record, v1::LocalEventKind kind) const;
  void Wake();
  void Run();

  ApprovalStore* const approvals_;
  SignalStore* const signals_;
  const PolicyFn policy_;
  AuthorisationCheck* const check_;
  GatewayClient* const gateway_;
  const crypto::SigningKey signing_key_;
  LocalLog* const log_;
  const std::function<int64_t()> now_ms_;
  const Options options_;

  std::mutex decide_mu_;  // serialises read-decide-write of approvals
  std::mutex flush_mu_;   // one outbox flush at a time

  std::mutex run_mu_;
  std::condition_variable run_cv_;
  bool stop_ = false;    // guarded by run_mu_
  bool wake_ = false;    // guarded by run_mu_
  std::thread thread_;
};

}  // namespace schakel::nodes

#endif  // SCHAKEL_NODES_DISCLOSURE_RESPONDER_H_
