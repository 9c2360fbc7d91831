// gateway/quota.h: daily subject and exchange quotas per organisation and
// purpose, the Amsterdam day boundary, durability across a restart, and
// release when the log write failed.
#include "gateway/quota.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "rpc/status.h"
#include "store/memory_store.h"

namespace schakel::gateway {
namespace {

using ::testing::HasSubstr;

absl::TimeZone Amsterdam() {
  absl::TimeZone zone;
  EXPECT_TRUE(absl::LoadTimeZone("Europe/Amsterdam", &zone));
  return zone;
}

absl::Time At(int y, int mo, int d, int h, int mi) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, 0), Amsterdam());
}

// Reserves and makes it durable, as the gateway does with the log entry.
absl::StatusOr<QuotaBook::Reservation> Take(QuotaBook& book, store::KvStore& kv, const std::string& org,
                                            uint32_t subjects, const QuotaBook::Limits& limits,
                                            absl::Time now) {
  static int n = 0;
  const std::string id = std::string(12, 'x') + std::to_string(1000 + n++);
  auto r = book.Reserve(org, "riec-ondermijning", subjects, limits, id, now);
  if (r.ok()) {
    store::WriteBatch batch;
    book.AddWrites(*r, batch);
    EXPECT_TRUE(kv.Write(batch, store::Durability::kSynced).ok());
  }
  return r;
}

TEST(QuotaTest, SubjectQuotaIsSummedOverExchanges) {
  store::MemoryStore kv;
  const absl::Time now = At(2025, 6, 3, 10, 0);
  auto book = QuotaBook::Open(&kv, Amsterdam(), now);
  ASSERT_TRUE(book.ok());
  const QuotaBook::Limits limits{.daily_exchanges = 0, .daily_subjects = 10};
  auto a = Take(**book, kv, "riec-zwb", 6, limits, now);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->after.exchanges_used, 1u);
  EXPECT_EQ(a->after.subjects_used, 6u);
  EXPECT_EQ(a->after.resets_at, At(2025, 6, 4, 0, 0));
  ASSERT_TRUE(Take(**book, kv, "riec-zwb", 4, limits, now).ok());

  auto over = Take(**book, kv, "riec-zwb", 1, limits, now);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(over.status().message(), HasSubstr("10 of 10 subjects used today, this exchange has 1"));
  EXPECT_THAT(over.status().message(), ::testing::Not(HasSubstr("riec")));
  const auto detail = rpc::ErrorDetailOf(over.status());
  ASSERT_TRUE(detail.has_value());
  EXPECT_EQ(detail->reason(), v1::DENIAL_REASON_QUOTA_EXCEEDED);
  EXPECT_EQ(detail->retry_after().seconds(), 14 * 3600);  // until midnight in Amsterdam

  // Another organisation and another purpose count apart; nothing refused was counted.
  EXPECT_TRUE(Take(**book, kv, "politie-zwb", 10, limits, now).ok());
  EXPECT_EQ((*book)->Current("riec-zwb", "riec-ondermijning", now).subjects_used, 10u);
  EXPECT_EQ((*book)->Current("riec-zwb", "zvh-casusoverleg", now).subjects_used, 0u);
}

TEST(QuotaTest, ExchangeQuota) {
  store::MemoryStore kv;
  const absl::Time now = At(2025, 6, 3, 10, 0);
  auto book = QuotaBook::Open(&kv, Amsterdam(), now);
  ASSERT_TRUE(book.ok());
  const QuotaBook::Limits limits{.daily_exchanges = 2, .daily_subjects = 100};
  ASSERT_TRUE(Take(**book, kv, "riec-zwb", 1, limits, now).ok());
  ASSERT_TRUE(Take(**book, kv, "riec-zwb", 1, limits, now).ok());
  auto third = Take(**book, kv, "riec-zwb", 1, limits, now);
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(third.status().message(), HasSubstr("2 of 2 exchanges today"));
}

TEST(QuotaTest, TheDayEndsAtMidnightInAmsterdam) {
  store::MemoryStore kv;
  // 23:30 in Amsterdam in summer is 21:30 UTC: still the same day there.
  const absl::Time late = At(2025, 7, 1, 23, 30);
  auto book = QuotaBook::Open(&kv, Amsterdam(), late);
  ASSERT_TRUE(book.ok());
  const QuotaBook::Limits limits{.daily_exchanges = 0, .daily_subjects = 5};
  ASSERT_TRUE(Take(**book, kv, "riec-zwb", 5, limits, late).ok());
  EXPECT_FALSE(Take(**book, kv, "riec-zwb", 1, limits, late + absl::Minutes(29)).ok());
  EXPECT_TRUE(Take(**book, kv, "riec-zwb", 5, limits, late + absl::Minutes(30)).ok());
  EXPECT_EQ((*book)->Current("riec-zwb", "riec-ondermijning", late + absl::Minutes(30)).subjects_used, 5u);
}

TEST(QuotaTest, CountsSurviveARestartAndOldDaysAreDropped) {
  store::MemoryStore kv;
  const absl::Time day1 = At(2025, 3, 10, 9, 0);
  {
    auto book = QuotaBook::Open(&kv, Amsterdam(), day1);
    ASSERT_TRUE(book.ok());
    ASSERT_TRUE(Take(**book, kv, "riec-zwb", 3, {0, 10}, day1).ok());
    ASSERT_TRUE(Take(**book, kv, "riec-zwb", 4, {0, 10}, day1).ok());
  }
  auto reopened = QuotaBook::Open(&kv, Amsterdam(), day1 + absl::Hours(1));
  ASSERT_TRUE(reopened.ok());
  const QuotaBook::Usage usage = (*reopened)->Current("riec-zwb", "riec-ondermijning", day1);
  EXPECT_EQ(usage.exchanges_used, 2u);
  EXPECT_EQ(usage.subjects_used, 7u);
  EXPECT_FALSE(Take(**reopened, kv, "riec-zwb", 4, {0, 10}, day1).ok());

  // Three days later the old keys are removed from the store.
  auto later = QuotaBook::Open(&kv, Amsterdam(), day1 + absl::Hours(72));
  ASSERT_TRUE(later.ok());
  EXPECT_TRUE(kv.Scan("quota/", store::PrefixEnd("quota/"), 0)->empty());
}

TEST(QuotaTest, ReleaseUndoesAReservationThatWasNotWritten) {
  store::MemoryStore kv;
  const absl::Time now = At(2025, 6, 3, 10, 0);
  auto book = QuotaBook::Open(&kv, Amsterdam(), now);
  ASSERT_TRUE(book.ok());
  auto r = (*book)->Reserve("riec-zwb", "riec-ondermijning", 8, {0, 10}, std::string(16, 'e'), now);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE((*book)->Reserve("riec-zwb", "riec-ondermijning", 8, {0, 10}, std::string(16, 'f'), now).ok());
  (*book)->Release(*r);
  EXPECT_EQ((*book)->Current("riec-zwb", "riec-ondermijning", now).subjects_used, 0u);
  EXPECT_TRUE((*book)->Reserve("riec-zwb", "riec-ondermijning", 8, {0, 10}, std::string(16, 'g'), now).ok());
}

TEST(QuotaTest, MalformedStoredCountIsDataLoss) {
  store::MemoryStore kv;
  kv.Tamper(std::string("quota/riec-zwb") + '\0' + "p" + '\0' + "bad-day" + '\0' + std::string(16, 'e'),
            "12345678");
  auto book = QuotaBook::Open(&kv, Amsterdam(), absl::Now());
  EXPECT_EQ(book.status().code(), absl::StatusCode::kDataLoss);
}

TEST(QuotaTest, UsageAsTheApiShowsIt) {
  const v1::QuotaUsage p = ToProto(QuotaBook::Usage{3, 40, absl::FromUnixMillis(1'700'000'000'000)});
  EXPECT_EQ(p.exchanges_used(), 3u);
  EXPECT_EQ(p.subjects_used(), 40u);
  EXPECT_EQ(p.resets_at().seconds(), 1'700'000'000);
}

}  // namespace
}  // namespace schakel::gateway
