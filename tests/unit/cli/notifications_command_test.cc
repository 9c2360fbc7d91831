// `schakel notifications` against a fake node: match notices mapped to the
// user's own signals with their owners, disclosure notices, --unread and
// --owner, and marking read by sequence or all at once.
#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "cli/exit_codes.h"
#include "tests/unit/cli/fake_disclosure_node.h"

namespace schakel::cli {
namespace {

using ::schakel::cli::testing::FakeDisclosureNodeTest;
using ::schakel::cli::testing::Outcome;
using ::schakel::cli::testing::RunCli;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
namespace fs = std::filesystem;
namespace v1 = schakel::v1;

v1::LocalNotification MatchNotification(uint64_t sequence, bool read) {
  v1::LocalNotification local;
  v1::Notification& n = *local.mutable_notification();
  n.set_sequence(sequence);
  n.mutable_created_at()->set_seconds(1740830400);  // 2025-03-01T12:00:00Z
  v1::MatchNotice& match = *n.mutable_match();
  match.set_exchange_id(std::string(16, '\x5f'));
  match.set_purpose_id("zvh.casusoverleg");
  match.set_case_id("2025-0042");
  match.mutable_requester()->set_org_id("gemeente");
  match.mutable_requester()->set_user_id("r.smit");
  match.mutable_requester()->set_role(v1::ROLE_DIRECTOR);
  match.add_tags(std::string(16, '\x01'));
  match.add_tags(std::string(16, '\x02'));
  local.set_read(read);
  v1::MatchedSignal* first = local.add_signals();
  first->set_signal_id("z-1");
  first->set_category("overlast");
  first->set_owner_user_id("p.devries");
  first->add_key_types(v1::MATCH_KEY_TYPE_BSN);
  first->add_key_types(v1::MATCH_KEY_TYPE_NAME_DOB);
  v1::MatchedSignal* second = local.add_signals();
  second->set_signal_id("z-9");
  second->set_category("schulden");
  second->set_owner_user_id("k.aydin");
  second->add_key_types(v1::MATCH_KEY_TYPE_ADDRESS);
  return local;
}

v1::LocalNotification DisclosureNotification(uint64_t sequence) {
  v1::LocalNotification local;
  v1::Notification& n = *local.mutable_notification();
  n.set_sequence(sequence);
  n.mutable_created_at()->set_seconds(1740834000);  // 2025-03-01T13:00:00Z
  v1::DisclosureStatus& status = *n.mutable_disclosure()->mutable_status();
  status.set_disclosure_id(std::string(16, '\x0a'));
  status.set_responder_org_id("politie");
  status.set_purpose_id("riec.ondermijning");
  status.set_state(v1::DISCLOSURE_STATE_EXPIRED);
  status.set_reason(v1::DENIAL_REASON_APPROVAL_EXPIRED);
  return local;
}

class NotificationsCommandTest : public FakeDisclosureNodeTest {
 protected:
  NotificationsCommandTest() : FakeDisclosureNodeTest("notifications", "") {}
};

TEST_F(NotificationsCommandTest, ListsMatchesWithTheSignalsAndTheirOwners) {
  v1::ListNotificationsRequest seen;
  node_.inbox.list = [&seen](const v1::ListNotificationsRequest& request,
                             v1::ListNotificationsResponse* response) {
    seen = request;
    *response->add_notifications() = DisclosureNotification(8);
    *response->add_notifications() = MatchNotification(7, /*read=*/false);
    return grpc::Status::OK;
  };
  const Outcome r = Run({"--unread", "--owner", "p.devries"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(seen.unread_only());
  EXPECT_EQ(seen.owner_user_id(), "p.devries");
  EXPECT_EQ(r.out,
            "seq  created (UTC)         unread  kind        from                        "
            "purpose            case       details\n"
            "8    2025-03-01T13:00:00Z  *       disclosure  politie                     "
            "riec.ondermijning  -          disclosure 0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a: "
            "expired (approval_expired)\n"
            "7    2025-03-01T12:00:00Z  *       match       gemeente/r.smit (director)  "
            "zvh.casusoverleg   2025-0042  signal z-1: overlast, owner p.devries, hit by "
            "bsn,name_dob\n"
            "                                                                           "
            "                              signal z-9: schulden, owner k.aydin, hit by address\n"
            "\n"
            "2 unread (*); mark them read with 'schakel notifications mark-read SEQ...' or "
            "'schakel notifications mark-read --all'\n");
  EXPECT_EQ(node_.calls()[0].method, "ListNotifications");
}

TEST_F(NotificationsCommandTest, TagsWhoseSignalsAreGoneAndEmptyLists) {
  node_.inbox.list = [](const v1::ListNotificationsRequest& request,
                        v1::ListNotificationsResponse* response) {
    if (request.unread_only()) return grpc::Status::OK;
    v1::LocalNotification gone = MatchNotification(3, /*read=*/true);
    gone.clear_signals();
    *response->add_notifications() = gone;
    return grpc::Status::OK;
  };
  const Outcome r = Run({});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("2 tags hit; no signal of yours carries it any more\n"));
  EXPECT_THAT(r.out, Not(HasSubstr("unread (*)")));
  const Outcome none = Run({"--unread"});
  ASSERT_EQ(none.exit_code, 0) << none.err;
  EXPECT_EQ(none.out, "no unread notifications\n");
}

TEST_F(NotificationsCommandTest, JsonLinesAndPages) {
  node_.inbox.list = [](const v1::ListNotificationsRequest& request,
                        v1::ListNotificationsResponse* response) {
    if (request.page_token().empty()) {
      *response->add_notifications() = MatchNotification(2, false);
      response->set_next_page_token("next");
    } else {
      *response->add_notifications() = MatchNotification(1, true);
    }
    return grpc::Status::OK;
  };
  const Outcome r = Run({"--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  std::vector<uint64_t> sequences;
  for (std::string line; std::getline(lines, line);) {
    v1::LocalNotification parsed;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &parsed).ok()) << line;
    sequences.push_back(parsed.notification().sequence());
  }
  EXPECT_THAT(sequences, ElementsAre(2u, 1u));
}

TEST_F(NotificationsCommandTest, MarkReadBySequenceOrAll) {
  std::vector<v1::MarkNotificationsReadRequest> marked;
  node_.inbox.mark = [&marked](const v1::MarkNotificationsReadRequest& request,
                               v1::MarkNotificationsReadResponse* response) {
    marked.push_back(request);
    response->set_marked(static_cast<uint32_t>(request.sequences_size()) - 1);
    return grpc::Status::OK;
  };
  node_.inbox.list = [](const v1::ListNotificationsRequest& request,
                        v1::ListNotificationsResponse* response) {
    EXPECT_TRUE(request.unread_only());
    *response->add_notifications() = MatchNotification(9, false);
    *response->add_notifications() = MatchNotification(4, false);
    return grpc::Status::OK;
  };
  const Outcome some = Run({"mark-read", "12", "13"});
  ASSERT_EQ(some.exit_code, 0) << some.err;
  EXPECT_EQ(some.out, "marked 1 of 2 read (the others were read already, or unknown)\n");
  const Outcome all = Run({"mark-read", "--all"});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  ASSERT_EQ(marked.size(), 2u);
  EXPECT_THAT(marked[0].sequences(), ElementsAre(12u, 13u));
  EXPECT_THAT(marked[1].sequences(), ElementsAre(9u, 4u));

  const Outcome none = Run({"mark-read"});
  EXPECT_EQ(none.exit_code, ToInt(ExitCode::kUsageError));
  EXPECT_THAT(none.err, HasSubstr("no notification given"));
  const Outcome both = Run({"mark-read", "3", "--all"});
  EXPECT_EQ(both.exit_code, ToInt(ExitCode::kUsageError));
  const Outcome bad = Run({"mark-read", "drie"});
  EXPECT_EQ(bad.exit_code, ToInt(ExitCode::kUsageError));
  EXPECT_EQ(marked.size(), 2u);
}

TEST_F(NotificationsCommandTest, NodeErrorsKeepTheirExitCodes) {
  node_.inbox.mark = [](const v1::MarkNotificationsReadRequest&,
                        v1::MarkNotificationsReadResponse*) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "bad credential");
  };
  const Outcome r = Run({"mark-read", "1"});
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kRefused));
  EXPECT_THAT(r.err, HasSubstr("the node refused the credential"));
  node_.inbox.list = [](const v1::ListNotificationsRequest&, v1::ListNotificationsResponse*) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad page token");
  };
  const Outcome list = Run({});
  EXPECT_EQ(list.exit_code, ToInt(ExitCode::kInvalidInput));
  EXPECT_THAT(list.err, HasSubstr("the node refused to list notifications: bad page token"));
}

TEST(NotificationsHelpTest, EveryCommandHasAnExample) {
  const Outcome list = RunCli({"notifications", "--help"});
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_THAT(list.out, HasSubstr("schakel notifications --unread"));
  const Outcome mark = RunCli({"notifications", "mark-read", "--help"});
  EXPECT_EQ(mark.exit_code, 0);
  EXPECT_THAT(mark.out, HasSubstr("schakel notifications mark-read --all"));
  EXPECT_THAT(mark.out, HasSubstr("Exit codes:"));
}

}  // namespace
}  // namespace schakel::cli
