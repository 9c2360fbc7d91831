#include "tests/support/test_support.h"
#include "nodes/authorisation_check.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <thread>

#include "crypto/random.h"
#include "store/faulty_store.h"
#include "store/memory_store.h"
#include "store/rocksdb_store.h"

namespace schakel::nodes {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kNow = 1763900000000;

void SetMs(google::protobuf::Timestamp* t, int64_t ms) {
  t->set_seconds(ms / 1000);
  t->set_nanos(static_cast<int32_t>(ms % 1000) * 1000000);
}

canonical::DigestBytes RequestDigest(char fill) {
  canonical::DigestBytes d;
  d.fill(static_cast<uint8_t>(fill));
  return d;
}

// What the gateway issues (gateway/authoriser.h does the same).
v1::Authorisation Issue(const crypto::SigningKey& key, const std::string& to, int64_t issued,
                        int64_t lifetime_ms = 30000, char digest = 'd',
                        v1::AuthorisedOperation op = v1::AUTHORISED_OPERATION_EVALUATE) {
  v1::AuthorisationPayload p;
  p.set_operation(op);
  p.set_exchange_id(std::string(16, 'x'));
  p.set_requester_org_id("riec");
  p.set_responder_org_id(to);
  p.set_purpose_id("riec-ondermijning");
  p.set_policy_version("2025.3+cd883acd");
  p.set_subject_count(3);
  p.set_element_count(5);
  const auto d = RequestDigest(digest);
  p.set_request_digest(std::string(d.begin(), d.end()));
  SetMs(p.mutable_issued_at(), issued);
  SetMs(p.mutable_expires_at(), issued + lifetime_ms);
  std::string nonce(16, '\0');
  crypto::RandomBytes(std::span<uint8_t>(reinterpret_cast<uint8_t*>(nonce.data()), 16));
  p.set_nonce(nonce);
  v1::Authorisation a;
  *a.mutable_payload() = p;
  *a.mutable_signature() = canonical::Sign(key, canonical::kAuthorisationContext, p).value();
  return a;
}

const auto kAnswersRiec = [](const std::string& purpose) { return purpose == "riec-ondermijning"; };

struct Fixture {
  crypto::SigningKey gateway = crypto::SigningKey::Generate();
  store::MemoryStore nonces;
  int64_t now = kNow;
  AuthorisationCheck check{{gateway.verify_key()}, {.own_org_id = "politie"}, &nonces, [this] { return now; }};
  absl::Status Run(const v1::Authorisation& a, char digest = 'd',
                   v1::AuthorisedOperation op = v1::AUTHORISED_OPERATION_EVALUATE) {
    return check.Check(a, op, RequestDigest(digest), kAnswersRiec);
  }
};

TEST(AuthorisationCheckTest, ValidAuthorisationIsAcceptedOnce) {
  Fixture f;
  const auto a = Issue(f.gateway, "politie", kNow);
  EXPECT_TRUE(f.Run(a).ok());
  auto replay = f.Run(a);
  EXPECT_EQ(replay.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(replay.message()), HasSubstr("replayed"));
}

TEST(AuthorisationCheckTest, EachForgeryOrMismatchIsRefusedWithItsCode) {
  Fixture f;
  crypto::SigningKey stranger = crypto::SigningKey::Generate();
  struct Case {
    const char* name;
    v1::Authorisation auth;
    char digest;
    v1::AuthorisedOperation op;
    absl::StatusCode code;
    const char* fragment;
  };
  v1::Authorisation tampered = Issue(f.gateway, "politie", kNow);
  tampered.mutable_payload()->set_purpose_id("zvh-casusoverleg");  // signature no longer covers it
  v1::Authorisation forged_id = Issue(stranger, "politie", kNow);
  *forged_id.mutable_signature()->mutable_key_id() = Issue(f.gateway, "politie", kNow).signature().key_id();
  std::vector<Case> cases;
  cases.push_back({"unknown key", Issue(stranger, "politie", kNow), 'd', v1::AUTHORISED_OPERATION_EVALUATE,
                   absl::StatusCode::kPermissionDenied, "not a pinned gateway key"});
  cases.push_back({"forged under the gateway's key id", forged_id, 'd', v1::AUTHORISED_OPERATION_EVALUATE,
                   absl::StatusCode::kPermissionDenied, "does not verify"});
  cases.push_back({"tampered payload", tampered, 'd', v1::AUTHORISED_OPERATION_EVALUATE,
                   absl::StatusCode::kPermissionDenied, "does not verify"});
  cases.push_back({"other addressee", Issue(f.gateway, "gemeente", kNow), 'd', v1::AUTHORISED_OPERATION_EVALUATE,
                   absl::StatusCode::kPermissionDenied, "addressed to another organisation"});
  cases.push_back({"other operation", Issue(f.gateway, "politie", kNow), 'd', v1::AUTHORISED_OPERATION_DISCLOSE,
                   absl::StatusCode::kPermissionDenied, "another operation"});
  cases.push_back({"other request", Issue(f.gateway, "politie", kNow), 'e', v1::AUTHORISED_OPERATION_EVALUATE,
                   absl::StatusCode::kPermissionDenied, "request digest"});
  cases.push_back({"expired", Issue(f.gateway, "politie", kNow - 40000, 30000), 'd',
                   v1::AUTHORISED_OPERATION_EVALUATE, absl::StatusCode::kFailedPrecondition, "expired"});
  cases.push_back({"from the future", Issue(f.gateway, "politie", kNow + 10000), 'd',
                   v1::AUTHORISED_OPERATION_EVALUATE, absl::StatusCode::kFailedPrecondition, "in the future"});
  cases.push_back({"lifetime over 60 s", Issue(f.gateway, "politie", kNow, 61000), 'd',
                   v1::AUTHORISED_OPERATION_EVALUATE, absl::StatusCode::kFailedPrecondition, "lifetime"});
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto s = f.Run(c.auth, c.digest, c.op);
    EXPECT_EQ(s.code(), c.code) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.fragment));
  }
  // A purpose the node does not answer.
  Fixture g;
  v1::Authorisation other_purpose = Issue(g.gateway, "politie", kNow);
  other_purpose.mutable_payload()->set_purpose_id("verwijsindex-jeugd");
  *other_purpose.mutable_signature() =
      canonical::Sign(g.gateway, canonical::kAuthorisationContext, other_purpose.payload()).value();
  auto s = g.Run(other_purpose);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(s.message()), HasSubstr("does not answer under that purpose"));
  // None of the refusals consumed a nonce.
  EXPECT_TRUE(f.nonces.Scan("nonce/", store::PrefixEnd("nonce/"), 0).value().empty());
}

TEST(AuthorisationCheckTest, SkewIsAllowedAtBothEnds) {
  Fixture f;
  EXPECT_TRUE(f.Run(Issue(f.gateway, "politie", kNow + 4000)).ok());        // 4 s ahead
  EXPECT_TRUE(f.Run(Issue(f.gateway, "politie", kNow - 34000, 30000)).ok());  // expired 4 s ago
}

TEST(AuthorisationCheckTest, AThousandConcurrentReplaysAcceptExactlyOne) {
  Fixture f;
  const auto a = Issue(f.gateway, "politie", kNow);
  std::atomic<int> accepted{0}, replayed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 125; ++i) {
        auto s = f.Run(a);
        if (s.ok()) ++accepted;
        if (s.code() == absl::StatusCode::kAlreadyExists) ++replayed;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(accepted.load(), 1);
  EXPECT_EQ(replayed.load(), 999);
}

TEST(AuthorisationCheckTest, AClaimedNonceIsRefusedUntilReleasedAndStoredOnlyByCommit) {
  Fixture f;
  const auto a = Issue(f.gateway, "politie", kNow);
  const auto claim = [&] {
    return f.check.Claim(a, v1::AUTHORISED_OPERATION_EVALUATE, RequestDigest('d'), kAnswersRiec);
  };
  {
    auto first = claim();
    ASSERT_TRUE(first.ok()) << first.status();
    // Claimed, not yet durable: nothing stored, and no second claim or check.
    EXPECT_TRUE(f.nonces.Scan("nonce/", store::PrefixEnd("nonce/"), 0).value().empty());
    EXPECT_EQ(claim().status().code(), absl::StatusCode::kAlreadyExists);
    EXPECT_EQ(f.Run(a).code(), absl::StatusCode::kAlreadyExists);
  }  // released without Commit (the request was refused afterwards)
  {
    auto again = claim();
    ASSERT_TRUE(again.ok()) << again.status();
    ASSERT_TRUE(again->Commit().ok());
    EXPECT_TRUE(again->Commit().ok());  // once is enough; twice is harmless
    EXPECT_EQ(f.nonces.Scan("nonce/", store::PrefixEnd("nonce/"), 0).value().size(), 1u);
  }
  // Committed and released: refused from the store from now on.
  EXPECT_EQ(claim().status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(f.Run(a).code(), absl::StatusCode::kAlreadyExists);
}

TEST(AuthorisationCheckTest, ReplayAfterARestartIsRefused) {
  const ::schakel::testing::TempDir temp("schakel-nonce");
  const std::string& dir = temp.path();
  crypto::SigningKey gateway = crypto::SigningKey::Generate();
  const auto a = Issue(gateway, "politie", kNow);
  {
    auto db = store::RocksDbStore::Open(dir + "/db").value();
    AuthorisationCheck check({gateway.verify_key()}, {.own_org_id = "politie"}, db.get(), [] { return kNow; });
    EXPECT_TRUE(check.Check(a, v1::AUTHORISED_OPERATION_EVALUATE, RequestDigest('d'), kAnswersRiec).ok());
  }  // the node is stopped
  auto db = store::RocksDbStore::Open(dir + "/db").value();
  AuthorisationCheck check({gateway.verify_key()}, {.own_org_id = "politie"}, db.get(), [] { return kNow; });
  EXPECT_EQ(check.Check(a, v1::AUTHORISED_OPERATION_EVALUATE, RequestDigest('d'), kAnswersRiec).code(),
            absl::StatusCode::kAlreadyExists);
  db.reset();
}

TEST(AuthorisationCheckTest, NonceStoreFailureRefusesAndExpiredNoncesAreForgotten) {
  crypto::SigningKey gateway = crypto::SigningKey::Generate();
  store::MemoryStore base;
  store::FaultyStore faulty(&base);
  int64_t now = kNow;
  AuthorisationCheck check({gateway.verify_key()}, {.own_org_id = "politie"}, &faulty, [&] { return now; });
  faulty.FailNextWrites(1);
  const auto a = Issue(gateway, "politie", kNow);
  EXPECT_EQ(check.Check(a, v1::AUTHORISED_OPERATION_EVALUATE, RequestDigest('d'), kAnswersRiec).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_TRUE(check.Check(a, v1::AUTHORISED_OPERATION_EVALUATE, RequestDigest('d'), kAnswersRiec).ok());
  EXPECT_EQ(check.ForgetExpiredNonces().value(), 0u);
  now = kNow + 30000 + 5000 + 1;  // past expiry plus skew
  EXPECT_EQ(check.ForgetExpiredNonces().value(), 1u);
}

TEST(AuthorisationCheckTest, AClockSetBackCannotReviveAForgottenNonce) {
  crypto::SigningKey gateway = crypto::SigningKey::Generate();
  store::MemoryStore nonces;
  int64_t now = kNow;
  const auto make = [&] {
    return std::make_unique<AuthorisationCheck>(std::vector<crypto::VerifyKey>{gateway.verify_key()},
                                                AuthorisationCheck::Options{.own_org_id = "politie"},
                                                &nonces, [&] { return now; });
  };
  auto check = make();
  const auto a = Issue(gateway, "politie", kNow);
  ASSERT_TRUE(check->Check(a, v1::AUTHORISED_OPERATION_EVALUATE, RequestDigest('d'), kAnswersRiec).ok());
  now = kNow + 30000 + 5000 + 1;
  ASSERT_EQ(check->ForgetExpiredNonces().value(), 1u);
  // The clock is set back to when `a` was valid, and the node restarts:
  // the nonce is gone, the mark is not.
  now = kNow + 1000;
  check = make();
  const absl::Status replay =
      check->Check(a, v1::AUTHORISED_OPERATION_EVALUATE, RequestDigest('d'), kAnswersRiec);
  EXPECT_EQ(replay.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(replay.message()), HasSubstr("already forgotten"));
  // A fresh authorisation expiring after the mark is accepted.
  const auto fresh = Issue(gateway, "politie", now);
  EXPECT_TRUE(check->Check(fresh, v1::AUTHORISED_OPERATION_EVALUATE, RequestDigest('d'), kAnswersRiec).ok());
}

}  // namespace
}  // namespace schakel::nodes
