// schakel.v1.Matching (local.proto): the requesting side of a match
// (protocol.md, flow 2), served on the node's local listener.
//
// Match, step by step:
//   1. Authenticate the user (nodes/local_auth.h) in a role the purpose lets
//      this organisation ask in (Gateway.ListPurposes, cached; ROLE_ANALYST
//      when the purpose is not listed: the gateway then refuses and logs).
//   2. PrepareMatch: validate every subject and derive its match keys
//      (crypto/match_keys.h); every problem is named by field path
//      ("subjects[2].subject.bsn: fails the elfproef (11-check)") and
//      NOTHING is sent when there is one. Subjects that share a family_id
//      get one family number (1, 2, ... in order of first appearance).
//   3. Blind every key once (crypto/pseudonym.h): the same blinded elements
//      go to every partner, and the blinds never leave this process.
//   4. Gateway.OpenExchange with Actor{user, role} and a random 16-byte
//      request_id; an UNAVAILABLE answer is retried with the same id (the
//      gateway returns the stored response, nothing is evaluated twice).
//   5. For every partner that answered OK, checks (on Options::threads
//      threads, one partner per thread): the authorisation it answered is
//      for this exchange, purpose, partner and exactly these blinded
//      elements; its signature over the EvaluationStatement verifies with
//      its key from the directory; the batched DLEQ proof verifies against
//      one of its OPRF keys tweaked for the purpose. Then the evaluations
//      are unblinded and finalised into tags. A partner failing a check is
//      reported to the gateway (EvaluationCheck) and shown with status
//      INVALID_RESPONSE; its elements are not used.
//   6. Gateway.ResolveMatches with the tags (retried like OpenExchange),
//      and the result mapped back to the caller's labels and family ids.
//   7. A MATCH_RUN record in the node's own log: user, role, purpose, case,
//      exchange id, counts, receipts, per-partner problems; no identifiers
//      and no labels. Refusals by the gateway are recorded too. When the
//      record cannot be written the result is withheld (UNAVAILABLE).
//
// GetFederation: any authenticated user; ListPurposes and GetDirectory.
//
// A match that ran is remembered (OutgoingDisclosures::ExchangeBatch, in the
// same write as its MATCH_RUN record) so that disclosure can be asked about
// its subjects later.
//
// AskDisclosure (protocol.md, flow 3), for a role the exchange's purpose
// lets ask (ROLE_ANALYST when not listed):
//   1. the node must have a box key (FAILED_PRECONDITION naming
//      box_key_file otherwise) and the exchange must be one this node ran
//      (NOT_FOUND); every bad field is named (INVALID_ARGUMENT);
//   2. Gateway.RequestDisclosure with Actor{user, role} and a random
//      request_id, retried with the same id while UNAVAILABLE;
//   3. the answer is stored with a DISCLOSURE_ASKED record (one write); an
//      answer that is already an outcome is checked (signature, payload
//      hash, sealed box, content: nodes/outgoing_disclosures.h) and shown
//      only when every check passes. A refusal is recorded and passed
//      through.
// ShowDisclosure: the caller's own disclosures (ROLE_AUDITOR: anyone's, and
// the view of another user's is recorded as AUDIT_QUERY); a pending one is
// asked about at the gateway (GetDisclosure) and updated; the content is
// opened and checked again on every view, never stored in clear.
// ListDisclosures: the caller's own (ROLE_AUDITOR: all), newest first.
// Without Options::disclosures the three answer FAILED_PRECONDITION.
//
// Errors: as local.proto says; the gateway's status is passed through with
// its code and ErrorDetail; an unreachable gateway gives UNAVAILABLE.
//
// Thread safety: gRPC calls the handlers concurrently; everything they use
// is safe for that. Ownership: borrows the GatewayClient, the
// LocalAuthenticator and the LocalLog; they must outlive the service.
#ifndef SCHAKEL_NODES_MATCHING_SERVICE_H_
#define SCHAKEL_NODES_MATCHING_SERVICE_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "crypto/secret.h"
#include "nodes/gateway_client.h"
#include "nodes/local_auth.h"
#include "nodes/local_log.h"
#include "nodes/outgoing_disclosures.h"
#include "schakel/v1/local.grpc.pb.h"

namespace schakel::nodes {

// A match request checked and turned into what is blinded and sent.
// Holds identifiers (the OPRF inputs): move-only, wiped on destruction.
struct PreparedMatch {
  // "schakel:v1:<type>:<canonical>" of every key, in element-index order.
  std::vector<crypto::SecretBuffer> inputs;
  // The subjects as the gateway will see them: family, relation and key
  // types; blinded_element is filled in after blinding.
  std::vector<v1::BlindedSubject> subjects;
  // The caller's view of each subject (label, family id, keys per type).
  std::vector<v1::LocalSubject> local_subjects;
  // Family number -> the caller's family id, ascending.
  std::vector<v1::LocalFamily> families;
};

// Step 2 above. `purpose` is the purpose as this organisation takes part in
// it, when known: its key_types, max_subjects_per_exchange and
// max_keys_per_subject are then checked here too (the gateway checks them
// in any case). `today` bounds dates of birth.
// Errors: INVALID_ARGUMENT whose message lists every problem ("; "-separated,
// each "<field path>: <problem>", never a value given) and whose ErrorDetail
// (rpc/status.h) holds one FieldProblem per problem, reason
// MALFORMED_REQUEST (TOO_MANY_SUBJECTS when there are too many subjects or
// keys).
absl::StatusOr<PreparedMatch> PrepareMatch(const v1::MatchRequest& request,
                                           const v1::PurposeView* purpose,
                                           std::chrono::year_month_day today);

class MatchingService final : public v1::Matching::Service {
 public:
  struct Options {
    // Partners whose answers are checked and finalised at once (node config
    // threads).
    int threads = 2;
    // OpenExchange / ResolveMatches attempts when the gateway is
    // UNAVAILABLE, and the first wait between them (doubling).
    int attempts = 3;
    std::chrono::milliseconds retry_wait{250};
    // The clock (absl::Now when unset).
    std::function<absl::Time()> now;
    // Remembered exchanges and outgoing disclosures (not owned); null: no
    // disclosure (the rpcs answer FAILED_PRECONDITION).
    OutgoingDisclosures* disclosures = nullptr;
  };

  MatchingService(GatewayClient* gateway, LocalAuthenticator* authenticator, LocalLog* log,
                  Options options);

  grpc::Status GetFederation(grpc::ServerContext* context, const v1::GetFederationRequest* request,
                             v1::GetFederationResponse* response) override;
  grpc::Status Match(grpc::ServerContext* context, const v1::MatchRequest* request,
                     v1::MatchResponse* response) override;
  grpc::Status AskDisclosure(grpc::ServerContext* context, const v1::AskDisclosureRequest* request,
                             v1::AskDisclosureResponse* response) override;
  grpc::Status ShowDisclosure(grpc::ServerContext* context,
                              const v1::ShowDisclosureRequest* request,
                              v1::ShowDisclosureResponse* response) override;
  grpc::Status ListDisclosures(grpc::ServerContext* context,
                               const v1::ListDisclosuresRequest* request,
                               v1::ListDisclosuresResponse* response) override;

  // Steps 2 to 7 for an authenticated caller (the rpc without gRPC).
  absl::StatusOr<v1::MatchResponse> RunMatch(const LocalCaller& caller,
                                             const v1::MatchRequest& request);

  // AskDisclosure steps 1 to 3 for an authenticated caller.
  absl::StatusOr<v1::AskDisclosureResponse> RunAskDisclosure(
      const LocalCaller& caller, const v1::AskDisclosureRequest& request);

 private:
  absl::Time Now() const { return options_.now ? options_.now() : absl::Now(); }
  // Records the match (or its refusal), with `batch` in the same write.
  // Errors: those of LocalLog::Append.
  absl::Status Record(v1::LocalLogRecord record, store::WriteBatch batch = {});
  // A gateway call, retried with the same request while UNAVAILABLE
  // (Options::attempts, retry_wait doubling).
  absl::Status CallGateway(std::string_view rpc_name, std::chrono::milliseconds timeout,
                           const std::function<grpc::Status(grpc::ClientContext&)>& fn) const;

  GatewayClient* const gateway_;
  LocalAuthenticator* const authenticator_;
  LocalLog* const log_;
  const Options options_;
};

}  // namespace schakel::nodes

#endif  // SCHAKEL_NODES_MATCHING_SERVICE_H_
