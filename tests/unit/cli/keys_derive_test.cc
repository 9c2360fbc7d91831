// `schakel keys derive`, run in-process through RunSchakel with captured
// output: the table, the JSON document, and the exit codes of the three kinds
// of failure.
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/unit/cli/cli_test_util.h"
#include "cli/app.h"
#include "cli/exit_codes.h"

namespace schakel::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

using ::schakel::cli::testing::Outcome;
using ::schakel::cli::testing::RunCli;

std::vector<std::string> Derive(std::vector<std::string> flags) {
  flags.insert(flags.begin(), {"keys", "derive"});
  return flags;
}

const std::vector<std::string> kFullSubject = {
    "--bsn",          "1234.56.782",     "--given-names", "Jan Peter",
    "--surname",      "Jansen-de Vries", "--birth-date",  "01-02-1990",
    "--postcode",     "1234 ab",         "--house-number", "12 a"};

TEST(KeysDeriveTest, PrintsAnAlignedTableAndWhatWasRemoved) {
  const Outcome r = RunCli(Derive(kFullSubject));
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kOk)) << r.err;
  EXPECT_THAT(r.err, IsEmpty());
  EXPECT_THAT(r.out, StartsWith("type      canonical key\n"
                                "bsn       123456782\n"
                                "name_dob  jansenvries|j|1990-02-01\n"
                                "name_dob  jansen|j|1990-02-01\n"
                                "name_dob  vries|j|1990-02-01\n"
                                "address   1234AB|12A\n"));
  EXPECT_THAT(r.out, HasSubstr("tussenvoegsels removed: \"de\""));
  EXPECT_THAT(r.out, HasSubstr("double surname"));
}

TEST(KeysDeriveTest, JsonHasTypeCanonicalAndOprfInputOnly) {
  std::vector<std::string> args = Derive(kFullSubject);
  args.push_back("--json");
  const Outcome r = RunCli(args);
  ASSERT_EQ(r.exit_code, ToInt(ExitCode::kOk)) << r.err;
  const nlohmann::json doc = nlohmann::json::parse(r.out);
  ASSERT_EQ(doc.size(), 1u);
  const nlohmann::json& keys = doc.at("keys");
  ASSERT_EQ(keys.size(), 5u);
  EXPECT_EQ(keys[0], (nlohmann::json{{"type", "bsn"},
                                     {"canonical", "123456782"},
                                     {"oprf_input", "schakel:v1:bsn:123456782"}}));
  EXPECT_EQ(keys[1].at("type"), "name_dob");
  EXPECT_EQ(keys[1].at("canonical"), "jansenvries|j|1990-02-01");
  EXPECT_EQ(keys[1].at("oprf_input"), "schakel:v1:name_dob:jansenvries|j|1990-02-01");
  EXPECT_EQ(keys[4].at("oprf_input"), "schakel:v1:address:1234AB|12A");
  for (const nlohmann::json& key : keys) EXPECT_EQ(key.size(), 3u) << key;
}

TEST(KeysDeriveTest, OneGroupIsEnough) {
  const Outcome r = RunCli(Derive({"--postcode", "1234AB", "--house-number", "7"}));
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kOk)) << r.err;
  EXPECT_THAT(r.out, HasSubstr("address   1234AB|7\n"));
  EXPECT_THAT(r.out, Not(HasSubstr("bsn ")));
}

TEST(KeysDeriveTest, InvalidBsnIsInvalidInputAndIsNotEchoed) {
  const Outcome r = RunCli(Derive({"--bsn", "123456789"}));
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kInvalidInput));
  EXPECT_THAT(r.out, IsEmpty());
  EXPECT_THAT(r.err, StartsWith("schakel: error: bsn: fails the elfproef"));
  EXPECT_THAT(r.err, HasSubstr("\nhint: "));
  EXPECT_THAT(r.err, Not(HasSubstr("123456789")));
}

TEST(KeysDeriveTest, InvalidDateIsInvalidInput) {
  const Outcome r =
      RunCli(Derive({"--given-names", "Jan", "--surname", "Smit", "--birth-date", "31-02-1990"}));
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kInvalidInput));
  EXPECT_THAT(r.err, HasSubstr("birth_date: is not a real calendar date"));
  EXPECT_THAT(r.err, Not(HasSubstr("31-02-1990")));
}

TEST(KeysDeriveTest, NoIdentifiersIsAUsageError) {
  const Outcome r = RunCli(Derive({}));
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kUsageError));
  EXPECT_THAT(r.err, StartsWith("schakel: error: no identifiers given"));
  EXPECT_THAT(r.out, IsEmpty());
}

TEST(KeysDeriveTest, IncompleteGroupIsAUsageError) {
  const Outcome r = RunCli(Derive({"--surname", "de Vries", "--birth-date", "1990-02-01"}));
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kUsageError));
  EXPECT_THAT(r.err, HasSubstr("--given-names"));
  EXPECT_THAT(r.err, HasSubstr("hint: run 'schakel keys derive --help'"));

  const Outcome address = RunCli(Derive({"--postcode", "1234AB"}));
  EXPECT_EQ(address.exit_code, ToInt(ExitCode::kUsageError));
  EXPECT_THAT(address.err, HasSubstr("--house-number"));
}

TEST(KeysDeriveTest, EmptyValueIsAUsageError) {
  const Outcome r = RunCli(Derive({"--bsn", " "}));
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kUsageError));
  EXPECT_THAT(r.err, HasSubstr("--bsn is given but empty"));
}

TEST(KeysDeriveTest, UnknownFlagIsAUsageErrorThatDoesNotEchoValues) {
  const Outcome r = RunCli(Derive({"--bsnn", "111222333"}));
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kUsageError));
  EXPECT_THAT(r.err, HasSubstr("--bsnn"));
  EXPECT_THAT(r.err, Not(HasSubstr("111222333")));

  const Outcome glued = RunCli(Derive({"--bsnn=111222333"}));
  EXPECT_EQ(glued.exit_code, ToInt(ExitCode::kUsageError));
  EXPECT_THAT(glued.err, Not(HasSubstr("111222333")));

  const Outcome positional = RunCli(Derive({"--bsn", "111222333", "123456782"}));
  EXPECT_EQ(positional.exit_code, ToInt(ExitCode::kUsageError));
  EXPECT_THAT(positional.err, HasSubstr("unexpected value"));
  EXPECT_THAT(positional.err, Not(HasSubstr("123456782")));
}

TEST(KeysDeriveTest, RepeatedFlagIsAUsageError) {
  const Outcome r = RunCli(Derive({"--bsn", "111222333", "--bsn", "123456782"}));
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kUsageError));
  EXPECT_THAT(r.err, Not(HasSubstr("111222333")));
  EXPECT_THAT(r.err, Not(HasSubstr("123456782")));
}

TEST(KeysDeriveTest, MissingSubcommandIsAUsageError) {
  const Outcome none = RunCli({});
  EXPECT_EQ(none.exit_code, ToInt(ExitCode::kUsageError));
  EXPECT_THAT(none.err, HasSubstr("hint: run 'schakel --help'"));

  const Outcome keys = RunCli({"keys"});
  EXPECT_EQ(keys.exit_code, ToInt(ExitCode::kUsageError));
  EXPECT_THAT(keys.err, HasSubstr("hint: run 'schakel keys --help'"));
}

TEST(KeysDeriveTest, HelpShowsFlagsExampleAndExitCodes) {
  const Outcome r = RunCli(Derive({"--help"}));
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kOk));
  for (const char* text : {"--bsn", "--given-names", "--surname", "--birth-date", "--postcode",
                           "--house-number", "--json", "Example:", "schakel keys derive --bsn",
                           "Exit codes: 0 ok", "3 invalid input data"}) {
    EXPECT_THAT(r.out, HasSubstr(text));
  }
  EXPECT_THAT(r.err, IsEmpty());

  const Outcome top = RunCli({"--help"});
  EXPECT_EQ(top.exit_code, ToInt(ExitCode::kOk));
  EXPECT_THAT(top.out, HasSubstr("keys"));
  EXPECT_THAT(top.out, HasSubstr("Exit codes:"));
}

}  // namespace
}  // namespace schakel::cli
