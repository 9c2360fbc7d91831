#include "nodes/import.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/strings.h"
#include "crypto/bytes.h"
#include "crypto/random.h"

namespace schakel::nodes {
namespace {

constexpr std::string_view kJournalPrefix = "imp/j/";
constexpr std::string_view kUndoPrefix = "imp/u/";
// Left by imports of an earlier version, which staged rows in the store.
constexpr std::string_view kLegacyPrefixes[] = {"imp/a/", "imp/r/"};
constexpr size_t kMaxSourceNameChars = 255;
// Below this many rows per thread, extra threads cost more than they save.
constexpr size_t kMinRowsPerThread = 64;
// Chunks the tagging threads may run ahead of the commit (memory: about
// 1 KiB per tagged row): enough to keep tagging while the commit first
// checks every id and later waits for the disk or a compaction.
constexpr size_t kChunksAhead = 32;

std::string JournalKey(std::string_view id) { return StrCat(kJournalPrefix, id); }
std::string UndoPrefix(std::string_view id) { return StrCat(kUndoPrefix, id, "/"); }
std::string UndoKey(std::string_view id, uint64_t chunk) {
  return StrCat(UndoPrefix(id), store::EncodeKeyU64(chunk));
}

v1::LocalLogRecord ImportRecord(const SignalActor& actor, uint64_t rows, v1::Outcome outcome,
                                std::string detail, const LocalPolicy& policy) {
  v1::LocalLogRecord record;
  record.set_kind(v1::LOCAL_EVENT_KIND_SIGNALS_IMPORTED);
  record.set_user_id(actor.user_id);
  record.set_role(actor.role);
  record.set_subject_count(rows);
  record.set_outcome(outcome);
  record.set_detail(std::move(detail));
  record.set_local_policy_version(policy.version());
  return record;
}

// Rolls back the committed chunks of import `id` (those with an undo
// record), newest first, one atomic write each; the last write also removes
// the journal and carries `record`. Returns how many chunks were undone.
absl::StatusOr<size_t> RollBackImport(SignalStore* signals, store::KvStore* kv,
                                      const SignalStore::ChangeLock& lock, const std::string& id,
                                      const v1::LocalLogRecord& record) {
  auto undo = kv->Scan(UndoPrefix(id), store::PrefixEnd(UndoPrefix(id)));
  if (!undo.ok()) return undo.status();
  if (undo->empty()) {  // stopped before its first chunk: only the journal and the record
    store::WriteBatch done;
    done.Delete(JournalKey(id));
    auto undone = signals->RollBack(lock, "", &record, std::move(done));
    if (!undone.ok()) return undone.status();
    return 0;
  }
  for (size_t i = undo->size(); i-- > 0;) {
    const auto& [key, value] = (*undo)[i];
    store::WriteBatch extra;
    extra.Delete(key);
    if (i == 0) extra.Delete(JournalKey(id));
    auto undone = signals->RollBack(lock, value, i == 0 ? &record : nullptr, std::move(extra));
    if (!undone.ok()) return undone.status();
  }
  return undo->size();
}

// Runs work(begin, end) over [0, n) in contiguous parts on up to `threads`
// threads (this one included).
void ForEachPart(size_t n, int threads, const std::function<void(size_t, size_t)>& work) {
  const size_t parts =
      std::clamp<size_t>(n / kMinRowsPerThread, 1, static_cast<size_t>(std::max(threads, 1)));
  const size_t per = (n + parts - 1) / parts;
  std::vector<std::thread> workers;
  for (size_t t = 1; t < parts; ++t) {
    workers.emplace_back(work, std::min(n, t * per), std::min(n, (t + 1) * per));
  }
  work(0, std::min(n, per));
  for (std::thread& w : workers) w.join();
}

google::protobuf::Duration ToDuration(absl::Duration d) {
  google::protobuf::Duration out;
  const int64_t ms = absl::ToInt64Milliseconds(d);
  out.set_seconds(ms / 1000);
  out.set_nanos(static_cast<int32_t>((ms % 1000) * 1'000'000));
  return out;
}

std::string_view FormatName(v1::ImportFormat format) {
  switch (format) {
    case v1::IMPORT_FORMAT_CSV:
      return "CSV";
    case v1::IMPORT_FORMAT_JSON_LINES:
      return "JSON Lines";
    default:
      return "unspecified format";
  }
}

}  // namespace

SignalImport::SignalImport(SignalStore* signals, store::KvStore* kv, LocalLog* log,
                           v1::ImportHeader header, SignalActor actor, absl::Time now,
                           ImportOptions options)
    : signals_(signals),
      kv_(kv),
      log_(log),
      header_(std::move(header)),
      actor_(std::move(actor)),
      now_(now),
      options_(std::move(options)),
      started_(absl::Now()) {
  std::array<uint8_t, 16> id{};
  crypto::RandomBytes(id);
  id_hex_ = crypto::ToHex(id);
}

absl::StatusOr<std::unique_ptr<SignalImport>> SignalImport::Begin(
    SignalStore* signals, store::KvStore* kv, LocalLog* log, const v1::ImportHeader& header,
    const SignalActor& actor, absl::Time now, ImportOptions options) {
  if (signals == nullptr || kv == nullptr || log == nullptr) {
    return absl::InvalidArgumentError("import: signal store, kv store and log are required");
  }
  if (header.source_name().size() > kMaxSourceNameChars ||
      header.source_name().find('/') != std::string::npos) {
    return absl::InvalidArgumentError(StrCat("header.source_name: at most ", kMaxSourceNameChars,
                                             " characters, a file name without a path"));
  }
  return std::unique_ptr<SignalImport>(
      new SignalImport(signals, kv, log, header, actor, now, std::move(options)));
}

void SignalImport::AddProblem(uint64_t line, std::string field, std::string problem) {
  ++problem_count_;
  if (problems_.size() >= kMaxListedProblems) return;
  v1::ImportProblem& p = problems_.emplace_back();
  p.set_line(line);
  p.mutable_problem()->set_field(std::move(field));
  p.mutable_problem()->set_problem(std::move(problem));
}

absl::Status SignalImport::AddRows(const v1::ImportRows& rows) {
  if (finished_) return absl::InvalidArgumentError("rows: the import has already ended");
  const size_t n = static_cast<size_t>(rows.rows_size());
  if (n > kMaxRowsPerMessage) {
    return absl::InvalidArgumentError(
        StrCat("rows: ", n, " rows in one message; at most ", kMaxRowsPerMessage));
  }
  if (rows_received_ + n > options_.max_rows) {
    return absl::ResourceExhaustedError(StrCat("rows: more than ", options_.max_rows,
                                               " rows; this node imports at most that many "
                                               "per import (split the file)"));
  }
  rows_received_ += n;

  // Validate and normalise on several threads.
  struct Slot {
    v1::Signal signal;
    std::vector<SignalProblem> problems;
    std::string encoded;  // the normalised signal, when valid
  };
  std::vector<Slot> slots(n);
  const auto work = [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      Slot& slot = slots[i];
      const v1::Signal& given = rows.rows(static_cast<int>(i)).signal();
      slot.signal = given;
      if (slot.signal.signal_id().empty()) {
        slot.signal.set_signal_id(SignalStore::NewSignalId(now_));
      }
      slot.problems = signals_->Validate(slot.signal, now_);
      if (slot.problems.empty()) slot.encoded = slot.signal.SerializeAsString();
    }
  };
  ForEachPart(n, options_.threads, work);

  for (size_t i = 0; i < n; ++i) {
    const v1::ImportRow& row = rows.rows(static_cast<int>(i));
    Slot& slot = slots[i];
    bool valid = slot.problems.empty();
    for (SignalProblem& p : slot.problems) {
      AddProblem(row.line(), std::move(p.field), std::move(p.problem));
    }
    const std::string& id = slot.signal.signal_id();
    if (SignalStore::ValidSignalId(id)) {
      const auto [it, inserted] = lines_by_id_.emplace(id, row.line());
      if (!inserted) {
        AddProblem(row.line(), "signal_id", StrCat("also used on line ", it->second));
        valid = false;
      }
    }
    if (problem_count_ == 0 && valid) staged_.push_back(std::move(slot.encoded));
  }
  // Nothing will be stored once a row has a problem: keep validating only.
  if (problem_count_ > 0) std::vector<std::string>().swap(staged_);
  return absl::OkStatus();
}

v1::ImportProgress SignalImport::Progress() const {
  v1::ImportProgress p;
  p.set_rows_validated(rows_received_);
  p.set_rows_stored(rows_stored_);
  p.set_problems(problem_count_);
  return p;
}

absl::StatusOr<v1::ImportResult> SignalImport::Refuse(v1::Outcome outcome, std::string why) {
  std::vector<std::string>().swap(staged_);
  auto logged = log_->Append(ImportRecord(
      actor_, rows_received_, outcome,
      StrCat("import of ", header_.source_name(), " (", FormatName(header_.format()),
             "): nothing stored; ", why),
      signals_->policy()));
  if (!logged.ok()) return logged.status();
  v1::ImportResult result;
  result.set_committed(false);
  result.set_rows_received(rows_received_);
  result.set_problem_count(problem_count_);
  for (v1::ImportProblem& p : problems_) *result.add_problems() = std::move(p);
  problems_.clear();
  *result.mutable_elapsed() = ToDuration(absl::Now() - started_);
  return result;
}

absl::Status SignalImport::Abandon(std::string_view why) {
  if (finished_) return absl::OkStatus();
  finished_ = true;
  auto refused = Refuse(v1::OUTCOME_REFUSED, std::string(why));
  return refused.status();
}

absl::StatusOr<v1::ImportResult> SignalImport::Finish(
    bool commit, const std::function<void(const v1::ImportProgress&)>& on_progress) {
  if (finished_) return absl::InvalidArgumentError("end: the import has already ended");
  finished_ = true;
  std::sort(
      problems_.begin(), problems_.end(),
      [](const v1::ImportProblem& a, const v1::ImportProblem& b) { return a.line() < b.line(); });
  if (problem_count_ > 0 || !commit) {
    // Ids already stored are problems too (a commit checks them under the
    // change lock, while the first chunks are tagged).
    if (absl::Status checked = CheckStoredIds(); !checked.ok()) return checked;
    std::sort(
        problems_.begin(), problems_.end(),
        [](const v1::ImportProblem& a, const v1::ImportProblem& b) { return a.line() < b.line(); });
    if (problem_count_ > 0) {
      return Refuse(v1::OUTCOME_REFUSED,
                    StrCat(problem_count_, " problem(s) in ", rows_received_, " rows"));
    }
    return Refuse(v1::OUTCOME_REFUSED, StrCat(rows_received_,
                                              " rows validated, not committed "
                                              "(commit was false)"));
  }

  SignalStore::ChangeLock lock = signals_->LockChanges();
  auto committed = Commit(lock, on_progress);
  if (committed.ok() && !committed->has_value()) {
    std::sort(
        problems_.begin(), problems_.end(),
        [](const v1::ImportProblem& a, const v1::ImportProblem& b) { return a.line() < b.line(); });
    return Refuse(v1::OUTCOME_REFUSED, StrCat(problem_count_, " signal id(s) already stored"));
  }
  if (!committed.ok()) {
    // Undo what was committed; when the store cannot be written now,
    // Recover does it at the next start.
    (void)RollBackImport(
        signals_, kv_, lock, id_hex_,
        ImportRecord(actor_, rows_received_, v1::OUTCOME_FAILED,
                     StrCat("import of ", header_.source_name(),
                            ": rolled back, nothing stored: ", committed.status().message()),
                     signals_->policy()));
    return committed.status();
  }
  v1::ImportResult result;
  result.set_committed(true);
  result.set_rows_received(rows_received_);
  result.set_signals_stored(rows_stored_);
  result.set_tags_queued(**committed);
  *result.mutable_elapsed() = ToDuration(absl::Now() - started_);
  return result;
}

absl::Status SignalImport::CheckStoredIds() {
  if (header_.replace_existing()) return absl::OkStatus();
  for (const auto& [id, line] : lines_by_id_) {
    auto stored = signals_->Get(id);
    if (stored.ok()) {
      AddProblem(line, "signal_id", "already stored; set replace_existing to replace it");
    } else if (!absl::IsNotFound(stored.status())) {
      return stored.status();
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<uint64_t>> SignalImport::Commit(
    const SignalStore::ChangeLock& lock,
    const std::function<void(const v1::ImportProgress&)>& on_progress) {
  const size_t chunk_size = std::max<size_t>(options_.chunk_size, 1);
  const size_t total = staged_.size();
  const size_t chunks = (total + chunk_size - 1) / chunk_size;

  // Tagging threads (this one among them) fill slots[k] for chunks
  // k < committed + kChunksAhead;
  // this thread commits slot after slot.
  struct Slot {
    std::vector<PreparedSignal> prepared;
    absl::Status status;
    bool ready = false;
  };
  std::vector<Slot> slots(chunks);
  std::mutex mu;
  std::condition_variable changed;
  size_t next_chunk = 0, committed = 0;
  bool stop = false;
  // Tags chunk k into slots[k].
  const auto tag_chunk = [&](size_t k) {
    Slot out;
    const size_t end = std::min(total, (k + 1) * chunk_size);
    out.prepared.reserve(end - k * chunk_size);
    for (size_t i = k * chunk_size; i < end && out.status.ok(); ++i) {
      v1::Signal signal;
      if (!signal.ParseFromString(staged_[i])) {
        out.status = absl::InternalError("import: a validated row does not parse");
        break;
      }
      std::string().swap(staged_[i]);
      auto prepared = signals_->PrepareValidated(std::move(signal), now_, actor_.user_id);
      if (!prepared.ok()) {
        out.status = absl::InternalError(
            StrCat("import: a validated row could not be tagged: ", prepared.status().message()));
      } else {
        out.prepared.push_back(*std::move(prepared));
      }
    }
    std::lock_guard<std::mutex> l(mu);
    out.ready = true;
    slots[k] = std::move(out);
    changed.notify_all();
  };
  // Whether a chunk may be claimed for tagging now (caller holds mu).
  const auto claimable = [&] { return next_chunk < chunks && next_chunk < committed + kChunksAhead; };
  const auto tagger = [&] {
    for (;;) {
      size_t k;
      {
        std::unique_lock<std::mutex> l(mu);
        changed.wait(l, [&] { return stop || next_chunk >= chunks || claimable(); });
        if (stop || next_chunk >= chunks) return;
        k = next_chunk++;
      }
      tag_chunk(k);
    }
  };
  // This thread tags too while it has nothing to commit: threads - 1 more.
  std::vector<std::thread> taggers;
  for (int t = 1; t < options_.threads; ++t) taggers.emplace_back(tagger);
  const auto stop_taggers = [&] {
    {
      std::lock_guard<std::mutex> l(mu);
      stop = true;
    }
    changed.notify_all();
    for (std::thread& t : taggers) t.join();
  };

  // While the first chunks are tagged: the ids checked again (a signal
  // added while the rows arrived), then the journal and the log record in
  // one synced write.
  if (absl::Status checked = CheckStoredIds(); !checked.ok() || problem_count_ > 0) {
    stop_taggers();
    if (!checked.ok()) return checked;
    return std::nullopt;
  }
  store::WriteBatch begin;
  if (chunks > 0) begin.Put(JournalKey(id_hex_), StrCat(total));
  auto logged = log_->AppendWith(
      ImportRecord(actor_, rows_received_, v1::OUTCOME_GRANTED,
                   StrCat("import of ", header_.source_name(), " (", FormatName(header_.format()),
                          "): ", total, " signals stored",
                          header_.replace_existing() ? " (replacing existing ids)" : ""),
                   signals_->policy()),
      std::move(begin));
  if (!logged.ok()) {
    stop_taggers();
    return logged.status();
  }

  uint64_t tags_added = 0;
  for (size_t k = 0; k < chunks; ++k) {
    Slot slot;
    for (;;) {
      std::unique_lock<std::mutex> l(mu);
      changed.wait(l, [&] { return slots[k].ready || claimable(); });
      if (slots[k].ready) {
        slot = std::move(slots[k]);
        break;
      }
      const size_t j = next_chunk++;
      l.unlock();
      tag_chunk(j);
    }
    if (!slot.status.ok()) {
      stop_taggers();
      return slot.status;
    }
    const size_t rows = slot.prepared.size();
    store::WriteBatch extra;
    if (k + 1 == chunks) {
      extra.Delete(JournalKey(id_hex_));
      extra.DeleteRange(UndoPrefix(id_hex_), store::PrefixEnd(UndoPrefix(id_hex_)));
    }
    // The last chunk needs no undo record: its write ends the import.
    auto written = signals_->CommitPrepared(lock, std::move(slot.prepared), nullptr,
                                            std::move(extra),
                                            k + 1 == chunks ? "" : UndoKey(id_hex_, k),
                                            /*all_new=*/!header_.replace_existing());
    if (!written.ok()) {
      stop_taggers();
      return written.status();
    }
    tags_added += written->tags_added;
    rows_stored_ += rows;
    {
      std::lock_guard<std::mutex> l(mu);
      committed = k + 1;
    }
    changed.notify_all();
    if (on_progress) on_progress(Progress());
    if (options_.after_chunk) options_.after_chunk(rows_stored_);
  }
  stop_taggers();
  std::vector<std::string>().swap(staged_);
  return tags_added;
}

absl::StatusOr<size_t> SignalImport::Recover(SignalStore* signals, store::KvStore* kv) {
  {
    store::WriteBatch legacy;
    for (std::string_view prefix : kLegacyPrefixes) {
      legacy.DeleteRange(prefix, store::PrefixEnd(prefix));
    }
    if (absl::Status s = kv->Write(legacy, store::Durability::kSynced); !s.ok()) return s;
  }
  auto journals = kv->Scan(kJournalPrefix, store::PrefixEnd(kJournalPrefix));
  if (!journals.ok()) return journals.status();
  size_t rolled_back = 0;
  for (const auto& [key, rows] : *journals) {
    const std::string id = key.substr(kJournalPrefix.size());
    SignalStore::ChangeLock lock = signals->LockChanges();
    v1::LocalLogRecord record;
    record.set_kind(v1::LOCAL_EVENT_KIND_SIGNALS_IMPORTED);
    record.set_outcome(v1::OUTCOME_FAILED);
    record.set_detail(StrCat("an import of ", rows,
                             " rows stopped while committing; rolled back at start, nothing of "
                             "it stored"));
    record.set_local_policy_version(signals->policy().version());
    auto undone = RollBackImport(signals, kv, lock, id, record);
    if (!undone.ok()) return undone.status();
    ++rolled_back;
  }
  return rolled_back;
}

}  // namespace schakel::nodes
