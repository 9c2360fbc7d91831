#include "gateway/exchange_log.h"

#include <algorithm>
#include <map>

#include "common/strings.h"

namespace schakel::gateway {
namespace {

constexpr char kEntryPrefix[] = "log/e/";
constexpr char kSegmentPrefix[] = "log/s/";
// Largest number of appends written by one synced write.
constexpr size_t kMaxGroup = 512;
// The index (exchange_log.h); the marker says it covers every entry.
constexpr char kTagIndexPrefix[] = "logx/t/";
constexpr char kExchangeIndexPrefix[] = "logx/x/";
constexpr char kIndexMarkerKey[] = "logx/v";
constexpr size_t kExchangeIdSize = 16;

// A length-prefixed id, so that no id is a prefix of another's key.
std::string KeyPart(std::string_view id) {
  std::string out;
  out.push_back(static_cast<char>((id.size() >> 8) & 0xff));
  out.push_back(static_cast<char>(id.size() & 0xff));
  out.append(id.substr(0, 0xffff));
  return out;
}

std::string TagIndexPrefix(std::string_view org, std::string_view purpose, std::string_view tag) {
  return StrCat(kTagIndexPrefix, KeyPart(org), KeyPart(purpose), KeyPart(tag));
}

std::string ExchangeIndexPrefix(std::string_view exchange_id) {
  return StrCat(kExchangeIndexPrefix, exchange_id);
}

void AddIndexKeys(const v1::LogRecord& record, uint64_t sequence, store::WriteBatch& batch) {
  const std::string seq = store::EncodeKeyU64(sequence);
  for (const v1::OrgTags& t : record.tags()) {
    for (const std::string& tag : t.tags()) {
      batch.Put(TagIndexPrefix(t.org_id(), t.purpose_id(), tag) + seq, "");
    }
  }
  if (record.exchange_id().size() == kExchangeIdSize) {
    batch.Put(ExchangeIndexPrefix(record.exchange_id()) + seq, "");
  }
}

std::string DigestString(const canonical::DigestBytes& d) {
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

bool SameDigest(const std::string& stored, const canonical::DigestBytes& d) {
  return stored.size() == d.size() && std::equal(d.begin(), d.end(), stored.begin(),
                                                  [](uint8_t a, char b) { return a == static_cast<uint8_t>(b); });
}

struct EntryProblem {
  v1::ChainProblem kind = v1::CHAIN_PROBLEM_UNSPECIFIED;
  std::string problem;  // empty when the entry is fine
};

// Checks an entry's own hashes: the record hash from its record, the entry
// hash from sequence, previous hash and record hash.
EntryProblem CheckEntryHashes(const v1::LogEntry& e) {
  auto record_hash = canonical::Digest(canonical::kLogRecordContext, e.record());
  if (!record_hash.ok()) {
    return {v1::CHAIN_PROBLEM_UNDECODABLE_ENTRY,
            StrCat("record cannot be encoded: ", record_hash.status().message())};
  }
  if (!SameDigest(e.record_hash(), *record_hash)) {
    return {v1::CHAIN_PROBLEM_RECORD_HASH_MISMATCH, "record does not match its record_hash"};
  }
  if (e.previous_hash().size() != canonical::kDigestSize) {
    return {v1::CHAIN_PROBLEM_PREVIOUS_HASH_MISMATCH, "previous_hash is not 32 bytes"};
  }
  const auto entry_hash = canonical::EntryHash(
      e.sequence(), crypto::AsBytes(e.previous_hash()), *record_hash);
  if (!SameDigest(e.entry_hash(), entry_hash)) {
    return {v1::CHAIN_PROBLEM_ENTRY_HASH_MISMATCH, "entry_hash does not match"};
  }
  return {};
}

std::string CheckEntry(const v1::LogEntry& e) { return CheckEntryHashes(e).problem; }

// The first bytes of a hash in hex, for messages.
std::string Hex(std::string_view bytes, size_t max_bytes = 8) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes.size() && i < max_bytes; ++i) {
    const auto b = static_cast<uint8_t>(bytes[i]);
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  if (bytes.size() > max_bytes) out += "...";
  return out;
}


}  // namespace

std::string LogEntryKey(uint64_t sequence) { return kEntryPrefix + store::EncodeKeyU64(sequence); }
v1::ChainLink ChainLinkOf(const v1::LogEntry& entry) {
  v1::ChainLink link;
  link.set_sequence(entry.sequence());
  link.set_previous_hash(entry.previous_hash());
  link.set_record_hash(entry.record_hash());
  link.set_entry_hash(entry.entry_hash());
  return link;
}

std::string CheckpointKey(uint64_t sequence) {
  return kCheckpointPrefix + store::EncodeKeyU64(sequence);
}
std::string CheckpointSegmentKey(uint64_t sequence) {
  return kSegmentPrefix + store::EncodeKeyU64(sequence);
}

struct ExchangeLog::Writer {
  const v1::LogRecord* record;
  const WithEntry* with = nullptr;
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
  if (absl::Status indexed = log->BuildIndex(); !indexed.ok()) return indexed;
  return log;
}

absl::Status ExchangeLog::BuildIndex() {
  auto marker = store_->Get(kIndexMarkerKey);
  if (!marker.ok()) return marker.status();
  if (marker->has_value()) return absl::OkStatus();
  // A log written before the index existed: index every entry once. The
  // puts are idempotent, so a crash half-way only repeats them.
  for (uint64_t next = 1; next <= head_sequence_;) {
    auto entries = Read(next, kMaxGroup);
    if (!entries.ok()) return entries.status();
    if (entries->empty()) break;
    store::WriteBatch batch;
    for (const v1::LogEntry& e : *entries) AddIndexKeys(e.record(), e.sequence(), batch);
    if (absl::Status w = store_->Write(batch, store::Durability::kSynced); !w.ok()) return w;
    next = entries->back().sequence() + 1;
  }
  store::WriteBatch done;
  done.Put(kIndexMarkerKey, "1");
  return store_->Write(done, store::Durability::kSynced);
}

namespace {

absl::StatusOr<std::vector<uint64_t>> SequencesUnder(const store::KvStore& store,
                                                     const std::string& prefix) {
  auto rows = store.Scan(prefix, store::PrefixEnd(prefix), 0);
  if (!rows.ok()) return rows.status();
  std::vector<uint64_t> out;
  out.reserve(rows->size());
  for (const auto& [key, value] : *rows) {
    auto seq = store::DecodeKeyU64(std::string_view(key).substr(prefix.size()));
    if (!seq.ok()) return absl::DataLossError("exchange log: a malformed index key");
    out.push_back(*seq);
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<uint64_t>> ExchangeLog::SequencesWithTag(std::string_view org_id,
                                                                    std::string_view purpose_id,
                                                                    std::string_view tag) const {
  return SequencesUnder(*store_, TagIndexPrefix(org_id, purpose_id, tag));
}

absl::StatusOr<std::vector<uint64_t>> ExchangeLog::SequencesOfExchange(
    std::string_view exchange_id) const {
  return SequencesUnder(*store_, ExchangeIndexPrefix(exchange_id));
}

absl::StatusOr<ExchangeLog::Appended> ExchangeLog::Append(const v1::LogRecord& record) {
  return Append(record, WithEntry());
}

absl::StatusOr<ExchangeLog::Appended> ExchangeLog::Append(const v1::LogRecord& record,
                                                          const WithEntry& with) {
  // The record's hash does not depend on its position: compute it before
  // queueing, in parallel with other appenders.
  auto record_hash = canonical::Digest(canonical::kLogRecordContext, record);
  if (!record_hash.ok()) return record_hash.status();

  Writer w;
  w.record = &record;
  if (with) w.with = &with;
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
      AddIndexKeys(*q->record, sequence, batch);
      if (q->with != nullptr) (*q->with)(sequence, batch);
      appended.push_back(Appended{sequence, *rh, entry_hash});
      previous = entry_hash;
    }
    if (status.ok()) {
      batch.Put(kIndexMarkerKey, "1");
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
  return Verify(VerifyOptions{});
}

namespace {

// The checkpoints Verify checks, by their signed head sequence.
struct LoadedCheckpoint {
  v1::Checkpoint checkpoint;
  EntryProblem problem;  // a problem of the checkpoint itself (signature, storage)
};

bool SignedByOneOf(const v1::Checkpoint& c, const std::vector<crypto::VerifyKey>& keys) {
  for (const crypto::VerifyKey& key : keys) {
    if (canonical::Verify(key, canonical::kCheckpointContext, c.payload(), c.signature()).ok()) {
      return true;
    }
  }
  return false;
}

}  // namespace

absl::StatusOr<ExchangeLog::VerifyReport> ExchangeLog::Verify(const VerifyOptions& options) const {
  const uint64_t from = options.from_sequence == 0 ? 1 : options.from_sequence;
  const uint64_t to = options.to_sequence;  // 0: to the end
  if (to != 0 && to < from) {
    return absl::InvalidArgumentError(
        StrCat("to_sequence ", to, " is before from_sequence ", from));
  }
  VerifyReport report;
  auto fail_at = [&report](uint64_t sequence, v1::ChainProblem kind, std::string problem) {
    report.first_bad_sequence = sequence;
    report.problem_kind = kind;
    report.problem = std::move(problem);
    return report;
  };

  // Checkpoints, by the head sequence they sign. A stored checkpoint that
  // is damaged is reported when the walk reaches the sequence it is stored
  // under.
  std::map<uint64_t, LoadedCheckpoint> checkpoints;
  if (!options.checkpoint_keys.empty()) {
    auto rows = store_->Scan(kCheckpointPrefix, store::PrefixEnd(kCheckpointPrefix));
    if (!rows.ok()) return rows.status();
    for (const auto& [key, value] : *rows) {
      auto key_sequence =
          store::DecodeKeyU64(std::string_view(key).substr(sizeof(kCheckpointPrefix) - 1));
      if (!key_sequence.ok()) continue;  // not a checkpoint key: nothing to check
      LoadedCheckpoint loaded;
      if (!loaded.checkpoint.ParseFromString(value)) {
        loaded.problem = {v1::CHAIN_PROBLEM_CHECKPOINT_SIGNATURE_INVALID,
                          StrCat("the checkpoint stored at entry ", *key_sequence,
                                 " does not parse")};
      } else if (loaded.checkpoint.payload().sequence() != *key_sequence) {
        loaded.problem = {v1::CHAIN_PROBLEM_CHECKPOINT_SIGNATURE_INVALID,
                          StrCat("the checkpoint stored at entry ", *key_sequence,
                                 " is signed for entry ", loaded.checkpoint.payload().sequence())};
      } else if (!SignedByOneOf(loaded.checkpoint, options.checkpoint_keys)) {
        loaded.problem = {v1::CHAIN_PROBLEM_CHECKPOINT_SIGNATURE_INVALID,
                          StrCat("the signature of the checkpoint at entry ", *key_sequence,
                                 " does not verify with a gateway key")};
      }
      checkpoints.emplace(*key_sequence, std::move(loaded));
    }
  }

  // Names the first entry a consistently re-hashed chain changed, using the
  // record hashes kept with checkpoint `c` (whose head no longer matches).
  auto locate_rewrite = [&](const v1::Checkpoint& c,
                            const std::string& actual_head) -> absl::StatusOr<VerifyReport> {
    const uint64_t head = c.payload().sequence();
    const uint64_t prev = c.payload().previous_checkpoint_sequence();
    std::string general = StrCat("checkpoint at entry ", head, " signed head hash ",
                                 Hex(c.payload().head_hash()), " but entry ", head,
                                 " has entry_hash ", Hex(actual_head),
                                 ": the chain before it was changed and re-hashed");
    canonical::DigestBytes start = canonical::kFirstPreviousHash;
    if (prev != 0) {
      auto it = checkpoints.find(prev);
      if (prev >= head || it == checkpoints.end() || !it->second.problem.problem.empty() ||
          it->second.checkpoint.payload().head_hash().size() != canonical::kDigestSize) {
        return fail_at(head, v1::CHAIN_PROBLEM_CHECKPOINT_HEAD_MISMATCH,
                       StrCat(general, " (the checkpoint before it is missing, so the changed "
                                       "entry cannot be named)"));
      }
      const std::string& h = it->second.checkpoint.payload().head_hash();
      std::copy(h.begin(), h.end(), start.begin());
    }
    auto segment = store_->Get(CheckpointSegmentKey(head));
    if (!segment.ok()) return segment.status();
    const uint64_t count = head - prev;
    bool authentic = segment->has_value() && (*segment)->size() == count * canonical::kDigestSize;
    if (authentic) {
      canonical::DigestBytes h = start;
      for (uint64_t i = 0; i < count; ++i) {
        h = canonical::EntryHash(
            prev + 1 + i, h,
            crypto::AsBytes(std::string_view(**segment).substr(i * canonical::kDigestSize,
                                                              canonical::kDigestSize)));
      }
      authentic = SameDigest(c.payload().head_hash(), h);
    }
    if (!authentic) {
      return fail_at(head, v1::CHAIN_PROBLEM_CHECKPOINT_HEAD_MISMATCH,
                     StrCat(general, " somewhere in entries ", prev + 1, " to ", head,
                            " (the record hashes kept with the checkpoint were changed too, so "
                            "the changed entry cannot be named)"));
    }
    // The kept record hashes are the ones the checkpoint signed (they chain
    // to its head): the first entry whose record now hashes differently is
    // the first changed one.
    for (uint64_t first = prev + 1; first <= head;) {
      auto entries = Read(first, 1024);
      if (!entries.ok()) return entries.status();
      if (entries->empty()) break;
      for (const v1::LogEntry& e : *entries) {
        if (e.sequence() > head) break;
        const uint64_t i = e.sequence() - prev - 1;
        const std::string_view kept =
            std::string_view(**segment).substr(i * canonical::kDigestSize, canonical::kDigestSize);
        auto now_hash = canonical::Digest(canonical::kLogRecordContext, e.record());
        if (!now_hash.ok() || !SameDigest(std::string(kept), *now_hash)) {
          return fail_at(e.sequence(), v1::CHAIN_PROBLEM_CHECKPOINT_HEAD_MISMATCH,
                         StrCat("entry ", e.sequence(),
                                " was changed after checkpoint at entry ", head,
                                " signed it: its record no longer hashes to the record hash "
                                "the checkpoint covers, and the entries after it were "
                                "re-hashed to hide the change (checkpoint head ",
                                Hex(c.payload().head_hash()), ", entry ", head, " now ",
                                Hex(actual_head), ")"));
        }
      }
      first = entries->back().sequence() + 1;
    }
    return fail_at(head, v1::CHAIN_PROBLEM_CHECKPOINT_HEAD_MISMATCH, general);
  };

  // The hash the first entry of the range must link to.
  canonical::DigestBytes previous = canonical::kFirstPreviousHash;
  if (from > 1) {
    auto before = store_->Get(LogEntryKey(from - 1));
    if (!before.ok()) return before.status();
    v1::LogEntry e;
    if (!before->has_value()) {
      return fail_at(from - 1, v1::CHAIN_PROBLEM_SEQUENCE_GAP, "missing (the chain has a gap)");
    }
    if (!e.ParseFromString(**before) || e.entry_hash().size() != canonical::kDigestSize) {
      return fail_at(from - 1, v1::CHAIN_PROBLEM_UNDECODABLE_ENTRY, "does not parse");
    }
    std::copy(e.entry_hash().begin(), e.entry_hash().end(), previous.begin());
  }

  const uint64_t head_at_start = head_sequence();
  const uint64_t last_wanted = to != 0 ? to : head_at_start;
  const uint64_t total = last_wanted >= from ? last_wanted - from + 1 : 0;
  uint64_t expected = from;
  constexpr size_t kPage = 4096;
  // From the very start when from is 1: a key below 1 is an error too.
  std::string next = from == 1 ? std::string(kEntryPrefix) : LogEntryKey(from);
  bool done = false;
  while (!done) {
    auto rows = store_->Scan(next, store::PrefixEnd(kEntryPrefix), kPage);
    // The store cannot read this page (a damaged table file, DATA_LOSS):
    // read it entry by entry up to the first one that cannot be read, so
    // that the entries before it are still checked and it is named.
    std::optional<std::pair<uint64_t, std::string>> unreadable;
    if (!rows.ok() && rows.status().code() == absl::StatusCode::kDataLoss) {
      const std::string why(rows.status().message());
      std::vector<std::pair<std::string, std::string>> readable;
      for (uint64_t sequence = expected; readable.size() < kPage; ++sequence) {
        auto one = store_->Get(LogEntryKey(sequence));
        if (!one.ok()) {
          unreadable.emplace(sequence, std::string(one.status().message()));
          break;
        }
        if (!one->has_value()) {
          // Every entry up to here reads: the damage is in a key the walk
          // would see next (a missing or stray one) or after the last entry.
          unreadable.emplace(sequence, why);
          break;
        }
        readable.emplace_back(LogEntryKey(sequence), **std::move(one));
      }
      rows = std::move(readable);
    }
    if (!rows.ok()) return rows.status();
    for (const auto& [key, value] : *rows) {
      if (to != 0 && expected > to) {
        done = true;
        break;
      }
      auto fail = [&](v1::ChainProblem kind, std::string problem) {
        return fail_at(expected, kind, std::move(problem));
      };
      auto key_sequence =
          store::DecodeKeyU64(std::string_view(key).substr(sizeof(kEntryPrefix) - 1));
      if (!key_sequence.ok()) {
        return fail(v1::CHAIN_PROBLEM_UNDECODABLE_ENTRY,
                    "an entry is stored under a malformed key");
      }
      if (*key_sequence != expected) {
        return fail(v1::CHAIN_PROBLEM_SEQUENCE_GAP, "missing (the chain has a gap)");
      }
      v1::LogEntry e;
      if (!e.ParseFromString(value)) {
        return fail(v1::CHAIN_PROBLEM_UNDECODABLE_ENTRY, "does not parse");
      }
      if (!e.GetReflection()->GetUnknownFields(e).empty() ||
          !e.record().GetReflection()->GetUnknownFields(e.record()).empty()) {
        return fail(v1::CHAIN_PROBLEM_UNDECODABLE_ENTRY,
                    "carries fields the log does not know (added behind its back)");
      }
      if (e.sequence() != expected) {
        return fail(v1::CHAIN_PROBLEM_SEQUENCE_GAP, "stored under another sequence number");
      }
      if (!SameDigest(e.previous_hash(), previous)) {
        return fail(v1::CHAIN_PROBLEM_PREVIOUS_HASH_MISMATCH,
                    "previous_hash does not link to the entry before");
      }
      if (EntryProblem p = CheckEntryHashes(e); !p.problem.empty()) {
        return fail(p.kind, std::move(p.problem));
      }
      if (auto it = checkpoints.find(expected); it != checkpoints.end()) {
        const LoadedCheckpoint& loaded = it->second;
        if (!loaded.problem.problem.empty()) {
          return fail(loaded.problem.kind, loaded.problem.problem);
        }
        const uint64_t prev = loaded.checkpoint.payload().previous_checkpoint_sequence();
        if (prev >= expected) {
          return fail(v1::CHAIN_PROBLEM_CHECKPOINT_SIGNATURE_INVALID,
                      StrCat("the checkpoint at entry ", expected,
                             " names a later previous checkpoint (", prev, ")"));
        }
        if (prev >= from && !checkpoints.contains(prev)) {
          return fail_at(prev, v1::CHAIN_PROBLEM_SEQUENCE_GAP,
                         StrCat("the checkpoint at entry ", prev, " is missing (the checkpoint at ",
                                "entry ", expected, " names it as its previous one)"));
        }
        // The entry's own hashes verified above, so entry_hash is 32 bytes.
        if (loaded.checkpoint.payload().head_hash() != e.entry_hash()) {
          return locate_rewrite(loaded.checkpoint, e.entry_hash());
        }
        ++report.checkpoints_checked;
        report.latest_checkpoint = loaded.checkpoint;
      }
      std::copy(e.entry_hash().begin(), e.entry_hash().end(), previous.begin());
      report.head = ChainLinkOf(e);
      ++report.entries_checked;
      ++expected;
      if (options.progress && options.progress_every > 0 &&
          report.entries_checked % options.progress_every == 0) {
        if (!options.progress(report.entries_checked, std::max(total, report.entries_checked))) {
          return absl::CancelledError("exchange log: verification stopped");
        }
      }
    }
    if (unreadable) {
      if (!done && (to == 0 || unreadable->first <= to)) {
        return fail_at(unreadable->first, v1::CHAIN_PROBLEM_UNDECODABLE_ENTRY,
                       StrCat("cannot be read: the store reports damage (", unreadable->second, ")"));
      }
      break;  // the damage is after the range: every entry in it was read
    }
    if (rows->size() < kPage) break;
    next = rows->back().first + std::string(1, '\0');
  }
  const uint64_t last = expected - 1;  // the last entry verified (from - 1 when none)
  // Entries that should be there but are not: beyond the end of the store
  // but appended by this process, named by to_sequence, or signed by a
  // checkpoint (truncation).
  uint64_t should_reach = to != 0 ? to : std::max(head_at_start, head_sequence());
  std::string why = to != 0 ? "were asked for (to_sequence)" : "were appended";
  if (!checkpoints.empty()) {
    const uint64_t signed_up_to = checkpoints.rbegin()->first;
    if (signed_up_to > should_reach && (to == 0 || signed_up_to <= to)) {
      should_reach = signed_up_to;
      why = StrCat("are covered by the checkpoint at entry ", signed_up_to);
    }
  }
  if (last < should_reach) {
    return fail_at(last + 1, v1::CHAIN_PROBLEM_SEQUENCE_GAP,
                   StrCat("missing: the log ends at ", last, " but entries up to ", should_reach,
                          " ", why));
  }
  return report;
}

}  // namespace schakel::gateway
