// The real `schakel` binary, run as a process: `keys derive` in human and
// JSON form, and the exit codes and stderr of invalid data and usage errors.
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/integration/subprocess.h"

namespace schakel::integration {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

ProcessResult Schakel(const std::vector<std::string>& args) {
  return RunProcess(SCHAKEL_CLI_BINARY, args);
}

TEST(CliKeysDeriveTest, HumanOutput) {
  const ProcessResult r =
      Schakel({"keys", "derive", "--bsn", "111222333", "--given-names", "J.", "--surname",
               "Berg, van der", "--birth-date", "1-2-1990", "--postcode", "1234 ab",
               "--house-number", "12 bis"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, IsEmpty());
  EXPECT_THAT(r.out, StartsWith("type      canonical key\n"
                                "bsn       111222333\n"
                                "name_dob  berg|j|1990-02-01\n"
                                "address   1234AB|12BIS\n"));
  EXPECT_THAT(r.out, HasSubstr("tussenvoegsels removed: \"van der\""));
}

TEST(CliKeysDeriveTest, JsonOutput) {
  const ProcessResult r = Schakel({"keys", "derive", "--json", "--given-names", "Ömer",
                                   "--surname", "Özdemir-van Dijk", "--birth-date",
                                   "1990-02-01"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json doc = nlohmann::json::parse(r.out);
  const nlohmann::json expected = {
      {"keys",
       {{{"type", "name_dob"},
         {"canonical", "ozdemirdijk|o|1990-02-01"},
         {"oprf_input", "schakel:v1:name_dob:ozdemirdijk|o|1990-02-01"}},
        {{"type", "name_dob"},
         {"canonical", "ozdemir|o|1990-02-01"},
         {"oprf_input", "schakel:v1:name_dob:ozdemir|o|1990-02-01"}},
        {{"type", "name_dob"},
         {"canonical", "dijk|o|1990-02-01"},
         {"oprf_input", "schakel:v1:name_dob:dijk|o|1990-02-01"}}}}};
  EXPECT_EQ(doc, expected);
}

TEST(CliKeysDeriveTest, InvalidBsnExitsThreeWithoutEchoingIt) {
  const ProcessResult r = Schakel({"keys", "derive", "--bsn", "123456789"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.out, IsEmpty());
  EXPECT_THAT(r.err, StartsWith("schakel: error: bsn: "));
  EXPECT_THAT(r.err, HasSubstr("elfproef"));
  EXPECT_THAT(r.err, HasSubstr("hint: "));
  EXPECT_THAT(r.err, Not(HasSubstr("123456789")));
}

TEST(CliKeysDeriveTest, UsageErrorExitsTwo) {
  const ProcessResult unknown = Schakel({"keys", "derive", "--bsnn", "111222333"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.err, StartsWith("schakel: error: "));
  EXPECT_THAT(unknown.err, HasSubstr("--bsnn"));
  EXPECT_THAT(unknown.err, Not(HasSubstr("111222333")));

  const ProcessResult missing = Schakel({"keys", "derive", "--surname", "de Vries"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("hint: run 'schakel keys derive --help'"));

  const ProcessResult nothing = Schakel({});
  EXPECT_EQ(nothing.exit_code, 2);
}

TEST(CliKeysDeriveTest, HelpExitsZero) {
  const ProcessResult r = Schakel({"keys", "derive", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("Example:"));
  EXPECT_THAT(r.out, HasSubstr("Exit codes:"));
}

}  // namespace
}  // namespace schakel::integration
