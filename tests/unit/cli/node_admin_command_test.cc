// `schakel node status` and `schakel node policy` (cli/node_command.h) run
// in-process against a fake node over TLS: the table and --json output,
// --wait-published polling and its time limit, and the errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/exit_codes.h"
#include "tests/unit/cli/fake_node.h"

namespace schakel::cli {
namespace {

using ::schakel::cli::testing::Outcome;
using ::schakel::cli::testing::WithDetail;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
namespace v1 = schakel::v1;

class NodeAdminCommandTest : public ::schakel::cli::testing::FakeNodeTest {
 protected:
  // The index status with `acknowledged` of `queued` batches acknowledged.
  static v1::GetIndexStatusResponse IndexStatus(uint64_t queued, uint64_t acknowledged) {
    v1::GetIndexStatusResponse r;
    r.set_queued_through(queued);
    r.set_acknowledged_through(acknowledged);
    r.set_pending_batches(queued - acknowledged);
    r.set_connected(true);
    r.mutable_last_ack_at()->set_seconds(1772366400);  // 2026-03-01T12:00:00Z
    v1::LocalPurposeIndex* zvh = r.add_purposes();
    zvh->set_purpose_id("zvh-gezinsaanpak");
    zvh->set_tag_count(1200);
    zvh->set_gateway_tag_count(1150);
    v1::LocalPurposeIndex* riec = r.add_purposes();
    riec->set_purpose_id("riec");
    riec->set_tag_count(3);
    riec->set_gateway_tag_count(3);
    return r;
  }

  // Answers GetIndexStatus with `queued` batches, of which `acked(n)` are
  // acknowledged at the n-th call (1-based); counts the calls.
  void ScriptStatus(uint64_t queued, std::function<uint64_t(int)> acked) {
    node_.node_admin.status = [this, queued, acked](const v1::GetIndexStatusRequest&,
                                                     v1::GetIndexStatusResponse* response) {
      *response = IndexStatus(queued, acked(++status_calls_));
      return grpc::Status::OK;
    };
  }

  static v1::GetLocalPolicyResponse Policy() {
    v1::GetLocalPolicyResponse response;
    v1::LocalPolicyInfo& p = *response.mutable_policy();
    p.set_local_policy_version("2025-07+1a2b3c4d");
    p.mutable_loaded_at()->set_seconds(1772366400);
    v1::CategoryConfig* hg = p.add_categories();
    hg->set_category("huiselijk-geweld");
    hg->mutable_retention()->set_seconds(730 * 86400);
    v1::CategoryConfig* overlast = p.add_categories();
    overlast->set_category("overlast");
    overlast->mutable_retention()->set_seconds(30 * 86400);
    v1::AnsweredPurpose* zvh = p.add_purposes();
    zvh->set_purpose_id("zvh");
    zvh->add_matchable_categories("huiselijk-geweld");
    zvh->add_matchable_categories("overlast");
    zvh->add_refused_requester_org_ids("riec-west");
    v1::AnsweredPurpose* riec = p.add_purposes();
    riec->set_purpose_id("riec");
    riec->add_matchable_categories("overlast");
    v1::LocalDisclosureRule* rule = p.add_disclosure_rules();
    rule->set_rule("mandaat-zvh");
    rule->set_purpose_id("zvh");
    rule->add_requester_org_ids("politie-oost");
    rule->add_fields(v1::SIGNAL_FIELD_CATEGORY);
    rule->add_fields(v1::SIGNAL_FIELD_CONTACT_NAME);
    rule->set_mandate(true);
    v1::LocalDisclosureRule* open = p.add_disclosure_rules();
    open->set_rule("fg-toets");
    open->set_purpose_id("zvh");
    open->add_fields(v1::SIGNAL_FIELD_FREE_TEXT);
    p.set_excluded_address_count(2);
    p.set_max_persons_per_address(4);
    return response;
  }

  // Answers GetLocalPolicy with Policy(), changed by `edit`.
  void ScriptPolicy(std::function<void(v1::LocalPolicyInfo&)> edit = {}) {
    node_.node_admin.policy = [edit](const v1::GetLocalPolicyRequest&,
                                     v1::GetLocalPolicyResponse* response) {
      *response = Policy();
      if (edit) edit(*response->mutable_policy());
      return grpc::Status::OK;
    };
  }

  std::atomic<int> status_calls_{0};
};

// --- node status ----------------------------------------------------------

TEST_F(NodeAdminCommandTest, StatusPrintsTheQueueAndATablePerPurpose) {
  ScriptStatus(7, [](int) { return 5; });
  const Outcome r = Run({"node", "status"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "stream:            connected\n"
            "batches queued:    7\n"
            "acknowledged:      5\n"
            "pending:           2\n"
            "last acknowledged: 2026-03-01T12:00:00Z\n"
            "\n"
            "purpose           tags here  tags at the gateway (last reconciled)\n"
            "zvh-gezinsaanpak  1200       1150\n"
            "riec              3          3\n");
  EXPECT_THAT(r.err, IsEmpty());
  ASSERT_EQ(node_.calls().size(), 1u);  // without --wait-published: asked once
  EXPECT_EQ(node_.calls()[0].method, "GetIndexStatus");
}

TEST_F(NodeAdminCommandTest, StatusNeverAcknowledgedAndNotConnected) {
  node_.node_admin.status = [](const v1::GetIndexStatusRequest&,
                               v1::GetIndexStatusResponse* response) {
    response->set_queued_through(1);
    response->set_pending_batches(1);
    return grpc::Status::OK;
  };
  const Outcome r = Run({"node", "status"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("stream:            not connected\n"));
  EXPECT_THAT(r.out, HasSubstr("last acknowledged: never\n"));
}

TEST_F(NodeAdminCommandTest, StatusAsJson) {
  ScriptStatus(7, [](int) { return 5; });
  const Outcome r = Run({"node", "status", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["queued_through"], "7");  // 64-bit integers as strings (proto3 JSON)
  EXPECT_EQ(j["acknowledged_through"], "5");
  EXPECT_EQ(j["pending_batches"], "2");
  EXPECT_EQ(j["connected"], true);
  EXPECT_EQ(j["last_ack_at"], "2026-03-01T12:00:00Z");
  ASSERT_EQ(j["purposes"].size(), 2u);
  EXPECT_EQ(j["purposes"][0]["purpose_id"], "zvh-gezinsaanpak");
  EXPECT_EQ(j["purposes"][0]["tag_count"], "1200");
  EXPECT_EQ(j["purposes"][0]["gateway_tag_count"], "1150");
}

TEST_F(NodeAdminCommandTest, WaitPublishedAsksAgainUntilEveryBatchIsAcknowledged) {
  // Acknowledged 3, 6, then all 9 at the third call.
  ScriptStatus(9, [](int call) { return std::min<uint64_t>(9, 3 * static_cast<uint64_t>(call)); });
  const Outcome r = Run({"node", "status", "--wait-published", "--poll-interval", "0.01"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(status_calls_.load(), 3);
  EXPECT_THAT(r.out, HasSubstr("acknowledged:      9\n"));
  EXPECT_THAT(r.out, HasSubstr("pending:           0\n"));
  // Only the final answer is printed.
  EXPECT_THAT(r.out, Not(HasSubstr("acknowledged:      6")));
  EXPECT_THAT(r.err, IsEmpty());
}

TEST_F(NodeAdminCommandTest, WaitPublishedWithJsonPrintsOnlyTheFinalAnswer) {
  ScriptStatus(4, [](int call) { return call < 2 ? 1 : 4; });
  const Outcome r =
      Run({"node", "status", "--wait-published", "--poll-interval", "0.01", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(status_calls_.load(), 2);
  const nlohmann::json j = nlohmann::json::parse(r.out);  // one document
  EXPECT_EQ(j["acknowledged_through"], "4");
  EXPECT_EQ(j["pending_batches"], "0");
}

TEST_F(NodeAdminCommandTest, WaitPublishedExits4WhenWaitForPassesFirst) {
  ScriptStatus(9, [](int) { return 7; });  // never catches up
  const Outcome r = Run(
      {"node", "status", "--wait-published", "--wait-for", "0.2", "--poll-interval", "0.02"});
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kUnavailable));
  EXPECT_THAT(r.err, HasSubstr("the index is not published yet after 0.2 s"));
  EXPECT_THAT(r.err, HasSubstr("see 'stream' and 'pending' above"));
  // The last answer is shown, so that one sees how far it got.
  EXPECT_THAT(r.out, HasSubstr("acknowledged:      7\n"));
  EXPECT_THAT(r.out, HasSubstr("pending:           2\n"));
  EXPECT_GE(status_calls_.load(), 2);

  const Outcome j = Run({"node", "status", "--wait-published", "--wait-for", "0.05",
                         "--poll-interval", "0.01", "--json"});
  EXPECT_EQ(j.exit_code, ToInt(ExitCode::kUnavailable));
  EXPECT_EQ(nlohmann::json::parse(j.out)["pending_batches"], "2");
}

TEST_F(NodeAdminCommandTest, RoleNotAllowedNamesTheRolesNeeded) {
  const auto denied = [](auto&&...) {
    v1::ErrorDetail detail;
    detail.set_reason(v1::DENIAL_REASON_ROLE_NOT_ALLOWED);
    return WithDetail(grpc::StatusCode::PERMISSION_DENIED,
                      "role analyst may not call this; accepted: admin, auditor", detail);
  };
  node_.node_admin.status = denied;
  node_.node_admin.policy = denied;
  const Outcome status = Run({"node", "status", "--role", "analyst"});
  EXPECT_EQ(status.exit_code, ToInt(ExitCode::kRefused));
  EXPECT_THAT(status.err,
              HasSubstr("not allowed to read the index publication status: role analyst may not "
                        "call this; accepted: admin, auditor (reason: role_not_allowed); this "
                        "needs the role admin or auditor"));
  EXPECT_THAT(status.err, HasSubstr("you acted as analyst"));
  EXPECT_THAT(status.out, IsEmpty());

  const Outcome policy = Run({"node", "policy", "--role", "analyst"});
  EXPECT_EQ(policy.exit_code, ToInt(ExitCode::kRefused));
  EXPECT_THAT(policy.err, HasSubstr("not allowed to read the local policy: "));
  EXPECT_THAT(policy.err, HasSubstr("this needs the role admin or auditor"));
  for (const auto& call : node_.calls()) EXPECT_EQ(call.role, "analyst") << call.method;

  // --wait-published does not keep asking after a refusal.
  const int before = status_calls_.load();
  const Outcome waiting = Run({"node", "status", "--wait-published", "--role", "analyst"});
  EXPECT_EQ(waiting.exit_code, ToInt(ExitCode::kRefused));
  EXPECT_EQ(status_calls_.load(), before);
}

TEST_F(NodeAdminCommandTest, StatusOfANodeWithoutAGatewayIsAConflict) {
  node_.node_admin.status = [](const v1::GetIndexStatusRequest&, v1::GetIndexStatusResponse*) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "this node has no gateway configured (gateway.endpoint): it publishes "
                        "no index");
  };
  const Outcome r = Run({"node", "status", "--wait-published"});
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kConflict));
  EXPECT_THAT(r.err, HasSubstr("cannot read the index publication status: this node has no "
                               "gateway configured"));
}

// --- node policy ----------------------------------------------------------

TEST_F(NodeAdminCommandTest, PolicyPrintsVersionCategoriesPurposesAndRules) {
  ScriptPolicy();
  const Outcome r = Run({"node", "policy"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "version:                 2025-07+1a2b3c4d\n"
            "loaded:                  2026-03-01T12:00:00Z\n"
            "excluded addresses:      2\n"
            "max persons per address: 4\n"
            "\n"
            "category          retention\n"
            "huiselijk-geweld  730 days\n"
            "overlast          30 days\n"
            "\n"
            "purpose answered  matchable categories        refused requesters\n"
            "zvh               huiselijk-geweld, overlast  riec-west\n"
            "riec              overlast                    -\n"
            "\n"
            "disclosure rule  purpose  requesters    fields                  decided by\n"
            "mandaat-zvh      zvh      politie-oost  category, contact_name  mandate\n"
            "fg-toets         zvh      any           free_text               an approver\n");
  ASSERT_EQ(node_.calls().size(), 1u);
  EXPECT_EQ(node_.calls()[0].method, "GetLocalPolicy");
}

TEST_F(NodeAdminCommandTest, PolicyWithoutRulesOrThreshold) {
  ScriptPolicy([](v1::LocalPolicyInfo& p) {
    p.clear_disclosure_rules();
    p.set_max_persons_per_address(0);
    p.set_excluded_address_count(0);
  });
  const Outcome r = Run({"node", "policy"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("max persons per address: no limit\n"));
  EXPECT_THAT(r.out, HasSubstr("excluded addresses:      0\n"));
  EXPECT_THAT(r.out, Not(HasSubstr("disclosure rule")));
}

TEST_F(NodeAdminCommandTest, PolicyAsJson) {
  ScriptPolicy();
  const Outcome r = Run({"node", "policy", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json p = nlohmann::json::parse(r.out)["policy"];
  EXPECT_EQ(p["local_policy_version"], "2025-07+1a2b3c4d");
  EXPECT_EQ(p["excluded_address_count"], 2);
  EXPECT_EQ(p["max_persons_per_address"], 4);
  ASSERT_EQ(p["categories"].size(), 2u);
  EXPECT_EQ(p["categories"][1]["retention"], "2592000s");
  EXPECT_EQ(p["purposes"][0]["matchable_categories"],
            nlohmann::json::array({"huiselijk-geweld", "overlast"}));
  EXPECT_EQ(p["disclosure_rules"][0]["fields"],
            nlohmann::json::array({"SIGNAL_FIELD_CATEGORY", "SIGNAL_FIELD_CONTACT_NAME"}));
  EXPECT_EQ(p["disclosure_rules"][0]["mandate"], true);
}

}  // namespace
}  // namespace schakel::cli
