// Crypto core benchmarks, with the raw libsodium baselines in the same binary.
//
//   build-bench/bench/schakel_crypto_bench --benchmark_min_time=2
//
// Figures that matter (docs/performance.md):
//   BlindEvaluate per element (POPRF, batched proof included) / RawScalarMult
//     goal ≤ 2.2 for large batches;
//   Evaluate (no proof) / (HashToGroup + RawScalarMult)  goal ≤ 1.1.
// Each batch benchmark reports "per_element" time so ratios read directly.
#include <benchmark/benchmark.h>
#include <sodium.h>

#include <string>
#include <thread>
#include <vector>

#include "crypto/oprf.h"
#include "crypto/public_point_sum.h"
#include "crypto/random.h"

namespace schakel::crypto::oprf {
namespace {

const Bytes& Info() {
  static const Bytes info = [] {
    Bytes b;
    Append(b, std::string_view("schakel:v1:purpose:riec-ondermijning"));
    return b;
  }();
  return info;
}

std::string InputFor(size_t i) { return "schakel:v1:bsn:" + std::to_string(100000000 + i); }

// ---------------------------------------------------------------- baselines

void BM_RawScalarMult(benchmark::State& state) {
  EnsureSodiumInitialized();
  unsigned char scalar[32], point[32], out[32];
  crypto_core_ristretto255_scalar_random(scalar);
  crypto_core_ristretto255_random(point);
  for (auto _ : state) {
    if (crypto_scalarmult_ristretto255(out, scalar, point) != 0) state.SkipWithError("identity");
    benchmark::DoNotOptimize(out);
    point[0] ^= 0;  // keep the loop honest without changing the work
  }
}
BENCHMARK(BM_RawScalarMult);

void BM_RawScalarMultBase(benchmark::State& state) {
  EnsureSodiumInitialized();
  unsigned char scalar[32], out[32];
  crypto_core_ristretto255_scalar_random(scalar);
  for (auto _ : state) {
    crypto_scalarmult_ristretto255_base(out, scalar);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_RawScalarMultBase);

// Point addition on encodings (decode both, add, encode): what accumulating
// the proof's composite costs per element with libsodium's public API.
void BM_RawAdd(benchmark::State& state) {
  EnsureSodiumInitialized();
  unsigned char p[32], q[32], out[32];
  crypto_core_ristretto255_random(p);
  crypto_core_ristretto255_random(q);
  for (auto _ : state) {
    crypto_core_ristretto255_add(out, p, q);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_RawAdd);

// Validation of one received encoding (a decode).
void BM_RawIsValidPoint(benchmark::State& state) {
  EnsureSodiumInitialized();
  unsigned char p[32];
  crypto_core_ristretto255_random(p);
  for (auto _ : state) {
    benchmark::DoNotOptimize(crypto_core_ristretto255_is_valid_point(p));
  }
}
BENCHMARK(BM_RawIsValidPoint);

// One term into the prover's public-point accumulator (a decode and an
// extended-coordinates addition): what replaces BM_RawAdd in the proof.
void BM_PublicPointSumAdd(benchmark::State& state) {
  const Element e = ScalarMultBase(Scalar::Random()).value();
  PublicPointSum sum;
  for (auto _ : state) {
    sum.Add(e);
    benchmark::DoNotOptimize(sum);
  }
}
BENCHMARK(BM_PublicPointSumAdd);

// HashToScalar of one composite transcript (the d_i of the proof).
void BM_CompositeScalar(benchmark::State& state) {
  Bytes transcript(2 + 64 + 2 + 2 * (2 + 32) + 9, 0x5a);
  for (auto _ : state) {
    auto d = HashToScalar(Mode::kPoprf, transcript);
    benchmark::DoNotOptimize(d);
  }
}
BENCHMARK(BM_CompositeScalar);

void BM_HashToGroup(benchmark::State& state) {
  const std::string input = InputFor(1);
  for (auto _ : state) {
    auto e = HashToGroup(Mode::kPoprf, AsBytes(input));
    benchmark::DoNotOptimize(e);
  }
}
BENCHMARK(BM_HashToGroup);

// HashToGroup followed by one raw scalar multiplication: the floor for Evaluate.
void BM_HashToGroupPlusScalarMult(benchmark::State& state) {
  EnsureSodiumInitialized();
  const std::string input = InputFor(1);
  unsigned char scalar[32], out[32];
  crypto_core_ristretto255_scalar_random(scalar);
  for (auto _ : state) {
    auto e = HashToGroup(Mode::kPoprf, AsBytes(input));
    if (crypto_scalarmult_ristretto255(out, scalar, e->bytes().data()) != 0) state.SkipWithError("identity");
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_HashToGroupPlusScalarMult);

// ---------------------------------------------------------------- protocol

void BM_Blind(benchmark::State& state) {
  const PrivateKey key = PrivateKey::Generate();
  auto client = PoprfClient::Create(key.public_key(), Info()).value();
  const std::string input = InputFor(7);
  for (auto _ : state) {
    auto b = client.Blind(AsBytes(input));
    benchmark::DoNotOptimize(b);
  }
}
BENCHMARK(BM_Blind);

struct Batch {
  std::vector<std::string> inputs;
  std::vector<Scalar> blinds;
  std::vector<Element> blinded;
};

Batch MakeBatch(const PoprfClient& client, size_t n) {
  Batch batch;
  for (size_t i = 0; i < n; ++i) {
    batch.inputs.push_back(InputFor(i));
    auto b = client.Blind(AsBytes(batch.inputs.back())).value();
    batch.blinds.push_back(std::move(b.blind));
    batch.blinded.push_back(b.blinded_element);
  }
  return batch;
}

void SetPerElement(benchmark::State& state, size_t n) {
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
  state.counters["per_element_us"] = benchmark::Counter(
      static_cast<double>(state.iterations() * n), benchmark::Counter::kIsRate | benchmark::Counter::kInvert,
      benchmark::Counter::kIs1000);
}

// POPRF BlindEvaluate of a batch with its batched DLEQ proof. Arg 0 = batch
// size, Arg 1 = threads.
void BM_BlindEvaluate(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  const int threads = static_cast<int>(state.range(1));
  PrivateKey key = PrivateKey::Generate();
  auto client = PoprfClient::Create(key.public_key(), Info()).value();
  const Batch batch = MakeBatch(client, n);
  PoprfServer server(std::move(key));
  const PoprfInfoKey info_key = server.ForInfo(Info()).value();
  for (auto _ : state) {
    auto eval = info_key.BlindEvaluateBatch(batch.blinded, threads);
    if (!eval.ok()) state.SkipWithError("evaluate failed");
    benchmark::DoNotOptimize(eval);
  }
  SetPerElement(state, n);
}
BENCHMARK(BM_BlindEvaluate)
    ->Args({1, 1})->Args({100, 1})->Args({1000, 1})->Args({1000, 2})
    ->Unit(benchmark::kMicrosecond)->UseRealTime();

// Client side: proof verification alone, for a batch.
void BM_VerifyProof(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  PrivateKey key = PrivateKey::Generate();
  auto client = PoprfClient::Create(key.public_key(), Info()).value();
  const Batch batch = MakeBatch(client, n);
  PoprfServer server(std::move(key));
  auto eval = server.BlindEvaluateBatch(batch.blinded, Info()).value();
  for (auto _ : state) {
    auto s = VerifyProof(Mode::kPoprf, Element::Generator(), client.tweaked_key(),
                         eval.evaluated_elements, batch.blinded, eval.proof);
    if (!s.ok()) state.SkipWithError("proof does not verify");
  }
  SetPerElement(state, n);
}
BENCHMARK(BM_VerifyProof)->Arg(1)->Arg(100)->Arg(1000)->Unit(benchmark::kMicrosecond);

// Client side: Finalize (proof verification + unblinding + hashing).
void BM_Finalize(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  PrivateKey key = PrivateKey::Generate();
  auto client = PoprfClient::Create(key.public_key(), Info()).value();
  const Batch batch = MakeBatch(client, n);
  std::vector<ByteView> views;
  for (const auto& s : batch.inputs) views.push_back(AsBytes(s));
  PoprfServer server(std::move(key));
  auto eval = server.BlindEvaluateBatch(batch.blinded, Info()).value();
  for (auto _ : state) {
    auto out = client.Finalize(views, batch.blinds, batch.blinded, eval.evaluated_elements, eval.proof);
    if (!out.ok()) state.SkipWithError("finalize failed");
    benchmark::DoNotOptimize(out);
  }
  SetPerElement(state, n);
}
BENCHMARK(BM_Finalize)->Arg(1)->Arg(100)->Arg(1000)->Unit(benchmark::kMicrosecond);

// The node's path: a batch of received encodings, validated inside the
// evaluation's own scalar multiplications, with the batched proof.
void BM_BlindEvaluateEncoded(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  const int threads = static_cast<int>(state.range(1));
  PrivateKey key = PrivateKey::Generate();
  auto client = PoprfClient::Create(key.public_key(), Info()).value();
  const Batch batch = MakeBatch(client, n);
  std::vector<Bytes> wire;
  for (const auto& e : batch.blinded) wire.push_back(e.ToBytes());
  std::vector<ByteView> views(wire.begin(), wire.end());
  PoprfServer server(std::move(key));
  const PoprfInfoKey info_key = server.ForInfo(Info()).value();
  for (auto _ : state) {
    auto eval = info_key.BlindEvaluateEncoded(views, "blinded_elements", threads);
    if (!eval.ok()) state.SkipWithError("evaluate failed");
    benchmark::DoNotOptimize(eval);
  }
  SetPerElement(state, n);
}
BENCHMARK(BM_BlindEvaluateEncoded)
    ->Args({1000, 1})->Args({1000, 2})->Unit(benchmark::kMicrosecond)->UseRealTime();

// Raw scalar multiplications on `threads` threads at once: the baseline for
// the node's multi-threaded evaluation (issue 3: "ratio to raw scalar
// multiplications/s on the same cores").
void BM_RawScalarMultParallel(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  constexpr int kPerThread = 2000;
  EnsureSodiumInitialized();
  for (auto _ : state) {
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([] {
        unsigned char scalar[32], point[32], out[32];
        crypto_core_ristretto255_scalar_random(scalar);
        crypto_core_ristretto255_random(point);
        for (int i = 0; i < kPerThread; ++i) {
          if (crypto_scalarmult_ristretto255(out, scalar, point) != 0) std::abort();
          benchmark::DoNotOptimize(out);
        }
      });
    }
    for (auto& w : workers) w.join();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * threads * kPerThread);
}
BENCHMARK(BM_RawScalarMultParallel)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

// The node's evaluation of a 10,000-element batch received from the gateway
// (encodings validated inside the evaluation), with its batched proof, on
// `threads` threads.
void BM_NodeEvaluate10k(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  constexpr size_t n = 10000;
  PrivateKey key = PrivateKey::Generate();
  auto client = PoprfClient::Create(key.public_key(), Info()).value();
  const Batch batch = MakeBatch(client, n);
  std::vector<Bytes> wire;
  for (const auto& e : batch.blinded) wire.push_back(e.ToBytes());
  std::vector<ByteView> views(wire.begin(), wire.end());
  PoprfServer server(std::move(key));
  const PoprfInfoKey info_key = server.ForInfo(Info()).value();
  for (auto _ : state) {
    auto eval = info_key.BlindEvaluateEncoded(views, "blinded_elements", threads);
    if (!eval.ok()) state.SkipWithError("evaluate failed");
    benchmark::DoNotOptimize(eval);
  }
  SetPerElement(state, n);
}
BENCHMARK(BM_NodeEvaluate10k)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

// Server-side direct evaluation (no blinding, no proof) under a purpose whose
// tweaked key is computed once: how a node computes its own tags for index
// publication.
void BM_Evaluate(benchmark::State& state) {
  PoprfServer server(PrivateKey::Generate());
  const PoprfInfoKey info_key = server.ForInfo(Info()).value();
  const std::string input = InputFor(3);
  for (auto _ : state) {
    auto out = info_key.Evaluate(AsBytes(input));
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_Evaluate);

// The same including the per-call tweak (one scalar inversion): what a
// caller pays when it does not keep the PoprfInfoKey.
void BM_EvaluateUncachedTweak(benchmark::State& state) {
  PoprfServer server(PrivateKey::Generate());
  const std::string input = InputFor(3);
  for (auto _ : state) {
    auto out = server.Evaluate(AsBytes(input), Info());
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_EvaluateUncachedTweak);

// The same in OPRF mode (no tweak).
void BM_EvaluateOprf(benchmark::State& state) {
  OprfServer server(PrivateKey::Generate());
  const std::string input = InputFor(3);
  for (auto _ : state) {
    auto out = server.Evaluate(AsBytes(input));
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_EvaluateOprf);

}  // namespace
}  // namespace schakel::crypto::oprf

BENCHMARK_MAIN();
