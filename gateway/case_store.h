// The gateway's cases (cases.proto): a director opens a case for a purpose
// with its goal, selection grounds and end date; exchanges under a purpose
// that requires a case must name an open case of that purpose.
//
// This is the storage and life cycle only: ids, states, idempotency by
// request id, newest-first listing. Who may do what, and which values are
// acceptable under the policy, is the Cases service's (cases_service.h).
//
// State: a stored case is OPEN, CLOSED or EXPIRED; an OPEN case whose
// ends_at has passed is reported as EXPIRED by every read (`now` is a
// parameter, so the store has no clock), and can no longer be changed or
// closed. ExpireDue stores (and, through its Commit, logs) that change.
//
// Every change is one atomic synced write, made through a Commit the
// caller gives: the Cases service writes the case together with its log
// entry (ExchangeLog::Append with `with`), so a case never changes without
// its CASE_* record, nor the other way round. Store and log must then share
// one KvStore. DirectCommit() writes the change alone (tests, tools).
//
// Storage (under the KvStore it is given):
//   "case/c/" + case_id                       -> Case (wire format)
//   "case/o/" + 8-byte BE (2^64-1 - serial)   -> case_id (newest first)
//   "case/r/" + request_id                    -> fingerprint (32) || 8-byte
//                                                log sequence || case_id
//   "case/n/" + year (4 digits)               -> last number given that year
//   "case/s"                                  -> last serial (all years)
// Case ids are "<year>-<number>", e.g. "2025-0042" (common.proto), the year
// of opening in UTC and a number counting from 1 each year.
//
// Thread safety: all methods are safe to call concurrently; changes are
// serialised (a change holds the store's lock across its commit, so reads
// that race with it see the case before or after, never half of it).
#ifndef SCHAKEL_GATEWAY_CASE_STORE_H_
#define SCHAKEL_GATEWAY_CASE_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/exchange_log.h"
#include "schakel/v1/cases.pb.h"
#include "store/kv_store.h"

namespace schakel::gateway {

class CaseStore {
 public:
  // Makes a prepared change durable: `after` is the case as it will be
  // stored; `writes(sequence, batch)` adds the store's puts to the batch
  // written (sequence: the log entry recording the change, 0 when none).
  // Returns the log sequence used. On an error nothing may have been
  // written.
  using Commit = std::function<absl::StatusOr<uint64_t>(const v1::Case& after,
                                                        const ExchangeLog::WithEntry& writes)>;

  // Opens the cases kept in `kv` (not owned; must outlive the store).
  // Errors: DATA_LOSS for a malformed stored counter; store errors.
  static absl::StatusOr<std::unique_ptr<CaseStore>> Open(store::KvStore* kv);

  // A Commit that writes the change alone, synced, with log sequence 0.
  Commit DirectCommit() const;

  // The case with its state as of `now` (OPEN becomes EXPIRED after
  // ends_at). Errors: NOT_FOUND when none; DATA_LOSS when it does not
  // parse; store errors.
  absl::StatusOr<v1::Case> Get(std::string_view case_id, absl::Time now) const;

  // What a request id was used for (idempotent OpenCase).
  struct Replay {
    std::string case_id;
    uint64_t log_sequence = 0;  // the CASE_OPENED entry
  };
  // nullopt when `request_id` was never used; the earlier use when it was
  // used with the same `fingerprint` (a digest of the whole request, the
  // caller's organisation included). Errors: ALREADY_EXISTS when it was
  // used with another fingerprint; store errors.
  absl::StatusOr<std::optional<Replay>> FindRequest(std::string_view request_id,
                                                    std::string_view fingerprint) const;

  struct Opened {
    v1::Case case_info;
    // True when `request_id` had opened this case before: nothing was
    // written and Commit was not called.
    bool replayed = false;
    uint64_t log_sequence = 0;
  };
  // Opens `draft` (every field but case_id, state, opened_at, closed_at
  // and close_reason, which are set here; the caller has validated it) at
  // `now`, remembering `request_id` with `fingerprint`.
  // Errors: ALREADY_EXISTS (request id used with another fingerprint);
  // those of `commit`; store errors.
  absl::StatusOr<Opened> OpenCase(v1::Case draft, std::string_view request_id,
                                  std::string_view fingerprint, absl::Time now,
                                  const Commit& commit);

  // Applies `change` to the open case and stores the result. `change` may
  // refuse (its error is returned, nothing is written); it must not change
  // case_id, purpose_id, director or state fields.
  // Errors: NOT_FOUND; FAILED_PRECONDITION when the case is not open (as of
  // `now`); INVALID_ARGUMENT when `change` touched a field it may not;
  // those of `change` and `commit`.
  absl::StatusOr<v1::Case> Update(std::string_view case_id,
                                  const std::function<absl::Status(v1::Case&)>& change,
                                  absl::Time now, const Commit& commit);

  // Closes the open case at `now` with `reason` (the caller validated it).
  // Errors: NOT_FOUND; FAILED_PRECONDITION when already closed or expired;
  // those of `commit`.
  absl::StatusOr<v1::Case> Close(std::string_view case_id, std::string_view reason, absl::Time now,
                                 const Commit& commit);

  // Stores EXPIRED for every case still stored as OPEN whose ends_at is at
  // or before `now`, one commit per case (so each gets its log entry), and
  // returns them as stored. Reads already report such cases as EXPIRED; this
  // makes the change durable and logged. Errors: those of `commit` (cases
  // expired before the error stay expired); store errors.
  absl::StatusOr<std::vector<v1::Case>> ExpireDue(absl::Time now, const Commit& commit);

  struct Page {
    std::vector<v1::Case> cases;  // newest first
    std::string next_page_token;  // empty on the last page
  };
  // Cases for which `keep` (given the state as of `now`) is true, newest
  // first, at most `page_size` (1 .. 1000), from `page_token` (empty: the
  // first page). Errors: INVALID_ARGUMENT for a page token this store did
  // not give out or a bad page size; DATA_LOSS; store errors.
  absl::StatusOr<Page> List(const std::function<bool(const v1::Case&)>& keep, size_t page_size,
                            std::string_view page_token, absl::Time now) const;

 private:
  explicit CaseStore(store::KvStore* kv) : kv_(kv) {}
  absl::StatusOr<v1::Case> GetLocked(std::string_view case_id) const;

  store::KvStore* const kv_;
  mutable std::mutex mu_;  // serialises changes
};

// The state of `c` as of `now`: EXPIRED for an OPEN case at or after its
// ends_at, else its stored state.
v1::CaseState EffectiveState(const v1::Case& c, absl::Time now);

}  // namespace schakel::gateway

#endif  // SCHAKEL_GATEWAY_CASE_STORE_H_
