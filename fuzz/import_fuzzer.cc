// The import file readers (cli/import_parser.h, cli/csv.h) on any file:
// never crash, stop at the end, and never repeat a value in a problem
// (problems name the line and the column only).
//
// Input: a first byte choosing the reader (signals CSV, signals JSON Lines,
// subjects CSV, one JSON object), then the file.
#include <cstdint>
#include <cstdio>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "cli/import_parser.h"
#include "fuzz/fuzz_support.h"

using namespace schakel::cli;
using schakel::fuzz::Check;

namespace {

std::string Text(const std::vector<LineProblem>& problems, const absl::Status& status = absl::OkStatus()) {
  std::string text(status.message().data(), status.message().size());
  for (const LineProblem& p : problems) text += "\n" + FormatLineProblem(p);
  return text;
}

std::string ReadSignals(std::string_view file, ImportFileFormat format) {
  std::istringstream in{std::string(file)};
  auto reader = SignalFileReader::Open(in, format);
  if (!reader.ok()) {
    Check(reader.status().code() == absl::StatusCode::kInvalidArgument, "Open: code");
    return Text({}, reader.status());
  }
  std::vector<LineProblem> problems;
  uint64_t last_bytes = 0;
  for (size_t rows = 0;; ++rows) {
    Check(rows <= file.size() + 1, "SignalFileReader: more rows than bytes");
    schakel::v1::ImportRow row;
    const auto result = (*reader)->Next(row, problems);
    Check((*reader)->bytes_read() >= last_bytes, "bytes_read went back");
    last_bytes = (*reader)->bytes_read();
    if (result == SignalFileReader::Result::kEnd) break;
  }
  Check(last_bytes <= file.size() + 1, "bytes_read beyond the file");
  return Text(problems);
}

// Every problem and file-level error the reader `which` reports for `file`.
std::string Problems(unsigned which, std::string_view file) {
  switch (which) {
    case 0:
      return ReadSignals(file, ImportFileFormat::kCsv);
    case 1:
      return ReadSignals(file, ImportFileFormat::kJsonLines);
    case 2: {
      std::istringstream in{std::string(file)};
      std::vector<LineProblem> problems;
      auto subjects = ReadSubjectsCsv(in, problems);
      if (!subjects.ok()) {
        Check(subjects.status().code() == absl::StatusCode::kInvalidArgument, "ReadSubjectsCsv: code");
      }
      return Text(problems, subjects.status());
    }
    default: {
      schakel::v1::Signal signal;
      std::vector<LineProblem> problems;
      const bool ok = ParseSignalJson(file, 1, signal, problems);
      Check(ok == problems.empty(), "ParseSignalJson: result and problems disagree");
      return Text(problems);
    }
  }
}

// `s` with every digit replaced by the next (9 -> 0): the same columns and
// keys (they have no digits), other values.
std::string RotateDigits(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= '0' && c <= '9') c = c == '9' ? '0' : static_cast<char>(c + 1);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto [which, file] = schakel::fuzz::Choose(data, size, 4);
  const std::string text = Problems(which, file);
  if (text.empty()) return 0;
  // No value with digits (a BSN, a date, a postcode...) in the problems:
  // one that is in them for this file and, with other digits, for the
  // changed file, is repeated from the input.
  // Names may be repeated: a CSV header's columns and JSON keys, also
  // where a value holds one.
  std::string names;
  size_t start = 0;
  if (which == 0 || which == 2) {
    const size_t content = file.find_first_not_of(" \t\r\n");
    start = content == std::string_view::npos ? file.size() : file.find('\n', content);
    names = file.substr(0, start);
  }
  for (size_t colon = file.find("\":"); colon != std::string_view::npos; colon = file.find("\":", colon + 1)) {
    const size_t open = colon == 0 ? std::string_view::npos : file.rfind('"', colon - 1);
    if (open != std::string_view::npos) names += "\n" + std::string(file.substr(open + 1, colon - open - 1));
  }
  std::vector<std::string_view> values;
  while (start < file.size()) {
    size_t end = file.find_first_of("\n,\"{}:", start);
    if (end == std::string_view::npos) end = file.size();
    const std::string_view value = file.substr(start, end - start);
    const std::string_view after = file.substr(end);
    start = end + 1;
    if (after.starts_with("\":") || after.starts_with("\" :")) {
      names += "\n" + std::string(value);
    } else {
      values.push_back(value);
    }
  }
  std::string other_text;
  for (std::string_view value : values) {
    if (value.size() < 8 || RotateDigits(value) == value || text.find(value) == std::string::npos ||
        names.find(value) != std::string::npos) {
      continue;
    }
    if (other_text.empty()) other_text = Problems(which, RotateDigits(file));
    // Repeated: the changed value follows into the changed file's problems
    // and the value itself is gone from them. A value that stays is text
    // the problems make themselves ("line 4: 3 fields" from a field " 3
    // fields": counts and line numbers do not change with the digits).
    if (other_text.find(RotateDigits(value)) != std::string::npos &&
        other_text.find(value) == std::string::npos) {
      std::fprintf(stderr, "value \"%.*s\" in:\n%s\n", static_cast<int>(value.size()), value.data(), text.c_str());
      Check(false, "a problem repeats a value of the file");
    }
  }
  return 0;
}
