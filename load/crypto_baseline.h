// The crypto work of one match, alone, in this process (issue 6: "a batch
// of 10,000 subjects against 3 partners finishes within 1.5x the crypto
// work alone"): the same request a load run sends, with the same
// parallelism the federation uses, and nothing else (no gRPC, no store, no
// log, no signatures).
//
// Phases, in the order of a match:
//   derive     match keys from the subjects (nodes::PrepareMatch): key
//              derivation and validation; not crypto, shown apart
//   hash       HashToGroup of every input (RFC 9497), alone, for the split
//   blind      MatchRequester::Blind: HashToGroup and blinding (one thread,
//              as the requesting node does)
//   evaluate   PurposeKey::EvaluateBlinded with the batched DLEQ proof, once
//              per partner, the partners at the same time with
//              `node_threads` threads each (as every answering node does
//              on the same machine)
//   finalize   MatchRequester::Finalize per partner: VerifyProof, unblinding
//              and Finalize into tags, the partners on `requester_threads`
//              threads (the requesting node's Options::threads)
// crypto = blind + evaluate + finalize (derive and hash are not added: hash
// is inside blind, derive is not crypto).
//
// Every phase gives its wall time and the CPU time of the whole process
// during it (so 2 threads busy for 1 s show as 2 s of CPU); with repeats,
// the median of the runs for each.
//
// Thread safety: RunCryptoBaseline is reentrant.
#ifndef SCHAKEL_LOAD_CRYPTO_BASELINE_H_
#define SCHAKEL_LOAD_CRYPTO_BASELINE_H_

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "schakel/v1/local.pb.h"

namespace schakel::load {

struct CryptoPhase {
  std::string name;
  std::chrono::nanoseconds wall{0};
  std::chrono::nanoseconds cpu{0};
};

struct CryptoBaseline {
  size_t subjects = 0;
  size_t elements = 0;
  int partners = 0;
  int node_threads = 0;
  int requester_threads = 0;
  std::vector<CryptoPhase> phases;  // derive, hash, blind, evaluate, finalize
  // blind + evaluate + finalize.
  std::chrono::nanoseconds crypto_wall() const;
  std::chrono::nanoseconds crypto_cpu() const;
  const CryptoPhase* Find(const std::string& name) const;
};

struct CryptoBaselineOptions {
  int partners = 3;
  int node_threads = 2;       // node config "threads" (default 2)
  int requester_threads = 2;  // the requesting node's threads (default 2)
  // Runs of the whole sequence; each phase then reports its median run
  // (a small request is timed many times for a steady figure).
  int repeats = 1;
};

// Runs the crypto of `request` (see the top) with fresh random node keys.
// Errors: those of PrepareMatch (a bad subject) and of the crypto library.
absl::StatusOr<CryptoBaseline> RunCryptoBaseline(const v1::MatchRequest& request,
                                                 const CryptoBaselineOptions& options);

nlohmann::json ToJson(const CryptoBaseline& baseline);

}  // namespace schakel::load

#endif  // SCHAKEL_LOAD_CRYPTO_BASELINE_H_
