// Server-side import of signals (signals.proto, Signals.ImportSignals):
// all or nothing, for files of a million rows.
//
// Flow:
//   1. Begin(header): one import session with its own 16-byte id.
//   2. AddRows(batch), any number of times: every row is validated with the
//      SignalStore's own rules (SignalStore::Prepare), and its tags are
//      computed right away, spread over `threads` threads (the expensive
//      part: one POPRF evaluation per key per purpose). Problems are
//      collected per row with its line number and field; a signal id used
//      twice in the file, or already stored when replace_existing is false,
//      is a problem of the row. Valid rows are staged in the KvStore
//      (buffered writes) under "imp/r/<import id>/"; once any row has a
//      problem nothing more is staged or tagged (only validated), since
//      nothing will be stored.
//   3. Finish(commit): when commit is false or any row has a problem, the
//      staged rows are removed and nothing is stored. Otherwise, holding
//      the SignalStore's change lock for the whole commit:
//        a. (replace_existing false) every staged id is checked again;
//        b. the journal "imp/j/<import id>" and the SIGNALS_IMPORTED record
//           are written in one synced write; being synced it also makes
//           every staged row before it durable (write-ahead-log order);
//        c. the staged rows are committed in chunks of `chunk_size`
//           (SignalStore::CommitPrepared): each chunk's signals, tags,
//           queue entry, the removal of its staged rows and the journal's
//           new position are ONE atomic synced write; the last chunk also
//           removes the journal.
//   4. Recover(), at node start, before serving: an import whose journal
//      exists was committing when the node stopped: its remaining chunks
//      are committed (roll forward; nothing else can have changed the
//      signals in between). Staged rows of an import without a journal are
//      removed (it never started to commit). So after any crash an import
//      is either wholly stored or not at all.
//
// No identifier, signal content or signal id goes into an error message or
// the log; problems name the line and the field only.
//
// Key layout: "imp/a/<id hex>" -> "" (an import with staged rows),
// "imp/r/<id hex>/<u64 index>" -> SignalStore::EncodePrepared,
// "imp/j/<id hex>" -> journal ("<next index> <total rows>" in ASCII).
//
// Thread safety: a SignalImport is used by one thread (the rpc's); it uses
// worker threads internally. Recover must not run concurrently with an
// import.
#ifndef SCHAKEL_NODES_IMPORT_H_
#define SCHAKEL_NODES_IMPORT_H_

#include <cstdint>
#include <functional>
#include <memory>
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
// Signals per atomic write when Recover completes an import.
inline constexpr size_t kImportRecoveryChunk = 1000;

struct ImportOptions {
  int threads = 2;           // for validation and tags
  size_t chunk_size = 1000;  // signals per atomic commit
  uint64_t max_rows = kMaxImportRows;
  // Called after every committed chunk (tests use it to stop a "crashed"
  // import between chunks).
  std::function<void(uint64_t rows_stored)> after_chunk;
};

class SignalImport {
 public:
  // Errors: INVALID_ARGUMENT for a null store, kv or log, or a source_name
  // longer than 255 characters or containing a '/'.
  static absl::StatusOr<std::unique_ptr<SignalImport>> Begin(
      SignalStore* signals, store::KvStore* kv, LocalLog* log, const v1::ImportHeader& header,
      const SignalActor& actor, absl::Time now, ImportOptions options = {});

  // Removes the staged rows unless the import committed (or began to).
  ~SignalImport();
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
  // the store: when the commit had begun, the rest is completed by
  // Recover at the next start (the import is not lost half-way).
  absl::StatusOr<v1::ImportResult> Finish(
      bool commit, const std::function<void(const v1::ImportProgress&)>& on_progress = {});

  // Ends an import whose stream ended without an end message: nothing is
  // stored; logged as SIGNALS_IMPORTED (refused). Errors: from the store.
  absl::Status Abandon(std::string_view why);

  // Completes imports that were committing when the node stopped and
  // removes the staged rows of the others. Returns how many imports were
  // completed. Errors: from the store (the node must not start then).
  static absl::StatusOr<size_t> Recover(SignalStore* signals, store::KvStore* kv);

 private:
  SignalImport(SignalStore* signals, store::KvStore* kv, LocalLog* log, v1::ImportHeader header,
               SignalActor actor, absl::Time now, ImportOptions options);
  void AddProblem(uint64_t line, std::string field, std::string problem);
  absl::Status Discard();
  absl::StatusOr<v1::ImportResult> Refuse(v1::Outcome outcome, std::string why);

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
  uint64_t staged_ = 0;
  uint64_t rows_stored_ = 0;
  bool wrote_ = false;  // staged rows (or the active marker) may be in the store
  uint64_t problem_count_ = 0;
  std::vector<v1::ImportProblem> problems_;
  std::unordered_map<std::string, uint64_t> lines_by_id_;  // signal id -> first line
  bool finished_ = false;
  bool committing_ = false;
};

}  // namespace schakel::nodes

#endif  // SCHAKEL_NODES_IMPORT_H_
