// Server-side import of signals (signals.proto, Signals.ImportSignals):
// all or nothing, for files of a million rows.
//
// Flow:
//   1. Begin(header): one import session with its own 16-byte id.
//   2. AddRows(batch), any number of times: every row is validated and
//      normalised with the SignalStore's own rules (SignalStore::Validate),
//      spread over `threads` threads; an empty signal id is assigned here.
//      Problems are collected per row with its line number and field; a
//      signal id used twice in the file is a problem of the row (one
//      already stored, when replace_existing is false, too: found by
//      Finish, which checks every id once). Valid rows are
//      kept in memory (serialized, about 0.3 to 1 KiB per row: at most
//      kMaxImportRows rows) until Finish; nothing is written to the store
//      and no tag is computed yet, so a file with a bad last row is refused
//      without the expensive part.
//   3. Finish(commit): when commit is false or any row has a problem,
//      nothing is stored. Otherwise, holding the SignalStore's change lock
//      for the whole commit:
//        a. (replace_existing false) every id is checked again;
//        b. the journal "imp/j/<import id>" and the SIGNALS_IMPORTED record
//           are written in one synced write (a and b while the first
//           chunks are being tagged);
//        c. `threads` threads compute the tags chunk by chunk (one POPRF
//           evaluation per key per purpose) while this thread commits the
//           chunks already tagged, in order (SignalStore::CommitPrepared):
//           each chunk's signals, tags, queue entry and its undo record
//           "imp/u/<import id>/<u64 chunk>" are ONE atomic synced write; the
//           last chunk also removes the journal and every undo record.
//      When a chunk cannot be tagged or written, the chunks already
//      committed are rolled back at once (SignalStore::RollBack, newest
//      first) and the error is returned.
//   4. Recover(), at node start, before serving: an import whose journal
//      exists was committing when the node stopped: its committed chunks are
//      rolled back, newest first, each in one atomic write that also removes
//      its undo record; the last also removes the journal and logs the roll
//      back. So after any crash an import is either wholly stored or not at
//      all (the user imports the file again).
//
// No identifier, signal content or signal id goes into an error message or
// the log; problems name the line and the field only.
//
// Key layout: "imp/j/<id hex>" -> journal (the number of rows, in ASCII),
// "imp/u/<id hex>/<u64 chunk>" -> the chunk's undo record
// (SignalStore::CommitPrepared's undo_key).
//
// Thread safety: a SignalImport is used by one thread (the rpc's); it uses
// worker threads internally. Recover must not run concurrently with an
// import.
#ifndef SCHAKEL_NODES_IMPORT_H_
#define SCHAKEL_NODES_IMPORT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nodes/local_log.h"
#include "nodes/signal_store.h"
#include "schakel/v1/signals.pb.h"
#include "store/kv_store.h"

namespace schakel::nodes {

// Most rows one import accepts (RESOURCE_EXHAUSTED beyond).
inline constexpr uint64_t kMaxImportRows = 2'000'000;
// Most rows per ImportRows message (signals.proto).
inline constexpr size_t kMaxRowsPerMessage = 10'000;
// Most problems listed in an ImportResult (problem_count has the total).
inline constexpr size_t kMaxListedProblems = 100'000;

struct ImportOptions {
  int threads = 2;           // for validation and for tags
  size_t chunk_size = 1000;  // signals per atomic commit
  uint64_t max_rows = kMaxImportRows;
  // Called after every committed chunk with the rows stored so far (tests
  // use it to stop a "crashed" import between chunks).
  std::function<void(uint64_t rows_stored)> after_chunk;
};

class SignalImport {
 public:
  // Errors: INVALID_ARGUMENT for a null store, kv or log, or a source_name
  // longer than 255 characters or containing a '/'.
  static absl::StatusOr<std::unique_ptr<SignalImport>> Begin(
      SignalStore* signals, store::KvStore* kv, LocalLog* log, const v1::ImportHeader& header,
      const SignalActor& actor, absl::Time now, ImportOptions options = {});

  ~SignalImport() = default;
  SignalImport(const SignalImport&) = delete;
  SignalImport& operator=(const SignalImport&) = delete;

  // Validates and stages one batch. Bad rows are not an error (they are
  // collected). Errors: INVALID_ARGUMENT (more than kMaxRowsPerMessage
  // rows; after Finish); RESOURCE_EXHAUSTED (more than max_rows in all);
  // UNAVAILABLE / INTERNAL from the store.
  absl::Status AddRows(const v1::ImportRows& rows);

  v1::ImportProgress Progress() const;

  // Stores everything when `commit` and no row has a problem; otherwise
  // stores nothing. Logs SIGNALS_IMPORTED either way. `on_progress` is
  // called after each committed chunk. Errors: UNAVAILABLE / INTERNAL from
  // the store or the OPRF: the chunks already committed are rolled back
  // (by Recover at the next start when the store cannot be written now),
  // so the import is never left half-way.
  absl::StatusOr<v1::ImportResult> Finish(
      bool commit, const std::function<void(const v1::ImportProgress&)>& on_progress = {});

  // Ends an import whose stream ended without an end message: nothing is
  // stored; logged as SIGNALS_IMPORTED (refused). Errors: from the store.
  absl::Status Abandon(std::string_view why);

  // Rolls back imports that were committing when the node stopped. Returns
  // how many were rolled back. Errors: from the store (the node must not
  // start then).
  static absl::StatusOr<size_t> Recover(SignalStore* signals, store::KvStore* kv);

 private:
  SignalImport(SignalStore* signals, store::KvStore* kv, LocalLog* log, v1::ImportHeader header,
               SignalActor actor, absl::Time now, ImportOptions options);
  void AddProblem(uint64_t line, std::string field, std::string problem);
  absl::StatusOr<v1::ImportResult> Refuse(v1::Outcome outcome, std::string why);
  // Adds a problem for every id of the file that is stored already (unless
  // replace_existing). Errors: reading the store.
  absl::Status CheckStoredIds();
  // Finish, steps a to c: returns the tags queued for publication, or
  // nullopt when step a found ids already stored (listed as problems;
  // nothing written).
  absl::StatusOr<std::optional<uint64_t>> Commit(
      const SignalStore::ChangeLock& lock,
      const std::function<void(const v1::ImportProgress&)>& on_progress);

  SignalStore* const signals_;
  store::KvStore* const kv_;
  LocalLog* const log_;
  const v1::ImportHeader header_;
  const SignalActor actor_;
  const absl::Time now_;
  const ImportOptions options_;
  const absl::Time started_;
  std::string id_hex_;
  uint64_t rows_received_ = 0;
  std::vector<std::string> staged_;  // valid rows: normalised v1::Signal, serialized
  uint64_t rows_stored_ = 0;
  uint64_t problem_count_ = 0;
  std::vector<v1::ImportProblem> problems_;
  std::unordered_map<std::string, uint64_t> lines_by_id_;  // signal id -> first line
  bool finished_ = false;
};

}  // namespace schakel::nodes

#endif  // SCHAKEL_NODES_IMPORT_H_
