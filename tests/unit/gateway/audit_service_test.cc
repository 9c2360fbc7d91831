#include "gateway/audit_service.h"

#include <gmock/gmock.h>
#include <grpcpp/server_context.h>
#include <gtest/gtest.h>

#include "gateway/receipts.h"
#include "store/memory_store.h"
#include "tests/unit/gateway/case_audit_test_support.h"

namespace schakel::gateway {
namespace {

using testing::Actor;
using testing::AllEntries;
using testing::DetailOf;
using testing::EditEntry;
using ::testing::ElementsAre;
using testing::ExchangeRecord;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::LastEntry;
using testing::ProblemFields;
using testing::TestStart;

class AuditServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log_ = ExchangeLog::Open(&store_).value();
    checkpoints_ =
        CheckpointStore::Open(&store_, log_.get(), crypto::SigningKey::FromSeed(seed_),
                              CheckpointOptions{0, absl::ZeroDuration()}, [this] { return now_; })
            .value();
    directory_ = testing::TestDirectory();
    policy_ = testing::TestPolicy();
    service_ = std::make_unique<AuditService>(
        log_.get(), checkpoints_.get(), directory_.get(), [this] { return policy_; },
        [this] { return now_; });
  }
  // Entries 1..n: exchanges by riec-zwb (even) and ggz-breburg (odd).
  void Append(int n) {
    for (int i = 0; i < n; ++i) {
      const uint64_t next = log_->head_sequence() + 1;
      ASSERT_TRUE(log_->Append(ExchangeRecord(next % 2 == 0 ? "riec-zwb" : "ggz-breburg", now_,
                                              next % 2 == 0 ? "riec-ondermijning" : "vrij-doel"))
                      .ok());
    }
  }
  struct Verified {
    absl::Status status;
    std::vector<v1::VerifyChainResponse> messages;
    const v1::VerifyResult& result() const { return messages.back().result(); }
  };
  Verified Verify(std::string_view org = "schakel-beheer", uint64_t from = 0, uint64_t to = 0,
                  v1::Role role = v1::ROLE_AUDITOR) {
    v1::VerifyChainRequest request;
    *request.mutable_actor() = Actor(role, "fg1");
    request.set_from_sequence(from);
    request.set_to_sequence(to);
    Verified out;
    out.status = service_->VerifyChainFor(org, request, [&](const v1::VerifyChainResponse& m) {
      out.messages.push_back(m);
      return true;
    });
    return out;
  }
  // The last entry logs `method` by `org` as granted; `receipt` is its.
  void ExpectLoggedQuery(const v1::Receipt& receipt, std::string_view method,
                         std::string_view org) {
    const v1::LogEntry e = LastEntry(*log_);
    EXPECT_EQ(e.record().kind(), v1::RECORD_KIND_AUDIT_QUERY);
    EXPECT_EQ(e.record().outcome(), v1::OUTCOME_GRANTED);
    EXPECT_EQ(e.record().audit_query().method(), method);
    EXPECT_EQ(e.record().requester().org_id(), org);
    EXPECT_EQ(e.record().requester().role(), v1::ROLE_AUDITOR);
    EXPECT_EQ(e.record().policy_version(), policy_->version());
    EXPECT_EQ(receipt.payload().sequence(), e.sequence());
    EXPECT_EQ(receipt.payload().recipient_org_id(), org);
    EXPECT_TRUE(VerifyReceipt(receipt, checkpoints_->verify_key()).ok());
  }

  std::array<uint8_t, 32> seed_{9};
  absl::Time now_ = TestStart();
  store::MemoryStore store_;
  std::unique_ptr<ExchangeLog> log_;
  std::unique_ptr<CheckpointStore> checkpoints_;
  std::unique_ptr<Directory> directory_;
  std::shared_ptr<const Policy> policy_;
  std::unique_ptr<AuditService> service_;
};

TEST_F(AuditServiceTest, OnlyAuditorsOfPartiesMayQueryAndRefusalsAreLogged) {
  Append(2);
  for (v1::Role role :
       {v1::ROLE_ANALYST, v1::ROLE_ADMIN, v1::ROLE_DIRECTOR, v1::ROLE_UNSPECIFIED}) {
    SCOPED_TRACE(role);
    auto refused = Verify("schakel-beheer", 0, 0, role);
    EXPECT_EQ(refused.status.code(), absl::StatusCode::kPermissionDenied);
    EXPECT_TRUE(refused.messages.empty());  // nothing answered
    const v1::LogEntry e = LastEntry(*log_);
    EXPECT_EQ(e.record().kind(), v1::RECORD_KIND_AUDIT_QUERY);
    EXPECT_EQ(e.record().outcome(), v1::OUTCOME_REFUSED);
    EXPECT_THAT(e.record().denial_reasons(), ElementsAre(v1::DENIAL_REASON_ROLE_NOT_ALLOWED));
    EXPECT_EQ(e.record().audit_query().method(), "VerifyChain");
    EXPECT_EQ(DetailOf(refused.status).receipt().payload().sequence(), e.sequence());
  }
  auto outsider = Verify("buiten");
  EXPECT_EQ(outsider.status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(LastEntry(*log_).record().denial_reasons(),
              ElementsAre(v1::DENIAL_REASON_ORGANISATION_NOT_ALLOWED));

  v1::GetEntriesRequest get;
  *get.mutable_actor() = Actor(v1::ROLE_ANALYST);
  get.add_sequences(1);
  EXPECT_EQ(service_->GetEntriesFor("riec-zwb", get).status().code(),
            absl::StatusCode::kPermissionDenied);
  v1::ListCheckpointsRequest list;
  EXPECT_EQ(service_->ListCheckpointsFor("riec-zwb", list).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(AuditServiceTest, VerifyChainOfAnIntactLog) {
  Append(5);
  ASSERT_TRUE(checkpoints_->CheckpointNow().ok());
  Append(2);
  auto verified = Verify("riec-zwb");  // any party's auditor may verify
  ASSERT_TRUE(verified.status.ok()) << verified.status;
  ASSERT_EQ(verified.messages.size(), 2u);
  // First: the receipt of the query, and what is to be checked (the query's
  // own entry, 8, included).
  const v1::VerifyChainResponse& first = verified.messages.front();
  ASSERT_TRUE(first.has_progress());
  EXPECT_EQ(first.progress().entries_total(), 8u);
  ExpectLoggedQuery(first.receipt(), "VerifyChain", "riec-zwb");
  const v1::VerifyResult& result = verified.result();
  EXPECT_TRUE(result.intact());
  EXPECT_EQ(result.entries_checked(), 8u);
  EXPECT_EQ(result.checkpoints_checked(), 1u);
  EXPECT_EQ(result.first_bad_sequence(), 0u);
  EXPECT_EQ(result.problem(), v1::CHAIN_PROBLEM_UNSPECIFIED);
  EXPECT_EQ(result.detail(), "");
  EXPECT_EQ(result.head().sequence(), 8u);
  const auto head = log_->head_hash();
  EXPECT_EQ(result.head().entry_hash(), std::string(head.begin(), head.end()));
  EXPECT_EQ(result.latest_checkpoint().payload().sequence(), 5u);
  EXPECT_TRUE(result.has_elapsed());

  // A range.
  verified = Verify("riec-zwb", 2, 4);
  EXPECT_EQ(verified.result().entries_checked(), 3u);
  EXPECT_EQ(verified.result().checkpoints_checked(), 0u);
  EXPECT_EQ(verified.result().head().sequence(), 4u);

  auto inverted = Verify("riec-zwb", 5, 4);
  EXPECT_EQ(inverted.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ProblemFields(inverted.status), ElementsAre("to_sequence"));
  EXPECT_THAT(LastEntry(*log_).record().denial_reasons(),
              ElementsAre(v1::DENIAL_REASON_MALFORMED_REQUEST));
}

TEST_F(AuditServiceTest, VerifyChainNamesAnEditedEntry) {
  Append(6);
  EditEntry(
      store_, 4, [](v1::LogRecord& r) { r.set_purpose_id("bewerkt"); }, /*rehash=*/false);
  auto verified = Verify();
  ASSERT_TRUE(verified.status.ok());
  const v1::VerifyResult& result = verified.result();
  EXPECT_FALSE(result.intact());
  EXPECT_EQ(result.first_bad_sequence(), 4u);
  EXPECT_EQ(result.problem(), v1::CHAIN_PROBLEM_RECORD_HASH_MISMATCH);
  EXPECT_EQ(result.detail(), "entry 4: record does not match its record_hash");
  EXPECT_EQ(result.entries_checked(), 3u);
  EXPECT_EQ(result.head().sequence(), 3u);
}

TEST_F(AuditServiceTest, VerifyChainNamesAnEditedAndReHashedEntryThroughACheckpoint) {
  Append(6);
  ASSERT_TRUE(checkpoints_->CheckpointNow().ok());
  // The editor rewrites entry 3 and every hash after it, as far as the head.
  EditEntry(
      store_, 3, [](v1::LogRecord& r) { r.mutable_requester()->set_org_id("politie-zwb"); },
      /*rehash=*/true);
  auto verified = Verify();
  ASSERT_TRUE(verified.status.ok());
  const v1::VerifyResult& result = verified.result();
  EXPECT_FALSE(result.intact());
  EXPECT_EQ(result.first_bad_sequence(), 3u);
  EXPECT_EQ(result.problem(), v1::CHAIN_PROBLEM_CHECKPOINT_HEAD_MISMATCH);
  EXPECT_THAT(result.detail(), HasSubstr("entry 3 was changed after checkpoint at entry 6"));
  // The audit query appended after the edit links to the rewritten entry 6:
  // only the checkpoint shows the rewrite.
}

TEST_F(AuditServiceTest, VerifyChainNamesAGapAndAForgedCheckpoint) {
  Append(4);
  ASSERT_TRUE(checkpoints_->CheckpointNow().ok());
  v1::Checkpoint forged = checkpoints_->Latest().value();
  forged.mutable_signature()->set_signature(std::string(64, '\0'));
  store_.Tamper(CheckpointKey(4), forged.SerializeAsString());
  auto verified = Verify();
  EXPECT_EQ(verified.result().first_bad_sequence(), 4u);
  EXPECT_EQ(verified.result().problem(), v1::CHAIN_PROBLEM_CHECKPOINT_SIGNATURE_INVALID);

  store::WriteBatch del;
  del.Delete(LogEntryKey(2));
  ASSERT_TRUE(store_.Write(del, store::Durability::kSynced).ok());
  verified = Verify();
  EXPECT_EQ(verified.result().first_bad_sequence(), 2u);
  EXPECT_EQ(verified.result().problem(), v1::CHAIN_PROBLEM_SEQUENCE_GAP);
  EXPECT_EQ(verified.result().entries_checked(), 1u);
}

TEST_F(AuditServiceTest, VerifyChainStopsWhenTheClientGoes) {
  Append(3);
  v1::VerifyChainRequest request;
  *request.mutable_actor() = Actor(v1::ROLE_AUDITOR);
  const absl::Status status = service_->VerifyChainFor(
      "schakel-beheer", request, [](const v1::VerifyChainResponse&) { return false; });
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled);
}

TEST_F(AuditServiceTest, ListChainLinksAndCheckpoints) {
  Append(4);
  ASSERT_TRUE(checkpoints_->CheckpointNow().ok());
  Append(3);
  ASSERT_TRUE(checkpoints_->CheckpointNow().ok());

  v1::ListChainLinksRequest links;
  *links.mutable_actor() = Actor(v1::ROLE_AUDITOR);
  links.set_from_sequence(3);
  links.set_to_sequence(6);
  std::vector<v1::ListChainLinksResponse> messages;
  ASSERT_TRUE(service_
                  ->ListChainLinksFor("ggz-breburg", links,
                                      [&](const v1::ListChainLinksResponse& m) {
                                        messages.push_back(m);
                                        return true;
                                      })
                  .ok());
  ASSERT_EQ(messages.size(), 1u);
  ExpectLoggedQuery(messages[0].receipt(), "ListChainLinks", "ggz-breburg");
  EXPECT_EQ(LastEntry(*log_).record().audit_query().filter().from_sequence(), 3u);
  EXPECT_EQ(LastEntry(*log_).record().audit_query().filter().to_sequence(), 6u);
  ASSERT_EQ(messages[0].links_size(), 4);
  const auto entries = AllEntries(*log_);
  for (int i = 0; i < 4; ++i) {
    const v1::ChainLink& link = messages[0].links(i);
    const v1::LogEntry& e = entries[static_cast<size_t>(i) + 2];
    EXPECT_EQ(link.sequence(), e.sequence());
    EXPECT_EQ(link.previous_hash(), e.previous_hash());
    EXPECT_EQ(link.record_hash(), e.record_hash());
    EXPECT_EQ(link.entry_hash(), e.entry_hash());
  }
  // Beyond the head: one message with the receipt and no links.
  links.set_from_sequence(1000);
  links.set_to_sequence(0);
  messages.clear();
  ASSERT_TRUE(service_
                  ->ListChainLinksFor("ggz-breburg", links,
                                      [&](const v1::ListChainLinksResponse& m) {
                                        messages.push_back(m);
                                        return true;
                                      })
                  .ok());
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_THAT(messages[0].links(), IsEmpty());
  EXPECT_TRUE(messages[0].has_receipt());

  v1::ListCheckpointsRequest list;
  *list.mutable_actor() = Actor(v1::ROLE_AUDITOR);
  auto all = service_->ListCheckpointsFor("ggz-breburg", list).value();
  ASSERT_EQ(all.checkpoints_size(), 2);
  EXPECT_EQ(all.checkpoints(0).payload().sequence(), 4u);
  EXPECT_EQ(all.checkpoints(1).payload().sequence(), 7u);
  ExpectLoggedQuery(all.receipt(), "ListCheckpoints", "ggz-breburg");
  list.set_latest_only(true);
  auto latest = service_->ListCheckpointsFor("ggz-breburg", list).value();
  ASSERT_EQ(latest.checkpoints_size(), 1);
  EXPECT_EQ(latest.checkpoints(0).payload().sequence(), 7u);
  list.set_to_sequence(5);
  latest = service_->ListCheckpointsFor("ggz-breburg", list).value();
  EXPECT_EQ(latest.checkpoints(0).payload().sequence(), 4u);
  list.set_from_sequence(5);
  list.set_to_sequence(6);
  EXPECT_EQ(service_->ListCheckpointsFor("ggz-breburg", list)->checkpoints_size(), 0);
  list.set_to_sequence(4);
  EXPECT_EQ(service_->ListCheckpointsFor("ggz-breburg", list).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(AuditServiceTest, GetEntriesRespectsTheAuditScope) {
  Append(4);  // 1, 3: ggz-breburg; 2, 4: riec-zwb
  v1::GetEntriesRequest request;
  *request.mutable_actor() = Actor(v1::ROLE_AUDITOR);
  for (uint64_t s : {4, 1, 2, 3, 99}) request.add_sequences(s);

  auto all = service_->GetEntriesFor("schakel-beheer", request).value();
  ASSERT_EQ(all.entries_size(), 4);
  EXPECT_EQ(all.entries(0).sequence(), 1u);
  EXPECT_EQ(all.entries(3).sequence(), 4u);
  EXPECT_THAT(all.missing_sequences(), ElementsAre(99u));
  ExpectLoggedQuery(all.receipt(), "GetEntries", "schakel-beheer");
  EXPECT_EQ(LastEntry(*log_).record().detail(), "sequences 1, 2, 3, 4, 99");

  auto own = service_->GetEntriesFor("riec-zwb", request).value();
  ASSERT_EQ(own.entries_size(), 2);
  EXPECT_EQ(own.entries(0).record().requester().org_id(), "riec-zwb");
  EXPECT_THAT(own.missing_sequences(), ElementsAre(1u, 3u, 99u));

  // politie-zwb answered every exchange, so it sees them all.
  EXPECT_EQ(service_->GetEntriesFor("politie-zwb", request)->entries_size(), 4);
  // gemeente-tilburg took part in none.
  EXPECT_EQ(service_->GetEntriesFor("gemeente-tilburg", request)->entries_size(), 0);

  v1::GetEntriesRequest bad;
  *bad.mutable_actor() = Actor(v1::ROLE_AUDITOR);
  auto refused = service_->GetEntriesFor("riec-zwb", bad);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ProblemFields(refused.status()), ElementsAre("sequences"));
  bad.add_sequences(1);
  bad.add_sequences(0);
  refused = service_->GetEntriesFor("riec-zwb", bad);
  EXPECT_THAT(ProblemFields(refused.status()), ElementsAre("sequences[1]"));
  bad.clear_sequences();
  for (int i = 1; i <= 1001; ++i) bad.add_sequences(static_cast<uint64_t>(i));
  refused = service_->GetEntriesFor("riec-zwb", bad);
  EXPECT_THAT(ProblemFields(refused.status()), ElementsAre("sequences"));
  EXPECT_THAT(LastEntry(*log_).record().denial_reasons(),
              ElementsAre(v1::DENIAL_REASON_MALFORMED_REQUEST));
}

TEST_F(AuditServiceTest, ListEntriesFiltersWithinTheScope) {
  Append(6);  // odd: ggz-breburg under vrij-doel; even: riec-zwb under riec-ondermijning
  v1::LogRecord resolved = ExchangeRecord("riec-zwb", now_);
  resolved.set_kind(v1::RECORD_KIND_EXCHANGE_RESOLVED);
  resolved.set_exchange_id(std::string(16, 'x'));
  resolved.set_case_id("2026-0001");
  v1::OrgTags& tags = *resolved.add_tags();
  tags.set_org_id("politie-zwb");
  tags.set_purpose_id("riec-ondermijning");
  tags.add_tags(std::string(16, 't'));
  tags.add_tags(std::string(16, 'u'));
  ASSERT_TRUE(log_->Append(resolved).ok());  // entry 7
  v1::LogRecord refused = ExchangeRecord("riec-zwb", now_ + absl::Hours(1));
  refused.set_outcome(v1::OUTCOME_REFUSED);
  refused.add_denial_reasons(v1::DENIAL_REASON_QUOTA_EXCEEDED);
  ASSERT_TRUE(log_->Append(refused).ok());  // entry 8

  auto list = [&](std::string_view org, const v1::LogFilter& filter, uint64_t limit = 0) {
    v1::ListEntriesRequest request;
    *request.mutable_actor() = Actor(v1::ROLE_AUDITOR);
    *request.mutable_filter() = filter;
    request.set_limit(limit);
    std::vector<v1::ListEntriesResponse> messages;
    const absl::Status status = service_->ListEntriesFor(org, request, [&](const auto& m) {
      messages.push_back(m);
      return true;
    });
    EXPECT_TRUE(status.ok()) << status;
    std::vector<uint64_t> sequences;
    for (const auto& m : messages) {
      for (const auto& e : m.entries()) sequences.push_back(e.sequence());
    }
    if (!messages.empty()) {
      EXPECT_TRUE(messages.front().has_receipt());
      EXPECT_EQ(messages.front().receipt().payload().sequence(), messages.front().head_sequence());
    }
    return sequences;
  };
  v1::LogFilter all;
  all.set_to_sequence(8);
  EXPECT_EQ(list("schakel-beheer", all).size(), 8u);
  EXPECT_EQ(LastEntry(*log_).record().audit_query().method(), "ListEntries");
  EXPECT_EQ(LastEntry(*log_).record().audit_query().filter().to_sequence(), 8u);
  EXPECT_THAT(list("ggz-breburg", all), ElementsAre(1, 3, 5));
  EXPECT_THAT(list("riec-zwb", all), ElementsAre(2, 4, 6, 7, 8));
  EXPECT_EQ(list("schakel-beheer", all, 3).size(), 3u);

  v1::LogFilter f = all;
  f.add_purpose_ids("vrij-doel");
  EXPECT_THAT(list("schakel-beheer", f), ElementsAre(1, 3, 5));
  f = all;
  f.add_outcomes(v1::OUTCOME_REFUSED);
  EXPECT_THAT(list("schakel-beheer", f), ElementsAre(8));
  f = all;
  f.add_denial_reasons(v1::DENIAL_REASON_QUOTA_EXCEEDED);
  EXPECT_THAT(list("schakel-beheer", f), ElementsAre(8));
  f = all;
  f.add_kinds(v1::RECORD_KIND_EXCHANGE_RESOLVED);
  f.add_case_ids("2026-0001");
  f.add_exchange_ids(std::string(16, 'x'));
  EXPECT_THAT(list("schakel-beheer", f), ElementsAre(7));
  f = all;
  f.set_from_sequence(3);
  f.set_to_sequence(4);
  EXPECT_THAT(list("schakel-beheer", f), ElementsAre(3, 4));
  f = all;
  *f.mutable_time()->mutable_from() = resolved.recorded_at();
  f.mutable_time()->mutable_from()->set_seconds(f.time().from().seconds() + 1);
  EXPECT_THAT(list("schakel-beheer", f), ElementsAre(8));
  f = all;
  f.add_requester_org_ids("ggz-breburg");
  f.add_answering_org_ids("politie-zwb");
  EXPECT_THAT(list("schakel-beheer", f), ElementsAre(1, 3, 5));

  // "Who asked about this tag", by the organisation whose tag it is.
  f = all;
  v1::TagSet& set = *f.add_tag_sets();
  set.set_org_id("politie-zwb");
  set.set_purpose_id("riec-ondermijning");
  set.add_tags(std::string(16, 'u'));
  EXPECT_THAT(list("politie-zwb", f), ElementsAre(7));
  set.set_purpose_id("vrij-doel");
  EXPECT_THAT(list("politie-zwb", f), IsEmpty());

  // Malformed filters: every problem named, nothing listed.
  v1::ListEntriesRequest bad;
  *bad.mutable_actor() = Actor(v1::ROLE_AUDITOR);
  bad.mutable_filter()->set_from_sequence(5);
  bad.mutable_filter()->set_to_sequence(4);
  bad.mutable_filter()->add_kinds(v1::RECORD_KIND_UNSPECIFIED);
  bad.mutable_filter()->add_exchange_ids("short");
  v1::TagSet& other = *bad.mutable_filter()->add_tag_sets();
  other.set_org_id("politie-zwb");
  other.add_tags("short");
  int sent = 0;
  const absl::Status status = service_->ListEntriesFor("riec-zwb", bad, [&](const auto&) {
    ++sent;
    return true;
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ProblemFields(status),
              ElementsAre("filter.to_sequence", "filter.kinds[0]", "filter.exchange_ids[0]",
                          "filter.tag_sets[0].org_id", "filter.tag_sets[0].tags[0]"));
  EXPECT_EQ(sent, 0);
  EXPECT_THAT(LastEntry(*log_).record().denial_reasons(),
              ElementsAre(v1::DENIAL_REASON_MALFORMED_REQUEST));
}

TEST_F(AuditServiceTest, ListEntriesStreamsInBatchesAndAnEmptyResultIsOneMessage) {
  Append(1500);
  v1::ListEntriesRequest request;
  *request.mutable_actor() = Actor(v1::ROLE_AUDITOR);
  std::vector<v1::ListEntriesResponse> messages;
  auto collect = [&](const v1::ListEntriesResponse& m) {
    messages.push_back(m);
    return true;
  };
  ASSERT_TRUE(service_->ListEntriesFor("schakel-beheer", request, collect).ok());
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_EQ(messages[0].entries_size(), 1000);
  EXPECT_EQ(messages[0].scanned_through(), 1000u);
  EXPECT_EQ(messages[0].head_sequence(), 1501u);  // the query's own entry included
  EXPECT_EQ(messages[1].entries_size(), 501);
  EXPECT_EQ(messages[1].scanned_through(), 1501u);
  EXPECT_FALSE(messages[1].has_receipt());

  messages.clear();
  request.mutable_filter()->add_purpose_ids("bestaat-niet");
  ASSERT_TRUE(service_->ListEntriesFor("schakel-beheer", request, collect).ok());
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_THAT(messages[0].entries(), IsEmpty());
  EXPECT_TRUE(messages[0].has_receipt());
  EXPECT_EQ(messages[0].scanned_through(), 1502u);
}

TEST_F(AuditServiceTest, TheRpcsCheckTheCertificateAndTheRestComeLater) {
  grpc::ServerContext context;  // no TLS peer
  v1::ListCheckpointsRequest request;
  *request.mutable_actor() = Actor(v1::ROLE_AUDITOR, "fg1");
  v1::ListCheckpointsResponse response;
  EXPECT_EQ(service_->ListCheckpoints(&context, &request, &response).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  const v1::LogRecord r = LastEntry(*log_).record();
  EXPECT_EQ(r.kind(), v1::RECORD_KIND_AUDIT_QUERY);
  EXPECT_EQ(r.audit_query().method(), "ListCheckpoints");
  EXPECT_THAT(r.denial_reasons(), ElementsAre(v1::DENIAL_REASON_UNAUTHENTICATED));
  EXPECT_EQ(r.peer_identity(), "no client certificate");
  EXPECT_EQ(r.requester().user_id(), "fg1");

  v1::ListEntriesRequest entries;
  grpc::ServerWriter<v1::ListEntriesResponse>* no_writer = nullptr;
  EXPECT_EQ(service_->ListEntries(&context, &entries, no_writer).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);

  v1::GetStatsRequest stats;
  v1::GetStatsResponse stats_response;
  const grpc::Status later = service_->GetStats(&context, &stats, &stats_response);
  EXPECT_EQ(later.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_THAT(later.error_message(), HasSubstr("later version"));
}

}  // namespace
}  // namespace schakel::gateway
