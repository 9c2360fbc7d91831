#include "nodes/import.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>

#include "crypto/oprf.h"
#include "store/faulty_store.h"
#include "store/memory_store.h"
#include "store/rocksdb_store.h"

namespace schakel::nodes {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kPolicy[] = R"({
  "version": "test",
  "categories": [
    {"category": "huiselijk-geweld", "domain": "care"},
    {"category": "overlast", "domain": "housing", "retention": "30d"}
  ],
  "purposes": [
    {"purpose_id": "zvh", "matchable_categories": ["huiselijk-geweld"]},
    {"purpose_id": "riec", "matchable_categories": ["huiselijk-geweld", "overlast"]}
  ]
})";

const absl::Time kNow =
    absl::FromCivil(absl::CivilSecond(2025, 3, 1, 12, 0, 0), absl::UTCTimeZone());

// The n-th 9-digit number (from 100000000) that passes the elfproef.
std::string ValidBsn(uint64_t n) {
  static std::vector<std::string> found;
  for (uint64_t candidate = found.empty() ? 100'000'000 : std::stoull(found.back()) + 1;
       found.size() <= n; ++candidate) {
    const std::string s = std::to_string(candidate);
    int sum = 0;
    for (int i = 0; i < 8; ++i) sum += (s[static_cast<size_t>(i)] - '0') * (9 - i);
    sum -= s[8] - '0';
    if (sum % 11 == 0) found.push_back(s);
  }
  return found[n];
}

v1::ImportRow Row(uint64_t line, std::string id, std::string bsn,
                  std::string category = "huiselijk-geweld") {
  v1::ImportRow row;
  row.set_line(line);
  v1::Signal* s = row.mutable_signal();
  s->set_signal_id(std::move(id));
  s->set_category(std::move(category));
  s->mutable_subject()->set_bsn(std::move(bsn));
  s->mutable_subject()->set_surname("Jansen");
  s->mutable_subject()->set_given_names("Piet");
  s->mutable_subject()->set_birth_date("1980-05-17");
  return row;
}

class ImportTest : public ::testing::Test {
 protected:
  ImportTest() : server_(crypto::oprf::PrivateKey::Generate()) {
    auto policy = ParseLocalPolicy(kPolicy);
    EXPECT_TRUE(policy.ok()) << policy.status();
    policy_ = *policy;
    Reopen();
  }

  // A new SignalStore and LocalLog over the same data: what a restarted
  // node sees.
  void Reopen() {
    signals_.reset();
    auto log = LocalLog::Open(&faulty_);
    EXPECT_TRUE(log.ok());
    log_ = *std::move(log);
    std::map<std::string, crypto::PurposeKey> keys;
    for (const char* purpose : {"zvh", "riec"}) {
      keys.emplace(purpose, *crypto::PurposeKey::Create(server_, purpose));
    }
    auto signals =
        SignalStore::Create(&faulty_, policy_, std::move(keys), secret_.Clone(), log_.get());
    EXPECT_TRUE(signals.ok()) << signals.status();
    signals_ = *std::move(signals);
  }

  std::unique_ptr<SignalImport> Begin(ImportOptions options = {}, bool replace = false) {
    v1::ImportHeader header;
    header.set_source_name("signalen.csv");
    header.set_format(v1::IMPORT_FORMAT_CSV);
    header.set_replace_existing(replace);
    auto import = SignalImport::Begin(signals_.get(), &faulty_, log_.get(), header,
                                      {"pro", v1::ROLE_PROFESSIONAL, ""}, kNow, std::move(options));
    EXPECT_TRUE(import.ok()) << import.status();
    return import.ok() ? *std::move(import) : nullptr;
  }

  // n valid rows from line `first_line`, ids "r<index>".
  static std::vector<v1::ImportRows> ValidRows(uint64_t n, uint64_t batch = 1000) {
    std::vector<v1::ImportRows> out;
    for (uint64_t i = 0; i < n; ++i) {
      if (i % batch == 0) out.emplace_back();
      *out.back().add_rows() = Row(i + 2, "r" + std::to_string(i), ValidBsn(i));
    }
    return out;
  }

  size_t Count(std::string_view prefix) {
    auto rows = memory_.Scan(prefix, store::PrefixEnd(prefix), 0);
    EXPECT_TRUE(rows.ok());
    return rows->size();
  }

  crypto::oprf::PoprfServer server_;
  NodeSecret secret_ = NodeSecret::Random();
  std::shared_ptr<const LocalPolicy> policy_;
  store::MemoryStore memory_;
  store::FaultyStore faulty_{&memory_};
  std::unique_ptr<LocalLog> log_;
  std::unique_ptr<SignalStore> signals_;
};

TEST_F(ImportTest, CommitsEveryRowInChunksWithTheirTags) {
  ImportOptions options;
  options.chunk_size = 1000;
  std::vector<uint64_t> chunks;
  options.after_chunk = [&](uint64_t stored) { chunks.push_back(stored); };
  auto import = Begin(options);
  for (const v1::ImportRows& rows : ValidRows(2500)) ASSERT_TRUE(import->AddRows(rows).ok());
  EXPECT_EQ(import->Progress().rows_validated(), 2500u);
  std::vector<uint64_t> progress;
  auto result = import->Finish(
      true, [&](const v1::ImportProgress& p) { progress.push_back(p.rows_stored()); });
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->committed());
  EXPECT_EQ(result->rows_received(), 2500u);
  EXPECT_EQ(result->signals_stored(), 2500u);
  EXPECT_EQ(result->problem_count(), 0u);
  EXPECT_THAT(chunks, ElementsAre(1000, 2000, 2500));
  EXPECT_EQ(progress, chunks);
  // bsn and name_dob keys: 2500 distinct bsn tags and one shared name_dob
  // tag, under each of the two purposes.
  EXPECT_EQ(result->tags_queued(), 2u * 2501u);
  EXPECT_EQ(Count("sig/s/"), 2500u);
  EXPECT_EQ(Count("imp/"), 0u);  // journal and undo records gone
  auto status = signals_->GetIndexStatus();
  EXPECT_EQ(status->queued_through, 3u);  // one queue entry per chunk
  EXPECT_EQ(status->tag_count["zvh"], 2501u);
  auto stored = signals_->Get("r7");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->owner_user_id(), "pro");
  EXPECT_EQ(stored->version(), 1u);
  EXPECT_THAT(stored->tagged_purpose_ids(), ElementsAre("riec", "zvh"));

  // One SIGNALS_IMPORTED record, with the importing user and the row count.
  auto entries = log_->Read(1, 0);
  ASSERT_EQ(entries->size(), 1u);
  const v1::LocalLogRecord& r = (*entries)[0].record();
  EXPECT_EQ(r.kind(), v1::LOCAL_EVENT_KIND_SIGNALS_IMPORTED);
  EXPECT_EQ(r.user_id(), "pro");
  EXPECT_EQ(r.role(), v1::ROLE_PROFESSIONAL);
  EXPECT_EQ(r.subject_count(), 2500u);
  EXPECT_EQ(r.outcome(), v1::OUTCOME_GRANTED);
}

TEST_F(ImportTest, BadRowsAreListedWithLineAndFieldAndNothingIsStored) {
  ASSERT_TRUE(signals_->Add(Row(0, "taken", ValidBsn(100)).signal(), kNow, "u").ok());
  const uint64_t queued_before = signals_->GetIndexStatus()->queued_through;
  auto import = Begin();
  v1::ImportRows rows;
  *rows.add_rows() = Row(2, "a", ValidBsn(1));
  *rows.add_rows() = Row(3, "b", "123456789");  // fails the elfproef
  *rows.add_rows() = Row(4, "c", ValidBsn(3), "onbekend");
  *rows.add_rows() = Row(5, "a", ValidBsn(4));  // the id of line 2 again
  *rows.add_rows() = Row(6, "taken", ValidBsn(5));
  v1::ImportRow bad_date = Row(7, "d", ValidBsn(6));
  bad_date.mutable_signal()->mutable_subject()->set_birth_date("31-02-1990");
  *rows.add_rows() = bad_date;
  // Text that is not UTF-8 (only an in-process caller can send it: gRPC
  // refuses it earlier) is a problem of its field, not a crash at commit.
  v1::ImportRow bad_text = Row(8, "e", ValidBsn(7));
  bad_text.mutable_signal()->set_free_text("caf\xe9");
  *rows.add_rows() = bad_text;
  ASSERT_TRUE(import->AddRows(rows).ok());
  ASSERT_TRUE(import->AddRows(ValidRows(50).front()).ok());  // validated all the same
  auto result = import->Finish(true);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->committed());
  EXPECT_EQ(result->rows_received(), 57u);
  EXPECT_EQ(result->signals_stored(), 0u);
  EXPECT_EQ(result->problem_count(), 6u);
  std::vector<std::string> listed;
  for (const v1::ImportProblem& p : result->problems()) {
    listed.push_back(std::to_string(p.line()) + " " + p.problem().field());
    // Never the value itself.
    EXPECT_THAT(p.problem().problem(), ::testing::Not(HasSubstr("123456789")));
    EXPECT_THAT(p.problem().problem(), ::testing::Not(HasSubstr("31-02-1990")));
  }
  EXPECT_THAT(listed, ElementsAre("3 subject.bsn", "4 category", "5 signal_id", "6 signal_id",
                                  "7 subject.birth_date", "8 free_text"));
  EXPECT_EQ(result->problems(5).problem().problem(), "not valid UTF-8");
  EXPECT_THAT(result->problems(2).problem().problem(), HasSubstr("also used on line 2"));
  EXPECT_THAT(result->problems(3).problem().problem(), HasSubstr("already stored"));
  // Nothing stored, nothing staged, nothing queued.
  EXPECT_EQ(Count("sig/s/"), 1u);
  EXPECT_EQ(Count("imp/"), 0u);
  EXPECT_EQ(signals_->GetIndexStatus()->queued_through, queued_before);
  auto entries = log_->Read(1, 0);
  EXPECT_EQ(entries->back().record().kind(), v1::LOCAL_EVENT_KIND_SIGNALS_IMPORTED);
  EXPECT_EQ(entries->back().record().outcome(), v1::OUTCOME_REFUSED);
}

TEST_F(ImportTest, ValidateOnlyStoresNothingAndReplaceExistingReplaces) {
  auto dry = Begin();
  ASSERT_TRUE(dry->AddRows(ValidRows(20).front()).ok());
  auto checked = dry->Finish(false);
  ASSERT_TRUE(checked.ok());
  EXPECT_FALSE(checked->committed());
  EXPECT_EQ(checked->problem_count(), 0u);
  EXPECT_EQ(Count("sig/s/"), 0u);
  EXPECT_EQ(Count("imp/"), 0u);

  ASSERT_TRUE(signals_->Add(Row(0, "r3", ValidBsn(500)).signal(), kNow, "other").ok());
  auto replace = Begin({}, /*replace=*/true);
  ASSERT_TRUE(replace->AddRows(ValidRows(20).front()).ok());
  auto result = replace->Finish(true);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->committed());
  auto replaced = signals_->Get("r3");
  EXPECT_EQ(replaced->version(), 2u);
  EXPECT_EQ(replaced->subject().bsn(), ValidBsn(3));
  // The replaced signal's old BSN tag is withdrawn.
  EXPECT_EQ(signals_->GetIndexStatus()->tag_count["zvh"], 21u);
}

// Tags added and removed over the whole queue, per purpose + tag.
std::map<std::string, int> QueuedNet(const SignalStore& signals) {
  std::map<std::string, int> net;
  auto batches = signals.PendingBatches(0, 0);
  EXPECT_TRUE(batches.ok());
  for (size_t i = 0; i < batches->size(); ++i) {
    EXPECT_EQ((*batches)[i].sequence(), i + 1);
    for (const auto& c : (*batches)[i].changes()) {
      for (const std::string& t : c.added()) ++net[c.purpose_id() + t];
      for (const std::string& t : c.removed()) --net[c.purpose_id() + t];
    }
  }
  return net;
}

TEST_F(ImportTest, ACrashBetweenChunksIsRolledBackAtTheNextStart) {
  ImportOptions options;
  options.chunk_size = 100;
  // After the second chunk the "disk" fails: the process is as good as
  // dead in the middle of the commit, and cannot roll back either.
  options.after_chunk = [&](uint64_t stored) {
    if (stored == 200) faulty_.FailAllWrites();
  };
  {
    auto import = Begin(options);
    for (const v1::ImportRows& rows : ValidRows(450, 100)) ASSERT_TRUE(import->AddRows(rows).ok());
    auto result = import->Finish(true);
    EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
  }
  EXPECT_EQ(Count("sig/s/"), 200u);  // two chunks in
  EXPECT_EQ(Count("imp/j/"), 1u);
  EXPECT_EQ(Count("imp/u/"), 2u);  // one undo record per committed chunk

  faulty_.ClearFaults();
  Reopen();
  auto recovered = SignalImport::Recover(signals_.get(), &faulty_);
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  EXPECT_EQ(*recovered, 1u);
  EXPECT_EQ(Count("sig/"), 0u);  // signals, tag records, indexes: all gone
  EXPECT_EQ(Count("idx/r/"), 0u);
  EXPECT_EQ(Count("imp/"), 0u);
  EXPECT_EQ(signals_->GetIndexStatus()->tag_count["zvh"], 0u);
  // Every tag published by the two chunks is withdrawn again.
  const std::map<std::string, int> net = QueuedNet(*signals_);
  EXPECT_EQ(net.size(), 2u * 201u);
  for (const auto& [tag, count] : net) EXPECT_EQ(count, 0);
  // The roll back is in the node's own log.
  auto entries = log_->Read(1, 0);
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ(entries->back().record().kind(), v1::LOCAL_EVENT_KIND_SIGNALS_IMPORTED);
  EXPECT_EQ(entries->back().record().outcome(), v1::OUTCOME_FAILED);
  EXPECT_THAT(entries->back().record().detail(), HasSubstr("rolled back"));
  // Nothing more to do at the next start; the same file imports cleanly.
  EXPECT_EQ(*SignalImport::Recover(signals_.get(), &faulty_), 0u);
  options.after_chunk = {};
  auto again = Begin(options);
  for (const v1::ImportRows& rows : ValidRows(450, 100)) ASSERT_TRUE(again->AddRows(rows).ok());
  ASSERT_TRUE(again->Finish(true).ok());
  EXPECT_EQ(Count("sig/s/"), 450u);
  EXPECT_EQ(signals_->GetIndexStatus()->tag_count["zvh"], 451u);
}

TEST_F(ImportTest, AChunkThatCannotBeWrittenRollsBackTheEarlierOnesAtOnce) {
  ImportOptions options;
  options.chunk_size = 100;
  options.after_chunk = [&](uint64_t stored) {
    if (stored == 300) faulty_.FailNextWrites(1);  // the fourth chunk fails, then the disk is fine
  };
  auto import = Begin(options);
  for (const v1::ImportRows& rows : ValidRows(450, 100)) ASSERT_TRUE(import->AddRows(rows).ok());
  EXPECT_EQ(import->Finish(true).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(Count("sig/"), 0u);
  EXPECT_EQ(Count("imp/"), 0u);
  EXPECT_EQ(Count("idx/r/"), 0u);
  for (const auto& [tag, count] : QueuedNet(*signals_)) EXPECT_EQ(count, 0);
  auto entries = log_->Read(1, 0);
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ(entries->back().record().outcome(), v1::OUTCOME_FAILED);
  EXPECT_EQ(*SignalImport::Recover(signals_.get(), &faulty_), 0u);
}

TEST_F(ImportTest, RollingBackAReplacingImportRestoresTheSignalsItReplaced) {
  // r0 and r1 stored with their own BSNs; the import replaces them (other
  // BSNs) and adds r2..r149; the crash comes after the first chunk.
  for (const v1::ImportRows& rows : ValidRows(2, 100)) {
    auto first = Begin();
    ASSERT_TRUE(first->AddRows(rows).ok());
    ASSERT_TRUE(first->Finish(true).ok());
  }
  const auto tags_before = signals_->TagsOf("r0");
  ASSERT_TRUE(tags_before.ok());
  const v1::Signal r0_before = *signals_->Get("r0");
  v1::ImportRows replacing;
  for (uint64_t i = 0; i < 150; ++i) {
    *replacing.add_rows() = Row(i + 2, "r" + std::to_string(i), ValidBsn(1000 + i));
  }
  ImportOptions options;
  options.chunk_size = 100;
  options.after_chunk = [&](uint64_t) { faulty_.FailAllWrites(); };
  {
    auto import = Begin(options, /*replace=*/true);
    ASSERT_TRUE(import->AddRows(replacing).ok());
    EXPECT_FALSE(import->Finish(true).ok());
  }
  EXPECT_EQ(signals_->Get("r0")->version(), 2u);  // replaced before the crash
  faulty_.ClearFaults();
  Reopen();
  ASSERT_EQ(*SignalImport::Recover(signals_.get(), &faulty_), 1u);
  EXPECT_EQ(Count("sig/s/"), 2u);
  const v1::Signal r0 = *signals_->Get("r0");
  EXPECT_EQ(r0.subject().bsn(), r0_before.subject().bsn());
  EXPECT_EQ(r0.version(), r0_before.version());
  EXPECT_EQ(*signals_->TagsOf("r0"), *tags_before);
  // bsn tags of r0 and r1 plus the shared name_dob tag, per purpose.
  EXPECT_EQ(signals_->GetIndexStatus()->tag_count["zvh"], 3u);
}

TEST_F(ImportTest, AnImportThatNeverBeganToCommitLeavesNothing) {
  {
    auto import = Begin();
    ASSERT_TRUE(import->AddRows(ValidRows(30).front()).ok());
  }
  // Rows wait in memory until the commit: nothing reached the store.
  EXPECT_EQ(Count("imp/"), 0u);
  EXPECT_EQ(Count("sig/"), 0u);
  // Leftovers of an earlier version's staging are removed at start.
  store::WriteBatch legacy;
  legacy.Put("imp/a/0123", "");
  legacy.Put("imp/r/0123/1", "x");
  ASSERT_TRUE(memory_.Write(legacy, store::Durability::kSynced).ok());
  Reopen();
  EXPECT_EQ(*SignalImport::Recover(signals_.get(), &faulty_), 0u);
  EXPECT_EQ(Count("imp/"), 0u);
  EXPECT_EQ(Count("sig/s/"), 0u);
}

TEST_F(ImportTest, LimitsAreErrorsOfTheStream) {
  ImportOptions options;
  options.max_rows = 10;
  auto import = Begin(options);
  EXPECT_EQ(import->AddRows(ValidRows(11).front()).code(), absl::StatusCode::kResourceExhausted);
  v1::ImportRows too_many;
  for (int i = 0; i < 10'001; ++i) too_many.add_rows();
  EXPECT_EQ(Begin()->AddRows(too_many).code(), absl::StatusCode::kInvalidArgument);
  v1::ImportHeader header;
  header.set_source_name("/etc/passwd");
  EXPECT_EQ(
      SignalImport::Begin(signals_.get(), &faulty_, log_.get(), header, {}, kNow).status().code(),
      absl::StatusCode::kInvalidArgument);
}

// A figure, not a timed test: SCHAKEL_IMPORT_ROWS rows (default 2000)
// through validation, tags and commit on 2 threads, in RocksDB under
// SCHAKEL_IMPORT_DIR when set (else in memory); prints rows/s and the ratio
// to the tag computation alone (4 POPRF evaluations per row here).
TEST_F(ImportTest, Throughput) {
  const char* env = std::getenv("SCHAKEL_IMPORT_ROWS");
  const uint64_t n = env != nullptr ? std::stoull(env) : 2000;
  std::unique_ptr<store::RocksDbStore> rocks;
  if (const char* dir = std::getenv("SCHAKEL_IMPORT_DIR"); dir != nullptr) {
    auto opened = store::RocksDbStore::Open(dir);
    ASSERT_TRUE(opened.ok()) << opened.status();
    rocks = *std::move(opened);
  }
  store::KvStore* kv = rocks ? static_cast<store::KvStore*>(rocks.get()) : &faulty_;
  auto log = LocalLog::Open(kv);
  ASSERT_TRUE(log.ok());
  std::map<std::string, crypto::PurposeKey> keys;
  for (const char* purpose : {"zvh", "riec"}) {
    keys.emplace(purpose, *crypto::PurposeKey::Create(server_, purpose));
  }
  auto signals = SignalStore::Create(kv, policy_, std::move(keys), secret_.Clone(), log->get());
  ASSERT_TRUE(signals.ok());
  ImportOptions options;
  options.threads = 2;
  v1::ImportHeader header;
  header.set_source_name("bench.csv");
  auto import = SignalImport::Begin(signals->get(), kv, log->get(), header,
                                    {"pro", v1::ROLE_PROFESSIONAL, ""}, kNow, options);
  ASSERT_TRUE(import.ok());
  const auto rows = ValidRows(n, 10'000);
  const auto start = std::chrono::steady_clock::now();
  for (const v1::ImportRows& batch : rows) ASSERT_TRUE((*import)->AddRows(batch).ok());
  const auto validated = std::chrono::steady_clock::now();
  auto result = (*import)->Finish(true);
  const auto done = std::chrono::steady_clock::now();
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->signals_stored(), n);
  const double total = std::chrono::duration<double>(done - start).count();
  const double validate = std::chrono::duration<double>(validated - start).count();

  // The crypto alone, on one thread, for a sample; scaled to n rows on 2.
  const crypto::PurposeKey key = *crypto::PurposeKey::Create(server_, "zvh");
  const uint64_t sample = std::min<uint64_t>(n, 2000);
  const auto crypto_start = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < 4 * sample; ++i) {
    ASSERT_TRUE(key.TagFor(crypto::AsBytes("schakel:v1:bsn:" + std::to_string(i))).ok());
  }
  const double crypto_alone =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - crypto_start).count() *
      static_cast<double>(n) / static_cast<double>(sample) / 2;
  std::printf(
      "import of %llu rows (%s): %.0f rows/s (validate+tag %.2f s, commit %.2f s); tags "
      "alone on 2 threads %.2f s; ratio %.2f\n",
      static_cast<unsigned long long>(n), rocks ? "RocksDB" : "memory",
      static_cast<double>(n) / total, validate, total - validate, crypto_alone,
      total / crypto_alone);
}

}  // namespace
}  // namespace schakel::nodes
