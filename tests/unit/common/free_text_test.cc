#include "common/free_text.h"

#include <gtest/gtest.h>

namespace schakel {
namespace {

TEST(IdentifierShapeInTest, FindsBsnsPhoneNumbersPostcodesAndDates) {
  EXPECT_EQ(IdentifierShapeIn("betreft 123456782"), "a number of 8 or more digits");
  EXPECT_EQ(IdentifierShapeIn("bsn 1234.56.782 bekend"), "a number of 8 or more digits");
  EXPECT_EQ(IdentifierShapeIn("bel 0612345678"), "a number of 8 or more digits");
  EXPECT_EQ(IdentifierShapeIn("woont op 5038 AB"), "a postcode");
  EXPECT_EQ(IdentifierShapeIn("woont op 5038ab."), "a postcode");
  EXPECT_EQ(IdentifierShapeIn("geboren 12-03-1984"), "a date");
  EXPECT_EQ(IdentifierShapeIn("geboren 1984-03-12"), "a date");
  EXPECT_EQ(IdentifierShapeIn("geboren 12/3/84"), "a date");
}

TEST(IdentifierShapeInTest, LeavesOrdinaryReasonsAlone) {
  EXPECT_EQ(IdentifierShapeIn("afstemming gezamenlijk plan van aanpak"), std::nullopt);
  EXPECT_EQ(IdentifierShapeIn("casus 2025-0041, overleg op dinsdag"), std::nullopt);
  EXPECT_EQ(IdentifierShapeIn("3 signalen in 2024, 12 contacten"), std::nullopt);
  EXPECT_EQ(IdentifierShapeIn(""), std::nullopt);
}

}  // namespace
}  // namespace schakel
