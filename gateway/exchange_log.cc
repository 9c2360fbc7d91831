#include "gateway/exchange_log.h"

#include "common/strings.h"

namespace schakel::gateway {
namespace {

constexpr char kEntryPrefix[] = "log/e/";
// Largest number of appends written by one synced write.
constexpr size_t kMaxGroup = 512;

std::string DigestString(const canonical::DigestBytes& d) {
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

bool SameDigest(const std::string& stored, const canonical::DigestBytes& d) {
  return stored.size() == d.size() && std::equal(d.begin(), d.end(), stored.begin(),
                                                  [](uint8_t a, char b) { return a == static_cast<uint8_t>(b); });
}

// Checks an entry's own hashes: the record hash from its record, the entry
// hash from sequence, previous hash and record hash. Returns the problem, or
// an empty string.
std::string CheckEntry(const v1::LogEntry& e) {
  auto record_hash = canonical::Digest(canonical::kLogRecordContext, e.record());
  if (!record_hash.ok()) return StrCat("record cannot be encoded: ", record_hash.status().message());
  if (!SameDigest(e.record_hash(), *record_hash)) return "record does not match its record_hash";
  if (e.previous_hash().size() != canonical::kDigestSize) return "previous_hash is not 32 bytes";
  const auto entry_hash = canonical::EntryHash(
      e.sequence(), crypto::AsBytes(e.previous_hash()), *record_hash);
  if (!SameDigest(e.entry_hash(), entry_hash)) return "entry_hash does not match";
  return "";
}

}  // namespace

std::string LogEntryKey(uint64_t sequence) { return kEntryPrefix + store::EncodeKeyU64(sequence); }

struct ExchangeLog::Writer {
  const v1::LogRecord* record;
  absl::StatusOr<Appended> result = absl::InternalError("not written");
  bool done = false;
  std::condition_variable cv;
};

absl::StatusOr<std::unique_ptr<ExchangeLog>> ExchangeLog::Open(store::KvStore* store) {
  std::unique_ptr<ExchangeLog> log(new ExchangeLog(store));
  auto last = store->Last(kEntryPrefix, store::PrefixEnd(kEntryPrefix));
  if (!last.ok()) return last.status();
  if (!last->has_value()) return log;
  v1::LogEntry entry;
  if (!entry.ParseFromString((*last)->second)) {
    return absl::DataLossError("exchange log: the last entry does not parse; run audit verify");
  }
  auto key_sequence = store::DecodeKeyU64(std::string_view((*last)->first).substr(sizeof(kEntryPrefix) - 1));
  if (!key_sequence.ok() || *key_sequence != entry.sequence()) {
    return absl::DataLossError("exchange log: the last entry is stored under another sequence");
  }
  if (const std::string problem = CheckEntry(entry); !problem.empty()) {
    return absl::DataLossError(StrCat("exchange log: entry ", entry.sequence(), ": ", problem,
                                      "; run audit verify"));
  }
  log->head_sequence_ = entry.sequence();
  std::copy(entry.entry_hash().begin(), entry.entry_hash().end(), log->head_hash_.begin());
  return log;
}

absl::StatusOr<ExchangeLog::Appended> ExchangeLog::Append(const v1::LogRecord& record) {
  // The record's hash does not depend on its position: compute it before
  // queueing, in parallel with other appenders.
  auto record_hash = canonical::Digest(canonical::kLogRecordContext, record);
  if (!record_hash.ok()) return record_hash.status();

  Writer w;
  w.record = &record;
  std::unique_lock lock(mu_);
  if (failed_) {
    return absl::UnavailableError("exchange log: stopped after a failed write; not serving");
  }
  queue_.push_back(&w);
  w.cv.wait(lock, [&] { return w.done || queue_.front() == &w; });
  if (w.done) return w.result;

  // This thread leads a group: everything queued now, in arrival order.
  std::vector<Writer*> group;
  for (Writer* q : queue_) {
    if (group.size() == kMaxGroup) break;
    group.push_back(q);
  }
  uint64_t sequence = head_sequence_;
  canonical::DigestBytes previous = head_hash_;
  const bool already_failed = failed_;
  lock.unlock();

  store::WriteBatch batch;
  std::vector<Appended> appended;
  appended.reserve(group.size());
  absl::Status status = already_failed
                            ? absl::UnavailableError("exchange log: stopped after a failed write")
                            : absl::OkStatus();
  // Everything between taking the lead and completing the group is guarded:
  // an exception must not leave followers waiting on a leader that is gone.
  try {
    // Never overwrite an entry: if the next key exists, another writer uses
    // this store, and nothing about the chain can be trusted.
    if (status.ok()) {
      auto existing = store_->Get(LogEntryKey(sequence + 1));
      if (!existing.ok()) {
        status = absl::UnavailableError(StrCat("exchange log: ", existing.status().message()));
      } else if (existing->has_value()) {
        status = absl::UnavailableError(StrCat("exchange log: entry ", sequence + 1,
                                               " already exists: another writer uses this store"));
      }
    }
    for (Writer* q : group) {
      if (!status.ok()) break;
      auto rh = q == &w ? record_hash : canonical::Digest(canonical::kLogRecordContext, *q->record);
      if (!rh.ok()) {
        status = rh.status();
        break;
      }
      ++sequence;
      v1::LogEntry entry;
      entry.set_sequence(sequence);
      entry.set_previous_hash(DigestString(previous));
      entry.set_record_hash(DigestString(*rh));
      const canonical::DigestBytes entry_hash = canonical::EntryHash(sequence, previous, *rh);
      entry.set_entry_hash(DigestString(entry_hash));
      *entry.mutable_record() = *q->record;
      batch.Put(LogEntryKey(sequence), entry.SerializeAsString());
      appended.push_back(Appended{sequence, *rh, entry_hash});
      previous = entry_hash;
    }
    if (status.ok()) {
      status = store_->Write(batch, store::Durability::kSynced);
      if (!status.ok()) {
        status = absl::UnavailableError(
            StrCat("exchange log: the entry could not be written durably (", status.message(),
                   "); the exchange was not performed"));
      }
    }
  } catch (...) {
    status = absl::UnavailableError("exchange log: internal failure while writing; not serving");
  }

  lock.lock();
  if (status.ok()) {
    head_sequence_ = sequence;
    head_hash_ = previous;
  } else if (status.code() == absl::StatusCode::kUnavailable) {
    failed_ = true;  // fail closed: nothing more until reopened
  }
  for (size_t i = 0; i < group.size(); ++i) {
    Writer* q = group[i];
    if (status.ok()) {
      q->result = appended[i];
    } else {
      q->result = status;
    }
    q->done = true;
    queue_.pop_front();
    if (q != &w) q->cv.notify_one();
  }
  if (!queue_.empty()) queue_.front()->cv.notify_one();
  return w.result;
}

uint64_t ExchangeLog::head_sequence() const {
  std::lock_guard lock(mu_);
  return head_sequence_;
}

canonical::DigestBytes ExchangeLog::head_hash() const {
  std::lock_guard lock(mu_);
  return head_hash_;
}

bool ExchangeLog::healthy() const {
  std::lock_guard lock(mu_);
  return !failed_;
}

absl::StatusOr<std::vector<v1::LogEntry>> ExchangeLog::Read(uint64_t first, size_t limit) const {
  auto rows = store_->Scan(LogEntryKey(first), store::PrefixEnd(kEntryPrefix), limit);
  if (!rows.ok()) return rows.status();
  std::vector<v1::LogEntry> out;
  out.reserve(rows->size());
  for (const auto& [key, value] : *rows) {
    v1::LogEntry e;
    if (!e.ParseFromString(value)) {
      return absl::DataLossError(StrCat("exchange log: an entry after ", first, " does not parse"));
    }
    out.push_back(std::move(e));
  }
  return out;
}

absl::StatusOr<ExchangeLog::VerifyReport> ExchangeLog::Verify() const {
  VerifyReport report;
  canonical::DigestBytes previous = canonical::kFirstPreviousHash;
  uint64_t expected = 1;
  constexpr size_t kPage = 4096;
  std::string next = kEntryPrefix;  // from the very start: a key below 1 is an error too
  while (true) {
    auto rows = store_->Scan(next, store::PrefixEnd(kEntryPrefix), kPage);
    if (!rows.ok()) return rows.status();
    for (const auto& [key, value] : *rows) {
      auto fail = [&](std::string problem) {
        report.first_bad_sequence = expected;
        report.problem = std::move(problem);
        return report;
      };
      auto key_sequence = store::DecodeKeyU64(std::string_view(key).substr(sizeof(kEntryPrefix) - 1));
      if (!key_sequence.ok()) return fail("an entry is stored under a malformed key");
      if (*key_sequence != expected) return fail("missing (the chain has a gap)");
      v1::LogEntry e;
      if (!e.ParseFromString(value)) return fail("does not parse");
      if (!e.GetReflection()->GetUnknownFields(e).empty() ||
          !e.record().GetReflection()->GetUnknownFields(e.record()).empty()) {
        return fail("carries fields the log does not know (added behind its back)");
      }
      if (e.sequence() != expected) return fail("stored under another sequence number");
      if (!SameDigest(e.previous_hash(), previous)) return fail("previous_hash does not link to the entry before");
      if (std::string problem = CheckEntry(e); !problem.empty()) return fail(problem);
      std::copy(e.entry_hash().begin(), e.entry_hash().end(), previous.begin());
      ++report.entries_checked;
      ++expected;
    }
    if (rows->size() < kPage) break;
    next = rows->back().first + std::string(1, '\0');
  }
  // Entries this process appended but the store no longer has: truncation.
  if (const uint64_t head = head_sequence(); report.entries_checked < head) {
    report.first_bad_sequence = report.entries_checked + 1;
    report.problem = StrCat("missing: the log ends at ", report.entries_checked,
                            " but entries up to ", head, " were appended");
  }
  return report;
}

}  // namespace schakel::gateway
