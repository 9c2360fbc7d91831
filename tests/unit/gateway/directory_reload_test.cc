// Directory reload without a restart (gateway/directory_in_force.h,
// GatewayAdmin.ReloadDirectory): changes are logged and stored before they
// are put in force, a refused file or an unwritable log changes nothing,
// and a running gateway follows the directory in force: a new organisation
// can call, a deactivated one cannot, channels follow a changed endpoint,
// and a call never sees two directories.
#include "gateway/directory_in_force.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

#include "gateway/admin_service.h"
#include "gateway/receipts.h"
#include "nlohmann/json.hpp"
#include "rpc/status.h"
#include "store/faulty_store.h"
#include "store/memory_store.h"
#include "tests/support/test_support.h"
#include "tests/unit/gateway/case_audit_test_support.h"
#include "tests/unit/gateway/gateway_test_env.h"

namespace schakel::gateway {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

// ------------------------------------------------- DirectoryInForce alone

v1::Requester Operator() { return testing::OperatorAdmin(); }

class DirectoryReloadTest : public ::testing::Test {
 protected:
  struct Org {
    std::string endpoint;
    bool active = true;
  };

  void SetUp() override {
    file_ = std::filesystem::path(dir_.path()) / "directory.json";
    orgs_ = {{"riec-zwb", {}}, {"politie-zwb", {"10.0.0.1:8443"}}, {"schakel-beheer", {}}};
    Write();
    log_ = ExchangeLog::Open(&faulty_).value();
    auto initial = Directory::Load(file_);
    ASSERT_TRUE(initial.ok()) << initial.status();
    v1::Requester gateway;
    gateway.set_org_id("gateway");
    auto in_force = DirectoryInForce::Start(
        *std::move(initial), log_.get(), gateway,
        DirectoryInForce::Options{.file = file_,
                                  .gateway_org_id = "gateway",
                                  .now = [this] { return now_; },
                                  .policy_version = [] { return std::string("test.1"); },
                                  .log_line = [this](std::string_view line) { lines_.emplace_back(line); }});
    ASSERT_TRUE(in_force.ok()) << in_force.status();
    directory_ = *std::move(in_force);
    policy_ = std::make_unique<PolicyInForce>(*ParsePolicy(testing::OperatorPolicyText(), "policy"), now_, log_.get(),
                                              PolicyInForce::Options{});
    admin_ = std::make_unique<AdminService>(policy_.get(), directory_.get(), log_.get(), &receipts_,
                                            absl::UTCTimeZone(), [this] { return now_; });
  }

  std::string Text() {
    std::string out = R"({"organisations": [)";
    for (const auto& [id, org] : orgs_) {
      if (!keys_.contains(id)) keys_.emplace(id, crypto::SigningKey::Generate());
      out += StrCat(out.back() == '[' ? "" : ",", R"({"org_id": ")", id, R"(", "display_name": ")", id,
                    R"(", "domain": "safety", "signing_public_key": ")",
                    crypto::ToHex(keys_.at(id).verify_key().bytes()), "\"",
                    org.endpoint.empty() ? "" : StrCat(R"(, "endpoint": ")", org.endpoint, R"(", "oprf_public_key": ")",
                                                       crypto::ToHex(oprf_key_), "\""),
                    org.active ? "" : R"(, "active": false)", "}");
    }
    return out + "]}";
  }
  void Write() { ::schakel::testing::WriteFile(file_, Text()); }

  uint64_t StoredVersion() {
    auto v = memory_.Get("dir/v");
    return v.ok() && v->has_value() ? store::DecodeKeyU64(**v).value_or(0) : 0;
  }

  ::schakel::testing::TempDir dir_{"dir-reload"};
  std::filesystem::path file_;
  std::map<std::string, Org> orgs_;
  std::map<std::string, crypto::SigningKey> keys_;
  const crypto::Bytes oprf_key_ = crypto::oprf::PrivateKey::Generate().public_key().ToBytes();
  store::MemoryStore memory_;
  store::FaultyStore faulty_{&memory_};
  std::unique_ptr<ExchangeLog> log_;
  absl::Time now_ = testing::TestStart();
  std::vector<std::string> lines_;
  std::unique_ptr<DirectoryInForce> directory_;
  std::unique_ptr<PolicyInForce> policy_;
  ReceiptIssuer receipts_{crypto::SigningKey::Generate(), [this] { return now_; }};
  std::unique_ptr<AdminService> admin_;
};

TEST_F(DirectoryReloadTest, StartRecordsTheDirectoryAndPutsItInForce) {
  const auto entries = testing::AllEntries(*log_);
  ASSERT_THAT(entries, SizeIs(3));
  for (const v1::LogEntry& e : entries) {
    EXPECT_EQ(e.record().kind(), v1::RECORD_KIND_DIRECTORY_CHANGED);
    EXPECT_EQ(e.record().directory().change(), v1::DIRECTORY_CHANGE_REGISTERED);
    EXPECT_THAT(e.record().detail(), HasSubstr("directory at start"));
  }
  EXPECT_EQ(directory_->current()->version(), 3u);
  EXPECT_EQ(StoredVersion(), 3u);
}

TEST_F(DirectoryReloadTest, AReloadLogsAndStoresEveryChangeBeforeItIsInForce) {
  const std::shared_ptr<const Directory> in_flight = directory_->current();  // a call running
  orgs_["gemeente-tilburg"] = {"10.0.0.2:8443"};   // registered
  orgs_["politie-zwb"].endpoint = "10.0.0.9:8443";  // endpoint changed
  orgs_["riec-zwb"].active = false;                 // deactivated
  Write();
  now_ += absl::Minutes(1);

  auto dry = directory_->Reload(Operator(), /*dry_run=*/true);
  ASSERT_TRUE(dry.ok()) << dry.status();
  EXPECT_FALSE(dry->changed);
  EXPECT_THAT(dry->changes, SizeIs(3));
  EXPECT_EQ(directory_->current(), in_flight);
  EXPECT_EQ(log_->head_sequence(), 3u);  // a dry run logs nothing

  auto reloaded = directory_->Reload(Operator(), /*dry_run=*/false);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_TRUE(reloaded->changed);
  ASSERT_THAT(reloaded->changes, SizeIs(3));
  ASSERT_THAT(reloaded->entries, SizeIs(3));
  const std::shared_ptr<const Directory> now_in_force = directory_->current();
  EXPECT_EQ(reloaded->directory, now_in_force);
  EXPECT_EQ(now_in_force->version(), 6u);
  EXPECT_EQ(StoredVersion(), 6u);
  EXPECT_EQ(now_in_force->Find("politie-zwb")->endpoint, "10.0.0.9:8443");
  EXPECT_EQ(now_in_force->FindActive("riec-zwb"), nullptr);
  EXPECT_NE(now_in_force->FindActive("gemeente-tilburg"), nullptr);
  // The held snapshot is untouched.
  EXPECT_EQ(in_flight->version(), 3u);
  EXPECT_EQ(in_flight->Find("politie-zwb")->endpoint, "10.0.0.1:8443");
  EXPECT_NE(in_flight->FindActive("riec-zwb"), nullptr);

  std::map<std::string, v1::DirectoryChange> logged;
  for (const v1::LogEntry& e : testing::AllEntries(*log_)) {
    if (e.sequence() <= 3) continue;
    EXPECT_EQ(e.record().kind(), v1::RECORD_KIND_DIRECTORY_CHANGED);
    EXPECT_EQ(e.record().outcome(), v1::OUTCOME_GRANTED);
    EXPECT_EQ(e.record().requester().org_id(), "schakel-beheer");
    EXPECT_EQ(e.record().policy_version(), "test.1");
    EXPECT_THAT(e.record().detail(), HasSubstr("directory reloaded"));
    logged[e.record().directory().organisation().org_id()] = e.record().directory().change();
  }
  EXPECT_EQ(logged, (std::map<std::string, v1::DirectoryChange>{
                        {"gemeente-tilburg", v1::DIRECTORY_CHANGE_REGISTERED},
                        {"politie-zwb", v1::DIRECTORY_CHANGE_UPDATED},
                        {"riec-zwb", v1::DIRECTORY_CHANGE_DEACTIVATED}}));

  // The same file again: nothing to do.
  auto same = directory_->Reload(Operator(), false);
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_FALSE(same->changed);
  EXPECT_EQ(log_->head_sequence(), 6u);

  // An organisation no longer in the file is deactivated (and kept).
  orgs_.erase("gemeente-tilburg");
  Write();
  auto removed = directory_->Reload(Operator(), false);
  ASSERT_TRUE(removed.ok()) << removed.status();
  ASSERT_THAT(removed->changes, SizeIs(1));
  EXPECT_EQ(removed->changes[0].change(), v1::DIRECTORY_CHANGE_DEACTIVATED);
  EXPECT_FALSE(removed->changes[0].organisation().active());
  EXPECT_EQ(directory_->current()->Find("gemeente-tilburg"), nullptr);
}

TEST_F(DirectoryReloadTest, ABrokenFileChangesNothingAndSaysWhy) {
  const std::shared_ptr<const Directory> before = directory_->current();
  ::schakel::testing::WriteFile(
      file_, R"({"organisations": [{"org_id": "Bad Id", "display_name": "x", "domain": "moon",
                                     "signing_public_key": "00"}]})");
  auto refused = directory_->Reload(Operator(), false);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << refused.status();
  EXPECT_THAT(refused.status().message(), HasSubstr("the directory in force stays"));
  auto detail = rpc::ErrorDetailOf(refused.status());
  ASSERT_TRUE(detail.has_value());
  EXPECT_GE(detail->problems_size(), 3);  // org id, domain, key
  EXPECT_EQ(detail->problems(0).field().rfind("organisations[0].", 0), 0u) << detail->problems(0).field();
  EXPECT_EQ(directory_->current(), before);
  EXPECT_EQ(StoredVersion(), 3u);

  const v1::LogEntry refusal = testing::LastEntry(*log_);
  EXPECT_EQ(refusal.record().kind(), v1::RECORD_KIND_DIRECTORY_CHANGED);
  EXPECT_EQ(refusal.record().outcome(), v1::OUTCOME_REFUSED);
  EXPECT_FALSE(refusal.record().has_directory());
  EXPECT_THAT(refusal.record().detail(), HasSubstr("directory reload refused: directory.json has"));
  EXPECT_THAT(refusal.record().detail(), HasSubstr("organisations[0].domain"));
  EXPECT_THAT(lines_.back(), HasSubstr("directory reload refused"));

  // The gateway's own id is refused too; an unreadable file is
  // FAILED_PRECONDITION; a dry run of a broken file logs nothing.
  orgs_["gateway"] = {};
  Write();
  refused = directory_->Reload(Operator(), false);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("own organisation id"));
  std::filesystem::remove(file_);
  const uint64_t head = log_->head_sequence();
  EXPECT_EQ(directory_->Reload(Operator(), true).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(log_->head_sequence(), head);
  EXPECT_EQ(directory_->Reload(Operator(), false).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(log_->head_sequence(), head + 1);
  EXPECT_EQ(directory_->current(), before);
}

TEST_F(DirectoryReloadTest, WhenTheLogCannotBeWrittenNothingChanges) {
  const std::shared_ptr<const Directory> before = directory_->current();
  orgs_["riec-zwb"].active = false;
  Write();
  faulty_.FailNextWrites(1);
  auto refused = directory_->Reload(Operator(), false);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
  EXPECT_EQ(directory_->current(), before);
  EXPECT_NE(directory_->current()->FindActive("riec-zwb"), nullptr);
  EXPECT_EQ(StoredVersion(), 3u);
  EXPECT_EQ(log_->head_sequence(), 3u);
  EXPECT_THAT(lines_.back(), HasSubstr("the log could not be written"));
}

TEST_F(DirectoryReloadTest, AnInlineDirectoryCannotBeReloaded) {
  auto inline_directory = DirectoryInForce::Start(testing::TestDirectory(), log_.get(), v1::Requester(), {});
  ASSERT_TRUE(inline_directory.ok()) << inline_directory.status();
  EXPECT_FALSE((*inline_directory)->reloadable());
  auto refused = (*inline_directory)->Reload(Operator(), false);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("inline"));
}

TEST_F(DirectoryReloadTest, OnlyAnAdminOfAnOperatorMayReloadAndRefusalsAreLogged) {
  orgs_["gemeente-tilburg"] = {};
  Write();
  v1::ReloadDirectoryRequest request;
  request.mutable_actor()->set_user_id("fg");
  request.mutable_actor()->set_role(v1::ROLE_AUDITOR);
  auto refused = admin_->ReloadDirectoryFor("schakel-beheer", request);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  v1::LogEntry last = testing::LastEntry(*log_);
  EXPECT_EQ(last.record().kind(), v1::RECORD_KIND_DIRECTORY_CHANGED);
  EXPECT_EQ(last.record().denial_reasons(0), v1::DENIAL_REASON_ROLE_NOT_ALLOWED);

  request.mutable_actor()->set_role(v1::ROLE_ADMIN);
  refused = admin_->ReloadDirectoryFor("riec-zwb", request);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(testing::LastEntry(*log_).record().denial_reasons(0), v1::DENIAL_REASON_ORGANISATION_NOT_ALLOWED);
  EXPECT_EQ(directory_->current()->Find("gemeente-tilburg"), nullptr);

  request.set_dry_run(true);
  auto dry = admin_->ReloadDirectoryFor("schakel-beheer", request);
  ASSERT_TRUE(dry.ok()) << dry.status();
  EXPECT_FALSE(dry->changed());
  EXPECT_EQ(dry->changes_size(), 1);
  EXPECT_EQ(dry->receipts_size(), 0);

  request.set_dry_run(false);
  auto done = admin_->ReloadDirectoryFor("schakel-beheer", request);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_TRUE(done->changed());
  EXPECT_EQ(done->directory_version(), 4u);
  ASSERT_EQ(done->changes_size(), 1);
  EXPECT_EQ(done->changes(0).change(), v1::DIRECTORY_CHANGE_REGISTERED);
  ASSERT_EQ(done->receipts_size(), 1);
  EXPECT_EQ(done->receipts(0).payload().sequence(), log_->head_sequence());
  EXPECT_NE(directory_->current()->FindActive("gemeente-tilburg"), nullptr);
}

// ------------------------------------------------ A running gateway

namespace t = ::schakel::gateway::testing;

class GatewayDirectoryReloadTest : public ::testing::Test {
 protected:
  void SetUp() override { env_.SetUp(); }

  // Edits the gateway's directory file.
  template <typename Edit>
  void EditDirectory(Edit edit) {
    const std::filesystem::path file = env_.dir() / "directory.json";
    auto text = ReadConfigText(file, "directory");
    ASSERT_TRUE(text.ok()) << text.status();
    nlohmann::json doc = nlohmann::json::parse(*text);
    edit(doc["organisations"]);
    ::schakel::testing::WriteFile(file, doc.dump());
  }
  static nlohmann::json& Entry(nlohmann::json& orgs, const std::string& id) {
    for (nlohmann::json& o : orgs) {
      if (o["org_id"] == id) return o;
    }
    ADD_FAILURE() << "no entry " << id;
    return orgs[0];
  }
  static nlohmann::json StrangerEntry() {
    const crypto::SigningKey key = crypto::SigningKey::Generate();
    return {{"org_id", t::kStranger},
            {"display_name", "stranger"},
            {"domain", "safety"},
            {"signing_public_key", crypto::ToHex(key.verify_key().bytes())}};
  }

  grpc::StatusCode DirectoryCall(const std::string& org, v1::GetDirectoryResponse* out = nullptr) {
    v1::GetDirectoryResponse response;
    const grpc::Status status = env_.As(org).GetDirectory(t::Ctx().get(), v1::GetDirectoryRequest(), &response);
    if (out != nullptr) *out = response;
    return status.error_code();
  }

  t::GatewayTestEnv env_;
};

TEST_F(GatewayDirectoryReloadTest, AnAddedOrganisationCanCallAndADeactivatedOneIsRefused) {
  EXPECT_EQ(DirectoryCall(t::kStranger), grpc::StatusCode::UNAUTHENTICATED);

  EditDirectory([](nlohmann::json& orgs) { orgs.push_back(StrangerEntry()); });
  auto reloaded = env_.server().ReloadDirectory();
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_TRUE(reloaded->changed);
  v1::GetDirectoryResponse seen;
  ASSERT_EQ(DirectoryCall(t::kStranger, &seen), grpc::StatusCode::OK);
  EXPECT_EQ(seen.directory_version(), 5u);
  EXPECT_THAT(seen.organisations(), SizeIs(5));

  // The log says so, by the gateway itself (SIGHUP's path).
  const v1::LogEntry entry = env_.AllEntries().back();
  EXPECT_EQ(entry.record().kind(), v1::RECORD_KIND_DIRECTORY_CHANGED);
  EXPECT_EQ(entry.record().directory().change(), v1::DIRECTORY_CHANGE_REGISTERED);
  EXPECT_EQ(entry.record().directory().organisation().org_id(), t::kStranger);
  EXPECT_EQ(entry.record().requester().org_id(), t::kGatewayOrg);
  EXPECT_EQ(entry.record().policy_version(), env_.server().policy()->version());

  // riec deactivated: its calls are refused from then on (and logged).
  EditDirectory([](nlohmann::json& orgs) { Entry(orgs, t::kRiec)["active"] = false; });
  ASSERT_TRUE(env_.server().ReloadDirectory().ok());
  EXPECT_EQ(DirectoryCall(t::kRiec), grpc::StatusCode::UNAUTHENTICATED);
  t::GatewayTestEnv::Blinded b = t::GatewayTestEnv::Blind(t::kRiecPurpose, {{{{v1::MATCH_KEY_TYPE_BSN, t::Bsn("1")}}}});
  v1::OpenExchangeResponse opened;
  const grpc::Status open = env_.Open(t::kRiec, b.request, &opened);
  EXPECT_EQ(open.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  const v1::LogEntry refusal = env_.AllEntries().back();
  EXPECT_EQ(refusal.record().kind(), v1::RECORD_KIND_EXCHANGE_REQUESTED);
  EXPECT_EQ(refusal.record().outcome(), v1::OUTCOME_REFUSED);

  // The directory survives a restart as reloaded: nothing new to record.
  const uint64_t head = env_.server().log().head_sequence();
  env_.Stop();
  env_.Start();
  EXPECT_EQ(env_.server().log().head_sequence(), head);
  EXPECT_EQ(env_.server().directory()->version(), 6u);
  EXPECT_EQ(DirectoryCall(t::kStranger), grpc::StatusCode::OK);
}

// A partner deactivated after OpenExchange gets no look-up when the
// exchange is resolved: it is reported REFUSED_BY_POLICY with no hits,
// while the partner still active resolves exactly as before the reload.
TEST_F(GatewayDirectoryReloadTest, APartnerDeactivatedAfterTheExchangeWasOpenedHasNoHits) {
  ASSERT_TRUE(env_.Publish(t::kPolitie, {env_.Batch(1, t::kPolitie, t::kRiecPurpose, {t::Bsn("100000001")})}).ok());
  ASSERT_TRUE(env_.Publish(t::kGemeente, {env_.Batch(1, t::kGemeente, t::kRiecPurpose,
                                                    {t::Bsn("100000001"), t::Bsn("100000002")})}).ok());
  const std::vector<t::TestSubject> subjects = {{{{v1::MATCH_KEY_TYPE_BSN, t::Bsn("100000001")}}},
                                                {{{v1::MATCH_KEY_TYPE_BSN, t::Bsn("100000002")}}}};
  auto open = [&](t::GatewayTestEnv::Blinded& b, v1::OpenExchangeResponse* opened) {
    b.request.add_target_org_ids(t::kPolitie);
    b.request.add_target_org_ids(t::kGemeente);
    const grpc::Status status = env_.Open(t::kRiec, b.request, opened);
    ASSERT_TRUE(status.ok()) << status.error_message();
    ASSERT_THAT(opened->evaluations(), SizeIs(2));
    for (const v1::PartnerEvaluation& e : opened->evaluations()) {
      ASSERT_EQ(e.outcome().status(), v1::PARTNER_STATUS_OK) << e.outcome().org_id();
    }
  };
  auto partner_match = [](const v1::SubjectMatch& s, const std::string& org) -> const v1::PartnerMatch* {
    for (const v1::PartnerMatch& p : s.partners()) {
      if (p.org_id() == org) return &p;
    }
    return nullptr;
  };
  auto outcome_of = [](const v1::MatchResult& r, const std::string& org) {
    for (const v1::PartnerOutcome& o : r.partners()) {
      if (o.org_id() == org) return o;
    }
    ADD_FAILURE() << "no outcome for " << org;
    return v1::PartnerOutcome();
  };

  // Two exchanges opened while both partners are active; the first is
  // resolved before the reload (the reference).
  t::GatewayTestEnv::Blinded before_b = t::GatewayTestEnv::Blind(t::kRiecPurpose, subjects);
  v1::OpenExchangeResponse before_opened;
  ASSERT_NO_FATAL_FAILURE(open(before_b, &before_opened));
  t::GatewayTestEnv::Blinded after_b = t::GatewayTestEnv::Blind(t::kRiecPurpose, subjects);
  v1::OpenExchangeResponse after_opened;
  ASSERT_NO_FATAL_FAILURE(open(after_b, &after_opened));
  v1::ResolveMatchesResponse before;
  ASSERT_TRUE(env_.Resolve(t::kRiec, env_.ResolveRequest(before_b, before_opened), &before).ok());
  ASSERT_THAT(before.result().subjects(), SizeIs(2));
  ASSERT_NE(partner_match(before.result().subjects(0), t::kGemeente), nullptr);
  EXPECT_TRUE(partner_match(before.result().subjects(0), t::kGemeente)->hit());
  EXPECT_TRUE(partner_match(before.result().subjects(1), t::kGemeente)->hit());
  EXPECT_EQ(before.result().counts().subject_partner_hits(), 3u);

  // gemeente deactivated; the second exchange is resolved within its window.
  EditDirectory([](nlohmann::json& orgs) { Entry(orgs, t::kGemeente)["active"] = false; });
  ASSERT_TRUE(env_.server().ReloadDirectory().ok());
  const v1::ResolveMatchesRequest request = env_.ResolveRequest(after_b, after_opened);
  ASSERT_THAT(request.partners(), SizeIs(2));  // the requester still sends gemeente's tags
  v1::ResolveMatchesResponse after;
  const grpc::Status resolved = env_.Resolve(t::kRiec, request, &after);
  ASSERT_TRUE(resolved.ok()) << resolved.error_message();
  const v1::MatchResult& result = after.result();
  ASSERT_THAT(result.subjects(), SizeIs(2));
  for (int s = 0; s < 2; ++s) {
    EXPECT_EQ(partner_match(result.subjects(s), t::kGemeente), nullptr) << s;
    const v1::PartnerMatch* politie = partner_match(result.subjects(s), t::kPolitie);
    const v1::PartnerMatch* reference = partner_match(before.result().subjects(s), t::kPolitie);
    ASSERT_NE(politie, nullptr);
    ASSERT_NE(reference, nullptr);
    EXPECT_EQ(politie->SerializeAsString(), reference->SerializeAsString()) << s;
  }
  EXPECT_TRUE(partner_match(result.subjects(0), t::kPolitie)->hit());
  EXPECT_FALSE(partner_match(result.subjects(1), t::kPolitie)->hit());
  const v1::PartnerOutcome gemeente = outcome_of(result, t::kGemeente);
  EXPECT_EQ(gemeente.status(), v1::PARTNER_STATUS_REFUSED_BY_POLICY);
  EXPECT_EQ(gemeente.reason(), v1::DENIAL_REASON_PARTNER_NOT_PERMITTED);
  EXPECT_THAT(gemeente.detail(), HasSubstr("deactivated in the directory"));
  EXPECT_EQ(gemeente.subjects_hit(), 0u);
  const v1::PartnerOutcome politie = outcome_of(result, t::kPolitie);
  EXPECT_EQ(politie.status(), v1::PARTNER_STATUS_OK);
  EXPECT_EQ(politie.subjects_hit(), outcome_of(before.result(), t::kPolitie).subjects_hit());
  EXPECT_EQ(result.counts().subjects_hit(), 1u);
  EXPECT_EQ(result.counts().subject_partner_hits(), 1u);
  EXPECT_EQ(result.counts().partners_answered(), 1u);
  EXPECT_EQ(result.counts().partners_failed(), 1u);

  // The log records the refusal and holds no tags of gemeente.
  ASSERT_THAT(after.receipts(), SizeIs(1));
  const v1::LogEntry entry = env_.EntryOf(after.receipts(0));
  EXPECT_EQ(entry.record().kind(), v1::RECORD_KIND_EXCHANGE_RESOLVED);
  EXPECT_EQ(entry.record().outcome(), v1::OUTCOME_PARTIAL);
  EXPECT_THAT(entry.record().denial_reasons(), ::testing::Contains(v1::DENIAL_REASON_PARTNER_NOT_PERMITTED));
  ASSERT_THAT(entry.record().tags(), SizeIs(1));
  EXPECT_EQ(entry.record().tags(0).org_id(), t::kPolitie);
}

TEST_F(GatewayDirectoryReloadTest, ChannelsFollowAChangedEndpoint) {
  auto politie = [&] {
    t::GatewayTestEnv::Blinded b =
        t::GatewayTestEnv::Blind(t::kRiecPurpose, {{{{v1::MATCH_KEY_TYPE_BSN, t::Bsn("111222333")}}}});
    v1::OpenExchangeResponse opened;
    const grpc::Status status = env_.Open(t::kRiec, b.request, &opened);
    EXPECT_TRUE(status.ok()) << status.error_message();
    for (const v1::PartnerEvaluation& e : opened.evaluations()) {
      if (e.outcome().org_id() == t::kPolitie) return e.outcome().status();
    }
    return v1::PARTNER_STATUS_UNSPECIFIED;
  };
  EXPECT_EQ(politie(), v1::PARTNER_STATUS_OK);
  std::string endpoint;
  EditDirectory([&](nlohmann::json& orgs) {
    endpoint = Entry(orgs, t::kPolitie)["endpoint"];
    Entry(orgs, t::kPolitie)["endpoint"] = "127.0.0.1:1";  // nothing listens there
  });
  ASSERT_TRUE(env_.server().ReloadDirectory().ok());
  EXPECT_EQ(politie(), v1::PARTNER_STATUS_UNAVAILABLE);
  EditDirectory([&](nlohmann::json& orgs) { Entry(orgs, t::kPolitie)["endpoint"] = endpoint; });
  ASSERT_TRUE(env_.server().ReloadDirectory().ok());
  EXPECT_EQ(politie(), v1::PARTNER_STATUS_OK);
}

TEST_F(GatewayDirectoryReloadTest, ARefusedFileKeepsTheGatewayServingWithTheOldDirectory) {
  const std::filesystem::path file = env_.dir() / "directory.json";
  ::schakel::testing::WriteFile(file, R"({"organisations": [{"org_id": "x"}]})");
  auto refused = env_.server().ReloadDirectory();
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(env_.server().directory()->version(), 4u);
  EXPECT_EQ(DirectoryCall(t::kRiec), grpc::StatusCode::OK);
  EXPECT_EQ(env_.AllEntries().back().record().outcome(), v1::OUTCOME_REFUSED);
}

// Calls during reloads each see one directory: the stranger is listed
// exactly in the odd versions (registered, deactivated by removal,
// registered again as an update, ...).
TEST_F(GatewayDirectoryReloadTest, ACallDuringReloadsSeesOneConsistentDirectory) {
  const std::filesystem::path file = env_.dir() / "directory.json";
  const std::string without = *ReadConfigText(file, "directory");
  EditDirectory([](nlohmann::json& orgs) { orgs.push_back(StrangerEntry()); });
  const std::string with = *ReadConfigText(file, "directory");

  std::atomic<bool> stop{false};
  std::atomic<int> calls{0};
  std::vector<std::thread> callers;
  for (int i = 0; i < 2; ++i) {
    callers.emplace_back([&] {
      while (!stop.load()) {
        v1::GetDirectoryResponse seen;
        if (DirectoryCall(t::kRiec, &seen) != grpc::StatusCode::OK) {
          ADD_FAILURE() << "GetDirectory failed during a reload";
          return;
        }
        bool stranger = false;
        for (const v1::Organisation& o : seen.organisations()) stranger = stranger || o.org_id() == t::kStranger;
        EXPECT_EQ(stranger, seen.directory_version() % 2 == 1) << seen.directory_version();
        EXPECT_EQ(seen.organisations_size(), stranger ? 5 : 4);
        calls.fetch_add(1);
      }
    });
  }
  for (int round = 0; round < 10; ++round) {
    ::schakel::testing::WriteFile(file, round % 2 == 0 ? with : without);
    auto reloaded = env_.server().ReloadDirectory();
    ASSERT_TRUE(reloaded.ok()) << reloaded.status();
    ASSERT_TRUE(reloaded->changed);
  }
  const absl::Time until = absl::Now() + absl::Seconds(20);
  while (calls.load() < 20 && absl::Now() < until) absl::SleepFor(absl::Milliseconds(5));
  stop = true;
  for (std::thread& c : callers) c.join();
  EXPECT_EQ(env_.server().directory()->version(), 14u);
}

}  // namespace
}  // namespace schakel::gateway
