#include "crypto/oprf.h"

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <thread>

#include "common/strings.h"
#include "crypto/hash.h"
#include "crypto/public_point_sum.h"

namespace schakel::crypto::oprf {
namespace {

constexpr size_t kMaxInputSize = 65535;

// Index of a mode into per-mode tables; a value outside the enum is a
// programming error and stops the process rather than reading out of bounds.
size_t ModeIndex(Mode mode) {
  switch (mode) {
    case Mode::kOprf: return 0;
    case Mode::kVoprf: return 1;
    case Mode::kPoprf: return 2;
  }
  std::fprintf(stderr, "schakel: internal error: OPRF mode %d\n", static_cast<int>(mode));
  std::abort();
}

Bytes Dst(std::string_view prefix, Mode mode) {
  Bytes dst;
  Append(dst, prefix);
  Append(dst, ContextString(mode));
  return dst;
}

absl::Status CheckInputSize(ByteView input, std::string_view field) {
  if (input.size() > kMaxInputSize) {
    return absl::InvalidArgumentError(
        StrCat(field, ": ", input.size(), " bytes is longer than the 65535 allowed"));
  }
  return absl::OkStatus();
}

absl::Status CheckBatch(size_t n, std::string_view what) {
  if (n == 0) return absl::InvalidArgumentError(StrCat(what, ": the batch is empty"));
  if (n > kMaxBatch) {
    return absl::InvalidArgumentError(
        StrCat(what, ": batch of ", n, " elements is larger than the ", kMaxBatch, " allowed"));
  }
  return absl::OkStatus();
}

absl::Status FirstError(const std::vector<absl::Status>& statuses) {
  for (const auto& s : statuses) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

// How many contiguous chunks a batch of n elements is split into when the
// caller asks for `threads`: at most kMaxThreads, and no chunk smaller than
// 32 elements (thread start-up would cost more than it saves).
size_t ChunkCount(size_t n, int threads) {
  constexpr size_t kMinPerChunk = 32;
  const size_t wanted = threads < 1 ? 1 : static_cast<size_t>(std::min(threads, kMaxThreads));
  return std::max<size_t>(1, std::min(wanted, n / kMinPerChunk));
}

// Runs fn(begin, end, chunk) -> absl::Status over [0, n) in `chunks`
// contiguous chunks, chunk 0 on the calling thread. Returns the first error.
// Never terminates the process: a worker's exception becomes INTERNAL, and
// when a thread cannot be started its chunk runs on the calling thread.
template <typename Fn>
absl::Status ParallelChunks(size_t n, size_t chunks, Fn&& fn) {
  std::vector<absl::Status> status(chunks);
  const size_t per = (n + chunks - 1) / chunks;
  auto run = [&](size_t c) noexcept {
    const size_t begin = std::min(n, c * per);
    const size_t end = std::min(n, begin + per);
    try {
      status[c] = fn(begin, end, c);
    } catch (const std::exception& e) {
      status[c] = absl::InternalError(StrCat("batch worker failed: ", e.what()));
    } catch (...) {
      status[c] = absl::InternalError("batch worker failed");
    }
  };
  {
    std::vector<std::jthread> workers;  // joined when this scope ends
    size_t started = 1;
    try {
      workers.reserve(chunks - 1);
      for (; started < chunks; ++started) workers.emplace_back(run, started);
    } catch (...) {
      for (size_t c = started; c < chunks; ++c) run(c);
    }
    run(0);
  }
  return FirstError(status);
}

// Σ acc + term, where acc may still be empty.
absl::Status Accumulate(std::optional<Element>& acc, const Element& term) {
  if (!acc) {
    acc = term;
    return absl::OkStatus();
  }
  auto sum = Add(*acc, term);
  if (!sum.ok()) return sum.status();
  acc = *sum;
  return absl::OkStatus();
}

struct Composites {
  Element m;
  Element z;
};

// ComputeComposites / ComputeCompositesFast (RFC 9497 section 2.2.1). With
// `k` set, Z = k·M (the prover's shortcut); without, Z = Σ d_i·D_i.
absl::StatusOr<Composites> ComputeComposites(Mode mode, const Element& b,
                                             std::span<const Element> c,
                                             std::span<const Element> d, const Scalar* k,
                                             int threads) {
  if (c.size() != d.size()) {
    return absl::InvalidArgumentError(StrCat("proof: ", c.size(), " inputs but ",
                                                   d.size(), " evaluations"));
  }
  if (auto s = CheckBatch(c.size(), "proof"); !s.ok()) return s;

  const Bytes seed_dst = Dst("Seed-", mode);
  Bytes seed_transcript;
  AppendLengthPrefixed(seed_transcript, b.bytes());
  AppendLengthPrefixed(seed_transcript, seed_dst);
  const Sha512Digest seed = Sha512Hash(seed_transcript);
  const Bytes scalar_dst = Dst("HashToScalar-", mode);

  const size_t n = c.size();
  const size_t chunks = ChunkCount(n, threads);
  // The prover (k set) sums its public terms with PublicPointSum; the
  // verifier uses libsodium's additions only, so it checks the prover's
  // arithmetic independently.
  std::vector<PublicPointSum> fast_m(k != nullptr ? chunks : 0);
  std::vector<std::optional<Element>> partial_m(chunks);
  std::vector<std::optional<Element>> partial_z(chunks);

  auto status = ParallelChunks(n, chunks, [&](size_t begin, size_t end, size_t chunk) -> absl::Status {
    Bytes transcript;
    transcript.reserve(2 + seed.size() + 2 + 2 * (2 + kElementSize) + 9);
    for (size_t i = begin; i < end; ++i) {
      transcript.clear();
      AppendLengthPrefixed(transcript, seed);
      AppendI2osp(transcript, i, 2);
      AppendLengthPrefixed(transcript, c[i].bytes());
      AppendLengthPrefixed(transcript, d[i].bytes());
      Append(transcript, std::string_view("Composite"));
      const Scalar di = HashToScalarWithDst(transcript, scalar_dst);
      auto term_m = ScalarMult(di, c[i]);
      if (!term_m.ok()) return term_m.status();
      if (k != nullptr) {
        fast_m[chunk].Add(*term_m);
        continue;
      }
      if (auto s = Accumulate(partial_m[chunk], *term_m); !s.ok()) return s;
      {
        auto term_z = ScalarMult(di, d[i]);
        if (!term_z.ok()) return term_z.status();
        if (auto s = Accumulate(partial_z[chunk], *term_z); !s.ok()) return s;
      }
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;

  if (k != nullptr) {
    for (size_t i = 1; i < chunks; ++i) fast_m[0].Merge(fast_m[i]);
    auto m = fast_m[0].Sum();
    if (!m.ok()) return m.status();
    auto z = ScalarMult(*k, *m);
    if (!z.ok()) return z.status();
    return Composites{*m, *z};
  }
  std::optional<Element> m;
  for (const auto& p : partial_m) {
    if (p) {
      if (auto s = Accumulate(m, *p); !s.ok()) return s;
    }
  }
  if (!m) return absl::InternalError("proof: empty composite");
  std::optional<Element> z;
  for (const auto& p : partial_z) {
    if (p) {
      if (auto s = Accumulate(z, *p); !s.ok()) return s;
    }
  }
  if (!z) return absl::InternalError("proof: empty composite");
  return Composites{*m, *z};
}

Scalar Challenge(Mode mode, const Element& b, const Element& m, const Element& z,
                 const Element& t2, const Element& t3) {
  Bytes transcript;
  for (const Element* e : {&b, &m, &z, &t2, &t3}) AppendLengthPrefixed(transcript, e->bytes());
  Append(transcript, std::string_view("Challenge"));
  return HashToScalar(mode, transcript);
}

Bytes FramedInfo(ByteView info) {
  Bytes framed;
  Append(framed, std::string_view("Info"));
  AppendLengthPrefixed(framed, info);
  return framed;
}

// Finalize's hash: len(input) || input [|| len(info) || info] || len(e) || e || "Finalize".
// The input (an identifier) is hashed in place, never copied; the hash
// state is wiped when it goes out of scope. Lengths are checked by callers.
Output FinalizeHash(ByteView input, const ByteView* info, const Element& element) {
  Sha512 h;
  auto prefixed = [&h](ByteView data) {
    const uint8_t len[2] = {static_cast<uint8_t>(data.size() >> 8), static_cast<uint8_t>(data.size())};
    h.Update(ByteView(len, 2)).Update(data);
  };
  prefixed(input);
  if (info != nullptr) prefixed(*info);
  prefixed(element.bytes());
  h.Update(std::string_view("Finalize"));
  return h.Final();
}

absl::StatusOr<Blinded> BlindInput(Mode mode, ByteView input, Scalar blind) {
  if (auto s = CheckInputSize(input, "input"); !s.ok()) return s;
  if (blind.IsZero()) return absl::InvalidArgumentError("blind: must not be zero");
  auto input_element = HashToGroup(mode, input);
  if (!input_element.ok()) return input_element.status();
  auto blinded = ScalarMult(blind, *input_element);
  if (!blinded.ok()) return blinded.status();
  return Blinded{std::move(blind), *blinded};
}

// Unblinds one evaluated element: blind⁻¹ · evaluated.
absl::StatusOr<Element> Unblind(const Scalar& blind, const Element& evaluated) {
  auto inverse = blind.Invert();
  if (!inverse.ok()) return inverse.status();
  return ScalarMult(*inverse, evaluated);
}

absl::Status CheckFinalizeSizes(size_t inputs, size_t blinds, size_t blinded, size_t evaluated) {
  if (inputs != blinds || inputs != blinded || inputs != evaluated) {
    return absl::InvalidArgumentError(StrCat(
        "finalize: batch sizes differ (", inputs, " inputs, ", blinds, " blinds, ", blinded,
        " blinded elements, ", evaluated, " evaluated elements)"));
  }
  return CheckBatch(inputs, "finalize");
}

// Finalises a verified batch: unblinds each evaluated element with its
// blind's inverse (InvertAll: computed once for the batch, and once for every
// server a blinded batch goes to) and hashes it with its input.
absl::StatusOr<std::vector<Output>> FinalizeBatch(std::span<const ByteView> inputs,
                                                  std::span<const Scalar> blind_inverses,
                                                  std::span<const Element> evaluated,
                                                  const ByteView* info) {
  std::vector<Output> outputs;
  outputs.reserve(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (auto s = CheckInputSize(inputs[i], StrCat("input[", i, "]")); !s.ok()) return s;
    auto unblinded = ScalarMult(blind_inverses[i], evaluated[i]);
    if (!unblinded.ok()) return unblinded.status();
    outputs.push_back(FinalizeHash(inputs[i], info, *unblinded));
  }
  return outputs;
}

// k·blinded[i] for every i, split across threads.
absl::StatusOr<std::vector<Element>> EvaluateAll(const Scalar& k, std::span<const Element> blinded,
                                                 int threads) {
  std::vector<std::optional<Element>> out(blinded.size());
  auto status = ParallelChunks(blinded.size(), ChunkCount(blinded.size(), threads),
                               [&](size_t begin, size_t end, size_t) -> absl::Status {
    for (size_t i = begin; i < end; ++i) {
      auto e = ScalarMult(k, blinded[i]);
      if (!e.ok()) return e.status();
      out[i] = *e;
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  std::vector<Element> result;
  result.reserve(out.size());
  for (auto& e : out) result.push_back(*e);
  return result;
}

// The POPRF's per-info key t = skS + HashToScalar(framedInfo).
absl::StatusOr<Scalar> PoprfTweak(const Scalar& sk, ByteView info) {
  if (auto s = CheckInputSize(info, "info"); !s.ok()) return s;
  Scalar t = sk + HashToScalar(Mode::kPoprf, FramedInfo(info));
  if (t.IsZero()) return absl::InvalidArgumentError("info: the tweaked key is zero (InverseError)");
  return t;
}

}  // namespace

Bytes ContextString(Mode mode) {
  Bytes ctx;
  Append(ctx, std::string_view("OPRFV1-"));
  ctx.push_back(static_cast<uint8_t>(mode));
  Append(ctx, std::string_view("-"));
  Append(ctx, std::string_view(kSuiteId));
  return ctx;
}

absl::StatusOr<Element> HashToGroup(Mode mode, ByteView input) {
  static const Bytes dsts[3] = {Dst("HashToGroup-", Mode::kOprf), Dst("HashToGroup-", Mode::kVoprf),
                                Dst("HashToGroup-", Mode::kPoprf)};
  // The uniform bytes are derived from the input (an identifier): wiped.
  SecretBytes<kUniformSize> uniform;
  if (auto s = ExpandMessageXmdSha512Into(input, dsts[ModeIndex(mode)], uniform.mutable_bytes());
      !s.ok()) {
    return s;
  }
  auto e = Element::FromUniformBytes(uniform.bytes());
  if (!e.ok()) return absl::InvalidArgumentError("input: hashes to the identity (InvalidInputError)");
  return e;
}

Scalar HashToScalarWithDst(ByteView input, ByteView dst) {
  // May be key material (DeriveKeyPair): the uniform bytes are wiped.
  SecretBytes<kUniformSize> uniform;
  if (!ExpandMessageXmdSha512Into(input, dst, uniform.mutable_bytes()).ok()) {
    // Only DSTs outside 1..255 bytes fail; every DST here is a constant.
    std::fputs("schakel: internal error: HashToScalar DST length\n", stderr);
    std::abort();
  }
  return Scalar::FromUniformBytes(uniform.bytes());
}

Scalar HashToScalar(Mode mode, ByteView input) {
  static const Bytes dsts[3] = {Dst("HashToScalar-", Mode::kOprf),
                                Dst("HashToScalar-", Mode::kVoprf),
                                Dst("HashToScalar-", Mode::kPoprf)};
  return HashToScalarWithDst(input, dsts[ModeIndex(mode)]);
}

Bytes Proof::Serialize() const {
  Bytes out;
  Append(out, c.bytes());
  Append(out, s.bytes());
  return out;
}

absl::StatusOr<Proof> Proof::Parse(ByteView bytes) {
  if (bytes.size() != kProofSize) {
    return absl::InvalidArgumentError(
        StrCat("proof: must be ", kProofSize, " bytes, got ", bytes.size()));
  }
  auto c = Scalar::FromCanonicalBytes(bytes.subspan(0, kScalarSize), "proof.c");
  if (!c.ok()) return c.status();
  auto s = Scalar::FromCanonicalBytes(bytes.subspan(kScalarSize), "proof.s");
  if (!s.ok()) return s.status();
  return Proof{std::move(*c), std::move(*s)};
}

PrivateKey PrivateKey::Generate() {
  Scalar sk = Scalar::Random();
  Element pk = ScalarMultBase(sk).value();  // sk is non-zero
  return PrivateKey(std::move(sk), std::move(pk));
}

absl::StatusOr<PrivateKey> PrivateKey::Derive(Mode mode, std::span<const uint8_t, kSeedSize> seed,
                                              ByteView info) {
  if (auto s = CheckInputSize(info, "key info"); !s.ok()) return s;
  // deriveInput = seed || I2OSP(len(info), 2) || info, then || I2OSP(counter, 1).
  SecretBuffer derive_input(kSeedSize + 2 + info.size() + 1);
  const std::span<uint8_t> buf = derive_input.mutable_bytes();
  std::copy(seed.begin(), seed.end(), buf.begin());
  buf[kSeedSize] = static_cast<uint8_t>(info.size() >> 8);
  buf[kSeedSize + 1] = static_cast<uint8_t>(info.size());
  std::copy(info.begin(), info.end(), buf.begin() + kSeedSize + 2);
  const Bytes dst = Dst("DeriveKeyPair", mode);
  for (int counter = 0; counter <= 255; ++counter) {
    buf.back() = static_cast<uint8_t>(counter);
    Scalar sk = HashToScalarWithDst(derive_input.bytes(), dst);
    if (!sk.IsZero()) {
      Element pk = ScalarMultBase(sk).value();
      return PrivateKey(std::move(sk), std::move(pk));
    }
  }
  return absl::InternalError("DeriveKeyPair: no valid key after 256 attempts (DeriveKeyPairError)");
}

absl::StatusOr<PrivateKey> PrivateKey::FromBytes(ByteView bytes) {
  auto sk = Scalar::FromCanonicalBytes(bytes, "OPRF private key");
  if (!sk.ok()) return sk.status();
  if (sk->IsZero()) return absl::InvalidArgumentError("OPRF private key: must not be zero");
  Element pk = ScalarMultBase(*sk).value();
  return PrivateKey(std::move(*sk), std::move(pk));
}

absl::Status PrivateKey::CheckUsable() const {
  if (!live_) {
    return absl::FailedPreconditionError(
        "OPRF private key: this key object was moved from and holds no key");
  }
  return absl::OkStatus();
}

// ------------------------------------------------------------------ proofs

namespace {
// GenerateProof (RFC 9497 section 2.2.1). Internal: a caller-chosen nonce
// that repeats reveals k.
absl::StatusOr<Proof> GenerateProof(Mode mode, const Scalar& k, const Element& a,
                                    const Element& b, std::span<const Element> c,
                                    std::span<const Element> d, const Scalar& nonce,
                                    int threads) {
  auto comp = ComputeComposites(mode, b, c, d, &k, threads);
  if (!comp.ok()) return comp.status();
  auto t2 = ScalarMult(nonce, a);
  if (!t2.ok()) return t2.status();
  auto t3 = ScalarMult(nonce, comp->m);
  if (!t3.ok()) return t3.status();
  Scalar ch = Challenge(mode, b, comp->m, comp->z, *t2, *t3);
  Scalar s = nonce - ch * k;
  return Proof{std::move(ch), std::move(s)};
}
}  // namespace

absl::Status VerifyProof(Mode mode, const Element& a, const Element& b,
                         std::span<const Element> c, std::span<const Element> d,
                         const Proof& proof) {
  static const absl::Status kFail = absl::InvalidArgumentError("proof does not verify");
  auto comp = ComputeComposites(mode, b, c, d, nullptr, 1);
  if (!comp.ok()) return comp.status();
  // t2 = s·A + c·B, t3 = s·M + c·Z. A zero s or c cannot come from an honest
  // prover except with negligible probability; such a proof is refused.
  if (proof.s.IsZero() || proof.c.IsZero()) return kFail;
  auto sa = ScalarMult(proof.s, a);
  auto cb = ScalarMult(proof.c, b);
  auto sm = ScalarMult(proof.s, comp->m);
  auto cz = ScalarMult(proof.c, comp->z);
  if (!sa.ok() || !cb.ok() || !sm.ok() || !cz.ok()) return kFail;
  auto t2 = Add(*sa, *cb);
  auto t3 = Add(*sm, *cz);
  if (!t2.ok() || !t3.ok()) return kFail;
  Scalar expected = Challenge(mode, b, comp->m, comp->z, *t2, *t3);
  if (!(expected == proof.c)) return kFail;
  return absl::OkStatus();
}

// --------------------------------------------------------------- OPRF mode

absl::StatusOr<Blinded> OprfClient::Blind(ByteView input) const {
  return BlindInput(Mode::kOprf, input, Scalar::Random());
}
absl::StatusOr<Blinded> OprfClient::BlindWith(ByteView input, Scalar blind) const {
  return BlindInput(Mode::kOprf, input, std::move(blind));
}
absl::StatusOr<Output> OprfClient::Finalize(ByteView input, const Scalar& blind,
                                            const Element& evaluated_element) const {
  if (auto s = CheckInputSize(input, "input"); !s.ok()) return s;
  auto unblinded = Unblind(blind, evaluated_element);
  if (!unblinded.ok()) return unblinded.status();
  return FinalizeHash(input, nullptr, *unblinded);
}

absl::StatusOr<Element> OprfServer::BlindEvaluate(const Element& blinded_element) const {
  if (auto s = key_.CheckUsable(); !s.ok()) return s;
  return ScalarMult(key_.scalar(), blinded_element);
}

namespace {
absl::StatusOr<Output> EvaluateDirect(Mode mode, const Scalar& k, ByteView input) {
  if (auto s = CheckInputSize(input, "input"); !s.ok()) return s;
  auto input_element = HashToGroup(mode, input);
  if (!input_element.ok()) return input_element.status();
  auto evaluated = ScalarMult(k, *input_element);
  if (!evaluated.ok()) return evaluated.status();
  return FinalizeHash(input, nullptr, *evaluated);
}
}  // namespace

absl::StatusOr<Output> OprfServer::Evaluate(ByteView input) const {
  if (auto s = key_.CheckUsable(); !s.ok()) return s;
  return EvaluateDirect(Mode::kOprf, key_.scalar(), input);
}

// -------------------------------------------------------------- VOPRF mode

absl::StatusOr<Blinded> VoprfClient::Blind(ByteView input) const {
  return BlindInput(Mode::kVoprf, input, Scalar::Random());
}
absl::StatusOr<Blinded> VoprfClient::BlindWith(ByteView input, Scalar blind) const {
  return BlindInput(Mode::kVoprf, input, std::move(blind));
}
absl::StatusOr<std::vector<Output>> VoprfClient::Finalize(
    std::span<const ByteView> inputs, std::span<const Scalar> blinds,
    std::span<const Element> blinded_elements, std::span<const Element> evaluated_elements,
    const Proof& proof) const {
  if (auto s = CheckFinalizeSizes(inputs.size(), blinds.size(), blinded_elements.size(),
                                  evaluated_elements.size());
      !s.ok()) {
    return s;
  }
  if (auto s = VerifyProof(Mode::kVoprf, Element::Generator(), pk_, blinded_elements,
                           evaluated_elements, proof);
      !s.ok()) {
    return s;
  }
  auto inverses = InvertAll(blinds);
  if (!inverses.ok()) return inverses.status();
  return FinalizeBatch(inputs, *inverses, evaluated_elements, nullptr);
}

absl::StatusOr<BatchEvaluation> VoprfServer::BlindEvaluateBatch(
    std::span<const Element> blinded) const {
  return BlindEvaluateBatchWith(blinded, Scalar::Random());
}
absl::StatusOr<BatchEvaluation> VoprfServer::BlindEvaluateBatchWith(
    std::span<const Element> blinded, const Scalar& proof_nonce) const {
  if (auto s = key_.CheckUsable(); !s.ok()) return s;
  if (auto s = CheckBatch(blinded.size(), "blind evaluate"); !s.ok()) return s;
  auto evaluated = EvaluateAll(key_.scalar(), blinded, 1);
  if (!evaluated.ok()) return evaluated.status();
  auto proof = GenerateProof(Mode::kVoprf, key_.scalar(), Element::Generator(), key_.public_key(),
                             blinded, *evaluated, proof_nonce, 1);
  if (!proof.ok()) return proof.status();
  return BatchEvaluation{std::move(*evaluated), std::move(*proof)};
}
absl::StatusOr<Output> VoprfServer::Evaluate(ByteView input) const {
  if (auto s = key_.CheckUsable(); !s.ok()) return s;
  return EvaluateDirect(Mode::kVoprf, key_.scalar(), input);
}

// -------------------------------------------------------------- POPRF mode

absl::StatusOr<PoprfClient> PoprfClient::Create(Element server_public_key, ByteView info) {
  if (auto s = CheckInputSize(info, "info"); !s.ok()) return s;
  Scalar m = HashToScalar(Mode::kPoprf, FramedInfo(info));
  auto t = ScalarMultBase(m);
  if (!t.ok()) return absl::InvalidArgumentError("info: tweak is zero");
  auto tweaked = Add(*t, server_public_key);
  if (!tweaked.ok()) return absl::InvalidArgumentError("info: tweaked key is the identity (InvalidInputError)");
  return PoprfClient(*tweaked, Bytes(info.begin(), info.end()));
}

absl::StatusOr<Blinded> PoprfClient::Blind(ByteView input) {
  return BlindInput(Mode::kPoprf, input, Scalar::Random());
}
absl::StatusOr<Blinded> PoprfClient::BlindWith(ByteView input, Scalar blind) {
  return BlindInput(Mode::kPoprf, input, std::move(blind));
}
absl::StatusOr<std::vector<Output>> PoprfClient::Finalize(
    std::span<const ByteView> inputs, std::span<const Scalar> blinds,
    std::span<const Element> blinded_elements, std::span<const Element> evaluated_elements,
    const Proof& proof) const {
  if (auto s = CheckFinalizeSizes(inputs.size(), blinds.size(), blinded_elements.size(),
                                  evaluated_elements.size());
      !s.ok()) {
    return s;
  }
  auto inverses = InvertAll(blinds);
  if (!inverses.ok()) return inverses.status();
  return FinalizeWithInverses(inputs, *inverses, blinded_elements, evaluated_elements, proof);
}

absl::StatusOr<std::vector<Output>> PoprfClient::FinalizeWithInverses(
    std::span<const ByteView> inputs, std::span<const Scalar> blind_inverses,
    std::span<const Element> blinded_elements, std::span<const Element> evaluated_elements,
    const Proof& proof) const {
  if (!live_) {
    return absl::FailedPreconditionError("POPRF client: this object was moved from");
  }
  if (auto s = CheckFinalizeSizes(inputs.size(), blind_inverses.size(), blinded_elements.size(),
                                  evaluated_elements.size());
      !s.ok()) {
    return s;
  }
  if (auto s = Verify(blinded_elements, evaluated_elements, proof); !s.ok()) return s;
  const ByteView info(info_);
  return FinalizeBatch(inputs, blind_inverses, evaluated_elements, &info);
}

absl::Status PoprfClient::Verify(std::span<const Element> blinded_elements,
                                 std::span<const Element> evaluated_elements,
                                 const Proof& proof) const {
  if (!live_) {
    return absl::FailedPreconditionError("POPRF client: this object was moved from");
  }
  if (blinded_elements.size() != evaluated_elements.size()) {
    return absl::InvalidArgumentError(StrCat("evaluated_elements: expected ", blinded_elements.size(),
                                             " elements, got ", evaluated_elements.size()));
  }
  // POPRF proves D = t⁻¹·C with the roles swapped: C = evaluated, D = blinded.
  return VerifyProof(Mode::kPoprf, Element::Generator(), tweaked_key_, evaluated_elements,
                     blinded_elements, proof);
}

absl::StatusOr<Output> PoprfClient::FinalizeUnverified(ByteView input, ByteView info,
                                                       const Scalar& blind_inverse,
                                                       const Element& evaluated_element) {
  if (auto s = CheckInputSize(info, "info"); !s.ok()) return s;
  auto outputs = FinalizeBatch(std::span<const ByteView>(&input, 1),
                               std::span<const Scalar>(&blind_inverse, 1),
                               std::span<const Element>(&evaluated_element, 1), &info);
  if (!outputs.ok()) return outputs.status();
  return outputs->front();
}

namespace {
absl::Status MovedInfoKey() {
  return absl::FailedPreconditionError("POPRF key for info: this object was moved from");
}
}  // namespace

absl::StatusOr<PoprfInfoKey> PoprfServer::ForInfo(ByteView info) const {
  if (auto s = key_.CheckUsable(); !s.ok()) return s;
  auto t = PoprfTweak(key_.scalar(), info);
  if (!t.ok()) return t.status();
  auto t_inverse = t->Invert();
  if (!t_inverse.ok()) return t_inverse.status();
  auto tweaked_key = ScalarMultBase(*t);
  if (!tweaked_key.ok()) return tweaked_key.status();
  return PoprfInfoKey(std::move(*t), std::move(*t_inverse), std::move(*tweaked_key),
                      Bytes(info.begin(), info.end()));
}

absl::StatusOr<BatchEvaluation> PoprfServer::BlindEvaluateBatch(std::span<const Element> blinded,
                                                                ByteView info, int threads) const {
  auto key = ForInfo(info);
  if (!key.ok()) return key.status();
  return key->BlindEvaluateBatch(blinded, threads);
}

absl::StatusOr<Output> PoprfServer::Evaluate(ByteView input, ByteView info) const {
  auto key = ForInfo(info);
  if (!key.ok()) return key.status();
  return key->Evaluate(input);
}

absl::StatusOr<BatchEvaluation> PoprfInfoKey::Prove(std::span<const Element> blinded,
                                                    std::vector<Element> evaluated,
                                                    const Scalar& nonce, int threads) const {
  // POPRF proves blinded = t·evaluated: C = evaluated, D = blinded.
  auto proof = GenerateProof(Mode::kPoprf, t_, Element::Generator(), tweaked_key_, evaluated,
                             blinded, nonce, threads);
  if (!proof.ok()) return proof.status();
  return BatchEvaluation{std::move(evaluated), std::move(*proof)};
}

absl::StatusOr<BatchEvaluation> PoprfInfoKey::BlindEvaluateBatch(std::span<const Element> blinded,
                                                                 int threads) const {
  return BlindEvaluateBatchWith(blinded, Scalar::Random(), threads);
}

absl::StatusOr<BatchEvaluation> PoprfInfoKey::BlindEvaluateBatchWith(
    std::span<const Element> blinded, const Scalar& proof_nonce, int threads) const {
  if (!live_) return MovedInfoKey();
  if (auto s = CheckBatch(blinded.size(), "blind evaluate"); !s.ok()) return s;
  auto evaluated = EvaluateAll(t_inverse_, blinded, threads);
  if (!evaluated.ok()) return evaluated.status();
  return Prove(blinded, std::move(*evaluated), proof_nonce, threads);
}

absl::StatusOr<BatchEvaluation> PoprfInfoKey::BlindEvaluateEncoded(std::span<const ByteView> blinded,
                                                                   std::string_view field,
                                                                   int threads) const {
  if (!live_) return MovedInfoKey();
  if (auto s = CheckBatch(blinded.size(), field); !s.ok()) return s;
  // One pass does both: the multiplication decodes, and so validates, each
  // received encoding; no separate Element::FromBytes decode is needed.
  std::vector<std::optional<Element>> evaluated(blinded.size());
  std::vector<std::optional<Element>> inputs(blinded.size());
  auto status = ParallelChunks(blinded.size(), ChunkCount(blinded.size(), threads),
                               [&](size_t begin, size_t end, size_t) -> absl::Status {
    for (size_t i = begin; i < end; ++i) {
      auto e = ScalarMultUntrusted(t_inverse_, blinded[i], StrCat(field, "[", i, "]"));
      if (!e.ok()) return e.status();
      evaluated[i] = e->product;
      inputs[i] = e->input;
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  std::vector<Element> in, out;
  in.reserve(blinded.size());
  out.reserve(blinded.size());
  for (size_t i = 0; i < blinded.size(); ++i) {
    in.push_back(*inputs[i]);
    out.push_back(*evaluated[i]);
  }
  return Prove(in, std::move(out), Scalar::Random(), threads);
}

absl::StatusOr<Output> PoprfInfoKey::Evaluate(ByteView input) const {
  if (!live_) return MovedInfoKey();
  if (auto s = CheckInputSize(input, "input"); !s.ok()) return s;
  auto input_element = HashToGroup(Mode::kPoprf, input);
  if (!input_element.ok()) return input_element.status();
  auto evaluated = ScalarMult(t_inverse_, *input_element);
  if (!evaluated.ok()) return evaluated.status();
  const ByteView info(info_);
  return FinalizeHash(input, &info, *evaluated);
}

}  // namespace schakel::crypto::oprf
