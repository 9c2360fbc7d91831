// gateway/receipts.h: receipts signed over the canonical payload, checked
// with the gateway key.
#include "gateway/receipts.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "proto/canonical.h"

namespace schakel::gateway {
namespace {

using ::testing::HasSubstr;

TEST(ReceiptsTest, IssuedReceiptVerifies) {
  const absl::Time now = absl::FromUnixMillis(1'750'000'000'123);
  ReceiptIssuer issuer(crypto::SigningKey::Generate(), [now] { return now; });
  ExchangeLog::Appended entry{};
  entry.sequence = 42;
  entry.entry_hash.fill(7);
  auto receipt = issuer.Issue(entry, "riec-zwb", std::string(16, 'x'));
  ASSERT_TRUE(receipt.ok()) << receipt.status();
  EXPECT_EQ(receipt->payload().sequence(), 42u);
  EXPECT_EQ(receipt->payload().entry_hash(), std::string(32, '\7'));
  EXPECT_EQ(receipt->payload().recipient_org_id(), "riec-zwb");
  EXPECT_EQ(receipt->payload().issued_at().seconds(), 1'750'000'000);
  EXPECT_EQ(receipt->payload().issued_at().nanos(), 123'000'000);
  const canonical::KeyIdBytes id = canonical::KeyId(issuer.verify_key());
  EXPECT_EQ(receipt->signature().key_id(), std::string(id.begin(), id.end()));
  EXPECT_TRUE(VerifyReceipt(*receipt, issuer.verify_key()).ok());

  // Any change, or another key, fails.
  v1::Receipt changed = *receipt;
  changed.mutable_payload()->set_recipient_org_id("politie-zwb");
  EXPECT_FALSE(VerifyReceipt(changed, issuer.verify_key()).ok());
  EXPECT_FALSE(VerifyReceipt(*receipt, crypto::SigningKey::Generate().verify_key()).ok());
}

TEST(ReceiptsTest, EntriesOutsideAnExchangeHaveNoExchangeId) {
  ReceiptIssuer issuer(crypto::SigningKey::Generate(), absl::Now);
  ExchangeLog::Appended entry{};
  entry.sequence = 1;
  auto receipt = issuer.Issue(entry, "zvh", "");
  ASSERT_TRUE(receipt.ok());
  EXPECT_TRUE(receipt->payload().exchange_id().empty());
  EXPECT_TRUE(VerifyReceipt(*receipt, issuer.verify_key()).ok());
}

TEST(ReceiptsTest, BadShapesAreRefused) {
  ReceiptIssuer issuer(crypto::SigningKey::Generate(), absl::Now);
  ExchangeLog::Appended entry{};
  entry.sequence = 1;
  EXPECT_THAT(issuer.Issue(entry, "zvh", "short").status().message(), HasSubstr("exchange_id is 5 bytes"));
  v1::Receipt receipt = issuer.Issue(entry, "zvh", "").value();
  receipt.mutable_payload()->set_sequence(0);
  EXPECT_THAT(VerifyReceipt(receipt, issuer.verify_key()).message(), HasSubstr("sequence: 0"));
  receipt.mutable_payload()->set_sequence(1);
  receipt.mutable_payload()->set_entry_hash("abc");
  EXPECT_THAT(VerifyReceipt(receipt, issuer.verify_key()).message(), HasSubstr("entry_hash: 3 bytes"));
}

}  // namespace
}  // namespace schakel::gateway
