#include "crypto/pseudonym.h"

#include <algorithm>
#include <cctype>

#include "common/strings.h"

namespace schakel::crypto {

absl::Status ValidatePurposeId(std::string_view id) {
  // The rule of proto/schakel/v1/common.proto.
  if (id.size() < 2 || id.size() > 63) {
    return absl::InvalidArgumentError(
        StrCat("purpose: id must be 2 to 63 characters, got ", id.size()));
  }
  auto allowed = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  };
  for (size_t i = 0; i < id.size(); ++i) {
    if (!allowed(id[i]) || (i == 0 && !(id[i] >= 'a' && id[i] <= 'z'))) {
      return absl::InvalidArgumentError(StrCat(
          "purpose: character ", i + 1,
          " is not allowed (use lower-case letters, digits, '.', '_' and '-', starting with a "
          "letter)"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Bytes> PurposeInfo(std::string_view purpose_id) {
  if (auto s = ValidatePurposeId(purpose_id); !s.ok()) return s;
  Bytes info;
  Append(info, std::string_view("schakel:v1:purpose:"));
  Append(info, purpose_id);
  return info;
}

Tag TagOf(const oprf::Output& output) {
  Tag tag;
  std::copy_n(output.begin(), kTagSize, tag.begin());
  return tag;
}

std::vector<Bytes> PendingMatch::BlindedEncodings() const {
  std::vector<Bytes> out;
  out.reserve(blinded_.size());
  for (const auto& e : blinded_) out.push_back(e.ToBytes());
  return out;
}

absl::StatusOr<MatchRequester> MatchRequester::Create(std::string_view purpose_id) {
  auto info = PurposeInfo(purpose_id);
  if (!info.ok()) return info.status();
  return MatchRequester(std::move(*info), std::string(purpose_id));
}

absl::StatusOr<PendingMatch> MatchRequester::Blind(std::span<const ByteView> inputs) const {
  if (!live_) return absl::FailedPreconditionError("match requester: this object was moved from");
  if (inputs.empty()) return absl::InvalidArgumentError("match: no inputs to blind");
  if (inputs.size() > oprf::kMaxBatch) {
    return absl::InvalidArgumentError(StrCat("match: ", inputs.size(),
                                             " inputs is more than the ", oprf::kMaxBatch,
                                             " one batch allows"));
  }
  PendingMatch pending;
  pending.inputs_.reserve(inputs.size());
  std::vector<Scalar> blinds;
  blinds.reserve(inputs.size());
  pending.blinded_.reserve(inputs.size());
  for (const ByteView input : inputs) {
    auto b = oprf::PoprfClient::Blind(input);
    if (!b.ok()) return b.status();
    SecretBuffer copy(input.size());
    std::copy(input.begin(), input.end(), copy.data());
    pending.inputs_.push_back(std::move(copy));
    blinds.push_back(std::move(b->blind));
    pending.blinded_.push_back(b->blinded_element);
  }
  auto inverses = InvertAll(blinds);
  if (!inverses.ok()) return inverses.status();
  pending.blind_inverses_ = *std::move(inverses);
  return pending;
}

absl::StatusOr<std::vector<Element>> MatchRequester::ParseAnswer(
    const PendingMatch& pending, std::span<const ByteView> evaluated_elements) const {
  if (!live_) return absl::FailedPreconditionError("match requester: this object was moved from");
  if (evaluated_elements.size() != pending.size()) {
    return absl::InvalidArgumentError(StrCat("evaluated_elements: expected ", pending.size(),
                                             " elements, got ", evaluated_elements.size()));
  }
  std::vector<Element> evaluated;
  evaluated.reserve(evaluated_elements.size());
  for (size_t i = 0; i < evaluated_elements.size(); ++i) {
    auto e = Element::FromBytes(evaluated_elements[i], StrCat("evaluated_elements[", i, "]"));
    if (!e.ok()) return e.status();
    evaluated.push_back(*e);
  }
  return evaluated;
}

absl::Status MatchRequester::Verify(const PendingMatch& pending, const Element& node_public_key,
                                    std::span<const Element> evaluated, ByteView proof) const {
  auto parsed_proof = oprf::Proof::Parse(proof);
  if (!parsed_proof.ok()) return parsed_proof.status();
  auto client = oprf::PoprfClient::Create(node_public_key, info_);
  if (!client.ok()) return client.status();
  return client->Verify(pending.blinded_, evaluated, *parsed_proof);
}

absl::StatusOr<Tag> MatchRequester::Unblind(const PendingMatch& pending, size_t index,
                                            const Element& evaluated) const {
  auto output = oprf::PoprfClient::FinalizeUnverified(
      pending.inputs_[index].bytes(), info_, pending.blind_inverses_[index], evaluated);
  if (!output.ok()) return output.status();
  return TagOf(*output);
}

absl::StatusOr<std::vector<Tag>> MatchRequester::Finalize(
    const PendingMatch& pending, const Element& node_public_key,
    std::span<const ByteView> evaluated_elements, ByteView proof) const {
  auto evaluated = ParseAnswer(pending, evaluated_elements);
  if (!evaluated.ok()) return evaluated.status();
  if (auto s = Verify(pending, node_public_key, *evaluated, proof); !s.ok()) return s;
  std::vector<Tag> tags;
  tags.reserve(evaluated->size());
  for (size_t i = 0; i < evaluated->size(); ++i) {
    auto tag = Unblind(pending, i, (*evaluated)[i]);
    if (!tag.ok()) return tag.status();
    tags.push_back(*tag);
  }
  return tags;
}

absl::Status MatchRequester::VerifyAnswer(const PendingMatch& pending,
                                          const Element& node_public_key,
                                          std::span<const ByteView> evaluated_elements,
                                          ByteView proof) const {
  auto evaluated = ParseAnswer(pending, evaluated_elements);
  if (!evaluated.ok()) return evaluated.status();
  return Verify(pending, node_public_key, *evaluated, proof);
}

absl::StatusOr<Tag> MatchRequester::UnverifiedTag(const PendingMatch& pending, size_t index,
                                                  ByteView evaluated_element) const {
  if (!live_) return absl::FailedPreconditionError("match requester: this object was moved from");
  const std::string field = StrCat("evaluated_elements[", index, "]");
  if (index >= pending.size()) {
    return absl::InvalidArgumentError(
        StrCat(field, ": the batch has only ", pending.size(), " elements"));
  }
  auto e = Element::FromBytes(evaluated_element, field);
  if (!e.ok()) return e.status();
  return Unblind(pending, index, *e);
}

absl::StatusOr<PurposeKey> PurposeKey::Create(const oprf::PoprfServer& server,
                                              std::string_view purpose_id) {
  auto info = PurposeInfo(purpose_id);
  if (!info.ok()) return info.status();
  auto key = server.ForInfo(*info);
  if (!key.ok()) return key.status();
  return PurposeKey(std::move(*key), std::string(purpose_id));
}

absl::StatusOr<PurposeKey::Evaluation> PurposeKey::EvaluateBlinded(
    std::span<const ByteView> blinded_elements, int threads) const {
  auto eval = key_.BlindEvaluateEncoded(blinded_elements, "blinded_elements", threads);
  if (!eval.ok()) return eval.status();
  Evaluation out;
  out.evaluated_elements.reserve(eval->evaluated_elements.size());
  for (const auto& e : eval->evaluated_elements) out.evaluated_elements.push_back(e.ToBytes());
  out.proof = eval->proof.Serialize();
  return out;
}

absl::StatusOr<Tag> PurposeKey::TagFor(ByteView input) const {
  auto output = key_.Evaluate(input);
  if (!output.ok()) return output.status();
  return TagOf(*output);
}

}  // namespace schakel::crypto
