// Reading people's files into the local API's messages: signals for
// `schakel signals import` and `signals add --json-file`, subjects for
// `schakel match --subjects`. Parsing happens here, in the client; the node
// validates the content (BSN elfproef, dates of birth, categories, ...).
//
// Signal columns (CSV header names, JSON Lines keys, and the flags of
// `signals add` with '-' for '_'), docs/cli.md "Import files":
//   signal_id, bsn, given_names, surname, surname_prefix, birth_date,
//   postcode, house_number, house_number_suffix, street, city, family_id,
//   relation, category, domain, registered_at, expires_at, contact_name,
//   contact_phone, contact_email, contact_unit, free_text
// Values are trimmed of surrounding spaces (free_text excepted); an empty
// value leaves the field unset. Converted here: house_number ("12", "12A",
// "12 A", "12-2": the number, and the rest as suffix unless
// house_number_suffix is given), relation and domain (short names, see
// proto_text.h), registered_at and expires_at (YYYY-MM-DD or RFC 3339).
// Everything else is passed through as written (an 8-digit BSN too: the
// node pads it).
//
// CSV (csv.h): the first record is the header; an unknown, duplicate or
// empty column name is an error of the whole file. A row with more fields
// than the header is a problem of that row; fewer fields leave the missing
// columns empty. JSON Lines: one object per line; blank lines skipped; keys
// as the columns (strings, house_number also a number, null for unset), or
// the proto3 JSON mapping of schakel.v1.Signal when the object has a
// "subject" member (what `signals list --json` prints).
//
// Problems name the line and the column, never the value.
//
// Thread safety: readers are not thread-safe; free functions are reentrant.
#ifndef SCHAKEL_CLI_IMPORT_PARSER_H_
#define SCHAKEL_CLI_IMPORT_PARSER_H_

#include <cstdint>
#include <filesystem>
#include <istream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/csv.h"
#include "schakel/v1/local.pb.h"
#include "schakel/v1/signals.pb.h"

namespace schakel::cli {

// Every signal column, in the documented order.
const std::vector<std::string_view>& SignalColumns();

// One problem of one line of a file.
struct LineProblem {
  // Line number, from 1; 0 for a problem of no single line.
  uint64_t line = 0;
  // The column (or key) concerned; may be empty.
  std::string field;
  std::string problem;
};

// "line 12: expires_at: not a date ..." (no line part for line 0).
std::string FormatLineProblem(const LineProblem& problem);

// Sets column `column` of `signal` from `value` (see the top of this file).
// Returns false and sets `problem` (without the value) when the value cannot
// be converted or the column is unknown. An empty value changes nothing.
bool SetSignalColumn(std::string_view column, std::string_view value,
                     schakel::v1::Signal& signal, std::string& problem);

// Clears what column `column` sets (for `signals update --family-id ""`).
// House number and its suffix are cleared together. Unknown columns: no-op.
void ClearSignalColumn(std::string_view column, schakel::v1::Signal& signal);

// The UpdateSignal mask path a column changes: "subject.bsn",
// "subject.address" (postcode, house number, suffix, street, city),
// "contact" (contact_*), "category", ...; empty for signal_id.
std::string UpdatePathOf(std::string_view column);

// The format of an import file.
enum class ImportFileFormat { kCsv, kJsonLines };

// From a --format value ("csv", "jsonl"/"json-lines"/"ndjson") or, when that
// is empty, the file's extension (.csv; .jsonl, .ndjson, .json). Errors:
// INVALID_ARGUMENT saying which values are known.
absl::StatusOr<ImportFileFormat> ImportFormatOf(const std::filesystem::path& file,
                                                std::string_view format_flag);

// Reads signals from an import file, one row at a time.
class SignalFileReader {
 public:
  enum class Result {
    kRow,     // `row` holds the next signal.
    kBadRow,  // the line had problems (appended); read on.
    kEnd,     // no more lines.
  };

  // Reads the CSV header when `format` is CSV. Errors: INVALID_ARGUMENT for
  // a file-level problem (no header, an unknown, duplicate or empty column,
  // a header that is not valid UTF-8), naming it.
  static absl::StatusOr<std::unique_ptr<SignalFileReader>> Open(std::istream& in,
                                                                ImportFileFormat format);

  // The next row: its line number and signal, or its problems.
  Result Next(schakel::v1::ImportRow& row, std::vector<LineProblem>& problems);

  // Bytes of the file consumed so far.
  uint64_t bytes_read() const;
  // True when reading failed (an I/O error, not the end of the file).
  bool stream_failed() const;

 private:
  SignalFileReader(std::istream& in, ImportFileFormat format) : in_(in), format_(format), csv_(in) {}

  Result NextCsv(schakel::v1::ImportRow& row, std::vector<LineProblem>& problems);
  Result NextJsonLine(schakel::v1::ImportRow& row, std::vector<LineProblem>& problems);

  std::istream& in_;
  ImportFileFormat format_;
  CsvReader csv_;
  std::vector<std::string> header_;
  uint64_t json_line_ = 0;
  uint64_t json_bytes_ = 0;
};

// Parses one JSON object (the flat keys or the proto3 JSON of a Signal, see
// the top of this file) into `signal`; `line` goes into the problems.
// Returns false when there were problems.
bool ParseSignalJson(std::string_view text, uint64_t line, schakel::v1::Signal& signal,
                     std::vector<LineProblem>& problems);

// Subject columns of `schakel match --subjects FILE.csv`: label, bsn,
// given_names, surname, surname_prefix, birth_date, postcode, house_number,
// house_number_suffix, family_id, relation.
const std::vector<std::string_view>& SubjectColumns();

// Sets a subject column of `subject` (label goes to the MatchSubject).
bool SetSubjectColumn(std::string_view column, std::string_view value,
                      schakel::v1::MatchSubject& subject, std::string& problem);

// Reads every subject of a subjects CSV. A row without a label gets
// "line N". Returns the subjects and appends every problem; a file-level
// problem (header) is an INVALID_ARGUMENT error.
absl::StatusOr<std::vector<schakel::v1::MatchSubject>> ReadSubjectsCsv(
    std::istream& in, std::vector<LineProblem>& problems);

}  // namespace schakel::cli

#endif  // SCHAKEL_CLI_IMPORT_PARSER_H_
