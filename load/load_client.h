// Load on a running federation (issue 6): match exchanges at a steady rate
// from many concurrent clients, with every call's outcome recorded.
//
// Two paths (MatchTarget):
//   - NodeTarget: the real user path. Matching.Match on a requesting node's
//     local API over TLS with a user's bearer credential, exactly as
//     `schakel match` calls it (cli/match_command.cc). The node derives the
//     match keys, blinds, opens the exchange at the gateway (which has every
//     answering node evaluate), verifies every proof, finalises, resolves at
//     the gateway and records MATCH_RUN in its own log. An acknowledged call
//     carries the exchange id and the gateway's receipts (EXCHANGE_REQUESTED,
//     EXCHANGE_EVALUATED, EXCHANGE_RESOLVED) with their log sequence numbers.
//   - GatewayTarget: the gateway directly as an organisation over mutual
//     TLS (its certificate and key), acting for a user id and role as a node
//     does. Keys are derived (nodes::PrepareMatch) and blinded in-process
//     (crypto::MatchRequester); the call is Gateway.OpenExchange only (the
//     gateway logs EXCHANGE_REQUESTED, has the partners evaluate, logs
//     EXCHANGE_EVALUATED); the answers are not verified or resolved. For
//     faults aimed at the gateway and the answering nodes without a
//     requesting node in between.
//
// The driver (Run) is open-loop: call i is due at start + i / rate whatever
// happened to earlier calls, and is taken by the first of `clients` client
// threads that is free. Its latency counts from when it was due, so a stall
// shows in the percentiles of every call it delayed (no "coordinated
// omission"); service_time counts from when it was actually sent. With rate
// 0 the driver is closed-loop: each client sends its next call when the
// previous one is answered (batch mode).
//
// The requests (Workload) are made from a seeded synthetic population
// (demo/synthetic.h) and are the same for the same seed and call index:
// single (one person, every key the purpose allows), family (a household's
// members under one family id, with relations) or batch (N people).
//
// Nothing here logs or prints an identifier: a Report holds outcomes,
// latencies, exchange ids, log sequence numbers and the servers' error
// messages (which never carry identifiers).
//
// Use from a test (tests/integration/load_smoke_test.cc):
//   auto target = load::NodeTarget({.config_file = fed.root() / "gemeente" / "cli-ana.json"});
//   load::Workload work({.mode = load::Mode::kSingle, .purpose_id = "zorg-signalering"});
//   load::Report report = load::Run(**target, work, {.rate = 20, .clients = 4,
//                                                    .duration = std::chrono::seconds(3)});
//   // report.calls: one CallOutcome per call; report.Acknowledged() ...
//
// Thread safety: a MatchTarget's Call and a Workload's Request may be used
// from many threads at once. Run blocks until every call it started has
// ended; RunOptions::on_call is called from the client threads, concurrently.
#ifndef SCHAKEL_LOAD_LOAD_CLIENT_H_
#define SCHAKEL_LOAD_LOAD_CLIENT_H_

#include <grpcpp/support/status.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "cli/client_config.h"
#include "rpc/tls.h"
#include "schakel/v1/local.pb.h"

namespace schakel::demo {
class Population;
}  // namespace schakel::demo

namespace schakel::load {

using Nanos = std::chrono::nanoseconds;

// What happened to one call.
struct CallOutcome {
  uint64_t index = 0;     // the call's number in the run, from 0
  Nanos latency{0};       // from when the call was due to its answer
  Nanos service_time{0};  // from when it was sent to its answer
  grpc::StatusCode code = grpc::StatusCode::UNKNOWN;
  std::string error;  // the server's (or gRPC's) message when not OK
  // When OK (acknowledged):
  std::string exchange_id;              // 16 bytes
  std::vector<uint64_t> log_sequences;  // the receipts' gateway log sequence numbers
  uint32_t subjects = 0;                // subjects sent
  uint32_t partners_ok = 0;             // partners that answered (and verified)
  uint32_t partners_failed = 0;         // partners that did not
  uint32_t subjects_hit = 0;            // subjects some partner knows (NodeTarget only)
  bool ok() const { return code == grpc::StatusCode::OK; }
};

// Where the load goes. Call is thread-safe; it never throws.
class MatchTarget {
 public:
  virtual ~MatchTarget() = default;
  // One match exchange for `request`, with `timeout` as the call's deadline.
  // Fills code, error, and for an OK answer the exchange fields.
  virtual CallOutcome Call(const v1::MatchRequest& request, std::chrono::milliseconds timeout) = 0;
  // "node 127.0.0.1:7423 as user ana" (no secrets).
  virtual std::string Describe() const = 0;
};

// The real user path (see the top of this file). `client` is what `schakel
// --config FILE` takes: a client config file and/or its single settings
// (cli/client_config.h); the credential file is read once here.
// Errors: those of cli::LoadClientConfig and cli::LoadCredential, and of
// reading the CA file; each names the file.
absl::StatusOr<std::unique_ptr<MatchTarget>> NodeTarget(const cli::ConfigOverrides& client);

// The gateway directly (see the top of this file).
struct GatewayTargetOptions {
  std::string endpoint;     // the gateway, host:port
  std::string server_name;  // name in the gateway's certificate when not the host
  rpc::TlsFiles tls;        // CA, the organisation's certificate and key
  std::string user_id = "load";
  v1::Role role = v1::ROLE_ANALYST;
};
// Errors: those of rpc::ClientCredentialsFromFiles (each names the file).
absl::StatusOr<std::unique_ptr<MatchTarget>> GatewayTarget(const GatewayTargetOptions& options);

// ---------------------------------------------------------------- requests

enum class Mode { kSingle, kFamily, kBatch };
// "single", "family", "batch"; nullopt for anything else.
std::optional<Mode> ParseMode(std::string_view name);
std::string ModeName(Mode mode);

struct WorkloadOptions {
  Mode mode = Mode::kSingle;
  std::string purpose_id;
  std::string case_id;                // when the purpose needs one
  std::vector<std::string> partners;  // empty: every permitted partner
  // Subjects per call in batch mode (1 to 10,000).
  size_t batch_subjects = 10'000;
  // The synthetic population's seed and size: the demo data's seed
  // (schakel-demo-data --seed) makes some of the subjects known to partners.
  uint64_t seed = 20261124;
  size_t population = 20'000;
  // Keys per subject: false sends every key a person yields (bsn,
  // name_dob, address); true only the BSN (one element per subject).
  bool bsn_only = false;
};

class Workload {
 public:
  explicit Workload(WorkloadOptions options);
  // The request of call `index` (deterministic). Thread-safe.
  v1::MatchRequest Request(uint64_t index) const;
  const WorkloadOptions& options() const { return options_; }

 private:
  v1::MatchSubject SubjectOf(size_t person, bool in_family) const;

  WorkloadOptions options_;
  std::shared_ptr<const demo::Population> population_;
  std::vector<size_t> families_;  // households with 2 or more members
};

// ---------------------------------------------------------------- the run

struct RunOptions {
  // Calls per second, spread evenly; 0: closed loop (see the top).
  double rate = 0;
  int clients = 1;
  // No call is started after this long (0: no bound but max_calls).
  std::chrono::milliseconds duration{0};
  // At most this many calls (0: no bound but duration). One of duration
  // and max_calls must be set.
  uint64_t max_calls = 0;
  // Each call's deadline.
  std::chrono::milliseconds call_timeout{30'000};
  // Set (from any thread) to start no more calls; calls under way finish.
  const std::atomic<bool>* stop = nullptr;
  // Called after every call, from the client thread that made it.
  std::function<void(const CallOutcome&)> on_call;
};

// Latency percentiles of a set of calls (exact: every sample is kept).
struct LatencySummary {
  uint64_t count = 0;
  Nanos min{0}, p50{0}, p90{0}, p95{0}, p99{0}, p999{0}, max{0}, mean{0};
};
LatencySummary Summarise(std::vector<Nanos> samples);

struct Report {
  std::string target;  // MatchTarget::Describe
  std::string mode;
  RunOptions options;  // as run (stop and on_call cleared)
  double seconds = 0;  // from the first call due to the last answer
  uint64_t calls = 0;  // started (= calls.size())
  uint64_t ok = 0;
  std::map<grpc::StatusCode, uint64_t> errors;          // by code
  std::map<grpc::StatusCode, std::string> first_error;  // one message per code
  // Acknowledged calls in which some partner did not answer (timed out,
  // unavailable, refused, invalid): the call succeeded, the match is partial.
  uint64_t partial = 0;
  uint64_t late_starts = 0;             // sent more than 10 ms after due (every client busy)
  uint64_t subjects = 0;                // in acknowledged calls
  LatencySummary latency;               // of acknowledged calls, from due
  LatencySummary service_time;          // of acknowledged calls, from sent
  LatencySummary all_latency;           // of every call, failed ones included
  std::vector<CallOutcome> calls_made;  // in index order

  double throughput() const { return seconds > 0 ? static_cast<double>(ok) / seconds : 0; }
  // Every acknowledged exchange id (16 bytes each), and every log sequence
  // number an acknowledged call carried, ascending.
  std::vector<std::string> AcknowledgedExchanges() const;
  std::vector<uint64_t> AcknowledgedSequences() const;
};

// Drives `target` with `workload` (see the top). Blocks until done.
Report Run(MatchTarget& target, const Workload& workload, const RunOptions& options);

// "OK", "UNAVAILABLE", ...
std::string CodeName(grpc::StatusCode code);

// The report as JSON (no per-call entries unless `with_calls`) and as a
// table for people.
nlohmann::json ToJson(const Report& report, bool with_calls = false);
void PrintReport(const Report& report, std::ostream& out);

}  // namespace schakel::load

#endif  // SCHAKEL_LOAD_LOAD_CLIENT_H_
