// The CSV reader: RFC 4180 quoting, line numbers, BOM, CRLF, blank lines,
// and the malformed records it reports without their content.
#include "cli/csv.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

namespace schakel::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

std::vector<CsvRecord> ReadAll(const std::string& text) {
  std::istringstream in(text);
  CsvReader reader(in);
  std::vector<CsvRecord> records;
  CsvRecord record;
  while (reader.Next(record)) records.push_back(record);
  return records;
}

TEST(CsvReaderTest, SplitsFieldsAndNumbersLines) {
  const auto records = ReadAll("a,b,c\n1,2,3\n");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].line, 1u);
  EXPECT_THAT(records[0].fields, ElementsAre("a", "b", "c"));
  EXPECT_EQ(records[1].line, 2u);
  EXPECT_THAT(records[1].fields, ElementsAre("1", "2", "3"));
  EXPECT_THAT(records[1].problem, IsEmpty());
}

TEST(CsvReaderTest, QuotedFieldsHoldCommasQuotesAndLineBreaks) {
  const auto records =
      ReadAll("id,text\n1,\"a, b\"\n2,\"say \"\"hi\"\"\"\n3,\"two\nlines\"\n4,\"\"\n5,x\n");
  ASSERT_EQ(records.size(), 6u);
  EXPECT_THAT(records[1].fields, ElementsAre("1", "a, b"));
  EXPECT_THAT(records[2].fields, ElementsAre("2", "say \"hi\""));
  EXPECT_THAT(records[3].fields, ElementsAre("3", "two\nlines"));
  EXPECT_EQ(records[3].line, 4u);
  EXPECT_THAT(records[4].fields, ElementsAre("4", ""));
  // The record after a quoted line break keeps the editor's line number.
  EXPECT_EQ(records[4].line, 6u);
  EXPECT_EQ(records[5].line, 7u);
}

TEST(CsvReaderTest, CrLfAndByteOrderMarkAndBlankLines) {
  const auto records = ReadAll("\xEF\xBB\xBF" "a,b\r\n\r\n1,\"x\r\ny\"\r\n\n2,3");
  ASSERT_EQ(records.size(), 3u);
  EXPECT_THAT(records[0].fields, ElementsAre("a", "b"));
  EXPECT_THAT(records[1].fields, ElementsAre("1", "x\ny"));
  EXPECT_EQ(records[1].line, 3u);
  EXPECT_THAT(records[2].fields, ElementsAre("2", "3"));
  EXPECT_EQ(records[2].line, 6u);
}

TEST(CsvReaderTest, EmptyFieldsAtTheEnds) {
  const auto records = ReadAll(",a,\n");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_THAT(records[0].fields, ElementsAre("", "a", ""));
}

TEST(CsvReaderTest, QuoteInsideUnquotedFieldIsReportedWithoutContent) {
  const auto records = ReadAll("a,b\nsecret\"value,2\n3,4\n");
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[1].line, 2u);
  EXPECT_THAT(records[1].problem, HasSubstr("quote inside an unquoted field"));
  EXPECT_THAT(records[1].problem, Not(HasSubstr("secret")));
  // Reading goes on with the next line.
  EXPECT_THAT(records[2].fields, ElementsAre("3", "4"));
  EXPECT_THAT(records[2].problem, IsEmpty());
}

TEST(CsvReaderTest, TextAfterClosingQuote) {
  const auto records = ReadAll("\"abc\"def,1\n");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_THAT(records[0].problem, HasSubstr("after the closing quote"));
}

TEST(CsvReaderTest, UnclosedQuoteAtEndOfFile) {
  const auto records = ReadAll("a,b\n1,\"never closed\n2,3\n");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1].line, 2u);
  EXPECT_THAT(records[1].problem, HasSubstr("not closed before the end of the file"));
}

TEST(CsvReaderTest, RunawayQuotedFieldStopsAtTheLimit) {
  std::string text = "a\n\"";
  for (int i = 0; i < 30'000; ++i) text += "0123456789\n";
  text += "\"\n";
  const auto records = ReadAll(text);
  ASSERT_GE(records.size(), 2u);
  EXPECT_THAT(records[1].problem, HasSubstr("longer than 100,000 bytes"));
}

TEST(CsvReaderTest, CountsBytesRead) {
  std::istringstream in("ab,c\nd\n");
  CsvReader reader(in);
  CsvRecord record;
  ASSERT_TRUE(reader.Next(record));
  EXPECT_EQ(reader.bytes_read(), 5u);
  ASSERT_TRUE(reader.Next(record));
  EXPECT_EQ(reader.bytes_read(), 7u);
  EXPECT_FALSE(reader.Next(record));
}

}  // namespace
}  // namespace schakel::cli
