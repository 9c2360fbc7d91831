// schakel.v1.Gateway (gateway.proto): the gateway's API for partner nodes,
// a thin gRPC adapter over the directory, the policy, the quotas, the
// exchange state, the tag index and the exchange log.
//
// Every rpc first takes the calling organisation from the verified mTLS
// client certificate (Directory::CallerOrg); request fields never name it.
//
// OpenExchange, in this order (gateway.proto lists the codes and reasons):
//   1. caller (a certificate naming no active organisation is logged with
//      what it presented, and refused UNAUTHENTICATED);
//   2. the request's shape (request_id, actor, ids; MALFORMED_REQUEST), and
//      idempotency: the same request_id with the same request returns the
//      stored response (nothing evaluated or logged again), with another
//      request ALREADY_EXISTS;
//   3. purpose known and in force, organisation and role may ask;
//   4. case (required or named: exists, open, same purpose);
//   5. partners: those the purpose (and the case) lets answer, named ones
//      refused by policy reported as REFUSED_BY_POLICY; none left:
//      NO_PERMITTED_PARTNER;
//   6. limits: subjects, keys per subject, key types, families, and every
//      element 32 bytes and a canonical non-identity ristretto255 point;
//   7. the daily quotas (counted once accepted);
//   8. EXCHANGE_REQUESTED appended durably, with the quota count in the same
//      write (fail closed: no entry, nothing forwarded, UNAVAILABLE);
//   9. fan-out in parallel: each permitted partner's Node.Evaluate over mTLS
//      with its own authorisation and receipt and a per-partner deadline
//      shorter than the caller's remaining deadline; each answer checked
//      (count, elements, proof size, signature by the node's directory key);
//      a per-partner status so one partner down never fails the exchange;
//  10. EXCHANGE_EVALUATED appended with the stored exchange in the same
//      write; the response with both receipts.
// Every refusal is logged as fully as a grant (kind, policy version, lawful
// basis, purpose and case as asked, requester, counts, reason) and its
// receipt travels in ErrorDetail.receipt.
//
// ResolveMatches: only the organisation that opened the exchange, before
// resolve_by, once (the same tags again return the stored result); tags
// looked up in each verified partner's tag set for the purpose; hit/no-hit
// per subject x partner x key type and per family; EXCHANGE_RESOLVED logged
// with tags and hits, in the same write as the stored result.
//
// PublishIndex: one stream per organisation; a newer one ends the older
// with ABORTED. Batches go to TagIndex::Apply (atomic, synced, idempotent by
// sequence; a gap is FAILED_PRECONDITION naming the expected sequence); a
// batch that clears a set is logged first (INDEX_CLEARED).
//
// ResolveMatches also stores, per partner, the tags that hit (what a
// disclosure order carries) and, when the purpose has notify_on_hit, queues
// one MatchNotice per partner with a hit in the same write as
// EXCHANGE_RESOLVED (notified_org_ids names them). A convenant reloaded
// between an exchange's request and its resolution governs the resolution:
// the caller must still be allowed to ask under the new version (refused
// otherwise, as a request would be), notify_on_hit is the new version's,
// and the EXCHANGE_RESOLVED entry names that version. Fail closed: a right
// withdrawn by a reload is withdrawn for exchanges in flight too; so is a
// partner deactivated by a directory reload (see Directory below).
//
// RequestDisclosure, in this order (gateway.proto lists the codes):
//   1. caller; the request's shape (INVALID_ARGUMENT); idempotency by
//      request_id (the stored disclosure again, ALREADY_EXISTS for another
//      request);
//   2. the exchange: opened by the caller (NOT_FOUND), subject indexes in
//      range (INVALID_ARGUMENT), resolved, within the purpose's disclosure
//      window, its case still open, every subject a hit at the responder
//      (FAILED_PRECONDITION);
//   3. the purpose's DisclosureRule for (responder, caller) grants the
//      fields and categories, and the role may ask (PERMISSION_DENIED);
//   4. DISCLOSURE_REQUESTED appended with the stored disclosure (PENDING
//      until decide_by = now + approval_timeout; fail closed);
//   5. Node.Disclose with a DISCLOSE authorisation (request_digest =
//      D("schakel:v1:disclosure-order", order)), the order's tags taken
//      from the resolved exchange, and the per-partner deadline;
//   6. the answer checked (SealedDisclosure: the responder's signature,
//      the statement answers the order, fields and categories within those
//      asked, BLAKE2b-256(sealed_box) == payload_hash) and DISCLOSURE_DECIDED
//      appended (fields, payload hash, signature, approver, rule; never the
//      box). PENDING_APPROVAL is not a decision: it comes back with
//      decide_by. An unreachable partner or an invalid answer is recorded
//      as UNAVAILABLE.
// CompleteDisclosure (the answering node, later): the same checks of its
// statement against the stored order; DISCLOSURE_DECIDED with a
// DisclosureNotice to the requester in the same write; a retry with the
// same statement gets the same receipt. Pending disclosures past decide_by
// become EXPIRED (logged, the requester notified): on read, on a late
// CompleteDisclosure, and in a periodic sweep (ExpireDisclosures).
// GetDisclosure (not logged) returns the status with the sealed box while
// it is kept (gateway/disclosures.h); FetchNotifications reads and
// acknowledges the caller's outbox (gateway/notifications.h), whose pusher
// also delivers with Node.DeliverNotifications.
//
// Logging: one line per refusal through Options::log_line (code, reason,
// message; the messages name fields and counts, never an identifier).
//
// Directory: each rpc reads the directory in force once
// (Parts::current_directory), identifies the caller with it and uses it to
// the end, so a reload never shows a call two directories: an exchange
// started before a reload fans out to the partners, endpoints and keys it
// started with; the next call sees the new directory (a deactivated
// organisation is refused). ResolveMatches checks the partners of the
// exchange against the directory of the resolve call: one deactivated since
// the exchange was opened is reported REFUSED_BY_POLICY with no hits (its
// tag set is not looked up) for the rest of the resolve window. Channels
// follow a changed endpoint (the client of a node is made anew when its
// endpoint differs from the one it was made for). An index stream stays
// bound to the organisation it was opened by; each batch is refused once
// that organisation is no longer active.
//
// Ownership and thread safety: the parts are not owned and must outlive the
// service; gRPC calls the handlers concurrently, which all parts allow. The
// service owns its disclosure store and notification outbox (kept in the
// log's store) and two threads: the notification pusher and the expiry
// sweep. The destructor stops them and waits for index-stream work still
// running.
#ifndef SCHAKEL_GATEWAY_GATEWAY_SERVICE_H_
#define SCHAKEL_GATEWAY_GATEWAY_SERVICE_H_

#include <grpcpp/channel.h>
#include <grpcpp/security/credentials.h>

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/authoriser.h"
#include "gateway/case_store.h"
#include "gateway/directory.h"
#include "gateway/disclosures.h"
#include "gateway/exchange_log.h"
#include "gateway/exchange_state.h"
#include "gateway/notifications.h"
#include "gateway/policy.h"
#include "gateway/quota.h"
#include "gateway/receipts.h"
#include "gateway/tag_index.h"
#include "schakel/v1/gateway.grpc.pb.h"
#include "schakel/v1/node.grpc.pb.h"

namespace schakel::gateway {

class IndexStream;

class GatewayService final
    : public v1::Gateway::WithCallbackMethod_PublishIndex<v1::Gateway::Service> {
 public:
  // What the service works on; none owned.
  struct Parts {
    ExchangeLog* log = nullptr;
    TagIndex* tags = nullptr;
    QuotaBook* quota = nullptr;
    ExchangeStore* exchanges = nullptr;
    CaseStore* cases = nullptr;
    // The directory in force (a reload swaps what it returns); read once
    // per call.
    CurrentDirectory current_directory;
    const Authoriser* authoriser = nullptr;
    const ReceiptIssuer* receipts = nullptr;
    // The policy in force (a reload swaps what it returns).
    std::function<std::shared_ptr<const Policy>()> current_policy;
  };

  struct Options {
    // The gateway's organisation id (its certificate identity).
    std::string gateway_org_id;
    absl::Duration partner_deadline = absl::Seconds(5);
    // Added to partner_deadline for each element a partner evaluates: a
    // batch of 10,000 people (about 31,600 elements) takes a partner
    // seconds of CPU, a single match a millisecond.
    absl::Duration partner_deadline_per_element = absl::Microseconds(500);
    absl::Duration resolve_window = absl::Minutes(5);
    // Zone of the policy's days (and the quota day).
    absl::TimeZone zone;
    // Client credentials for the channels to the nodes (the gateway's own
    // certificate); null: no partner can be reached (UNAVAILABLE).
    std::shared_ptr<grpc::ChannelCredentials> node_credentials;
    // Overrides the TLS name checked in every node's certificate (tests).
    std::string node_target_name_override;
    std::function<absl::Time()> now = absl::Now;
    // One line per refusal and partner failure; may be empty.
    std::function<void(std::string_view)> log_line;
    // Called after this service appended to the log (checkpoints).
    std::function<void()> on_appended;
    // How often pending disclosures past decide_by are expired and kept
    // sealed boxes past their retention dropped (zero: no sweep thread;
    // ExpireDisclosures still works).
    absl::Duration sweep_interval = absl::Seconds(10);
    // How long a sealed box is kept after it was first handed out.
    absl::Duration box_retention = absl::Hours(24);
    // First back-off of the notification pusher for an unreachable node.
    absl::Duration notification_first_retry = absl::Milliseconds(500);
  };

  GatewayService(Parts parts, Options options);
  ~GatewayService() override;
  GatewayService(const GatewayService&) = delete;
  GatewayService& operator=(const GatewayService&) = delete;

  grpc::Status GetDirectory(grpc::ServerContext* context, const v1::GetDirectoryRequest* request,
                            v1::GetDirectoryResponse* response) override;
  grpc::Status ListPurposes(grpc::ServerContext* context, const v1::ListPurposesRequest* request,
                            v1::ListPurposesResponse* response) override;
  grpc::Status OpenExchange(grpc::ServerContext* context, const v1::OpenExchangeRequest* request,
                            v1::OpenExchangeResponse* response) override;
  grpc::Status ResolveMatches(grpc::ServerContext* context,
                              const v1::ResolveMatchesRequest* request,
                              v1::ResolveMatchesResponse* response) override;
  grpc::Status RequestDisclosure(grpc::ServerContext* context,
                                 const v1::RequestDisclosureRequest* request,
                                 v1::RequestDisclosureResponse* response) override;
  grpc::Status GetDisclosure(grpc::ServerContext* context, const v1::GetDisclosureRequest* request,
                             v1::GetDisclosureResponse* response) override;
  grpc::Status CompleteDisclosure(grpc::ServerContext* context,
                                  const v1::CompleteDisclosureRequest* request,
                                  v1::CompleteDisclosureResponse* response) override;
  grpc::Status GetIndexState(grpc::ServerContext* context, const v1::GetIndexStateRequest* request,
                             v1::GetIndexStateResponse* response) override;
  grpc::ServerBidiReactor<v1::IndexBatch, v1::IndexAck>* PublishIndex(
      grpc::CallbackServerContext* context) override;
  grpc::Status FetchNotifications(grpc::ServerContext* context,
                                  const v1::FetchNotificationsRequest* request,
                                  v1::FetchNotificationsResponse* response) override;

  // The rpcs for a caller whose organisation is known (from its
  // certificate); tests call them in-process. `caller_deadline` (on the
  // real clock, whatever Options::now says) bounds the fan-out
  // (absl::InfiniteFuture(): only the per-partner deadline). `directory`,
  // where taken, is the one the caller was identified with (null: the one
  // in force); the call uses it throughout.
  // Errors: as gateway.proto lists them per rpc, with an ErrorDetail.
  absl::StatusOr<v1::OpenExchangeResponse> OpenExchangeFor(std::string_view caller_org,
                                                           const v1::OpenExchangeRequest& request,
                                                           absl::Time caller_deadline,
                                                           std::shared_ptr<const Directory> directory = nullptr);
  // ResolveMatchesFor: a partner that answered OK but is no longer active
  // in `directory` (deactivated by a reload since the exchange was opened)
  // is reported REFUSED_BY_POLICY (PARTNER_NOT_PERMITTED) and its tag set
  // is not looked up; its entry in the request is still required.
  absl::StatusOr<v1::ResolveMatchesResponse> ResolveMatchesFor(
      std::string_view caller_org, const v1::ResolveMatchesRequest& request,
      std::shared_ptr<const Directory> directory = nullptr);
  absl::StatusOr<v1::GetDirectoryResponse> GetDirectoryFor(
      std::string_view caller_org, const v1::GetDirectoryRequest& request,
      std::shared_ptr<const Directory> directory = nullptr) const;
  absl::StatusOr<v1::ListPurposesResponse> ListPurposesFor(std::string_view caller_org,
                                                           const v1::ListPurposesRequest& request) const;
  absl::StatusOr<v1::GetIndexStateResponse> GetIndexStateFor(std::string_view caller_org) const;
  // Applies one index batch of `caller_org` (logging a clear first).
  absl::StatusOr<v1::IndexAck> ApplyIndexBatch(std::string_view caller_org,
                                               const v1::IndexBatch& batch);
  absl::StatusOr<v1::RequestDisclosureResponse> RequestDisclosureFor(
      std::string_view caller_org, const v1::RequestDisclosureRequest& request,
      absl::Time caller_deadline, std::shared_ptr<const Directory> directory = nullptr);
  absl::StatusOr<v1::GetDisclosureResponse> GetDisclosureFor(std::string_view caller_org,
                                                             const v1::GetDisclosureRequest& request);
  absl::StatusOr<v1::CompleteDisclosureResponse> CompleteDisclosureFor(
      std::string_view caller_org, const v1::CompleteDisclosureRequest& request,
      std::shared_ptr<const Directory> directory = nullptr);
  absl::StatusOr<v1::FetchNotificationsResponse> FetchNotificationsFor(
      std::string_view caller_org, const v1::FetchNotificationsRequest& request);

  // Expires every pending disclosure past its decide_by (logged, requester
  // notified) and drops sealed boxes past their retention; returns how many
  // expired. The sweep thread calls it; tests call it after moving the
  // clock.
  absl::StatusOr<size_t> ExpireDisclosures();

  // The disclosures and the notification outbox (tests, metrics); null
  // when they could not be opened (the rpcs then answer UNAVAILABLE).
  DisclosureStore* disclosures() { return disclosures_.get(); }
  NotificationOutbox* notifications() { return outbox_.get(); }

 private:
  friend class IndexStream;
  struct Fanout;
  struct Refusal;
  struct Decision;

  absl::Time Now() const;
  void LogLine(std::string_view line) const;
  void Appended() const;
  absl::Status Refuse(Refusal& refusal) const;
  absl::StatusOr<v1::Receipt> ReissueReceipt(uint64_t sequence, std::string_view recipient,
                                             std::string_view exchange_id) const;
  std::shared_ptr<v1::Node::Stub> NodeStub(const DirectoryOrg& org);
  void Evaluate(Fanout& fanout, absl::Duration partner_deadline);
  // The per-partner deadline for a request of `elements` elements:
  // partner_deadline plus partner_deadline_per_element for each, always
  // shorter than the caller's remaining one.
  absl::Duration PartnerDeadline(absl::Time caller_deadline, size_t elements) const;
  // Checks a node's SealedDisclosure for the stored disclosure `d` from
  // `responder` (INVALID_ARGUMENT naming what does not hold), with its
  // keys in `directory`.
  absl::Status CheckSealed(const StoredDisclosure& d, const v1::SealedDisclosure& sealed,
                           absl::Time now, const Directory& directory) const;
  // Records a decision (or expiry, or UNAVAILABLE) of `d`: DISCLOSURE_DECIDED
  // with the stored disclosure and, when `notify`, a DisclosureNotice to the
  // requester, in one write. `d` must be locked (DisclosureStore::Lock).
  absl::StatusOr<std::pair<StoredDisclosure, ExchangeLog::Appended>> RecordDecision(
      StoredDisclosure d, const Decision& decision);
  absl::StatusOr<StoredDisclosure> Expire(StoredDisclosure d, absl::Time now);
  // The pusher's delivery to `org`'s node; its acknowledged_through.
  absl::StatusOr<uint64_t> PushNotifications(const std::string& org,
                                             const v1::DeliverNotificationsRequest& request);
  void Sweep();
  grpc::Status Finish(std::string_view method, const absl::Status& status) const;
  // The caller (IdentifyCaller with `directory`), logging `refusal` and a
  // line when the certificate names no active organisation.
  absl::StatusOr<std::string> IdentifyLogged(const grpc::ServerContext& context, std::string_view method,
                                             v1::LogRecord refusal, const Directory& directory);

  // Index streams: the newest per organisation (a newer one supersedes).
  void RegisterStream(const std::string& org, IndexStream* stream);
  void UnregisterStream(const std::string& org, IndexStream* stream);
  void WorkerStarted();
  void WorkerDone();

  const Parts parts_;
  const Options options_;

  std::mutex stubs_mu_;
  std::map<std::string, std::pair<std::string, std::shared_ptr<v1::Node::Stub>>> stubs_;  // org -> (endpoint, stub)

  std::mutex streams_mu_;
  std::map<std::string, IndexStream*> streams_;  // guarded by streams_mu_
  std::mutex workers_mu_;
  std::condition_variable workers_cv_;
  int workers_ = 0;  // guarded by workers_mu_

  std::unique_ptr<DisclosureStore> disclosures_;
  std::unique_ptr<NotificationOutbox> outbox_;
  std::mutex sweep_mu_;
  std::condition_variable sweep_cv_;
  bool sweep_stopping_ = false;  // guarded by sweep_mu_
  std::thread sweeper_;
};

}  // namespace schakel::gateway

#endif  // SCHAKEL_GATEWAY_GATEWAY_SERVICE_H_
