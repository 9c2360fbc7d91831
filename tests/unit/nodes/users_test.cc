#include "nodes/users.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>

#include "nodes/local_auth.h"
#include "nodes/node_secret.h"
#include "store/faulty_store.h"
#include "store/memory_store.h"

namespace schakel::nodes {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string Text(const IssuedCredential& issued) { return std::string(issued.credential_view()); }
std::string Message(const absl::Status& s) { return std::string(s.message()); }

class UsersTest : public ::testing::Test {
 protected:
  UsersTest() {
    auto log = LocalLog::Open(&faulty_);
    EXPECT_TRUE(log.ok());
    log_ = *std::move(log);
    auto users = UserStore::Create(&faulty_, log_.get(), secret_.DeriveKey(kCredentialHashContext));
    EXPECT_TRUE(users.ok());
    users_ = *std::move(users);
  }

  std::string Create(std::string id, std::vector<v1::Role> roles) {
    auto issued = users_->CreateUser(admin_, id, "", std::move(roles));
    EXPECT_TRUE(issued.ok()) << issued.status();
    return issued.ok() ? Text(*issued) : "";
  }

  std::vector<v1::LocalLogEntry> Log() { return *log_->Read(1, 0); }

  NodeSecret secret_ = NodeSecret::Random();
  store::MemoryStore memory_;
  store::FaultyStore faulty_{&memory_};
  std::unique_ptr<LocalLog> log_;
  std::unique_ptr<UserStore> users_;
  const UserActor admin_{"root", v1::ROLE_ADMIN};
};

TEST_F(UsersTest, CredentialIsShownOnceAndStoredOnlyAsAKeyedHash) {
  auto issued = users_->CreateUser(admin_, "a.bakker", "A. Bakker (RIEC analist)",
                                   {v1::ROLE_APPROVER, v1::ROLE_ANALYST});
  ASSERT_TRUE(issued.ok()) << issued.status();
  const std::string credential = Text(*issued);
  ASSERT_EQ(credential.size(), std::string("a.bakker.").size() + kCredentialSecretChars);
  EXPECT_TRUE(credential.starts_with("a.bakker."));
  // Roles are kept in Role order.
  EXPECT_THAT(issued->user.roles(), ::testing::ElementsAre(v1::ROLE_ANALYST, v1::ROLE_APPROVER));

  const std::string secret = credential.substr(9);
  auto everything = memory_.Scan("", "\xff", 0);
  ASSERT_TRUE(everything.ok());
  for (const auto& [key, value] : *everything) {
    EXPECT_THAT(value, Not(HasSubstr(secret))) << key;
  }
  auto user = users_->Verify(credential);
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_EQ(user->user_id(), "a.bakker");

  // The same secret under another key (another node) does not verify.
  auto log = LocalLog::Open(&memory_);
  auto other = UserStore::Create(&memory_, log->get(), NodeSecret::Random().DeriveKey("x"));
  EXPECT_EQ((*other)->Verify(credential).status().code(), absl::StatusCode::kUnauthenticated);

  // The change is logged, without the credential.
  const auto entries = Log();
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].record().kind(), v1::LOCAL_EVENT_KIND_USER_CHANGED);
  EXPECT_EQ(entries[0].record().user_id(), "root");
  EXPECT_EQ(entries[0].record().role(), v1::ROLE_ADMIN);
  EXPECT_THAT(entries[0].record().detail(), HasSubstr("a.bakker"));
  EXPECT_THAT(entries[0].SerializeAsString(), Not(HasSubstr(secret)));
}

TEST_F(UsersTest, WrongMalformedOrForeignCredentialsAreRefused) {
  const std::string alice = Create("alice", {v1::ROLE_PROFESSIONAL});
  const std::string bob = Create("bob", {v1::ROLE_PROFESSIONAL});
  std::string wrong = alice;
  wrong.back() = wrong.back() == 'A' ? 'B' : 'A';
  for (const std::string& c :
       {wrong, std::string("alice"), std::string("alice.short"), std::string(".") + alice,
        "bob" + alice.substr(5), "nobody" + alice.substr(5), alice + "x"}) {
    auto user = users_->Verify(c);
    EXPECT_EQ(user.status().code(), absl::StatusCode::kUnauthenticated) << c;
    EXPECT_THAT(Message(user.status()), Not(HasSubstr(alice.substr(6)))) << c;
  }
  EXPECT_TRUE(users_->Verify(bob).ok());
}

TEST_F(UsersTest, DisabledUserAndRotatedCredentialStopWorkingAtOnce) {
  const std::string alice = Create("alice", {v1::ROLE_PROFESSIONAL});
  auto rotated = users_->RotateCredential({"alice", v1::ROLE_PROFESSIONAL}, "alice");
  ASSERT_TRUE(rotated.ok());
  EXPECT_EQ(users_->Verify(alice).status().code(), absl::StatusCode::kUnauthenticated);
  ASSERT_TRUE(users_->Verify(Text(*rotated)).ok());

  EXPECT_EQ(users_->DisableUser(admin_, "alice", "").status().code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(users_->DisableUser(admin_, "alice", "left the organisation").ok());
  auto refused = users_->Verify(Text(*rotated));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(Message(refused.status()), HasSubstr("disabled"));
  EXPECT_EQ(users_->DisableUser(admin_, "alice", "again").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(users_->RotateCredential(admin_, "alice").status().code(),
            absl::StatusCode::kFailedPrecondition);
  // Hidden from the default listing, shown with include_disabled.
  EXPECT_TRUE(users_->ListUsers(false, 0, "")->users.empty());
  EXPECT_EQ(users_->ListUsers(true, 0, "")->users.size(), 1u);
}

TEST_F(UsersTest, TheLastActiveAdminStays) {
  Create("admin", {v1::ROLE_ADMIN});
  EXPECT_EQ(users_->DisableUser(admin_, "admin", "oops").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(
      users_->UpdateUser(admin_, "admin", std::nullopt, std::vector<v1::Role>{v1::ROLE_AUDITOR})
          .status()
          .code(),
      absl::StatusCode::kFailedPrecondition);
  Create("admin2", {v1::ROLE_ADMIN, v1::ROLE_AUDITOR});
  auto changed = users_->UpdateUser(admin_, "admin", std::string("Beheer"),
                                    std::vector<v1::Role>{v1::ROLE_AUDITOR});
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_EQ(changed->display_name(), "Beheer");
  EXPECT_THAT(changed->roles(), ::testing::ElementsAre(v1::ROLE_AUDITOR));
}

TEST_F(UsersTest, BadInputIsNamedAndNothingIsStored) {
  auto bad = users_->CreateUser(admin_, "Alice!", std::string(201, 'x'),
                                {v1::ROLE_UNSPECIFIED, v1::ROLE_ANALYST, v1::ROLE_ANALYST});
  ASSERT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(bad.status()), HasSubstr("user_id:"));
  EXPECT_THAT(Message(bad.status()), HasSubstr("display_name:"));
  EXPECT_THAT(Message(bad.status()), HasSubstr("roles[0]: not a role"));
  EXPECT_THAT(Message(bad.status()), HasSubstr("roles[2]: named twice"));
  EXPECT_EQ(users_->CreateUser(admin_, "carol", "", {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  Create("carol", {v1::ROLE_ANALYST});
  EXPECT_EQ(users_->CreateUser(admin_, "carol", "", {v1::ROLE_ANALYST}).status().code(),
            absl::StatusCode::kAlreadyExists);

  // A failed write stores neither the user nor its log record.
  faulty_.FailNextWrites(1);
  EXPECT_EQ(users_->CreateUser(admin_, "dave", "", {v1::ROLE_ANALYST}).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(users_->GetUser("dave").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Log().size(), 1u);  // carol only
}

TEST_F(UsersTest, ListPagesByUserId) {
  for (const char* id : {"e", "a", "d", "c", "b"}) Create(id, {v1::ROLE_ANALYST});
  auto first = users_->ListUsers(false, 2, "");
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->users.size(), 2u);
  EXPECT_EQ(first->users[0].user_id(), "a");
  std::vector<std::string> all;
  std::string token;
  do {
    auto page = users_->ListUsers(false, 2, token);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const auto& u : page->users) all.push_back(u.user_id());
    token = page->next_page_token;
  } while (!token.empty());
  EXPECT_EQ(all, (std::vector<std::string>{"a", "b", "c", "d", "e"}));
  EXPECT_EQ(users_->ListUsers(false, 2, "zz").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(users_->ListUsers(false, 1001, "").status().code(), absl::StatusCode::kInvalidArgument);
}

// ---- the authenticator

class LocalAuthTest : public UsersTest {
 protected:
  absl::StatusOr<LocalCaller> Auth(std::optional<std::string> authorization,
                                   std::optional<std::string> role,
                                   std::vector<v1::Role> accepted) {
    LocalAuthenticator auth(users_.get(), log_.get());
    return auth.AuthenticateValues(authorization ? &*authorization : nullptr,
                                   role ? &*role : nullptr, accepted);
  }
};

TEST_F(LocalAuthTest, PicksTheFirstAcceptedRoleOrTheNamedOne) {
  const std::string cred = Create("ana", {v1::ROLE_AUDITOR, v1::ROLE_ANALYST});
  auto caller = Auth("Bearer " + cred, std::nullopt, {v1::ROLE_AUDITOR, v1::ROLE_ADMIN});
  ASSERT_TRUE(caller.ok()) << caller.status();
  EXPECT_EQ(caller->user_id, "ana");
  EXPECT_EQ(caller->role, v1::ROLE_AUDITOR);
  caller = Auth("Bearer " + cred, std::nullopt, {});
  EXPECT_EQ(caller->role, v1::ROLE_ANALYST);  // first in Role order
  caller = Auth("Bearer " + cred, "auditor", {});
  EXPECT_EQ(caller->role, v1::ROLE_AUDITOR);

  // A role the user does not hold, one the rpc does not accept, none at all.
  auto denied = Auth("Bearer " + cred, "admin", {});
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied);
  denied = Auth("Bearer " + cred, "analyst", {v1::ROLE_AUDITOR});
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(Message(denied.status()), HasSubstr("accepts auditor"));
  denied = Auth("Bearer " + cred, std::nullopt, {v1::ROLE_PROFESSIONAL, v1::ROLE_ADMIN});
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied);
  denied = Auth("Bearer " + cred, "chef", {});
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(LocalAuthTest, FailedLoginsAreLoggedWithoutTheSecret) {
  const std::string cred = Create("ana", {v1::ROLE_ANALYST});
  std::string wrong = cred;
  wrong[wrong.size() - 3] = wrong[wrong.size() - 3] == 'x' ? 'y' : 'x';
  const size_t before = Log().size();
  EXPECT_EQ(Auth(std::nullopt, std::nullopt, {}).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Auth(cred, std::nullopt, {}).status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Auth("Bearer " + wrong, std::nullopt, {}).status().code(),
            absl::StatusCode::kUnauthenticated);
  const auto entries = Log();
  ASSERT_EQ(entries.size(), before + 3);
  for (size_t i = before; i < entries.size(); ++i) {
    EXPECT_EQ(entries[i].record().kind(), v1::LOCAL_EVENT_KIND_LOGIN_FAILED);
    EXPECT_EQ(entries[i].record().outcome(), v1::OUTCOME_REFUSED);
    EXPECT_THAT(entries[i].SerializeAsString(), Not(HasSubstr(wrong.substr(4))));
  }
  EXPECT_EQ(entries.back().record().user_id(), "ana");  // the id claimed

  // When the failed login cannot be logged, the answer is UNAVAILABLE.
  faulty_.FailNextWrites(1);
  EXPECT_EQ(Auth("Bearer " + wrong, std::nullopt, {}).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(LocalAuthTest, DisabledUserIsUnauthenticated) {
  const std::string cred = Create("ana", {v1::ROLE_ANALYST});
  ASSERT_TRUE(users_->DisableUser(admin_, "ana", "left").ok());
  EXPECT_EQ(Auth("Bearer " + cred, std::nullopt, {}).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(RoleFromName("approver"), v1::ROLE_APPROVER);
  EXPECT_EQ(RoleName(v1::ROLE_DIRECTOR), "director");
}

}  // namespace
}  // namespace schakel::nodes
