#include "gateway/audit_service.h"

#include <gmock/gmock.h>
#include <grpcpp/server_context.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <iostream>

#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "gateway/log_filter.h"
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
using ::testing::Not;
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
        log_.get(), checkpoints_.get(), [this] { return directory_; }, [this] { return policy_; },
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
  std::shared_ptr<const Directory> directory_;
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
  EXPECT_EQ(service_->GetStats(&context, &stats, &stats_response).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  v1::FindSubjectEntriesRequest find;
  v1::FindSubjectEntriesResponse find_response;
  EXPECT_EQ(service_->FindSubjectEntries(&context, &find, &find_response).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(LastEntry(*log_).record().audit_query().method(), "FindSubjectEntries");
}

// A resolved exchange by `requester` in which `answerer`'s tags are
// `tags` (element order), `hits` the element indexes that hit.
v1::LogRecord Resolved(std::string_view requester, absl::Time at, std::string exchange_id,
                       std::string_view answerer, std::vector<std::string> tags,
                       std::vector<uint32_t> hits, uint32_t subjects = 1) {
  v1::LogRecord r = ExchangeRecord(requester, at);
  r.set_kind(v1::RECORD_KIND_EXCHANGE_RESOLVED);
  r.set_exchange_id(std::move(exchange_id));
  r.set_case_id("2026-0001");
  r.mutable_lawful_basis()->set_reference("Wpg art. 20");
  r.clear_answering_org_ids();
  r.add_answering_org_ids(std::string(answerer));
  r.mutable_counts()->set_subjects(subjects);
  r.mutable_counts()->set_subjects_hit(hits.empty() ? 0 : 1);
  r.mutable_counts()->set_subject_partner_hits(hits.empty() ? 0 : 1);
  v1::PartnerOutcome& p = *r.add_partners();
  p.set_org_id(std::string(answerer));
  p.set_status(v1::PARTNER_STATUS_OK);
  p.set_subjects_hit(hits.empty() ? 0 : 1);
  v1::OrgTags& t = *r.add_tags();
  t.set_org_id(std::string(answerer));
  t.set_purpose_id("riec-ondermijning");
  for (std::string& tag : tags) t.add_tags(std::move(tag));
  for (uint32_t h : hits) t.add_hit_element_indices(h);
  return r;
}

v1::LogRecord Disclosure(v1::RecordKind kind, std::string_view requester, absl::Time at,
                         std::string exchange_id, std::string_view responder,
                         std::vector<uint32_t> subjects, v1::DisclosureState state) {
  v1::LogRecord r = ExchangeRecord(requester, at);
  r.set_kind(kind);
  r.set_exchange_id(std::move(exchange_id));
  r.clear_answering_org_ids();
  r.add_answering_org_ids(std::string(responder));
  v1::DisclosureRecord& d = *r.mutable_disclosure();
  d.set_disclosure_id(std::string(16, 'd'));
  d.set_responder_org_id(std::string(responder));
  for (uint32_t s : subjects) d.add_subject_indices(s);
  d.set_state(state);
  if (state == v1::DISCLOSURE_STATE_DELIVERED) {
    d.mutable_statement()->add_fields_disclosed(v1::SIGNAL_FIELD_DOMAIN);
  }
  if (state == v1::DISCLOSURE_STATE_DENIED) {
    r.set_outcome(v1::OUTCOME_DENIED);
    r.add_denial_reasons(v1::DENIAL_REASON_NODE_POLICY);
  }
  return r;
}

TEST_F(AuditServiceTest, FindSubjectEntriesFindsTheExchangesAndDisclosuresAboutThePerson) {
  const std::string person(16, 'p'), other(16, 'o');
  const std::string x1(16, '1'), x2(16, '2'), x3(16, '3'), x4(16, '4');
  Append(2);
  // 3: the person asked about at politie-zwb, a hit (element 0).
  ASSERT_TRUE(log_->Append(Resolved("riec-zwb", now_, x1, "politie-zwb", {person, other}, {0})).ok());
  // 4: someone else.
  ASSERT_TRUE(log_->Append(Resolved("riec-zwb", now_, x2, "politie-zwb", {other}, {})).ok());
  // 5: the same tag bytes at another node are another person.
  ASSERT_TRUE(log_->Append(Resolved("riec-zwb", now_, x3, "gemeente-tilburg", {person}, {0})).ok());
  // 6: the person again, no hit, an hour later.
  ASSERT_TRUE(log_->Append(Resolved("ggz-breburg", now_ + absl::Hours(1), x4, "politie-zwb",
                                    {other, person}, {0}))
                  .ok());
  // 7, 8: a disclosure about the person by politie-zwb; 9: by another node.
  ASSERT_TRUE(log_->Append(Disclosure(v1::RECORD_KIND_DISCLOSURE_REQUESTED, "riec-zwb", now_, x1,
                                      "politie-zwb", {0}, v1::DISCLOSURE_STATE_PENDING_APPROVAL))
                  .ok());
  ASSERT_TRUE(log_->Append(Disclosure(v1::RECORD_KIND_DISCLOSURE_DECIDED, "riec-zwb", now_, x1,
                                      "politie-zwb", {0}, v1::DISCLOSURE_STATE_DELIVERED))
                  .ok());
  ASSERT_TRUE(log_->Append(Disclosure(v1::RECORD_KIND_DISCLOSURE_DECIDED, "riec-zwb", now_, x3,
                                      "gemeente-tilburg", {0}, v1::DISCLOSURE_STATE_DELIVERED))
                  .ok());

  v1::FindSubjectEntriesRequest request;
  *request.mutable_actor() = Actor(v1::ROLE_AUDITOR, "fg-politie");
  v1::TagSet& set = *request.add_tag_sets();
  set.set_org_id("politie-zwb");
  set.set_purpose_id("riec-ondermijning");
  set.add_tags(person);
  auto found = service_->FindSubjectEntriesFor("politie-zwb", request);
  ASSERT_TRUE(found.ok()) << found.status();
  std::vector<uint64_t> sequences;
  for (const auto& r : found->records()) sequences.push_back(r.sequence());
  EXPECT_THAT(sequences, ElementsAre(3, 6, 7, 8));
  const v1::SubjectAccessRecord& first = found->records(0);
  EXPECT_EQ(first.kind(), v1::RECORD_KIND_EXCHANGE_RESOLVED);
  EXPECT_EQ(first.requester_org_id(), "riec-zwb");
  EXPECT_EQ(first.requester_role(), v1::ROLE_ANALYST);
  EXPECT_EQ(first.purpose_id(), "riec-ondermijning");
  EXPECT_EQ(first.lawful_basis().reference(), "Wpg art. 20");
  EXPECT_EQ(first.case_id(), "2026-0001");
  EXPECT_EQ(first.exchange_id(), x1);
  EXPECT_EQ(first.outcome(), v1::OUTCOME_GRANTED);
  EXPECT_TRUE(first.hit());
  EXPECT_EQ(first.matched_purpose_id(), "riec-ondermijning");
  EXPECT_FALSE(found->records(1).hit());  // element 1 was not a hit
  EXPECT_EQ(found->records(1).requester_org_id(), "ggz-breburg");
  EXPECT_THAT(found->records(2).fields_disclosed(), IsEmpty());
  EXPECT_THAT(found->records(3).fields_disclosed(), ElementsAre(v1::SIGNAL_FIELD_DOMAIN));
  ExpectLoggedQuery(found->receipt(), "FindSubjectEntries", "politie-zwb");
  // The AUDIT_QUERY entry records the tags searched.
  ASSERT_EQ(LastEntry(*log_).record().audit_query().filter().tag_sets_size(), 1);
  EXPECT_EQ(LastEntry(*log_).record().audit_query().filter().tag_sets(0).tags(0), person);

  // A time range leaves out the later exchange.
  request.mutable_time()->mutable_to()->set_seconds(absl::ToUnixSeconds(now_ + absl::Minutes(1)));
  found = service_->FindSubjectEntriesFor("politie-zwb", request);
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->records_size(), 3);
  // No entry carries an unknown tag.
  request.clear_time();
  request.mutable_tag_sets(0)->set_tags(0, std::string(16, 'n'));
  found = service_->FindSubjectEntriesFor("politie-zwb", request);
  ASSERT_TRUE(found.ok());
  EXPECT_THAT(found->records(), IsEmpty());
}

TEST_F(AuditServiceTest, FindSubjectEntriesRefusesBadTagSetsAndNonAuditors) {
  v1::FindSubjectEntriesRequest request;
  *request.mutable_actor() = Actor(v1::ROLE_AUDITOR);
  auto refused = service_->FindSubjectEntriesFor("politie-zwb", request);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ProblemFields(refused.status()), ElementsAre("tag_sets"));
  v1::TagSet& set = *request.add_tag_sets();
  set.set_org_id("riec-zwb");  // not the caller's own tags
  set.set_purpose_id("riec-ondermijning");
  set.add_tags("short");
  refused = service_->FindSubjectEntriesFor("schakel-beheer", request);  // even a supervisor
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ProblemFields(refused.status()),
              ElementsAre("tag_sets[0].org_id", "tag_sets[0].tags[0]"));
  EXPECT_THAT(LastEntry(*log_).record().denial_reasons(),
              ElementsAre(v1::DENIAL_REASON_MALFORMED_REQUEST));
  *request.mutable_actor() = Actor(v1::ROLE_ANALYST);
  EXPECT_EQ(service_->FindSubjectEntriesFor("riec-zwb", request).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(AuditServiceTest, TheIndexIsRebuiltForALogWrittenWithoutIt) {
  const std::string person(16, 'p');
  ASSERT_TRUE(log_->Append(Resolved("riec-zwb", now_, std::string(16, '1'), "politie-zwb",
                                    {person}, {0}))
                  .ok());
  EXPECT_THAT(log_->SequencesWithTag("politie-zwb", "riec-ondermijning", person).value(),
              ElementsAre(1));
  store::WriteBatch forget;  // as an older gateway left it
  auto index = store_.Scan("logx/", store::PrefixEnd("logx/"), 0);
  ASSERT_TRUE(index.ok());
  for (const auto& row : *index) forget.Delete(row.first);
  ASSERT_TRUE(store_.Write(forget, store::Durability::kSynced).ok());
  EXPECT_THAT(log_->SequencesWithTag("politie-zwb", "riec-ondermijning", person).value(), IsEmpty());
  auto reopened = ExchangeLog::Open(&store_).value();
  EXPECT_THAT(reopened->SequencesWithTag("politie-zwb", "riec-ondermijning", person).value(),
              ElementsAre(1));
  EXPECT_THAT(reopened->SequencesOfExchange(std::string(16, '1')).value(), ElementsAre(1));
}

TEST_F(AuditServiceTest, FindSubjectEntriesInALogOf100kEntries) {
  const std::string person(16, 'p');
  std::vector<uint64_t> planted;
  constexpr int kEntries = 100'000;
  for (int i = 1; i <= kEntries; ++i) {
    std::string tag(16, '\0');
    std::memcpy(tag.data(), &i, sizeof i);
    std::string id(16, 'x');
    std::memcpy(id.data(), &i, sizeof i);
    const bool plant = i % 25'000 == 0;
    ASSERT_TRUE(log_->Append(Resolved("riec-zwb", now_, id, "politie-zwb",
                                      {tag, plant ? person : tag}, {}))
                    .ok());
    if (plant) planted.push_back(static_cast<uint64_t>(i));
  }
  v1::FindSubjectEntriesRequest request;
  *request.mutable_actor() = Actor(v1::ROLE_AUDITOR);
  v1::TagSet& set = *request.add_tag_sets();
  set.set_org_id("politie-zwb");
  set.set_purpose_id("riec-ondermijning");
  set.add_tags(person);
  const auto started = std::chrono::steady_clock::now();
  auto found = service_->FindSubjectEntriesFor("politie-zwb", request);
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(found.ok()) << found.status();
  std::vector<uint64_t> sequences;
  for (const auto& r : found->records()) sequences.push_back(r.sequence());
  EXPECT_EQ(sequences, planted);
  std::cout << "FindSubjectEntries over " << kEntries << " entries: "
            << std::chrono::duration_cast<std::chrono::microseconds>(took).count() << " us\n";
}

TEST_F(AuditServiceTest, GetStatsCountsPerPurposePartnerAndPeriod) {
  v1::LogRecord requested = ExchangeRecord("riec-zwb", now_);
  requested.add_answering_org_ids("gemeente-tilburg");
  requested.mutable_counts()->set_subjects(3);
  ASSERT_TRUE(log_->Append(requested).ok());
  v1::LogRecord evaluated = requested;
  evaluated.set_kind(v1::RECORD_KIND_EXCHANGE_EVALUATED);
  evaluated.add_partners()->set_org_id("politie-zwb");
  evaluated.mutable_partners(0)->set_status(v1::PARTNER_STATUS_OK);
  evaluated.add_partners()->set_org_id("gemeente-tilburg");
  evaluated.mutable_partners(1)->set_status(v1::PARTNER_STATUS_UNAVAILABLE);
  ASSERT_TRUE(log_->Append(evaluated).ok());
  v1::LogRecord resolved = Resolved("riec-zwb", now_, std::string(16, '1'), "politie-zwb",
                                    {std::string(16, 'a')}, {0}, 3);
  resolved.mutable_counts()->set_subject_partner_hits(2);
  resolved.mutable_partners(0)->set_subjects_hit(2);
  ASSERT_TRUE(log_->Append(resolved).ok());
  v1::LogRecord refused = ExchangeRecord("riec-zwb", now_ + absl::Hours(24 * 40));  // next month
  refused.set_outcome(v1::OUTCOME_REFUSED);
  refused.add_denial_reasons(v1::DENIAL_REASON_QUOTA_EXCEEDED);
  ASSERT_TRUE(log_->Append(refused).ok());
  ASSERT_TRUE(log_->Append(Disclosure(v1::RECORD_KIND_DISCLOSURE_REQUESTED, "riec-zwb", now_,
                                      std::string(16, '1'), "politie-zwb", {0},
                                      v1::DISCLOSURE_STATE_PENDING_APPROVAL))
                  .ok());
  ASSERT_TRUE(log_->Append(Disclosure(v1::RECORD_KIND_DISCLOSURE_DECIDED, "riec-zwb", now_,
                                      std::string(16, '1'), "politie-zwb", {0},
                                      v1::DISCLOSURE_STATE_DENIED))
                  .ok());
  Append(1);  // entry 7: ggz-breburg under vrij-doel

  v1::GetStatsRequest request;
  *request.mutable_actor() = Actor(v1::ROLE_AUDITOR);
  request.mutable_filter()->set_to_sequence(7);
  request.add_group_by(v1::STATS_DIMENSION_PURPOSE);
  auto stats = service_->GetStatsFor("schakel-beheer", request);
  ASSERT_TRUE(stats.ok()) << stats.status();
  ASSERT_EQ(stats->rows_size(), 2);
  const v1::StatsRow& riec = stats->rows(0);
  EXPECT_EQ(riec.purpose_id(), "riec-ondermijning");
  EXPECT_EQ(riec.exchanges(), 1u);
  EXPECT_EQ(riec.subjects(), 3u);
  EXPECT_EQ(riec.hits(), 2u);
  EXPECT_EQ(riec.partner_failures(), 1u);
  EXPECT_EQ(riec.refusals(), 1u);
  EXPECT_EQ(riec.disclosures_requested(), 1u);
  EXPECT_EQ(riec.disclosures_denied(), 1u);
  ASSERT_EQ(riec.by_reason_size(), 2);
  EXPECT_EQ(riec.by_reason(0).reason(), v1::DENIAL_REASON_QUOTA_EXCEEDED);
  EXPECT_EQ(stats->rows(1).purpose_id(), "vrij-doel");
  EXPECT_EQ(stats->rows(1).exchanges(), 1u);
  ExpectLoggedQuery(stats->receipt(), "GetStats", "schakel-beheer");

  // Per answering partner: an exchange counts once per partner asked.
  request.clear_group_by();
  request.add_group_by(v1::STATS_DIMENSION_ANSWERER);
  request.mutable_filter()->add_purpose_ids("riec-ondermijning");
  stats = service_->GetStatsFor("schakel-beheer", request);
  ASSERT_TRUE(stats.ok());
  ASSERT_EQ(stats->rows_size(), 2);
  EXPECT_EQ(stats->rows(0).answerer_org_id(), "gemeente-tilburg");
  EXPECT_EQ(stats->rows(0).exchanges(), 1u);
  EXPECT_EQ(stats->rows(0).hits(), 0u);
  EXPECT_EQ(stats->rows(0).partner_failures(), 1u);
  EXPECT_EQ(stats->rows(1).answerer_org_id(), "politie-zwb");
  EXPECT_EQ(stats->rows(1).exchanges(), 1u);
  EXPECT_EQ(stats->rows(1).hits(), 2u);
  EXPECT_EQ(stats->rows(1).partner_failures(), 0u);

  // Per month in Amsterdam: the refusal 40 days later is another period.
  request.clear_group_by();
  request.add_group_by(v1::STATS_DIMENSION_PERIOD);
  stats = service_->GetStatsFor("schakel-beheer", request);
  ASSERT_TRUE(stats.ok());
  ASSERT_EQ(stats->rows_size(), 2);
  // 2026-03-01 00:00 CET is 2026-02-28 23:00 UTC.
  EXPECT_EQ(stats->rows(0).period_start().seconds(), 1772366400 - 13 * 3600);
  EXPECT_EQ(stats->rows(1).refusals(), 1u);
  EXPECT_EQ(stats->rows(1).exchanges(), 0u);

  // Seen by riec-zwb's own auditor: only its entries (not ggz-breburg's).
  request.clear_group_by();
  request.mutable_filter()->clear_purpose_ids();
  stats = service_->GetStatsFor("riec-zwb", request);
  ASSERT_TRUE(stats.ok());
  ASSERT_EQ(stats->rows_size(), 1);
  EXPECT_EQ(stats->rows(0).exchanges(), 1u);

  v1::GetStatsRequest bad = request;
  bad.add_group_by(v1::STATS_DIMENSION_PURPOSE);
  bad.add_group_by(v1::STATS_DIMENSION_PURPOSE);
  bad.set_time_zone("Europe/Nergens");
  auto refused_stats = service_->GetStatsFor("riec-zwb", bad);
  EXPECT_EQ(refused_stats.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ProblemFields(refused_stats.status()), ElementsAre("group_by[1]", "time_zone"));
}

TEST(PeriodStartTest, WeeksStartOnMondayInTheZone) {
  absl::TimeZone ams;
  ASSERT_TRUE(absl::LoadTimeZone("Europe/Amsterdam", &ams));
  // Sunday 2026-03-01 12:00 UTC: its ISO week began Monday 2026-02-23.
  const absl::Time t = absl::FromUnixSeconds(1772366400);
  EXPECT_EQ(PeriodStart(t, v1::STATS_PERIOD_WEEK, ams),
            absl::FromCivil(absl::CivilDay(2026, 2, 23), ams));
  EXPECT_EQ(PeriodStart(t, v1::STATS_PERIOD_DAY, ams),
            absl::FromCivil(absl::CivilDay(2026, 3, 1), ams));
  EXPECT_EQ(PeriodStart(t, v1::STATS_PERIOD_YEAR, ams),
            absl::FromCivil(absl::CivilDay(2026, 1, 1), ams));
}

TEST_F(AuditServiceTest, ExportWritesCsvAndJsonLinesWithThePolicyText) {
  v1::LogRecord r = Resolved("riec-zwb", now_, std::string(16, '1'), "politie-zwb",
                             {std::string(16, 'a')}, {0});
  r.set_policy_version(policy_->version());
  r.set_detail("1 of 1, \"quoted\"");
  ASSERT_TRUE(log_->Append(r).ok());
  Append(1);  // entry 2, policy version "test" (not kept)

  v1::Receipt receipt;
  auto run = [&](v1::ExportFormat format, bool text, std::string_view org = "schakel-beheer") {
    v1::ExportRequest request;
    *request.mutable_actor() = Actor(v1::ROLE_AUDITOR);
    request.mutable_filter()->set_to_sequence(2);
    request.set_format(format);
    request.set_include_policy_text(text);
    std::vector<v1::ExportResponse> messages;
    const absl::Status status = service_->ExportFor(org, request, [&](const auto& m) {
      messages.push_back(m);
      return true;
    });
    EXPECT_TRUE(status.ok()) << status;
    std::string file;
    uint64_t entries = 0;
    for (const auto& m : messages) {
      file += m.data();
      entries += m.entries();
    }
    EXPECT_FALSE(messages.empty());
    if (!messages.empty()) {
      EXPECT_TRUE(messages.front().has_receipt());
      receipt = messages.front().receipt();
    }
    return std::make_pair(file, entries);
  };
  auto [csv, csv_entries] = run(v1::EXPORT_FORMAT_CSV, true);
  EXPECT_EQ(csv_entries, 2u);
  std::vector<std::string> lines = absl::StrSplit(csv, "\r\n", absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_THAT(lines[0], HasSubstr("sequence,recorded_at,kind,policy_version,purpose_id,"));
  EXPECT_THAT(lines[0], HasSubstr(",previous_hash,entry_hash,policy_text"));
  EXPECT_THAT(lines[1], HasSubstr("1,2026-03-01T12:00:00Z,RECORD_KIND_EXCHANGE_RESOLVED,"));
  EXPECT_THAT(lines[1], HasSubstr(",31313131313131313131313131313131,riec-zwb,"));
  EXPECT_THAT(lines[1], HasSubstr("Wpg art. 20"));  // the purpose's section, quoted
  EXPECT_THAT(lines[1], HasSubstr("\"\"purpose_id\"\":\"\"riec-ondermijning\"\""));
  EXPECT_THAT(lines[2], HasSubstr("is not kept at this gateway"));
  ExpectLoggedQuery(receipt, "Export", "schakel-beheer");

  auto [json, json_entries] = run(v1::EXPORT_FORMAT_JSON_LINES, true);
  EXPECT_EQ(json_entries, 2u);
  lines = absl::StrSplit(json, "\n", absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0], HasSubstr("\"sequence\":\"1\""));
  EXPECT_THAT(lines[0], HasSubstr("\"policyText\":\"{"));
  EXPECT_THAT(lines[0], HasSubstr("\"hitElementIndices\""));

  auto [no_text, n] = run(v1::EXPORT_FORMAT_CSV, false);
  EXPECT_THAT(no_text, Not(HasSubstr("policy_text")));
  EXPECT_EQ(n, 2u);

  // An empty export: only the header, or nothing.
  auto [empty_csv, none] = run(v1::EXPORT_FORMAT_CSV, false, "gemeente-tilburg");
  EXPECT_EQ(none, 0u);
  EXPECT_EQ(empty_csv, ExportCsvHeader(false));
  EXPECT_EQ(run(v1::EXPORT_FORMAT_JSON_LINES, false, "gemeente-tilburg").first, "");

  v1::ExportRequest bad;
  *bad.mutable_actor() = Actor(v1::ROLE_AUDITOR);
  const absl::Status status =
      service_->ExportFor("schakel-beheer", bad, [](const auto&) { return true; });
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ProblemFields(status), ElementsAre("format"));
}

}  // namespace
}  // namespace schakel::gateway
