// `schakel signals import` against a fake node that validates like the real
// one (a row without a category is a problem): batches of at most 10,000
// rows, commit only without problems, every problem (local and the node's)
// listed by line, the summary, --json, and progress output.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/exit_codes.h"
#include "cli/import_command.h"
#include "tests/unit/cli/fake_node.h"

namespace schakel::cli {
namespace {

using ::schakel::cli::testing::FakeNode;
using ::schakel::cli::testing::Outcome;
using ::schakel::cli::testing::RunCli;
using ::schakel::cli::testing::TestEnvironment;
using ::schakel::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
namespace fs = std::filesystem;
namespace v1 = schakel::v1;

// What the fake node saw of one import.
struct ImportSeen {
  v1::ImportHeader header;
  std::vector<int> batch_sizes;
  uint64_t rows = 0;
  uint64_t first_line = 0;
  uint64_t last_line = 0;
  bool end = false;
  bool commit = false;
  std::string first_bsn;
};

class ImportCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(node_.ok());
    config_ = node_.WriteClientConfig(dir_.path());
    node_.signals.import = [this](auto* stream) { return Serve(stream); };
  }

  grpc::Status Serve(
      grpc::ServerReaderWriter<v1::ImportSignalsResponse, v1::ImportSignalsRequest>* stream) {
    std::lock_guard<std::mutex> lock(mutex_);
    seen_ = ImportSeen();
    v1::ImportResult result;
    v1::ImportSignalsRequest request;
    while (stream->Read(&request)) {
      if (request.has_header()) seen_.header = request.header();
      if (request.has_rows()) {
        seen_.batch_sizes.push_back(request.rows().rows_size());
        for (const v1::ImportRow& row : request.rows().rows()) {
          if (seen_.rows++ == 0) {
            seen_.first_line = row.line();
            seen_.first_bsn = row.signal().subject().bsn();
          }
          seen_.last_line = row.line();
          if (row.signal().category().empty()) {
            v1::ImportProblem* problem = result.add_problems();
            problem->set_line(row.line());
            problem->mutable_problem()->set_field("signal.category");
            problem->mutable_problem()->set_problem("missing; every signal needs a category");
          }
        }
        v1::ImportSignalsResponse progress;
        progress.mutable_progress()->set_rows_validated(seen_.rows);
        stream->Write(progress);
      }
      if (request.has_end()) {
        seen_.end = true;
        seen_.commit = request.end().commit();
      }
    }
    result.set_rows_received(seen_.rows);
    result.set_problem_count(static_cast<uint64_t>(result.problems_size()));
    result.set_committed(seen_.end && seen_.commit && result.problems_size() == 0);
    if (result.committed()) {
      result.set_signals_stored(seen_.rows);
      result.set_tags_queued(seen_.rows * 2);
    }
    v1::ImportSignalsResponse last;
    *last.mutable_result() = result;
    stream->Write(last);
    return grpc::Status::OK;
  }

  Outcome Run(std::vector<std::string> args, bool terminal = false) {
    args.insert(args.begin(), {"signals", "import"});
    args.push_back("--config");
    args.push_back(config_.string());
    return RunCli(args, TestEnvironment({}, terminal));
  }

  // A CSV of `rows` valid signals (valid elfproef BSNs are not needed: the
  // fake checks only the category).
  fs::path WriteCsv(const std::string& name, int rows) {
    const fs::path path = fs::path(dir_.path()) / name;
    std::ofstream out(path);
    out << "signal_id,bsn,surname,birth_date,category\n";
    for (int i = 0; i < rows; ++i) {
      out << "s-" << i << "," << 100000000 + i << ",Jansen,1990-01-01,overlast\n";
    }
    return path;
  }
  fs::path Write(const std::string& name, const std::string& text) {
    const fs::path path = fs::path(dir_.path()) / name;
    schakel::testing::WriteFile(path, text);
    return path;
  }
  ImportSeen Seen() {
    std::lock_guard<std::mutex> lock(mutex_);
    return seen_;
  }

  FakeNode node_;
  TempDir dir_;
  fs::path config_;
  std::mutex mutex_;
  ImportSeen seen_;
};

TEST_F(ImportCommandTest, StreamsInBatchesAndCommits) {
  const fs::path file = WriteCsv("signalen.csv", 25'001);
  const Outcome r = Run({file.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const ImportSeen seen = Seen();
  EXPECT_EQ(seen.header.source_name(), "signalen.csv");
  EXPECT_EQ(seen.header.format(), v1::IMPORT_FORMAT_CSV);
  EXPECT_FALSE(seen.header.replace_existing());
  EXPECT_THAT(seen.batch_sizes, ::testing::ElementsAre(10'000, 10'000, 5'001));
  EXPECT_EQ(seen.rows, 25'001u);
  EXPECT_EQ(seen.first_line, 2u);
  EXPECT_EQ(seen.last_line, 25'002u);
  EXPECT_TRUE(seen.end);
  EXPECT_TRUE(seen.commit);
  EXPECT_THAT(r.out, HasSubstr("rows:        25,001\n"));
  EXPECT_THAT(r.out, HasSubstr("stored:      25,001 signals\n"));
  EXPECT_THAT(r.out, HasSubstr("tags queued: 50,002\n"));
  EXPECT_THAT(r.out, HasSubstr("elapsed:"));
  EXPECT_THAT(r.out, HasSubstr("rows/s:"));
  EXPECT_THAT(r.err, IsEmpty());  // no terminal, no --progress
}

TEST_F(ImportCommandTest, EveryProblemLocalAndFromTheNodeByLineAndNothingStored) {
  const fs::path file = Write("mixed.csv",
                              "signal_id,bsn,category,expires_at,relation\n"
                              "a,111222333,overlast,,\n"
                              "b,123456782,,,\n"                    // node: no category
                              "c,111222333,overlast,31-02-2026,\n"  // local: date
                              "d,111222333,,,neef\n"                // local: relation
                              "e,123456782,,,\n");                  // node: no category
  const Outcome r = Run({file.string()});
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kInvalidInput));
  const ImportSeen seen = Seen();
  EXPECT_FALSE(seen.commit);
  EXPECT_TRUE(seen.end);
  EXPECT_EQ(seen.rows, 3u);  // a, b, e: rows with local problems are not sent
  EXPECT_THAT(r.err, HasSubstr("line 3: category: missing; every signal needs a category\n"
                               "line 4: expires_at: not a date (YYYY-MM-DD) or an RFC 3339 time "
                               "(2025-03-01T12:00:00Z)\n"
                               "line 5: relation: not a relation; use one of: parent, child, "
                               "sibling, partner, housemate\n"
                               "line 6: category: missing; every signal needs a category\n"));
  EXPECT_THAT(r.err, HasSubstr("schakel: error: nothing stored: 4 problems in 4 of 5 rows"));
  EXPECT_THAT(r.err, HasSubstr("an import stores every row or none"));
  for (const char* value : {"111222333", "123456782", "31-02-2026", "neef"}) {
    EXPECT_THAT(r.err, Not(HasSubstr(value)));
    EXPECT_THAT(r.out, Not(HasSubstr(value)));
  }
}

TEST_F(ImportCommandTest, HeaderProblemSendsNothing) {
  const fs::path file = Write("bad.csv", "signal_id,bsn,telefoon\na,b,c\n");
  const Outcome r = Run({file.string()});
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kInvalidInput));
  EXPECT_THAT(r.err, HasSubstr("unknown column \"telefoon\""));
  EXPECT_THAT(node_.calls(), IsEmpty());

  const Outcome missing = Run({(fs::path(dir_.path()) / "none.csv").string()});
  EXPECT_EQ(missing.exit_code, ToInt(ExitCode::kInvalidInput));
  EXPECT_THAT(missing.err, HasSubstr("cannot read"));
  const Outcome unknown_format = Run({file.string() + ".txt"});
  EXPECT_EQ(unknown_format.exit_code, ToInt(ExitCode::kUsageError));
}

TEST_F(ImportCommandTest, JsonLinesDryRunReplaceAndJsonOutput) {
  const fs::path file = Write("export.jsonl",
                              "{\"signal_id\":\"a\",\"bsn\":\"12345672\",\"category\":\"x\"}\n"
                              "\n"
                              "{\"signal_id\":\"b\",\"category\":\"y\"}\n");
  const Outcome r = Run({file.string(), "--dry-run", "--replace", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const ImportSeen seen = Seen();
  EXPECT_EQ(seen.header.format(), v1::IMPORT_FORMAT_JSON_LINES);
  EXPECT_TRUE(seen.header.replace_existing());
  EXPECT_FALSE(seen.commit);
  EXPECT_EQ(seen.first_bsn, "12345672");  // the node pads 8 digits
  EXPECT_EQ(seen.last_line, 3u);
  const nlohmann::json doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc.at("committed"), false);
  EXPECT_EQ(doc.at("dry_run"), true);
  EXPECT_EQ(doc.at("rows"), 2);
  EXPECT_EQ(doc.at("problem_count"), 0);
  EXPECT_TRUE(doc.at("problems").empty());
}

TEST_F(ImportCommandTest, JsonOutputListsProblems) {
  const fs::path file = Write("bad.jsonl", "{\"signal_id\":\"a\"}\n{not json\n");
  const Outcome r = Run({file.string(), "--json"});
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kInvalidInput));
  const nlohmann::json doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc.at("problem_count"), 2);
  EXPECT_EQ(doc.at("problems")[0].at("line"), 1);
  EXPECT_EQ(doc.at("problems")[0].at("field"), "category");
  EXPECT_EQ(doc.at("problems")[1].at("line"), 2);
}

TEST_F(ImportCommandTest, ProgressLinesOnRequestAndABarOnATerminal) {
  const fs::path file = WriteCsv("p.csv", 3'000);
  const Outcome lines = Run({file.string(), "--progress"});
  ASSERT_EQ(lines.exit_code, 0) << lines.err;
  EXPECT_THAT(lines.err, HasSubstr("progress: "));
  EXPECT_THAT(lines.err, HasSubstr("rows read"));
  EXPECT_THAT(lines.err, Not(HasSubstr("\r")));

  const Outcome bar = Run({file.string()}, /*terminal=*/true);
  ASSERT_EQ(bar.exit_code, 0) << bar.err;
  EXPECT_THAT(bar.err, HasSubstr("\r["));
  EXPECT_THAT(bar.out, HasSubstr("stored:      3,000 signals"));
}

TEST_F(ImportCommandTest, RefusedByTheNode) {
  node_.signals.import = [](auto*) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "role analyst may not import");
  };
  const fs::path file = WriteCsv("r.csv", 20'000);
  const Outcome r = Run({file.string()});
  EXPECT_EQ(r.exit_code, ToInt(ExitCode::kRefused));
  EXPECT_THAT(r.err, HasSubstr("not allowed to import signals: role analyst may not import; "
                               "this needs the role professional or admin"));
}

// Run by hand for the figures in the report (a million rows, memory):
//   schakel_cli_tests --gtest_also_run_disabled_tests --gtest_filter=*Million*
TEST_F(ImportCommandTest, DISABLED_MillionRows) {
  const fs::path file = WriteCsv("million.csv", 1'000'000);
  const Outcome r = Run({file.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Seen().rows, 1'000'000u);
  EXPECT_EQ(Seen().batch_sizes.size(), 100u);
  std::cout << r.out;
}

}  // namespace
}  // namespace schakel::cli
