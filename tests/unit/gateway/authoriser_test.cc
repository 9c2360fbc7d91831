#include "gateway/authoriser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace schakel::gateway {
namespace {

using ::testing::HasSubstr;

v1::AuthorisationPayload Payload() {
  v1::AuthorisationPayload p;
  p.set_operation(v1::AUTHORISED_OPERATION_EVALUATE);
  p.set_exchange_id(std::string(16, 'x'));
  p.set_responder_org_id("politie");
  p.set_purpose_id("riec-ondermijning");
  p.set_request_digest(std::string(32, 'd'));
  return p;
}

TEST(AuthoriserTest, IssuesSignedShortLivedAuthorisationsWithFreshNonces) {
  auto authoriser =
      Authoriser::Create(crypto::SigningKey::Generate(), std::chrono::seconds(30), [] { return int64_t{1763900000123}; })
          .value();
  auto a = authoriser->Issue(Payload()).value();
  auto b = authoriser->Issue(Payload()).value();
  EXPECT_EQ(ToMillis(a.payload().issued_at()), 1763900000123);
  EXPECT_EQ(ToMillis(a.payload().expires_at()), 1763900030123);
  EXPECT_EQ(a.payload().nonce().size(), 16u);
  EXPECT_NE(a.payload().nonce(), b.payload().nonce());
  EXPECT_TRUE(canonical::Verify(authoriser->verify_key(), canonical::kAuthorisationContext, a.payload(),
                                a.signature())
                  .ok());
}

TEST(AuthoriserTest, RefusesBadLifetimesAndIncompletePayloads) {
  auto now = [] { return int64_t{0}; };
  EXPECT_EQ(Authoriser::Create(crypto::SigningKey::Generate(), std::chrono::seconds(61), now).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto authoriser = Authoriser::Create(crypto::SigningKey::Generate(), std::chrono::seconds(10), now).value();
  auto p = Payload();
  p.set_request_digest("short");
  EXPECT_THAT(std::string(authoriser->Issue(p).status().message()), HasSubstr("request_digest must be 32 bytes"));
  p = Payload();
  p.clear_responder_org_id();
  EXPECT_EQ(authoriser->Issue(p).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace schakel::gateway
