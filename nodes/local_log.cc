#include "nodes/local_log.h"

#include <algorithm>
#include <chrono>

#include "common/strings.h"
#include "common/utf8.h"

namespace schakel::nodes {
namespace {

constexpr size_t kMaxDetailChars = 2000;
constexpr size_t kScanPage = 1000;

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string EntryKey(uint64_t sequence) {
  return StrCat(kLocalLogPrefix, store::EncodeKeyU64(sequence));
}

int64_t Millis(const google::protobuf::Timestamp& ts) {
  return ts.seconds() * 1000 + ts.nanos() / 1'000'000;
}

std::string_view AsView(const canonical::DigestBytes& d) {
  return {reinterpret_cast<const char*>(d.data()), d.size()};
}

absl::StatusOr<v1::LocalLogEntry> ParseEntry(const std::string& bytes, uint64_t sequence) {
  v1::LocalLogEntry entry;
  if (!entry.ParseFromString(bytes)) {
    return absl::DataLossError(StrCat("local log: entry ", sequence, " does not parse"));
  }
  return entry;
}

// Why `entry` (at `sequence`, after `previous`) is not a valid link of the
// chain; empty when it is.
std::string ChainProblem(const v1::LocalLogEntry& entry, uint64_t sequence,
                         const canonical::DigestBytes& previous) {
  if (entry.sequence() != sequence) {
    return StrCat("entry is stored under sequence ", sequence, " but says ", entry.sequence());
  }
  if (entry.previous_hash() != AsView(previous)) {
    return "previous_hash is not the entry_hash of the entry before";
  }
  auto record_hash = canonical::Digest(canonical::kNodeLogRecordContext, entry.record());
  if (!record_hash.ok())
    return StrCat("record cannot be encoded: ", record_hash.status().message());
  if (entry.record_hash() != AsView(*record_hash)) {
    return "record_hash does not match the record (the record was changed)";
  }
  const canonical::DigestBytes entry_hash =
      canonical::NodeEntryHash(sequence, crypto::AsBytes(entry.previous_hash()), *record_hash);
  if (entry.entry_hash() != AsView(entry_hash)) return "entry_hash does not match";
  return {};
}

}  // namespace

bool LocalLogFilter::Matches(const v1::LocalLogRecord& record) const {
  const int64_t at = Millis(record.recorded_at());
  if (from_ms && at < *from_ms) return false;
  if (to_ms && at >= *to_ms) return false;
  if (!kinds.empty() && std::find(kinds.begin(), kinds.end(), record.kind()) == kinds.end()) {
    return false;
  }
  if (!user_id.empty() && record.user_id() != user_id) return false;
  if (!purpose_id.empty() && record.purpose_id() != purpose_id) return false;
  if (!exchange_id.empty() && record.exchange_id() != exchange_id) return false;
  return true;
}

absl::StatusOr<std::unique_ptr<LocalLog>> LocalLog::Open(store::KvStore* kv, Clock now_ms) {
  if (kv == nullptr) return absl::InvalidArgumentError("local log: kv store is null");
  std::unique_ptr<LocalLog> log(new LocalLog(kv, now_ms ? std::move(now_ms) : Clock(SystemNowMs)));
  std::lock_guard<std::mutex> lock(log->mu_);
  if (absl::Status loaded = log->LoadHead(); !loaded.ok()) return loaded;
  return log;
}

absl::Status LocalLog::LoadHead() {
  auto last = kv_->Last(kLocalLogPrefix, store::PrefixEnd(kLocalLogPrefix));
  if (!last.ok()) return last.status();
  if (!last->has_value()) {
    head_sequence_ = 0;
    head_hash_ = canonical::kFirstPreviousHash;
    reload_head_ = false;
    return absl::OkStatus();
  }
  auto sequence =
      store::DecodeKeyU64(std::string_view((*last)->first).substr(sizeof(kLocalLogPrefix) - 1));
  if (!sequence.ok()) return absl::DataLossError("local log: the last entry has a malformed key");
  auto entry = ParseEntry((*last)->second, *sequence);
  if (!entry.ok()) return entry.status();
  if (entry->entry_hash().size() != canonical::kDigestSize ||
      entry->previous_hash().size() != canonical::kDigestSize) {
    return absl::DataLossError(StrCat("local log: entry ", *sequence, " has malformed hashes"));
  }
  canonical::DigestBytes previous{};
  std::copy(entry->previous_hash().begin(), entry->previous_hash().end(), previous.begin());
  if (const std::string problem = ChainProblem(*entry, *sequence, previous); !problem.empty()) {
    return absl::DataLossError(
        StrCat("local log: the last entry ", *sequence, " is damaged: ", problem));
  }
  head_sequence_ = *sequence;
  std::copy(entry->entry_hash().begin(), entry->entry_hash().end(), head_hash_.begin());
  reload_head_ = false;
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> LocalLog::Append(v1::LocalLogRecord record) {
  return AppendWith(std::move(record), store::WriteBatch());
}

absl::StatusOr<uint64_t> LocalLog::AppendWith(v1::LocalLogRecord record, store::WriteBatch batch) {
  if (!record.has_recorded_at()) {
    const int64_t now = now_ms_();
    record.mutable_recorded_at()->set_seconds(now / 1000);
    record.mutable_recorded_at()->set_nanos(static_cast<int32_t>((now % 1000) * 1'000'000));
  }
  if (Utf8Chars(record.detail()) > kMaxDetailChars) {
    return absl::InvalidArgumentError(
        StrCat("local log: detail is longer than ", kMaxDetailChars, " characters"));
  }
  auto record_hash = canonical::Digest(canonical::kNodeLogRecordContext, record);
  if (!record_hash.ok()) return record_hash.status();

  std::lock_guard<std::mutex> lock(mu_);
  if (reload_head_) {
    // A failed write may still have reached the disk; continue from what is
    // really there so that the chain cannot fork.
    if (absl::Status loaded = LoadHead(); !loaded.ok()) return loaded;
  }
  v1::LocalLogEntry entry;
  entry.set_sequence(head_sequence_ + 1);
  entry.set_previous_hash(std::string(AsView(head_hash_)));
  entry.set_record_hash(std::string(AsView(*record_hash)));
  const canonical::DigestBytes entry_hash =
      canonical::NodeEntryHash(entry.sequence(), head_hash_, *record_hash);
  entry.set_entry_hash(std::string(AsView(entry_hash)));
  *entry.mutable_record() = std::move(record);
  batch.Put(EntryKey(entry.sequence()), entry.SerializeAsString());
  if (absl::Status written = kv_->Write(batch, store::Durability::kSynced); !written.ok()) {
    reload_head_ = true;
    return written;
  }
  head_sequence_ = entry.sequence();
  head_hash_ = entry_hash;
  return head_sequence_;
}

uint64_t LocalLog::head_sequence() const {
  std::lock_guard<std::mutex> lock(mu_);
  return head_sequence_;
}

absl::Status LocalLog::Scan(
    const LocalLogFilter& filter, size_t batch_size,
    const std::function<bool(std::vector<v1::LocalLogEntry>&)>& sink) const {
  batch_size = std::max<size_t>(batch_size, 1);
  uint64_t next = std::max<uint64_t>(filter.from_sequence, 1);
  uint64_t returned = 0;
  std::vector<v1::LocalLogEntry> out;
  while (true) {
    auto rows = kv_->Scan(EntryKey(next), store::PrefixEnd(kLocalLogPrefix), kScanPage);
    if (!rows.ok()) return rows.status();
    for (const auto& [key, value] : *rows) {
      auto sequence =
          store::DecodeKeyU64(std::string_view(key).substr(sizeof(kLocalLogPrefix) - 1));
      if (!sequence.ok()) return absl::DataLossError("local log: an entry has a malformed key");
      auto entry = ParseEntry(value, *sequence);
      if (!entry.ok()) return entry.status();
      next = *sequence + 1;
      if (!filter.Matches(entry->record())) continue;
      out.push_back(*std::move(entry));
      ++returned;
      const bool done = filter.limit != 0 && returned >= filter.limit;
      if (out.size() >= batch_size || done) {
        if (!sink(out)) return absl::OkStatus();
        out.clear();
      }
      if (done) return absl::OkStatus();
    }
    if (rows->size() < kScanPage) break;
  }
  if (!out.empty()) sink(out);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::LocalLogEntry>> LocalLog::Read(uint64_t first, size_t limit) const {
  LocalLogFilter filter;
  filter.from_sequence = first;
  filter.limit = limit;
  std::vector<v1::LocalLogEntry> all;
  absl::Status scanned = Scan(filter, kScanPage, [&all](std::vector<v1::LocalLogEntry>& batch) {
    for (v1::LocalLogEntry& e : batch) all.push_back(std::move(e));
    return true;
  });
  if (!scanned.ok()) return scanned;
  return all;
}

absl::StatusOr<LocalLog::VerifyReport> LocalLog::Verify() const {
  VerifyReport report;
  canonical::DigestBytes previous = canonical::kFirstPreviousHash;
  uint64_t expected = 1;
  while (true) {
    auto rows = kv_->Scan(EntryKey(expected), store::PrefixEnd(kLocalLogPrefix), kScanPage);
    if (!rows.ok()) return rows.status();
    for (const auto& [key, value] : *rows) {
      auto sequence =
          store::DecodeKeyU64(std::string_view(key).substr(sizeof(kLocalLogPrefix) - 1));
      const auto bad = [&](std::string problem) {
        report.first_bad_sequence = expected;
        report.problem = std::move(problem);
        return report;
      };
      if (!sequence.ok()) return bad("an entry key is malformed");
      if (*sequence != expected) return bad(StrCat("entry ", expected, " is missing"));
      v1::LocalLogEntry entry;
      if (!entry.ParseFromString(value)) return bad("the entry does not parse");
      if (const std::string problem = ChainProblem(entry, expected, previous); !problem.empty()) {
        return bad(problem);
      }
      std::copy(entry.entry_hash().begin(), entry.entry_hash().end(), previous.begin());
      ++report.entries_checked;
      ++expected;
    }
    if (rows->size() < kScanPage) return report;
  }
}

}  // namespace schakel::nodes
