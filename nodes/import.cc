#include "nodes/import.h"

#include <algorithm>
#include <thread>

#include "common/strings.h"
#include "crypto/bytes.h"
#include "crypto/random.h"

namespace schakel::nodes {
namespace {

constexpr std::string_view kActivePrefix = "imp/a/";
constexpr std::string_view kRowPrefix = "imp/r/";
constexpr std::string_view kJournalPrefix = "imp/j/";
constexpr size_t kMaxSourceNameChars = 255;
// Below this many rows per thread, extra threads cost more than they save.
constexpr size_t kMinRowsPerThread = 64;

std::string ActiveKey(std::string_view id) { return StrCat(kActivePrefix, id); }
std::string RowPrefix(std::string_view id) { return StrCat(kRowPrefix, id, "/"); }
std::string RowKey(std::string_view id, uint64_t index) {
  return StrCat(RowPrefix(id), store::EncodeKeyU64(index));
}
std::string JournalKey(std::string_view id) { return StrCat(kJournalPrefix, id); }

struct Journal {
  uint64_t next = 0;   // index of the first staged row not yet committed
  uint64_t total = 0;  // rows staged

  std::string Encode() const { return StrCat(next, " ", total); }
  static absl::StatusOr<Journal> Decode(std::string_view text) {
    const absl::Status bad = absl::DataLossError("import: a journal does not parse");
    const size_t space = text.find(' ');
    if (space == std::string_view::npos) return bad;
    Journal j;
    uint64_t* fields[] = {&j.next, &j.total};
    const std::string_view parts[] = {text.substr(0, space), text.substr(space + 1)};
    for (size_t i = 0; i < 2; ++i) {
      if (parts[i].empty() || parts[i].size() > 19 ||
          !std::all_of(parts[i].begin(), parts[i].end(),
                       [](char c) { return c >= '0' && c <= '9'; })) {
        return bad;
      }
      *fields[i] = std::stoull(std::string(parts[i]));
    }
    if (j.next > j.total) return absl::DataLossError("import: a journal is inconsistent");
    return j;
  }
};

// Commits the staged rows from journal.next on, chunk by chunk; each chunk
// moves the journal in the same atomic write; the last removes it.
absl::StatusOr<PreparedCommit> CommitStaged(SignalStore* signals, store::KvStore* kv,
                                            const SignalStore::ChangeLock& lock,
                                            const std::string& id, Journal journal,
                                            size_t chunk_size,
                                            const std::function<void(uint64_t)>& after_chunk) {
  chunk_size = std::max<size_t>(chunk_size, 1);
  PreparedCommit total;
  if (journal.next == journal.total) {
    store::WriteBatch done;
    done.Delete(JournalKey(id));
    done.Delete(ActiveKey(id));
    if (absl::Status s = kv->Write(done, store::Durability::kSynced); !s.ok()) return s;
    return total;
  }
  while (journal.next < journal.total) {
    auto rows = kv->Scan(RowKey(id, journal.next), store::PrefixEnd(RowPrefix(id)), chunk_size);
    if (!rows.ok()) return rows.status();
    if (rows->empty()) {
      return absl::DataLossError(
          StrCat("import: staged rows from ", journal.next, " of ", journal.total, " are missing"));
    }
    std::vector<PreparedSignal> chunk;
    chunk.reserve(rows->size());
    for (const auto& [key, value] : *rows) {
      auto prepared = SignalStore::DecodePrepared(value);
      if (!prepared.ok()) return prepared.status();
      chunk.push_back(*std::move(prepared));
    }
    const uint64_t next = journal.next + rows->size();
    store::WriteBatch extra;
    extra.DeleteRange(RowKey(id, journal.next), RowKey(id, next));
    if (next >= journal.total) {
      extra.Delete(JournalKey(id));
      extra.Delete(ActiveKey(id));
    } else {
      extra.Put(JournalKey(id), Journal{next, journal.total}.Encode());
    }
    auto committed = signals->CommitPrepared(lock, std::move(chunk), nullptr, std::move(extra));
    if (!committed.ok()) return committed.status();
    total.tags_added += committed->tags_added;
    total.tags_removed += committed->tags_removed;
    journal.next = next;
    if (after_chunk) after_chunk(journal.next);
  }
  return total;
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

SignalImport::~SignalImport() {
  if (!committing_ && wrote_) (void)Discard();  // best effort; Recover removes leftovers
}

void SignalImport::AddProblem(uint64_t line, std::string field, std::string problem) {
  ++problem_count_;
  if (problems_.size() >= kMaxListedProblems) return;
  v1::ImportProblem& p = problems_.emplace_back();
  p.set_line(line);
  p.mutable_problem()->set_field(std::move(field));
  p.mutable_problem()->set_problem(std::move(problem));
}

absl::Status SignalImport::Discard() {
  if (!wrote_) return absl::OkStatus();
  store::WriteBatch batch;
  batch.DeleteRange(RowPrefix(id_hex_), store::PrefixEnd(RowPrefix(id_hex_)));
  batch.Delete(ActiveKey(id_hex_));
  if (absl::Status s = kv_->Write(batch, store::Durability::kBuffered); !s.ok()) return s;
  wrote_ = false;
  staged_ = 0;
  return absl::OkStatus();
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

  // Validate (and, while everything is valid, tag) on several threads.
  struct Slot {
    std::optional<PreparedSignal> prepared;
    std::vector<SignalProblem> problems;
  };
  std::vector<Slot> slots(n);
  const bool tag = problem_count_ == 0;
  const auto work = [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      const v1::Signal& signal = rows.rows(static_cast<int>(i)).signal();
      if (tag) {
        auto prepared = signals_->Prepare(signal, now_, actor_.user_id, &slots[i].problems);
        if (prepared.ok()) {
          slots[i].prepared = *std::move(prepared);
        } else if (slots[i].problems.empty()) {
          slots[i].problems.push_back({"", std::string(prepared.status().message())});
        }
      } else {
        v1::Signal copy = signal;
        if (copy.signal_id().empty()) copy.set_signal_id("assigned");  // as Prepare would
        slots[i].problems = signals_->Validate(copy, now_);
      }
    }
  };
  const size_t threads = std::clamp<size_t>(n / kMinRowsPerThread, 1,
                                            static_cast<size_t>(std::max(options_.threads, 1)));
  {
    std::vector<std::thread> workers;
    const size_t per = (n + threads - 1) / threads;
    for (size_t t = 1; t < threads; ++t) {
      workers.emplace_back(work, std::min(n, t * per), std::min(n, (t + 1) * per));
    }
    work(0, std::min(n, per));
    for (std::thread& w : workers) w.join();
  }

  store::WriteBatch batch;
  for (size_t i = 0; i < n; ++i) {
    const v1::ImportRow& row = rows.rows(static_cast<int>(i));
    Slot& slot = slots[i];
    for (SignalProblem& p : slot.problems) {
      AddProblem(row.line(), std::move(p.field), std::move(p.problem));
    }
    const std::string& id =
        slot.prepared ? slot.prepared->signal.signal_id() : row.signal().signal_id();
    if (!id.empty() && SignalStore::ValidSignalId(id)) {
      const auto [it, inserted] = lines_by_id_.emplace(id, row.line());
      if (!inserted) {
        AddProblem(row.line(), "signal_id", StrCat("also used on line ", it->second));
        slot.prepared.reset();
      } else if (!header_.replace_existing() && !row.signal().signal_id().empty()) {
        auto stored = signals_->Get(id);
        if (stored.ok()) {
          AddProblem(row.line(), "signal_id", "already stored; set replace_existing to replace it");
          slot.prepared.reset();
        } else if (!absl::IsNotFound(stored.status())) {
          return stored.status();
        }
      }
    }
    if (problem_count_ == 0 && slot.prepared) {
      batch.Put(RowKey(id_hex_, staged_++), SignalStore::EncodePrepared(*slot.prepared));
    }
  }
  if (problem_count_ > 0) return Discard();  // nothing will be stored: stop staging
  if (batch.empty()) return absl::OkStatus();
  batch.Put(ActiveKey(id_hex_), "");
  wrote_ = true;
  return kv_->Write(batch, store::Durability::kBuffered);
}

v1::ImportProgress SignalImport::Progress() const {
  v1::ImportProgress p;
  p.set_rows_validated(rows_received_);
  p.set_rows_stored(rows_stored_);
  p.set_problems(problem_count_);
  return p;
}

absl::StatusOr<v1::ImportResult> SignalImport::Refuse(v1::Outcome outcome, std::string why) {
  if (absl::Status discarded = Discard(); !discarded.ok()) return discarded;
  v1::LocalLogRecord record;
  record.set_kind(v1::LOCAL_EVENT_KIND_SIGNALS_IMPORTED);
  record.set_user_id(actor_.user_id);
  record.set_role(actor_.role);
  record.set_subject_count(rows_received_);
  record.set_outcome(outcome);
  record.set_detail(StrCat("import of ", header_.source_name(), " (", FormatName(header_.format()),
                           "): nothing stored; ", why));
  record.set_local_policy_version(signals_->policy().version());
  auto logged = log_->Append(std::move(record));
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
  if (problem_count_ > 0) {
    return Refuse(v1::OUTCOME_REFUSED,
                  StrCat(problem_count_, " problem(s) in ", rows_received_, " rows"));
  }
  if (!commit) {
    return Refuse(v1::OUTCOME_REFUSED, StrCat(rows_received_,
                                              " rows validated, not committed "
                                              "(commit was false)"));
  }

  SignalStore::ChangeLock lock = signals_->LockChanges();
  if (!header_.replace_existing()) {
    // Signals added while the rows arrived.
    for (const auto& [id, line] : lines_by_id_) {
      auto stored = signals_->Get(id);
      if (stored.ok()) {
        AddProblem(line, "signal_id", "already stored (added while the import ran)");
      } else if (!absl::IsNotFound(stored.status())) {
        return stored.status();
      }
    }
    if (problem_count_ > 0) {
      std::sort(problems_.begin(), problems_.end(),
                [](const v1::ImportProblem& a, const v1::ImportProblem& b) {
                  return a.line() < b.line();
                });
      return Refuse(v1::OUTCOME_REFUSED,
                    StrCat(problem_count_, " signal id(s) were stored meanwhile"));
    }
  }

  // The journal and the log record in one synced write; it also makes the
  // staged rows written before it durable.
  store::WriteBatch begin;
  begin.Put(JournalKey(id_hex_), Journal{0, staged_}.Encode());
  begin.Put(ActiveKey(id_hex_), "");
  v1::LocalLogRecord record;
  record.set_kind(v1::LOCAL_EVENT_KIND_SIGNALS_IMPORTED);
  record.set_user_id(actor_.user_id);
  record.set_role(actor_.role);
  record.set_subject_count(rows_received_);
  record.set_outcome(v1::OUTCOME_GRANTED);
  record.set_detail(StrCat("import of ", header_.source_name(), " (", FormatName(header_.format()),
                           "): ", staged_, " signals stored",
                           header_.replace_existing() ? " (replacing existing ids)" : ""));
  record.set_local_policy_version(signals_->policy().version());
  auto logged = log_->AppendWith(std::move(record), std::move(begin));
  if (!logged.ok()) return logged.status();
  committing_ = true;
  wrote_ = true;

  auto committed = CommitStaged(signals_, kv_, lock, id_hex_, Journal{0, staged_},
                                options_.chunk_size, [&](uint64_t stored) {
                                  rows_stored_ = stored;
                                  if (on_progress) on_progress(Progress());
                                  if (options_.after_chunk) options_.after_chunk(stored);
                                });
  if (!committed.ok()) return committed.status();
  rows_stored_ = staged_;
  v1::ImportResult result;
  result.set_committed(true);
  result.set_rows_received(rows_received_);
  result.set_signals_stored(staged_);
  result.set_tags_queued(committed->tags_added);
  *result.mutable_elapsed() = ToDuration(absl::Now() - started_);
  return result;
}

absl::StatusOr<size_t> SignalImport::Recover(SignalStore* signals, store::KvStore* kv) {
  auto active = kv->Scan(kActivePrefix, store::PrefixEnd(kActivePrefix));
  if (!active.ok()) return active.status();
  size_t completed = 0;
  for (const auto& [key, value] : *active) {
    const std::string id = key.substr(kActivePrefix.size());
    auto journal_text = kv->Get(JournalKey(id));
    if (!journal_text.ok()) return journal_text.status();
    if (!journal_text->has_value()) {
      // It never began to commit: nothing of it is stored.
      store::WriteBatch batch;
      batch.DeleteRange(RowPrefix(id), store::PrefixEnd(RowPrefix(id)));
      batch.Delete(key);
      if (absl::Status s = kv->Write(batch, store::Durability::kSynced); !s.ok()) return s;
      continue;
    }
    auto journal = Journal::Decode(**journal_text);
    if (!journal.ok()) return journal.status();
    SignalStore::ChangeLock lock = signals->LockChanges();
    auto committed = CommitStaged(signals, kv, lock, id, *journal, kImportRecoveryChunk, {});
    if (!committed.ok()) return committed.status();
    ++completed;
  }
  return completed;
}

}  // namespace schakel::nodes
