// The answering node's durable record of the disclosure orders it received
// (Node.Disclose): pending until an approver decides or decide_by passes,
// then decided (approved, denied, expired), and for decisions taken after
// the call an outbox of signed statements still to be delivered to the
// gateway (Gateway.CompleteDisclosure).
//
// This class only keeps records; what is decided, sealed and signed is
// nodes/disclosure_responder.h. Every change (a new order, a decision, a
// delivery) is ONE atomic synced WriteBatch together with the node's log
// record of it (LocalLog::AppendWith), so a decision and its record are
// stored together or not at all, and an outbox entry survives a restart.
//
// Key layout (ids are the 16 raw bytes of the disclosure id; times are
// 8-byte big-endian milliseconds, store::EncodeKeyU64):
//   appr/r/<id>                    -> v1::Approval (without signals)
//   appr/q/<id>                    -> v1::DiscloseRequest as received
//   appr/l/<id>                    -> v1::LocalDisclosureRule: the rule that
//                                     applied, with the fields (asked and
//                                     allowed) and categories it lets go out
//   appr/s/<id>                    -> v1::SealedDisclosure, once decided
//   appr/x/<id>                    -> "" while the decision waits for the
//                                     gateway (the outbox)
//   appr/d/<decide_by>/<id>        -> "" while pending (expiry)
//   appr/i/0/<received_at>/<id>    -> "" while pending (listing: oldest first)
//   appr/i/1/<~decided_at>/<id>    -> "" once decided (listing: newest first;
//                                     ~ is the bitwise complement)
// No identifier of a person is stored here: orders carry tags, and the
// signals an order concerns are resolved from the signal store when shown.
//
// Errors: INTERNAL / DATA_LOSS from the store or for a record that does not
// parse; UNAVAILABLE when a write (or its log record) could not be stored:
// then nothing of the change was stored.
//
// Thread safety: safe for concurrent use (the KvStore and LocalLog are);
// callers serialise read-modify-write sequences on one disclosure
// themselves (DisclosureResponder holds a mutex for that).
#ifndef SCHAKEL_NODES_APPROVALS_H_
#define SCHAKEL_NODES_APPROVALS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nodes/local_log.h"
#include "schakel/v1/local.pb.h"
#include "schakel/v1/node.pb.h"
#include "schakel/v1/node_admin.pb.h"
#include "store/kv_store.h"

namespace schakel::nodes {

// One incoming disclosure order and where it stands.
struct ApprovalRecord {
  v1::Approval approval;              // `signals` always empty here
  v1::DiscloseRequest request;        // as received
  v1::LocalDisclosureRule allowance;  // see the key layout
  std::optional<v1::SealedDisclosure> sealed;  // set once decided
  bool in_outbox = false;  // the decision still has to reach the gateway
};

// A page of ApprovalStore::List.
struct ApprovalPage {
  std::vector<v1::Approval> approvals;
  std::string next_page_token;  // empty on the last page
};

class ApprovalStore {
 public:
  // `kv` and `log` are not owned and must outlive the store; `log` may be
  // null (tests), then records are written without a log record.
  ApprovalStore(store::KvStore* kv, LocalLog* log) : kv_(kv), log_(log) {}

  // The record, or nullopt when no order with this id was received.
  absl::StatusOr<std::optional<ApprovalRecord>> Get(std::string_view disclosure_id) const;

  // Stores `record` (new when `previous` is null, else replacing
  // `previous`, the record as read before the change) with `log_record` in
  // one atomic synced write; moves the index entries to match the new state.
  // Errors: see the top of this file.
  absl::Status Put(const ApprovalRecord& record, const ApprovalRecord* previous,
                   v1::LocalLogRecord log_record);

  // Approvals in listing order (pending oldest first, then decided newest
  // first), only those in `states` (empty: all). page_size 0 means 100.
  // Errors: INVALID_ARGUMENT "page_size: ..." above 1000, "page_token:
  // malformed".
  absl::StatusOr<ApprovalPage> List(const std::vector<v1::ApprovalState>& states,
                                    uint32_t page_size, std::string_view page_token) const;

  // Ids of pending orders whose decide_by is at or before `now_ms`.
  absl::StatusOr<std::vector<std::string>> PendingDue(int64_t now_ms) const;

  // Ids of decisions waiting for the gateway, in id order.
  absl::StatusOr<std::vector<std::string>> Outbox() const;

  // Number of pending orders and of outbox entries (for metrics and tests).
  absl::StatusOr<size_t> PendingCount() const;
  absl::StatusOr<size_t> OutboxCount() const;

 private:
  store::KvStore* const kv_;
  LocalLog* const log_;
};

}  // namespace schakel::nodes

#endif  // SCHAKEL_NODES_APPROVALS_H_
