#include "load/crypto_baseline.h"

#include <time.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <optional>
#include <thread>
#include <utility>

#include "absl/time/clock.h"
#include "crypto/oprf.h"
#include "crypto/pseudonym.h"
#include "nodes/matching_service.h"
#include "nodes/subject_keys.h"

namespace schakel::load {
namespace {

using Clock = std::chrono::steady_clock;

std::chrono::nanoseconds ProcessCpu() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

// Times `fn` (wall and process CPU) into a phase named `name`.
template <typename Fn>
absl::Status Timed(std::vector<CryptoPhase>& phases, std::string name, Fn&& fn) {
  const auto cpu0 = ProcessCpu();
  const auto wall0 = Clock::now();
  absl::Status s = fn();
  phases.push_back({std::move(name), Clock::now() - wall0, ProcessCpu() - cpu0});
  return s;
}

// Runs work(i) for i in [0, n) on `threads` threads; the first error wins.
template <typename Fn>
absl::Status Parallel(size_t n, int threads, Fn&& work) {
  std::atomic<size_t> next{0};
  std::vector<absl::Status> errors(n);
  auto loop = [&] {
    for (size_t i = next++; i < n; i = next++) errors[i] = work(i);
  };
  std::vector<std::thread> pool;
  const size_t count = std::min(n, static_cast<size_t>(std::max(1, threads)));
  for (size_t t = 1; t < count; ++t) pool.emplace_back(loop);
  loop();
  for (std::thread& t : pool) t.join();
  for (absl::Status& s : errors) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

std::chrono::nanoseconds CryptoBaseline::crypto_wall() const {
  std::chrono::nanoseconds total{0};
  for (const CryptoPhase& p : phases) {
    if (p.name == "blind" || p.name == "evaluate" || p.name == "finalize") total += p.wall;
  }
  return total;
}

std::chrono::nanoseconds CryptoBaseline::crypto_cpu() const {
  std::chrono::nanoseconds total{0};
  for (const CryptoPhase& p : phases) {
    if (p.name == "blind" || p.name == "evaluate" || p.name == "finalize") total += p.cpu;
  }
  return total;
}

const CryptoPhase* CryptoBaseline::Find(const std::string& name) const {
  for (const CryptoPhase& p : phases) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

namespace {

// One run of every phase into out.phases.
absl::Status RunOnce(const v1::MatchRequest& request,
                     const std::vector<std::unique_ptr<crypto::oprf::PoprfServer>>& servers,
                     const std::vector<crypto::PurposeKey>& keys,
                     const crypto::MatchRequester* requester, CryptoBaseline& out) {
  std::optional<nodes::PreparedMatch> prepared;
  if (absl::Status s = Timed(out.phases, "derive",
                             [&]() -> absl::Status {
                               auto p = nodes::PrepareMatch(request, nullptr,
                                                            nodes::UtcDay(absl::Now()));
                               if (!p.ok()) return p.status();
                               prepared.emplace(*std::move(p));
                               return absl::OkStatus();
                             });
      !s.ok()) {
    return s;
  }
  std::vector<crypto::ByteView> inputs;
  for (const crypto::SecretBuffer& in : prepared->inputs) inputs.push_back(in.bytes());
  out.elements = inputs.size();

  if (absl::Status s = Timed(out.phases, "hash",
                             [&]() -> absl::Status {
                               for (crypto::ByteView in : inputs) {
                                 auto e = crypto::oprf::HashToGroup(crypto::oprf::Mode::kPoprf, in);
                                 if (!e.ok()) return e.status();
                               }
                               return absl::OkStatus();
                             });
      !s.ok()) {
    return s;
  }

  std::optional<crypto::PendingMatch> pending;
  if (absl::Status s = Timed(out.phases, "blind",
                             [&]() -> absl::Status {
                               auto b = requester->Blind(inputs);
                               if (!b.ok()) return b.status();
                               pending.emplace(*std::move(b));
                               return absl::OkStatus();
                             });
      !s.ok()) {
    return s;
  }
  const std::vector<crypto::Bytes> blinded = pending->BlindedEncodings();
  std::vector<crypto::ByteView> blinded_views(blinded.begin(), blinded.end());

  std::vector<crypto::PurposeKey::Evaluation> evaluations(keys.size());
  if (absl::Status s = Timed(out.phases, "evaluate",
                             [&]() -> absl::Status {
                               return Parallel(keys.size(), static_cast<int>(keys.size()),
                                               [&](size_t p) -> absl::Status {
                                                 auto e = keys[p].EvaluateBlinded(blinded_views,
                                                                                  out.node_threads);
                                                 if (!e.ok()) return e.status();
                                                 evaluations[p] = *std::move(e);
                                                 return absl::OkStatus();
                                               });
                             });
      !s.ok()) {
    return s;
  }

  if (absl::Status s = Timed(
          out.phases, "finalize",
          [&]() -> absl::Status {
            return Parallel(keys.size(), out.requester_threads, [&](size_t p) -> absl::Status {
              std::vector<crypto::ByteView> evaluated(evaluations[p].evaluated_elements.begin(),
                                                      evaluations[p].evaluated_elements.end());
              auto tags = requester->Finalize(*pending, servers[p]->public_key(), evaluated,
                                              evaluations[p].proof);
              return tags.status();
            });
          });
      !s.ok()) {
    return s;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CryptoBaseline> RunCryptoBaseline(const v1::MatchRequest& request,
                                                 const CryptoBaselineOptions& options) {
  CryptoBaseline out;
  out.subjects = static_cast<size_t>(request.subjects_size());
  out.partners = std::max(1, options.partners);
  out.node_threads = std::max(1, options.node_threads);
  out.requester_threads = std::max(1, options.requester_threads);

  // The answering nodes' keys (made before the clock runs).
  std::vector<std::unique_ptr<crypto::oprf::PoprfServer>> servers;
  std::vector<crypto::PurposeKey> keys;
  for (int p = 0; p < out.partners; ++p) {
    servers.push_back(
        std::make_unique<crypto::oprf::PoprfServer>(crypto::oprf::PrivateKey::Generate()));
  }
  for (const auto& server : servers) {
    auto key = crypto::PurposeKey::Create(*server, request.purpose_id());
    if (!key.ok()) return key.status();
    keys.push_back(*std::move(key));
  }
  auto requester = crypto::MatchRequester::Create(request.purpose_id());
  if (!requester.ok()) return requester.status();

  std::vector<CryptoBaseline> runs(static_cast<size_t>(std::max(1, options.repeats)), out);
  for (CryptoBaseline& run : runs) {
    if (absl::Status s = RunOnce(request, servers, keys, &*requester, run); !s.ok()) return s;
  }
  // Each phase's median run.
  out.elements = runs.front().elements;
  for (size_t i = 0; i < runs.front().phases.size(); ++i) {
    std::vector<CryptoPhase> all;
    for (const CryptoBaseline& run : runs) all.push_back(run.phases[i]);
    std::sort(all.begin(), all.end(),
              [](const CryptoPhase& a, const CryptoPhase& b) { return a.wall < b.wall; });
    out.phases.push_back(all[all.size() / 2]);
  }
  return out;
}

nlohmann::json ToJson(const CryptoBaseline& baseline) {
  auto ms = [](std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1e6; };
  nlohmann::json phases = nlohmann::json::array();
  for (const CryptoPhase& p : baseline.phases) {
    phases.push_back({{"phase", p.name}, {"wall_ms", ms(p.wall)}, {"cpu_ms", ms(p.cpu)}});
  }
  return {{"subjects", baseline.subjects},
          {"elements", baseline.elements},
          {"partners", baseline.partners},
          {"node_threads", baseline.node_threads},
          {"requester_threads", baseline.requester_threads},
          {"phases", phases},
          {"crypto_wall_ms", ms(baseline.crypto_wall())},
          {"crypto_cpu_ms", ms(baseline.crypto_cpu())}};
}

}  // namespace schakel::load
