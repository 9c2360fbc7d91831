// Signed checkpoints of the exchange log (signing.proto, CheckpointPayload):
// the gateway signs (head sequence, head entry_hash) with its Ed25519 key
// at a configured interval (every N entries, or after a time when anything
// was appended) and on demand (GatewayAdmin.CreateCheckpoint). A checkpoint
// lets anyone holding the gateway's public key prove that the log up to its
// head has not been rewritten since: a chain edited and consistently
// re-hashed no longer ends in the signed head hash.
//
// Before signing, the entries since the previous checkpoint are read back
// from the store and checked to link from that checkpoint's signed head to
// the current head, so a checkpoint never signs a chain that was already
// broken (DATA_LOSS then, and nothing is signed). Their record hashes are
// stored with the checkpoint ("segment", exchange_log.h) so that
// ExchangeLog::Verify can name the first changed entry, not only the
// checkpoint that no longer matches. Checkpoint and segment are one synced
// write. Storage keys: exchange_log.h (CheckpointKey, CheckpointSegmentKey).
//
// Thread safety: all methods are safe to call concurrently; making a
// checkpoint is serialised internally.
#ifndef SCHAKEL_GATEWAY_CHECKPOINTS_H_
#define SCHAKEL_GATEWAY_CHECKPOINTS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "crypto/signing.h"
#include "gateway/exchange_log.h"
#include "gateway/receipts.h"
#include "schakel/v1/signing.pb.h"
#include "store/kv_store.h"

namespace schakel::gateway {

struct CheckpointOptions {
  // Make a checkpoint once this many entries were appended since the last
  // one; 0 disables the entry interval.
  uint64_t every_entries = 1000;
  // ... or once this long has passed since the last one and at least one
  // entry was appended; zero or negative disables the time interval.
  absl::Duration every = absl::Minutes(10);
};

class CheckpointStore {
 public:
  // Opens the checkpoints kept in `kv` for `log` (neither owned; both must
  // outlive the store; `kv` must be the store the log is kept in:
  // INVALID_ARGUMENT otherwise). `key` is the gateway's signing key (to
  // keep a copy elsewhere, use crypto::SigningKey::FromSeed(key.seed())).
  // `now` is the clock (created_at, the time interval).
  // Errors: DATA_LOSS when the latest stored checkpoint does not parse;
  // store errors.
  static absl::StatusOr<std::unique_ptr<CheckpointStore>> Open(
      store::KvStore* kv, ExchangeLog* log, crypto::SigningKey key, CheckpointOptions options,
      std::function<absl::Time()> now = absl::Now);

  // Signs a checkpoint of the current head when the configured interval
  // (entries or time) is reached; otherwise does nothing. Cheap when
  // nothing is due: call it after appends or from a timer.
  // Errors: as CheckpointNow.
  absl::Status MaybeCheckpoint();

  // Signs a checkpoint of the current head now. Returns the latest
  // checkpoint unchanged when the head has not moved since it.
  // Errors: FAILED_PRECONDITION when the log is empty; DATA_LOSS when the
  // entries since the previous checkpoint do not link to it or to the
  // head (the log was edited; run audit verify); UNAVAILABLE when the
  // checkpoint could not be written durably.
  absl::StatusOr<v1::Checkpoint> CheckpointNow();

  // Checkpoints whose head sequence is in [from, to] (0 for `to`: no upper
  // bound), ascending. Errors: DATA_LOSS for a stored one that does not
  // parse; store errors.
  absl::StatusOr<std::vector<v1::Checkpoint>> List(uint64_t from, uint64_t to) const;

  // The latest checkpoint, nullopt when none was made yet.
  std::optional<v1::Checkpoint> Latest() const;

  // The key checkpoints (and receipts) are signed with; pass it to
  // ExchangeLog::VerifyOptions::checkpoint_keys.
  const crypto::VerifyKey& verify_key() const { return key_.verify_key(); }

  // A receipt issuer (receipts.h) with the same key and clock, for
  // services that hold the checkpoint store but no issuer of their own.
  std::unique_ptr<ReceiptIssuer> NewReceiptIssuer() const;

 private:
  CheckpointStore(store::KvStore* kv, ExchangeLog* log, crypto::SigningKey key,
                  CheckpointOptions options, std::function<absl::Time()> now)
      : kv_(kv), log_(log), key_(std::move(key)), options_(options), now_(std::move(now)) {}

  store::KvStore* const kv_;
  ExchangeLog* const log_;
  const crypto::SigningKey key_;
  const CheckpointOptions options_;
  const std::function<absl::Time()> now_;

  std::mutex make_mu_;  // serialises CheckpointNow
  mutable std::mutex mu_;
  std::optional<v1::Checkpoint> latest_;  // guarded by mu_
  absl::Time latest_time_;                // guarded by mu_; when latest_ was made (or Open)
};

}  // namespace schakel::gateway

#endif  // SCHAKEL_GATEWAY_CHECKPOINTS_H_
