#include "gateway/checkpoints.h"

#include <algorithm>
#include <limits>
#include <string>
#include <utility>

#include "common/strings.h"
#include "gateway/authoriser.h"
#include "proto/canonical.h"

namespace schakel::gateway {
namespace {

std::string DigestString(const canonical::DigestBytes& d) {
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

}  // namespace

absl::StatusOr<std::unique_ptr<CheckpointStore>> CheckpointStore::Open(
    store::KvStore* kv, ExchangeLog* log, crypto::SigningKey key, CheckpointOptions options,
    std::function<absl::Time()> now) {
  if (kv == nullptr || log == nullptr || !now) {
    return absl::InvalidArgumentError("checkpoints: store, log and clock are required");
  }
  if (kv != log->store()) {
    return absl::InvalidArgumentError(
        "checkpoints: must be kept in the store the exchange log is kept in");
  }
  std::unique_ptr<CheckpointStore> cs(
      new CheckpointStore(kv, log, std::move(key), options, std::move(now)));
  auto last = kv->Last(kCheckpointPrefix, store::PrefixEnd(kCheckpointPrefix));
  if (!last.ok()) return last.status();
  cs->latest_time_ = cs->now_();
  if (last->has_value()) {
    v1::Checkpoint c;
    if (!c.ParseFromString((*last)->second)) {
      return absl::DataLossError(
          "checkpoints: the latest checkpoint does not parse; run audit verify");
    }
    cs->latest_time_ = absl::FromUnixMillis(ToMillis(c.payload().created_at()));
    cs->latest_ = std::move(c);
  }
  return cs;
}

absl::Status CheckpointStore::MaybeCheckpoint() {
  const uint64_t head = log_->head_sequence();
  uint64_t last_sequence = 0;
  absl::Time last_time;
  {
    std::lock_guard lock(mu_);
    if (latest_.has_value()) last_sequence = latest_->payload().sequence();
    last_time = latest_time_;
  }
  if (head <= last_sequence) return absl::OkStatus();
  const bool by_entries =
      options_.every_entries > 0 && head - last_sequence >= options_.every_entries;
  const bool by_time =
      options_.every > absl::ZeroDuration() && now_() - last_time >= options_.every;
  if (!by_entries && !by_time) return absl::OkStatus();
  return CheckpointNow().status();
}

absl::StatusOr<v1::Checkpoint> CheckpointStore::CheckpointNow() {
  std::lock_guard make_lock(make_mu_);
  // The head sequence with its hash: the sequence only grows, so equal
  // readings around head_hash() mean the hash belongs to that sequence.
  const uint64_t head = log_->head_sequence();
  const canonical::DigestBytes head_hash = log_->head_hash();
  const bool head_hash_known = log_->head_sequence() == head;
  if (head == 0) {
    return absl::FailedPreconditionError("checkpoint: the exchange log is empty");
  }
  std::optional<v1::Checkpoint> previous = Latest();
  uint64_t previous_sequence = 0;
  canonical::DigestBytes link = canonical::kFirstPreviousHash;
  if (previous.has_value()) {
    previous_sequence = previous->payload().sequence();
    if (previous_sequence == head) return *previous;
    if (previous_sequence > head || previous->payload().head_hash().size() != link.size()) {
      return absl::DataLossError(StrCat("checkpoint: the latest checkpoint (entry ",
                                        previous_sequence, ") does not fit the log (head ", head,
                                        "); run audit verify"));
    }
    const std::string& h = previous->payload().head_hash();
    std::copy(h.begin(), h.end(), link.begin());
  }

  // Read back what is signed: the entries since the previous checkpoint must
  // link from its head to this one, each with its own hashes intact.
  std::string segment;
  segment.reserve((head - previous_sequence) * canonical::kDigestSize);
  uint64_t expected = previous_sequence + 1;
  auto broken = [&](std::string_view what) {
    return absl::DataLossError(StrCat("checkpoint: entry ", expected, " ", what,
                                      "; nothing was signed; run audit verify"));
  };
  while (expected <= head) {
    auto entries =
        log_->Read(expected, static_cast<size_t>(std::min<uint64_t>(head - expected + 1, 4096)));
    if (!entries.ok()) return entries.status();
    if (entries->empty()) return broken("is missing");
    for (const v1::LogEntry& e : *entries) {
      if (e.sequence() != expected) return broken("is missing");
      if (e.previous_hash() != DigestString(link))
        return broken("does not link to the entry before");
      auto record_hash = canonical::Digest(canonical::kLogRecordContext, e.record());
      if (!record_hash.ok() || e.record_hash() != DigestString(*record_hash)) {
        return broken("does not match its record_hash");
      }
      link = canonical::EntryHash(expected, link, *record_hash);
      if (e.entry_hash() != DigestString(link)) return broken("does not match its entry_hash");
      segment += DigestString(*record_hash);
      ++expected;
      if (expected > head) break;
    }
  }
  if (head_hash_known && link != head_hash) {
    return absl::DataLossError(
        StrCat("checkpoint: the stored chain ends in another hash than the "
               "log appended at entry ",
               head, "; nothing was signed; run audit verify"));
  }

  v1::Checkpoint checkpoint;
  v1::CheckpointPayload& payload = *checkpoint.mutable_payload();
  payload.set_sequence(head);
  payload.set_head_hash(DigestString(link));
  SetMillis(payload.mutable_created_at(), absl::ToUnixMillis(now_()));
  payload.set_previous_checkpoint_sequence(previous_sequence);
  auto signature = canonical::Sign(key_, canonical::kCheckpointContext, payload);
  if (!signature.ok()) return signature.status();
  *checkpoint.mutable_signature() = *std::move(signature);

  store::WriteBatch batch;
  batch.Put(CheckpointKey(head), checkpoint.SerializeAsString());
  batch.Put(CheckpointSegmentKey(head), segment);
  if (absl::Status s = kv_->Write(batch, store::Durability::kSynced); !s.ok()) {
    return absl::UnavailableError(
        StrCat("checkpoint: could not be written durably (", s.message(), ")"));
  }
  std::lock_guard lock(mu_);
  latest_ = checkpoint;
  latest_time_ = absl::FromUnixMillis(ToMillis(payload.created_at()));
  return checkpoint;
}

absl::StatusOr<std::vector<v1::Checkpoint>> CheckpointStore::List(uint64_t from,
                                                                  uint64_t to) const {
  const std::string end = to == 0 || to == std::numeric_limits<uint64_t>::max()
                              ? store::PrefixEnd(kCheckpointPrefix)
                              : CheckpointKey(to + 1);
  auto rows = kv_->Scan(CheckpointKey(from), end);
  if (!rows.ok()) return rows.status();
  std::vector<v1::Checkpoint> out;
  out.reserve(rows->size());
  for (const auto& [key, value] : *rows) {
    v1::Checkpoint c;
    if (!c.ParseFromString(value)) {
      return absl::DataLossError(
          "checkpoints: a stored checkpoint does not parse; run audit verify");
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::optional<v1::Checkpoint> CheckpointStore::Latest() const {
  std::lock_guard lock(mu_);
  return latest_;
}

std::unique_ptr<ReceiptIssuer> CheckpointStore::NewReceiptIssuer() const {
  return std::make_unique<ReceiptIssuer>(crypto::SigningKey::FromSeed(key_.seed()), now_);
}

}  // namespace schakel::gateway
