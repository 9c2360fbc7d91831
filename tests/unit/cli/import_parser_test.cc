// Reading import files and subject files into protos: columns, conversions,
// line numbers, problems that name line and column but never the value, and
// the JSON Lines forms.
#include "cli/import_parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "cli/import_command.h"

namespace schakel::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using schakel::v1::ImportRow;

struct ReadOutcome {
  std::vector<ImportRow> rows;
  std::vector<LineProblem> problems;
  size_t bad_rows = 0;
};

ReadOutcome ReadFile(const std::string& text, ImportFileFormat format) {
  std::istringstream in(text);
  auto reader = SignalFileReader::Open(in, format);
  EXPECT_TRUE(reader.ok()) << reader.status();
  ReadOutcome outcome;
  if (!reader.ok()) return outcome;
  while (true) {
    ImportRow row;
    const auto result = (*reader)->Next(row, outcome.problems);
    if (result == SignalFileReader::Result::kEnd) break;
    if (result == SignalFileReader::Result::kRow) {
      outcome.rows.push_back(row);
    } else {
      ++outcome.bad_rows;
    }
  }
  return outcome;
}

absl::Status OpenError(const std::string& text) {
  std::istringstream in(text);
  return SignalFileReader::Open(in, ImportFileFormat::kCsv).status();
}

TEST(ImportParserTest, CsvRowsBecomeSignals) {
  const ReadOutcome r = ReadFile(
      "signal_id,bsn,given_names,surname,birth_date,postcode,house_number,family_id,relation,"
      "category,domain,expires_at,contact_name,contact_email,free_text\n"
      "z-1,111222333,Jan Peter,van der Berg,01-02-1990,1234 ab,12 A,fam-1,parent,overlast,"
      "care,2026-06-30,J. de Boer,j@example.nl,\"Zorgen om, \"\"kinderen\"\"\"\n",
      ImportFileFormat::kCsv);
  ASSERT_THAT(r.problems, IsEmpty());
  ASSERT_EQ(r.rows.size(), 1u);
  const ImportRow& row = r.rows[0];
  EXPECT_EQ(row.line(), 2u);
  const auto& s = row.signal();
  EXPECT_EQ(s.signal_id(), "z-1");
  EXPECT_EQ(s.subject().bsn(), "111222333");
  EXPECT_EQ(s.subject().given_names(), "Jan Peter");
  EXPECT_EQ(s.subject().surname(), "van der Berg");
  // Dates of birth go to the node as written; it accepts DD-MM-YYYY.
  EXPECT_EQ(s.subject().birth_date(), "01-02-1990");
  EXPECT_EQ(s.subject().address().postcode(), "1234 ab");
  EXPECT_EQ(s.subject().address().house_number(), 12u);
  EXPECT_EQ(s.subject().address().house_number_suffix(), "A");
  EXPECT_EQ(s.subject().family_id(), "fam-1");
  EXPECT_EQ(s.subject().relation(), schakel::v1::RELATION_PARENT);
  EXPECT_EQ(s.category(), "overlast");
  EXPECT_EQ(s.domain(), schakel::v1::DOMAIN_CARE);
  EXPECT_EQ(s.expires_at().seconds(), 1782777600);  // 2026-06-30T00:00:00Z
  EXPECT_EQ(s.contact().name(), "J. de Boer");
  EXPECT_EQ(s.contact().email(), "j@example.nl");
  EXPECT_EQ(s.free_text(), "Zorgen om, \"kinderen\"");
}

TEST(ImportParserTest, EightDigitBsnPassesThroughUnchanged) {
  const ReadOutcome r = ReadFile("bsn,category\n12345672,overlast\n", ImportFileFormat::kCsv);
  ASSERT_THAT(r.problems, IsEmpty());
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0].signal().subject().bsn(), "12345672");
}

TEST(ImportParserTest, EmptyCellsLeaveFieldsUnsetAndValuesAreTrimmed) {
  const ReadOutcome r =
      ReadFile("bsn,surname,postcode,house_number,free_text\n 111222333 ,,,, two spaces \n",
               ImportFileFormat::kCsv);
  ASSERT_EQ(r.rows.size(), 1u);
  const auto& s = r.rows[0].signal();
  EXPECT_EQ(s.subject().bsn(), "111222333");
  EXPECT_TRUE(s.subject().surname().empty());
  EXPECT_FALSE(s.subject().has_address());
  EXPECT_FALSE(s.has_contact());
  EXPECT_EQ(s.free_text(), " two spaces ");
}

TEST(ImportParserTest, ByteOrderMarkCrLfAndBlankLines) {
  const ReadOutcome r =
      ReadFile("\xEF\xBB\xBF" "signal_id,category\r\n\r\na,x\r\n\r\nb,y\r\n", ImportFileFormat::kCsv);
  ASSERT_THAT(r.problems, IsEmpty());
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[0].line(), 3u);
  EXPECT_EQ(r.rows[0].signal().signal_id(), "a");
  EXPECT_EQ(r.rows[1].line(), 5u);
  EXPECT_EQ(r.rows[1].signal().category(), "y");
}

TEST(ImportParserTest, UnknownColumnIsAnErrorOfTheWholeFile) {
  const absl::Status status = OpenError("bsn,bsnn,category\n111222333,x,y\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("line 1: header column 2: unknown column \"bsnn\""));
  EXPECT_THAT(status.message(), HasSubstr("known: signal_id, bsn"));

  EXPECT_THAT(OpenError("bsn,bsn\n").message(), HasSubstr("\"bsn\" appears twice"));
  EXPECT_THAT(OpenError("bsn,,category\n").message(), HasSubstr("column 2 has no name"));
  EXPECT_THAT(OpenError("").message(), HasSubstr("starts with a header row"));
}

// A file whose first line is data, not the header: the unknown "column" is
// a value and may be an identifier, so it is not shown.
TEST(ImportParserTest, AnUnknownColumnThatIsNotAFieldNameIsNotShown) {
  const absl::Status status = OpenError("111222333,Jansen,1990-01-31\n");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("header column 1: unknown column (not shown"));
  EXPECT_THAT(status.message(), Not(HasSubstr("111222333")));

  const ReadOutcome r = ReadFile("{\"111222333\":\"x\"}\n", ImportFileFormat::kJsonLines);
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].field, "");
  EXPECT_THAT(FormatLineProblem(r.problems[0]), HasSubstr("unknown key (not shown"));
  EXPECT_THAT(FormatLineProblem(r.problems[0]), Not(HasSubstr("111222333")));
}

TEST(ImportParserTest, BadValuesAreReportedByLineAndColumnWithoutTheValue) {
  const ReadOutcome r = ReadFile(
      "signal_id,expires_at,relation,domain,house_number,registered_at\n"
      "a,2026-02-30,parent,care,12,\n"
      "b,2026-01-01,cousin,care,12,\n"
      "c,,,heaven,,\n"
      "d,,,,Kerkstraat,\n"
      "e,,,,,31-12-2024\n"
      "f,2026-01-01T00:00:00Z,,,,\n",
      ImportFileFormat::kCsv);
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0].signal().signal_id(), "f");
  EXPECT_EQ(r.bad_rows, 5u);
  ASSERT_EQ(r.problems.size(), 5u);
  EXPECT_EQ(FormatLineProblem(r.problems[0]),
            "line 2: expires_at: not a date (YYYY-MM-DD) or an RFC 3339 time "
            "(2025-03-01T12:00:00Z)");
  EXPECT_EQ(r.problems[1].line, 3u);
  EXPECT_EQ(r.problems[1].field, "relation");
  EXPECT_THAT(r.problems[1].problem, HasSubstr("parent, child, sibling, partner, housemate"));
  EXPECT_EQ(r.problems[2].field, "domain");
  EXPECT_EQ(r.problems[3].field, "house_number");
  EXPECT_EQ(r.problems[4].line, 6u);
  EXPECT_EQ(r.problems[4].field, "registered_at");
  for (const LineProblem& p : r.problems) {
    for (const char* value : {"2026-02-30", "cousin", "heaven", "Kerkstraat", "31-12-2024"}) {
      EXPECT_THAT(p.problem, Not(HasSubstr(value)));
    }
  }
}

TEST(ImportParserTest, MalformedCsvRowsAreProblemsAndReadingGoesOn) {
  const ReadOutcome r = ReadFile("signal_id,category\na,b,c\nx\"y,z\n\"q\"r,s\nok,cat\n",
                                 ImportFileFormat::kCsv);
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0].line(), 5u);
  ASSERT_EQ(r.problems.size(), 3u);
  EXPECT_EQ(FormatLineProblem(r.problems[0]), "line 2: 3 fields, but the header has 2 columns");
  EXPECT_EQ(r.problems[1].line, 3u);
  EXPECT_THAT(r.problems[1].problem, HasSubstr("quote inside an unquoted field"));
  EXPECT_EQ(r.problems[2].line, 4u);
}

TEST(ImportParserTest, FewerFieldsThanColumnsLeaveTheRestEmpty) {
  const ReadOutcome r = ReadFile("signal_id,category,bsn\na,b\n", ImportFileFormat::kCsv);
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_TRUE(r.rows[0].signal().subject().bsn().empty());
}

TEST(ImportParserTest, InvalidUtf8IsNamedByColumn) {
  const ReadOutcome r = ReadFile("signal_id,surname\na,Jans\xE9n\n", ImportFileFormat::kCsv);
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(FormatLineProblem(r.problems[0]),
            "line 2: surname: not valid UTF-8 (save the file as UTF-8)");
}

TEST(ImportParserTest, HouseNumberSuffixGivenTwiceIsAProblem) {
  ReadOutcome r = ReadFile("house_number,house_number_suffix\n12A,B\n12,B\n",
                           ImportFileFormat::kCsv);
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].line, 2u);
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0].signal().subject().address().house_number_suffix(), "B");
  r = ReadFile("house_number\n0\n100000\n12-2\n", ImportFileFormat::kCsv);
  EXPECT_EQ(r.problems.size(), 2u);
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0].signal().subject().address().house_number_suffix(), "-2");
}

TEST(ImportParserTest, JsonLinesFlatObjects) {
  const ReadOutcome r = ReadFile(
      "{\"signal_id\":\"a\",\"bsn\":\"12345672\",\"house_number\":12,\"postcode\":\"1234AB\","
      "\"relation\":\"child\",\"family_id\":null}\n"
      "\n"
      "   \n"
      "{\"signal_id\":\"b\",\"category\":\"x\"}\r\n",
      ImportFileFormat::kJsonLines);
  ASSERT_THAT(r.problems, IsEmpty());
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[0].line(), 1u);
  EXPECT_EQ(r.rows[0].signal().subject().bsn(), "12345672");
  EXPECT_EQ(r.rows[0].signal().subject().address().house_number(), 12u);
  EXPECT_EQ(r.rows[0].signal().subject().relation(), schakel::v1::RELATION_CHILD);
  EXPECT_EQ(r.rows[1].line(), 4u);
  EXPECT_EQ(r.rows[1].signal().category(), "x");
}

TEST(ImportParserTest, JsonLinesBadLinesAreReportedAndReadingGoesOn) {
  const ReadOutcome r = ReadFile(
      "{\"signal_id\":\"a\"}\n"
      "{\"signal_id\": \"b\", \"bsn\": 111222333\n"
      "[1,2]\n"
      "{\"bsnn\":\"x\"}\n"
      "{\"bsn\":111222333}\n"
      "{\"signal_id\":\"f\"}\n",
      ImportFileFormat::kJsonLines);
  ASSERT_EQ(r.rows.size(), 2u);
  EXPECT_EQ(r.rows[1].line(), 6u);
  ASSERT_EQ(r.problems.size(), 4u);
  EXPECT_EQ(FormatLineProblem(r.problems[0]),
            "line 2: not valid JSON (each line must be one JSON object)");
  EXPECT_EQ(r.problems[1].line, 3u);
  EXPECT_THAT(r.problems[1].problem, HasSubstr("not a JSON object"));
  EXPECT_EQ(r.problems[2].field, "bsnn");
  EXPECT_THAT(r.problems[2].problem, HasSubstr("unknown key"));
  EXPECT_EQ(r.problems[3].field, "bsn");
  EXPECT_EQ(r.problems[3].problem, "must be a string");
  for (const LineProblem& p : r.problems) EXPECT_THAT(p.problem, Not(HasSubstr("111222333")));
}

TEST(ImportParserTest, JsonLinesProto3FormIsAcceptedWithoutOutputOnlyFields) {
  const ReadOutcome r = ReadFile(
      "{\"signal_id\":\"a\",\"subject\":{\"bsn\":\"111222333\",\"relation\":\"RELATION_CHILD\"},"
      "\"category\":\"x\",\"version\":\"7\",\"owner_user_id\":\"someone\","
      "\"key_types\":[\"MATCH_KEY_TYPE_BSN\"]}\n"
      "{\"subject\":{\"bsn\":\"111222333\"},\"no_such_field\":1}\n",
      ImportFileFormat::kJsonLines);
  ASSERT_EQ(r.rows.size(), 1u);
  const auto& s = r.rows[0].signal();
  EXPECT_EQ(s.subject().bsn(), "111222333");
  EXPECT_EQ(s.subject().relation(), schakel::v1::RELATION_CHILD);
  EXPECT_EQ(s.version(), 0u);
  EXPECT_TRUE(s.owner_user_id().empty());
  EXPECT_EQ(s.key_types_size(), 0);
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].line, 2u);
  EXPECT_THAT(r.problems[0].problem, HasSubstr("proto3 JSON"));
}

TEST(ImportParserTest, FormatFromFlagOrExtension) {
  EXPECT_EQ(*ImportFormatOf("a.CSV", ""), ImportFileFormat::kCsv);
  EXPECT_EQ(*ImportFormatOf("a.jsonl", ""), ImportFileFormat::kJsonLines);
  EXPECT_EQ(*ImportFormatOf("a.ndjson", ""), ImportFileFormat::kJsonLines);
  EXPECT_EQ(*ImportFormatOf("a.txt", "csv"), ImportFileFormat::kCsv);
  EXPECT_EQ(*ImportFormatOf("a.csv", "jsonl"), ImportFileFormat::kJsonLines);
  EXPECT_THAT(ImportFormatOf("a.txt", "").status().message(), HasSubstr("--format"));
  EXPECT_FALSE(ImportFormatOf("a.csv", "xml").ok());
}

TEST(ImportParserTest, UpdatePathsAndNodePathsToColumns) {
  EXPECT_EQ(UpdatePathOf("bsn"), "subject.bsn");
  EXPECT_EQ(UpdatePathOf("house_number"), "subject.address");
  EXPECT_EQ(UpdatePathOf("contact_phone"), "contact");
  EXPECT_EQ(UpdatePathOf("expires_at"), "expires_at");
  EXPECT_EQ(UpdatePathOf("signal_id"), "");
  EXPECT_EQ(ColumnOfPath("subject.birth_date"), "birth_date");
  EXPECT_EQ(ColumnOfPath("signal.subject.address.postcode"), "postcode");
  EXPECT_EQ(ColumnOfPath("contact.email"), "contact_email");
  EXPECT_EQ(ColumnOfPath("category"), "category");
}

TEST(ImportParserTest, ClearSignalColumn) {
  schakel::v1::Signal signal;
  std::string problem;
  ASSERT_TRUE(SetSignalColumn("house_number", "12A", signal, problem));
  ASSERT_TRUE(SetSignalColumn("family_id", "f", signal, problem));
  ClearSignalColumn("house_number", signal);
  EXPECT_FALSE(signal.subject().has_address());
  ClearSignalColumn("family_id", signal);
  EXPECT_TRUE(signal.subject().family_id().empty());
}

TEST(ImportParserTest, SubjectsCsvWithFamilies) {
  std::istringstream in(
      "label,bsn,given_names,surname,birth_date,family_id,relation\n"
      "vader,111222333,,,,fam-1,\n"
      ",,Sem,de Vries,2010-05-04,fam-1,child\n"
      "\n"
      "los,123456782,,,,,\n");
  std::vector<LineProblem> problems;
  auto subjects = ReadSubjectsCsv(in, problems);
  ASSERT_TRUE(subjects.ok()) << subjects.status();
  EXPECT_THAT(problems, IsEmpty());
  ASSERT_EQ(subjects->size(), 3u);
  EXPECT_EQ((*subjects)[0].label(), "vader");
  EXPECT_EQ((*subjects)[0].subject().family_id(), "fam-1");
  EXPECT_EQ((*subjects)[1].label(), "line 3");
  EXPECT_EQ((*subjects)[1].subject().relation(), schakel::v1::RELATION_CHILD);
  EXPECT_EQ((*subjects)[1].subject().surname(), "de Vries");
  EXPECT_EQ((*subjects)[2].subject().bsn(), "123456782");
}

TEST(ImportParserTest, SubjectsCsvProblems) {
  std::istringstream unknown("label,bsn,category\n");
  std::vector<LineProblem> problems;
  auto bad = ReadSubjectsCsv(unknown, problems);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("unknown column \"category\""));

  std::istringstream in("label,bsn,relation,house_number\na,,,\nb,111222333,uncle,\nc,,,x\n");
  auto subjects = ReadSubjectsCsv(in, problems);
  ASSERT_TRUE(subjects.ok());
  EXPECT_TRUE(subjects->empty());
  ASSERT_EQ(problems.size(), 3u);
  EXPECT_THAT(FormatLineProblem(problems[0]), HasSubstr("line 2: no identifiers"));
  EXPECT_EQ(problems[1].field, "relation");
  EXPECT_EQ(problems[2].field, "house_number");
}

}  // namespace
}  // namespace schakel::cli
