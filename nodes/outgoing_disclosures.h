// The requesting node's side of disclosure (protocol.md, flow 3): the
// exchanges this node ran, the disclosures its users asked for, and the
// checks a delivered payload must pass before anyone sees it.
//
// A delivered disclosure (DisclosureStatus in state DELIVERED) is shown only
// when, in this order:
//   1. the signed DisclosureStatement names this disclosure, its exchange,
//      its purpose, the answering organisation and this organisation as
//      requester, and an approving decision;
//   2. the statement's signature verifies with the answering node's Ed25519
//      key from the directory (canonical::kDisclosureContext);
//   3. BLAKE2b-256(sealed_box) equals the statement's payload_hash;
//   4. the box opens with this node's X25519 key (box_key_file);
//   5. the plaintext is a DisclosedContent naming the same exchange,
//      disclosure and organisation, with statement.signal_count signals,
//      each about a subject asked about, of a disclosed category, and
//      carrying only the fields the statement discloses (a field not listed
//      in DisclosedSignal.fields must be empty; ContactPerson.unit travels
//      with SIGNAL_FIELD_CONTACT_NAME).
// A payload failing a check is not shown; OutgoingDisclosure's
// verification_problem says which check failed, and the failure is logged.
// A denial's signed statement is checked the same way (1 and 2).
//
// Storage (one KvStore shared with the node's log; every change is one
// atomic synced write together with its log record):
//   "odis/x/" + exchange_id          -> v1::MatchResponse of a match this
//                                       node ran (labels kept, receipts
//                                       dropped: they are in the log)
//   "odis/d/" + disclosure_id        -> v1::OutgoingDisclosure, without
//                                       content: the plaintext is never
//                                       stored (local.proto does not ask
//                                       for it); the sealed box is, and is
//                                       opened again on every view
//   "odis/t/" + ~ms(8) + disclosure_id -> ""  (newest first)
//
// Log records (nodes/local_log.h; user id and role of whoever caused them,
// empty for the node itself; never content, labels or identifiers):
// DISCLOSURE_ASKED when asked (or refused by the gateway), and
// DISCLOSURE_RECEIVED when an outcome (delivered, denied, expired,
// unavailable) arrives, by any path.
//
// Thread safety: every method may be called concurrently; changes to one
// disclosure are serialised by an internal mutex. Ownership: borrows the
// store, the log, the gateway client and the box key; they must outlive
// this object.
#ifndef SCHAKEL_NODES_OUTGOING_DISCLOSURES_H_
#define SCHAKEL_NODES_OUTGOING_DISCLOSURES_H_

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "crypto/sealed_box.h"
#include "nodes/gateway_client.h"
#include "nodes/local_auth.h"
#include "nodes/local_log.h"
#include "schakel/v1/local.pb.h"
#include "store/kv_store.h"

namespace schakel::nodes {

// The outcome of checking a delivered or denied disclosure.
struct DisclosureCheck {
  // Set for a delivered payload that passed every check. LOCAL ONLY.
  std::optional<v1::DisclosedContent> content;
  // Why it is not shown; empty when it verified (or nothing was delivered).
  std::string problem;
};

class OutgoingDisclosures {
 public:
  struct Options {
    // This organisation (the requester every statement must name).
    std::string own_org_id;
    // The node's X25519 key (box_key_file); null when not configured: then
    // asking fails with FAILED_PRECONDITION and nothing can be opened.
    const crypto::BoxSecretKey* box_key = nullptr;
    // The clock (absl::Now when unset).
    std::function<absl::Time()> now;
  };

  // `gateway` supplies the answering nodes' signing keys (directory).
  OutgoingDisclosures(store::KvStore* kv, LocalLog* log, GatewayClient* gateway, Options options);

  OutgoingDisclosures(const OutgoingDisclosures&) = delete;
  OutgoingDisclosures& operator=(const OutgoingDisclosures&) = delete;

  // OK when a box key is configured; else FAILED_PRECONDITION naming the
  // node configuration setting box_key_file. Also FAILED_PRECONDITION when
  // the directory lists box keys for this organisation and none is the
  // configured one (payloads could never be opened).
  absl::Status CheckBoxKey() const;

  // The write that remembers a match this node ran (for the MATCH_RUN
  // record's AppendWith). Errors: INVALID_ARGUMENT when the exchange id is
  // not 16 bytes.
  absl::StatusOr<store::WriteBatch> ExchangeBatch(const v1::MatchResponse& response) const;

  // The match this node ran with `exchange_id`; nullopt when none.
  // Errors: DATA_LOSS (a record that does not parse); INTERNAL.
  absl::StatusOr<std::optional<v1::MatchResponse>> FindExchange(std::string_view exchange_id) const;

  // The stored disclosure (without content); nullopt when this node did
  // not ask for it. Errors: DATA_LOSS; INTERNAL.
  absl::StatusOr<std::optional<v1::OutgoingDisclosure>> Find(
      std::string_view disclosure_id) const;

  // Records the gateway's answer to RequestDisclosure: stores the
  // disclosure and a DISCLOSURE_ASKED record in one write, and, when the
  // answer is already an outcome, checks it and adds a DISCLOSURE_RECEIVED
  // record. Returns the disclosure as the caller sees it (with content when
  // delivered and verified). Errors: INVALID_ARGUMENT when the answer has
  // no 16-byte disclosure id; UNAVAILABLE when it could not be recorded
  // (fail closed: nothing is shown).
  absl::StatusOr<v1::OutgoingDisclosure> RecordAsked(const LocalCaller& caller,
                                                     const v1::MatchResponse& exchange,
                                                     const v1::AskDisclosureRequest& request,
                                                     const v1::RequestDisclosureResponse& answer);

  // Records a RequestDisclosure the gateway refused (DISCLOSURE_ASKED,
  // outcome REFUSED or FAILED, the reason and receipt of its ErrorDetail).
  // Errors: those of LocalLog::Append.
  absl::Status RecordAskRefused(const LocalCaller& caller, const v1::MatchResponse& exchange,
                                const v1::AskDisclosureRequest& request, const absl::Status& error);

  // Applies news about a disclosure (a DisclosureNotice, or GetDisclosure
  // while pending). A status for an unknown disclosure, one that does not
  // move a pending disclosure on, or one for a disclosure already decided,
  // changes nothing (false). Otherwise stores it with the outcome of its
  // checks and a DISCLOSURE_RECEIVED record (by `caller`, or the node when
  // null) in one write (true). Errors: DATA_LOSS, INTERNAL, UNAVAILABLE
  // from the store and log (nothing changed).
  absl::StatusOr<bool> ApplyStatus(const v1::DisclosureStatus& status, const LocalCaller* caller);

  // The stored disclosure as a user sees it: with the content opened and
  // checked again when delivered, or verification_problem set.
  v1::OutgoingDisclosure View(v1::OutgoingDisclosure stored) const;

  // The checks at the top of this file for `status` (DELIVERED or DENIED;
  // other states pass with nothing to check).
  DisclosureCheck Check(const v1::DisclosureStatus& status) const;

  // One page of disclosures, newest first, without content. Only the
  // caller's own unless `all`. Errors: INVALID_ARGUMENT "page_token: ..."
  // or "page_size: ..."; DATA_LOSS; INTERNAL.
  absl::StatusOr<v1::ListDisclosuresResponse> List(const v1::ListDisclosuresRequest& request,
                                                   std::string_view user_id, bool all) const;

 private:
  absl::Time Now() const { return options_.now ? options_.now() : absl::Now(); }
  v1::LocalLogRecord BaseRecord(v1::LocalEventKind kind, const v1::DisclosureStatus& status,
                                const LocalCaller* caller) const;
  v1::LocalLogRecord ReceivedRecord(const v1::OutgoingDisclosure& stored,
                                    const LocalCaller* caller) const;

  store::KvStore* const kv_;
  LocalLog* const log_;
  GatewayClient* const gateway_;
  const Options options_;
  std::mutex mu_;  // serialises read-modify-write of one disclosure
};

}  // namespace schakel::nodes

#endif  // SCHAKEL_NODES_OUTGOING_DISCLOSURES_H_
