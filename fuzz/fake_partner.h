// Fake partner nodes for the gateway fuzzer (fuzz/gateway_handlers_fuzzer.cc):
// an in-process schakel.v1.Node server per answering organisation, over
// mutual TLS, whose Evaluate answer the fuzz input decides. Disclose and
// DeliverNotifications are not implemented (UNIMPLEMENTED).
//
// Evaluate answers as the AnswerScript says for its organisation: a byte
// (kind Answers(byte % 16), parameter byte / 16) and the script's feed
// bytes. The honest answer has the form of an honest node's: one evaluated
// element per blinded element (the blinded element itself: the gateway
// checks encodings and the signature, not the DLEQ proof, which is the
// requester's to check), a 64-byte proof (the feed's first 64 bytes,
// zero-padded) and the EvaluationStatement signed with the organisation's
// key. Every other kind breaks that answer in one way. Each answer is
// recorded with whether a gateway may accept it (Sent::acceptable), so that
// the fuzzer can check that the gateway accepts no other answer and passes
// the accepted ones on unchanged.
//
// Thread safety: AnswerScript may be used from any thread; a FakePartner's
// handlers run on gRPC's threads, concurrently.
#ifndef SCHAKEL_FUZZ_FAKE_PARTNER_H_
#define SCHAKEL_FUZZ_FAKE_PARTNER_H_

#include <grpcpp/server.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "crypto/signing.h"
#include "rpc/tls.h"
#include "schakel/v1/node.pb.h"

namespace schakel::fuzz {

// How a fake partner answers Evaluate.
enum class Answer {
  kHonest,
  kDelayed,           // honest, after `parameter` ms (well within the deadline)
  kLate,              // honest, a few ms after the call's deadline
  kCountOff,          // signed, one element too many (even parameter) or too few (odd)
  kBadElement,        // signed, element `parameter` % n replaced by the feed's first 32 bytes
  kBadProof,          // signed, the whole feed as proof (acceptable only at 64 bytes)
  kFlippedSignature,  // one bit of the signature flipped
  kOtherKey,          // signed with the other partner's key
  kOtherStatement,    // signed with its own key over a statement naming the other partner
  kFeedSignature,     // key id (8 bytes) and signature taken from the feed
  kError,             // error status 1 + parameter (CANCELLED .. UNAUTHENTICATED), the feed as message
  kEmpty,             // OK with no elements at all
};
// The kind a script byte selects: honest answers and errors are the likeliest.
Answer AnswerOf(uint8_t how);

// What the fake partners answer to the input being run.
class AnswerScript {
 public:
  struct Sent {
    bool acceptable = false;  // count, encodings, proof size and signature all right
    v1::EvaluateResponse response;
  };

  // From now on `how` decides each organisation's answers (an organisation
  // it does not name answers honestly), made of `feed`; forgets what was
  // sent before.
  void Set(std::map<std::string, uint8_t, std::less<>> how, std::string feed);
  // The byte and the feed for `org_id`.
  std::pair<uint8_t, std::string> For(std::string_view org_id) const;
  // Records what `org_id` answered in exchange `exchange_id`.
  void Record(std::string_view org_id, std::string_view exchange_id, Sent sent);
  // What `org_id` answered in `exchange_id` since the last Set; nullopt
  // when it was not asked.
  std::optional<Sent> Find(std::string_view org_id, std::string_view exchange_id) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, uint8_t, std::less<>> how_;          // guarded by mu_
  std::string feed_;                                         // guarded by mu_
  std::map<std::pair<std::string, std::string>, Sent> sent_;  // guarded by mu_
};

class FakePartner {
 public:
  struct Options {
    std::string org_id;
    rpc::TlsFiles tls;  // its certificate; clients must present one of the same CA
    // Its signing key, and another partner's (kOtherKey, kOtherStatement);
    // not owned, must outlive the server.
    const crypto::SigningKey* key = nullptr;
    std::string other_org_id;
    const crypto::SigningKey* other_key = nullptr;
    AnswerScript* script = nullptr;  // what to answer, and where it is recorded; not owned
  };

  // Serves schakel.v1.Node on 127.0.0.1 (a free port). Errors: those of
  // rpc::ServerCredentialsFromFiles; UNAVAILABLE when it cannot listen.
  static absl::StatusOr<std::unique_ptr<FakePartner>> Start(Options options);
  // Shuts the server down, waiting for running handlers.
  ~FakePartner();
  FakePartner(const FakePartner&) = delete;
  FakePartner& operator=(const FakePartner&) = delete;

  // "127.0.0.1:port".
  const std::string& address() const { return address_; }

 private:
  class Service;
  FakePartner() = default;

  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

}  // namespace schakel::fuzz

#endif  // SCHAKEL_FUZZ_FAKE_PARTNER_H_
