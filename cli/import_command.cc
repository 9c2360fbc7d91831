#include "cli/import_command.h"

#include <google/protobuf/util/time_util.h>
#include <grpcpp/client_context.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/connection.h"
#include "cli/import_parser.h"
#include "cli/progress.h"
#include "cli/table.h"
#include "common/strings.h"
#include "schakel/v1/signals.grpc.pb.h"

namespace schakel::cli {
namespace {

namespace fs = std::filesystem;
using schakel::v1::ImportSignalsRequest;
using schakel::v1::ImportSignalsResponse;

struct ImportFlags {
  std::string file;
  std::string format;
  bool replace = false;
  bool dry_run = false;
  bool progress = false;
  bool json = false;
  ConnectionFlags connection;
};

// What the node has said so far, filled by the reader thread.
class NodeSide {
 public:
  void Progress(const schakel::v1::ImportProgress& progress) {
    std::lock_guard<std::mutex> lock(mutex_);
    progress_ = progress;
    changed_.notify_all();
  }
  void Result(schakel::v1::ImportResult result) {
    std::lock_guard<std::mutex> lock(mutex_);
    result_ = std::move(result);
    changed_.notify_all();
  }
  void Ended() {
    std::lock_guard<std::mutex> lock(mutex_);
    ended_ = true;
    changed_.notify_all();
  }
  // Waits until the stream ended or `timeout` passed; true when it ended.
  bool WaitEnded(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, timeout, [this] { return ended_; });
  }
  schakel::v1::ImportProgress progress() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return progress_;
  }
  std::optional<schakel::v1::ImportResult> TakeResult() {
    std::lock_guard<std::mutex> lock(mutex_);
    return std::move(result_);
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  schakel::v1::ImportProgress progress_;
  std::optional<schakel::v1::ImportResult> result_;
  bool ended_ = false;
};

std::string RowsText(uint64_t read, const schakel::v1::ImportProgress& node, uint64_t problems) {
  std::string text = StrCat(GroupThousands(read), " rows read, ",
                            GroupThousands(node.rows_validated()), " validated");
  if (node.rows_stored() > 0) text += StrCat(", ", GroupThousands(node.rows_stored()), " stored");
  const uint64_t all_problems = problems + node.problems();
  if (all_problems > 0) text += StrCat(", ", GroupThousands(all_problems), " problems");
  return text;
}

void RunImport(const ImportFlags& flags, CommandContext& context) {
  const auto started = std::chrono::steady_clock::now();
  auto format = ImportFormatOf(flags.file, flags.format);
  if (!format.ok()) {
    context.Fail(ExitCode::kUsageError, std::string(format.status().message()),
                 "name the file .csv or .jsonl, or give --format");
    return;
  }
  std::ifstream in(flags.file, std::ios::binary);
  std::error_code ec;
  if (!in || fs::is_directory(flags.file, ec)) {
    context.Fail(ExitCode::kInvalidInput, StrCat("cannot read ", flags.file),
                 "give the path of an existing, readable file");
    return;
  }
  const uint64_t file_size = fs::file_size(flags.file, ec);
  auto reader = SignalFileReader::Open(in, *format);
  if (!reader.ok()) {
    context.Fail(ExitCode::kInvalidInput, StrCat(flags.file, ": ", reader.status().message()),
                 "the first row names the columns; docs/cli.md (\"Import files\") lists them; "
                 "nothing was sent to the node");
    return;
  }

  auto connection = NodeConnection::Open(flags.connection, context);
  if (!connection) return;
  auto client = connection->Client<schakel::v1::Signals>();
  auto call = connection->NewCall(kStreamTimeout);
  auto stream = client->ImportSignals(call.get());

  NodeSide node;
  std::thread response_reader([&stream, &node] {
    ImportSignalsResponse response;
    while (stream->Read(&response)) {
      if (response.has_progress()) node.Progress(response.progress());
      if (response.has_result()) node.Result(std::move(*response.mutable_result()));
    }
    node.Ended();
  });

  Progress progress(context.err(), Progress::ModeFor(context.environment(), flags.progress));
  std::vector<LineProblem> local_problems;
  uint64_t local_problem_count = 0;
  uint64_t rows_read = 0;
  uint64_t rows_sent = 0;
  bool stream_open = true;

  ImportSignalsRequest message;
  schakel::v1::ImportHeader& header = *message.mutable_header();
  header.set_source_name(fs::path(flags.file).filename().string().substr(0, 255));
  header.set_format(*format == ImportFileFormat::kCsv ? schakel::v1::IMPORT_FORMAT_CSV
                                                      : schakel::v1::IMPORT_FORMAT_JSON_LINES);
  header.set_replace_existing(flags.replace);
  stream_open = stream->Write(message);

  ImportSignalsRequest batch;
  std::vector<LineProblem> row_problems;
  auto send_batch = [&] {
    if (batch.rows().rows_size() == 0 || !stream_open) return;
    rows_sent += static_cast<uint64_t>(batch.rows().rows_size());
    stream_open = stream->Write(batch);
    batch.Clear();
  };
  while (stream_open) {
    schakel::v1::ImportRow* row = batch.mutable_rows()->add_rows();
    row_problems.clear();
    const SignalFileReader::Result result = (*reader)->Next(*row, row_problems);
    if (result != SignalFileReader::Result::kRow) batch.mutable_rows()->mutable_rows()->RemoveLast();
    if (result == SignalFileReader::Result::kEnd) break;
    ++rows_read;
    for (LineProblem& problem : row_problems) {
      ++local_problem_count;
      if (local_problems.size() < kMaxProblemsListed) local_problems.push_back(std::move(problem));
    }
    if (batch.rows().rows_size() >= static_cast<int>(kImportBatchRows)) send_batch();
    if (rows_read % 1000 == 0) {
      // The first half of the bar: reading and sending (the node validates
      // as rows arrive); the second half: the node storing them.
      progress.Update(file_size > 0 ? 0.5 * static_cast<double>((*reader)->bytes_read()) /
                                          static_cast<double>(file_size)
                                    : -1,
                      RowsText(rows_read, node.progress(), local_problem_count));
    }
  }
  send_batch();
  const bool read_failed = (*reader)->stream_failed();
  const bool commit = local_problem_count == 0 && !flags.dry_run && !read_failed;
  if (stream_open) {
    ImportSignalsRequest end;
    end.mutable_end()->set_commit(commit);
    stream_open = stream->Write(end);
  }
  stream->WritesDone();
  while (!node.WaitEnded(std::chrono::milliseconds(100))) {
    const schakel::v1::ImportProgress now = node.progress();
    const double fraction =
        rows_sent == 0 ? -1
                       : 0.5 * (static_cast<double>(now.rows_validated()) +
                                static_cast<double>(now.rows_stored())) /
                             static_cast<double>(rows_sent);
    progress.Update(fraction, RowsText(rows_read, now, local_problem_count));
  }
  response_reader.join();
  progress.Done();
  const grpc::Status status = stream->Finish();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  if (read_failed) {
    context.Fail(ExitCode::kInvalidInput,
                 StrCat("reading ", flags.file, " failed after ", rows_read, " rows"),
                 "nothing was stored; check the file and the disk, then import again");
    return;
  }
  auto result = node.TakeResult();
  if (!status.ok()) {
    for (const LineProblem& problem : local_problems) {
      context.err() << FormatLineProblem(problem) << "\n";
    }
    connection->Fail(status, {"import signals", "professional or admin"}, context);
    return;
  }
  if (!result.has_value()) {
    context.Fail(ExitCode::kInternalError, "the node ended the import without a result",
                 "nothing can be assumed stored: check with 'schakel signals list' and report "
                 "this");
    return;
  }

  // Every problem, the node's and ours, by line.
  std::vector<LineProblem> problems = std::move(local_problems);
  for (const schakel::v1::ImportProblem& p : result->problems()) {
    problems.push_back({p.line(), ColumnOfPath(p.problem().field()), p.problem().problem()});
  }
  std::stable_sort(problems.begin(), problems.end(),
                   [](const LineProblem& a, const LineProblem& b) { return a.line < b.line; });
  const uint64_t problem_count = local_problem_count + result->problem_count();
  uint64_t bad_rows = 0;
  for (size_t i = 0; i < problems.size(); ++i) {
    if (i == 0 || problems[i].line != problems[i - 1].line) ++bad_rows;
  }
  const double rows_per_second = elapsed > 0 ? static_cast<double>(rows_read) / elapsed : 0;

  if (flags.json) {
    nlohmann::ordered_json doc;
    doc["file"] = flags.file;
    doc["format"] = *format == ImportFileFormat::kCsv ? "csv" : "jsonl";
    doc["committed"] = result->committed();
    doc["dry_run"] = flags.dry_run;
    doc["rows"] = rows_read;
    doc["rows_sent"] = rows_sent;
    doc["signals_stored"] = result->signals_stored();
    doc["tags_queued"] = result->tags_queued();
    doc["elapsed_seconds"] = elapsed;
    doc["rows_per_second"] = rows_per_second;
    doc["problem_count"] = problem_count;
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const LineProblem& p : problems) {
      list.push_back({{"line", p.line}, {"field", p.field}, {"problem", p.problem}});
    }
    doc["problems"] = std::move(list);
    context.out() << doc.dump(2) << "\n";
  } else {
    for (const LineProblem& problem : problems) {
      context.err() << FormatLineProblem(problem) << "\n";
    }
    if (problem_count > problems.size()) {
      context.err() << "... and " << GroupThousands(problem_count - problems.size())
                    << " more problems not listed\n";
    }
  }
  if (problem_count > 0) {
    context.Fail(ExitCode::kInvalidInput,
                 StrCat("nothing stored: ", GroupThousands(problem_count),
                        problem_count == 1 ? " problem" : " problems", " in ",
                        bad_rows == 0 ? std::string("the file") : GroupThousands(bad_rows),
                        bad_rows == 0 ? "" : " of ", bad_rows == 0 ? "" : GroupThousands(rows_read),
                        bad_rows == 0 ? "" : " rows"),
                 "correct the lines listed and import the whole file again: an import stores "
                 "every row or none");
    return;
  }
  if (!result->committed() && !flags.dry_run) {
    context.Fail(ExitCode::kInternalError,
                 "the node did not store the import although no row has a problem",
                 "nothing was stored; try again, and report it if it persists");
    return;
  }
  if (flags.json) return;
  std::vector<std::pair<std::string, std::string>> fields = {
      {"file", flags.file},
      {"rows", GroupThousands(rows_read)},
      {"stored", flags.dry_run ? std::string("nothing (--dry-run: every row is valid)")
                               : StrCat(GroupThousands(result->signals_stored()), " signals")},
      {"tags queued", GroupThousands(result->tags_queued())},
      {"elapsed", fmt::format("{:.1f} s", elapsed)},
      {"rows/s", GroupThousands(static_cast<uint64_t>(rows_per_second))},
  };
  PrintFields(fields, context.out());
}

}  // namespace

std::string ColumnOfPath(std::string_view path) {
  if (path.rfind("signal.", 0) == 0) path.remove_prefix(7);
  if (path.rfind("subject.address.", 0) == 0) return std::string(path.substr(16));
  if (path.rfind("subject.", 0) == 0) return std::string(path.substr(8));
  if (path.rfind("contact.", 0) == 0) return StrCat("contact_", path.substr(8));
  return std::string(path);
}

void RegisterImportCommand(CLI::App& signals, CommandContext& context) {
  auto flags = std::make_shared<ImportFlags>();
  CLI::App* import = signals.add_subcommand(
      "import", "Import signals from a CSV or JSON Lines file: every row, or none");
  import->add_option("FILE", flags->file, "the file: .csv (with a header row) or .jsonl")
      ->required();
  import->add_option("--format", flags->format, "csv or jsonl (default: from the file name)");
  import->add_flag("--replace", flags->replace,
                   "replace stored signals with the same signal_id (default: such a row is a "
                   "problem)");
  import->add_flag("--dry-run", flags->dry_run, "validate every row, store nothing");
  import->add_flag("--progress", flags->progress,
                   "print progress lines to stderr when it is not a terminal (a terminal always "
                   "gets a progress bar)");
  import->add_flag("--json", flags->json, "print the outcome and every problem as JSON");
  AddConnectionFlags(*import, flags->connection);
  import->footer(HelpFooter(
      "Examples:\n"
      "  schakel signals import signalen-2025.csv\n"
      "  schakel signals import export.jsonl --dry-run\n"
      "\n"
      "CSV: a header row naming the columns, then one signal per row (RFC 4180 quoting,\n"
      "UTF-8, a byte order mark is fine):\n"
      "  signal_id,bsn,given_names,surname,birth_date,postcode,house_number,category\n"
      "  z-1,111222333,Jan,de Vries,1990-02-01,1234AB,12A,overlast\n"
      "Columns: signal_id, bsn, given_names, surname, surname_prefix, birth_date, postcode,\n"
      "house_number, house_number_suffix, street, city, family_id, relation, category,\n"
      "domain, registered_at, expires_at, contact_name, contact_phone, contact_email,\n"
      "contact_unit, free_text. JSON Lines: one object per line with these keys.\n"
      "\n"
      "All or nothing: when any row has a problem, every problem is listed as\n"
      "\"line N: column: problem\" and nothing is stored (exit 3)."));
  import->callback([flags, &context] { RunImport(*flags, context); });
}

}  // namespace schakel::cli
