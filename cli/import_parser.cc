#include "cli/import_parser.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "cli/proto_text.h"
#include "common/strings.h"
#include "common/utf8.h"

namespace schakel::cli {
namespace {

using schakel::v1::ImportRow;
using schakel::v1::MatchSubject;
using schakel::v1::Signal;
using schakel::v1::Subject;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string Joined(const std::vector<std::string_view>& names) {
  std::string list;
  for (std::string_view name : names) list += StrCat(list.empty() ? "" : ", ", name);
  return list;
}

// Sets `*out` from an enum short name; else `problem` lists the names.
template <typename E>
bool ParseEnumColumn(std::string_view value, std::string_view what, E* out,
                     std::string& problem) {
  auto parsed = ParseEnumName<E>(value, what);
  if (!parsed.ok()) {
    problem = StrCat("not a ", what, "; use one of: ", EnumNames<E>());
    return false;
  }
  *out = *parsed;
  return true;
}

// Whether a file's unknown column or key may be shown in a problem: only
// when it looks like a field name (lower-case letters and '_', at most 40),
// never a value that could be an identifier (a BSN, a date, a postcode, a
// file whose first line is data instead of the header).
bool ShowableName(std::string_view name) {
  return !name.empty() && name.size() <= 40 &&
         std::all_of(name.begin(), name.end(), [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; });
}

// An unknown column or key for a problem: quoted when ShowableName.
std::string UnknownName(std::string_view name) {
  return ShowableName(name) ? StrCat("\"", name, "\"")
                            : std::string("(not shown: it is not a field name; is the header missing?)");
}

// The header of a CSV file: every column must be one of `known`, once.
// Errors: INVALID_ARGUMENT naming the line and column.
absl::StatusOr<std::vector<std::string>> ReadHeader(CsvReader& csv,
                                                    const std::vector<std::string_view>& known,
                                                    std::string_view empty_message) {
  CsvRecord header;
  if (!csv.Next(header)) return absl::InvalidArgumentError(std::string(empty_message));
  if (!header.problem.empty()) {
    return absl::InvalidArgumentError(StrCat("line ", header.line, ": header: ", header.problem));
  }
  std::vector<std::string> columns;
  std::set<std::string> seen;
  for (size_t i = 0; i < header.fields.size(); ++i) {
    const std::string name(Trim(header.fields[i]));
    const std::string where = StrCat("line ", header.line, ": header column ", i + 1);
    if (!Utf8Valid(name)) return absl::InvalidArgumentError(StrCat(where, ": not valid UTF-8"));
    if (name.empty()) return absl::InvalidArgumentError(StrCat(where, " has no name"));
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      return absl::InvalidArgumentError(
          StrCat(where, ": unknown column ", UnknownName(name), " (known: ", Joined(known), ")"));
    }
    if (!seen.insert(name).second) {
      return absl::InvalidArgumentError(StrCat(where, ": column \"", name, "\" appears twice"));
    }
    columns.push_back(name);
  }
  return columns;
}

// A problem when a record has more fields than the header has columns.
std::optional<LineProblem> ExtraFields(const CsvRecord& record, size_t columns) {
  if (record.fields.size() <= columns) return std::nullopt;
  return LineProblem{record.line, "",
                     StrCat(record.fields.size(), " fields, but the header has ", columns,
                            " columns")};
}

// The subject columns common to signals and match subjects. Returns false
// when `column` is not one of them (problem left empty).
bool SetSubjectField(std::string_view column, std::string_view value, Subject& subject,
                     std::string& problem, bool& known) {
  known = true;
  // Only address columns create the address.
  auto address = [&subject]() -> schakel::v1::Address& { return *subject.mutable_address(); };
  if (column == "bsn") {
    subject.set_bsn(std::string(value));
  } else if (column == "given_names") {
    subject.set_given_names(std::string(value));
  } else if (column == "surname") {
    subject.set_surname(std::string(value));
  } else if (column == "surname_prefix") {
    subject.set_surname_prefix(std::string(value));
  } else if (column == "birth_date") {
    subject.set_birth_date(std::string(value));
  } else if (column == "postcode") {
    address().set_postcode(std::string(value));
  } else if (column == "house_number") {
    size_t digits = 0;
    while (digits < value.size() && std::isdigit(static_cast<unsigned char>(value[digits]))) {
      ++digits;
    }
    uint64_t number = 0;
    for (size_t i = 0; i < digits && number <= 99999; ++i) {
      number = number * 10 + static_cast<uint64_t>(value[i] - '0');
    }
    if (digits == 0 || number < 1 || number > 99999) {
      problem = "not a house number (a number from 1 to 99999, optionally with a suffix: 12, "
                "12A, 12-2)";
      return false;
    }
    address().set_house_number(static_cast<uint32_t>(number));
    const std::string_view suffix = Trim(value.substr(digits));
    if (!suffix.empty()) {
      if (!subject.address().house_number_suffix().empty()) {
        problem = "has a suffix while house_number_suffix is given too; give the suffix once";
        return false;
      }
      address().set_house_number_suffix(std::string(suffix));
    }
  } else if (column == "house_number_suffix") {
    if (!subject.address().house_number_suffix().empty()) {
      problem = "given while house_number has a suffix too; give the suffix once";
      return false;
    }
    address().set_house_number_suffix(std::string(value));
  } else if (column == "street") {
    address().set_street(std::string(value));
  } else if (column == "city") {
    address().set_city(std::string(value));
  } else if (column == "family_id") {
    subject.set_family_id(std::string(value));
  } else if (column == "relation") {
    schakel::v1::Relation relation{};
    if (!ParseEnumColumn(value, "relation", &relation, problem)) return false;
    subject.set_relation(relation);
  } else {
    known = false;
    return false;
  }
  return true;
}

// Output-only fields of a Signal: what `signals list --json` prints but a
// client never sets.
void ClearOutputOnly(Signal& signal) {
  signal.clear_owner_user_id();
  signal.clear_updated_at();
  signal.clear_version();
  signal.clear_key_types();
  signal.clear_tagged_purpose_ids();
  signal.clear_address_excluded();
}

// An empty Address message is "unknown", not an address with empty fields.
void DropEmptyAddress(Subject& subject) {
  if (subject.has_address() && subject.address().ByteSizeLong() == 0) subject.clear_address();
}

}  // namespace

const std::vector<std::string_view>& SignalColumns() {
  static const auto* columns = new std::vector<std::string_view>{
      "signal_id",     "bsn",          "given_names",   "surname",          "surname_prefix",
      "birth_date",    "postcode",     "house_number",  "house_number_suffix", "street",
      "city",          "family_id",    "relation",      "category",         "domain",
      "registered_at", "expires_at",   "contact_name",  "contact_phone",    "contact_email",
      "contact_unit",  "free_text"};
  return *columns;
}

const std::vector<std::string_view>& SubjectColumns() {
  static const auto* columns = new std::vector<std::string_view>{
      "label",    "bsn",          "given_names",         "surname",   "surname_prefix",
      "birth_date", "postcode",   "house_number", "house_number_suffix", "family_id",
      "relation"};
  return *columns;
}

std::string FormatLineProblem(const LineProblem& problem) {
  std::string text = problem.line > 0 ? StrCat("line ", problem.line, ": ") : std::string();
  if (!problem.field.empty()) text += StrCat(problem.field, ": ");
  return text + problem.problem;
}

bool SetSignalColumn(std::string_view column, std::string_view raw, Signal& signal,
                     std::string& problem) {
  if (!Utf8Valid(raw)) {
    problem = "not valid UTF-8 (save the file as UTF-8)";
    return false;
  }
  const std::string_view value = column == "free_text" ? raw : Trim(raw);
  if (value.empty()) {
    const bool known = std::find(SignalColumns().begin(), SignalColumns().end(), column) !=
                       SignalColumns().end();
    if (!known) problem = StrCat("unknown column (known: ", Joined(SignalColumns()), ")");
    return known;
  }
  bool known = false;
  if (SetSubjectField(column, value, *signal.mutable_subject(), problem, known)) {
    DropEmptyAddress(*signal.mutable_subject());
    return true;
  }
  if (known) return false;
  problem.clear();
  schakel::v1::ContactPerson& contact = *signal.mutable_contact();
  if (column == "signal_id") {
    signal.set_signal_id(std::string(value));
  } else if (column == "category") {
    signal.set_category(std::string(value));
  } else if (column == "domain") {
    schakel::v1::Domain domain{};
    if (!ParseEnumColumn(value, "domain", &domain, problem)) return false;
    signal.set_domain(domain);
  } else if (column == "registered_at" || column == "expires_at") {
    auto time = ParseTime(value, column);
    if (!time.ok()) {
      problem = "not a date (YYYY-MM-DD) or an RFC 3339 time (2025-03-01T12:00:00Z)";
      return false;
    }
    *(column == "registered_at" ? signal.mutable_registered_at() : signal.mutable_expires_at()) =
        *time;
  } else if (column == "contact_name") {
    contact.set_name(std::string(value));
  } else if (column == "contact_phone") {
    contact.set_phone(std::string(value));
  } else if (column == "contact_email") {
    contact.set_email(std::string(value));
  } else if (column == "contact_unit") {
    contact.set_unit(std::string(value));
  } else if (column == "free_text") {
    signal.set_free_text(std::string(value));
  } else {
    problem = StrCat("unknown column (known: ", Joined(SignalColumns()), ")");
    return false;
  }
  if (contact.ByteSizeLong() == 0) signal.clear_contact();
  return true;
}

void ClearSignalColumn(std::string_view column, Signal& signal) {
  Subject& subject = *signal.mutable_subject();
  if (column == "bsn") subject.clear_bsn();
  if (column == "given_names") subject.clear_given_names();
  if (column == "surname") subject.clear_surname();
  if (column == "surname_prefix") subject.clear_surname_prefix();
  if (column == "birth_date") subject.clear_birth_date();
  if (column == "family_id") subject.clear_family_id();
  if (column == "relation") subject.clear_relation();
  if (subject.has_address()) {
    schakel::v1::Address& address = *subject.mutable_address();
    if (column == "postcode") address.clear_postcode();
    if (column == "house_number" || column == "house_number_suffix") {
      address.clear_house_number();
      address.clear_house_number_suffix();
    }
    if (column == "street") address.clear_street();
    if (column == "city") address.clear_city();
    DropEmptyAddress(subject);
  }
  if (column == "category") signal.clear_category();
  if (column == "domain") signal.clear_domain();
  if (column == "registered_at") signal.clear_registered_at();
  if (column == "expires_at") signal.clear_expires_at();
  if (column == "free_text") signal.clear_free_text();
  if (signal.has_contact()) {
    schakel::v1::ContactPerson& contact = *signal.mutable_contact();
    if (column == "contact_name") contact.clear_name();
    if (column == "contact_phone") contact.clear_phone();
    if (column == "contact_email") contact.clear_email();
    if (column == "contact_unit") contact.clear_unit();
    if (contact.ByteSizeLong() == 0) signal.clear_contact();
  }
}

std::string UpdatePathOf(std::string_view column) {
  if (column == "signal_id") return {};
  if (column == "postcode" || column == "house_number" || column == "house_number_suffix" ||
      column == "street" || column == "city") {
    return "subject.address";
  }
  if (column.rfind("contact_", 0) == 0) return "contact";
  if (column == "bsn" || column == "given_names" || column == "surname" ||
      column == "surname_prefix" || column == "birth_date" || column == "family_id" ||
      column == "relation") {
    return StrCat("subject.", column);
  }
  return std::string(column);
}

absl::StatusOr<ImportFileFormat> ImportFormatOf(const std::filesystem::path& file,
                                                std::string_view format_flag) {
  std::string format(format_flag);
  for (char& c : format) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (format.empty()) {
    format = file.extension().string();
    for (char& c : format) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (format == ".csv") return ImportFileFormat::kCsv;
    if (format == ".jsonl" || format == ".ndjson" || format == ".json") {
      return ImportFileFormat::kJsonLines;
    }
    return absl::InvalidArgumentError(
        "the file's format is not known from its name (.csv, .jsonl, .ndjson or .json); give "
        "--format csv or --format jsonl");
  }
  if (format == "csv") return ImportFileFormat::kCsv;
  if (format == "jsonl" || format == "json-lines" || format == "json_lines" ||
      format == "ndjson") {
    return ImportFileFormat::kJsonLines;
  }
  return absl::InvalidArgumentError("--format must be csv or jsonl");
}

absl::StatusOr<std::unique_ptr<SignalFileReader>> SignalFileReader::Open(
    std::istream& in, ImportFileFormat format) {
  std::unique_ptr<SignalFileReader> reader(new SignalFileReader(in, format));
  if (format == ImportFileFormat::kJsonLines) return reader;
  auto header =
      ReadHeader(reader->csv_, SignalColumns(),
                 "the file is empty: a CSV import starts with a header row");
  if (!header.ok()) return header.status();
  reader->header_ = *std::move(header);
  return reader;
}

uint64_t SignalFileReader::bytes_read() const {
  return format_ == ImportFileFormat::kCsv ? csv_.bytes_read() : json_bytes_;
}

bool SignalFileReader::stream_failed() const { return in_.bad(); }

SignalFileReader::Result SignalFileReader::Next(ImportRow& row,
                                                std::vector<LineProblem>& problems) {
  return format_ == ImportFileFormat::kCsv ? NextCsv(row, problems) : NextJsonLine(row, problems);
}

SignalFileReader::Result SignalFileReader::NextCsv(ImportRow& row,
                                                   std::vector<LineProblem>& problems) {
  CsvRecord record;
  if (!csv_.Next(record)) return Result::kEnd;
  if (!record.problem.empty()) {
    problems.push_back({record.line, "", record.problem});
    return Result::kBadRow;
  }
  if (auto extra = ExtraFields(record, header_.size())) {
    problems.push_back(*std::move(extra));
    return Result::kBadRow;
  }
  row.Clear();
  row.set_line(record.line);
  bool ok = true;
  for (size_t i = 0; i < record.fields.size(); ++i) {
    std::string problem;
    if (!SetSignalColumn(header_[i], record.fields[i], *row.mutable_signal(), problem)) {
      problems.push_back({record.line, header_[i], problem});
      ok = false;
    }
  }
  return ok ? Result::kRow : Result::kBadRow;
}

bool ParseSignalJson(std::string_view text, uint64_t line, Signal& signal,
                     std::vector<LineProblem>& problems) {
  if (!Utf8Valid(text)) {
    problems.push_back({line, "", "not valid UTF-8 (save the file as UTF-8)"});
    return false;
  }
  const nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    problems.push_back({line, "", "not valid JSON (each line must be one JSON object)"});
    return false;
  }
  if (!doc.is_object()) {
    problems.push_back({line, "", "not a JSON object (each line must be one JSON object)"});
    return false;
  }
  signal.Clear();
  if (doc.contains("subject")) {
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = false;
    if (!google::protobuf::util::JsonStringToMessage(std::string(text), &signal, options).ok()) {
      problems.push_back({line, "",
                          "an object with \"subject\" must be a schakel.v1.Signal in the proto3 "
                          "JSON mapping (known field names, values of the right type)"});
      return false;
    }
    ClearOutputOnly(signal);
    return true;
  }
  bool ok = true;
  for (const auto& [key, value] : doc.items()) {
    std::string problem;
    if (std::find(SignalColumns().begin(), SignalColumns().end(), key) == SignalColumns().end()) {
      problems.push_back({line, ShowableName(key) ? key : std::string(),
                          StrCat("unknown key ", ShowableName(key) ? "" : UnknownName(key) + " ",
                                 "(known: ", Joined(SignalColumns()), ")")});
      ok = false;
      continue;
    }
    if (value.is_null()) continue;
    std::string text_value;
    if (value.is_string()) {
      text_value = value.get<std::string>();
    } else if (key == "house_number" && value.is_number_unsigned()) {
      text_value = StrCat(value.get<uint64_t>());
    } else {
      problems.push_back({line, key, "must be a string"});
      ok = false;
      continue;
    }
    if (!SetSignalColumn(key, text_value, signal, problem)) {
      problems.push_back({line, key, problem == "" ? "invalid" : problem});
      ok = false;
    }
  }
  return ok;
}

SignalFileReader::Result SignalFileReader::NextJsonLine(ImportRow& row,
                                                        std::vector<LineProblem>& problems) {
  std::string line;
  while (std::getline(in_, line)) {
    ++json_line_;
    json_bytes_ += line.size() + (in_.eof() ? 0 : 1);
    if (json_line_ == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (Trim(line).empty()) continue;
    row.Clear();
    row.set_line(json_line_);
    return ParseSignalJson(line, json_line_, *row.mutable_signal(), problems) ? Result::kRow
                                                                             : Result::kBadRow;
  }
  return Result::kEnd;
}

bool SetSubjectColumn(std::string_view column, std::string_view raw, MatchSubject& subject,
                      std::string& problem) {
  if (!Utf8Valid(raw)) {
    problem = "not valid UTF-8 (save the file as UTF-8)";
    return false;
  }
  const std::string_view value = Trim(raw);
  if (column == "label") {
    if (value.size() > 200) {
      problem = "longer than 200 characters";
      return false;
    }
    subject.set_label(std::string(value));
    return true;
  }
  if (std::find(SubjectColumns().begin(), SubjectColumns().end(), column) ==
      SubjectColumns().end()) {
    problem = StrCat("unknown column (known: ", Joined(SubjectColumns()), ")");
    return false;
  }
  if (value.empty()) return true;
  bool known = false;
  const bool ok = SetSubjectField(column, value, *subject.mutable_subject(), problem, known);
  DropEmptyAddress(*subject.mutable_subject());
  return ok;
}

absl::StatusOr<std::vector<MatchSubject>> ReadSubjectsCsv(std::istream& in,
                                                          std::vector<LineProblem>& problems) {
  CsvReader csv(in);
  auto header = ReadHeader(csv, SubjectColumns(),
                           "the subjects file is empty: it starts with a header row");
  if (!header.ok()) return header.status();
  const std::vector<std::string>& columns = *header;
  std::vector<MatchSubject> subjects;
  CsvRecord record;
  while (csv.Next(record)) {
    if (!record.problem.empty()) {
      problems.push_back({record.line, "", record.problem});
      continue;
    }
    if (auto extra = ExtraFields(record, columns.size())) {
      problems.push_back(*std::move(extra));
      continue;
    }
    MatchSubject subject;
    bool ok = true;
    for (size_t i = 0; i < record.fields.size(); ++i) {
      std::string problem;
      if (!SetSubjectColumn(columns[i], record.fields[i], subject, problem)) {
        problems.push_back({record.line, columns[i], problem});
        ok = false;
      }
    }
    if (!ok) continue;
    const Subject& s = subject.subject();
    const bool any = !s.bsn().empty() || !s.surname().empty() || !s.given_names().empty() ||
                     !s.birth_date().empty() || s.has_address();
    if (!any) {
      problems.push_back({record.line, "",
                          "no identifiers: give bsn, or surname with given_names and birth_date, "
                          "or postcode with house_number"});
      continue;
    }
    if (subject.label().empty()) subject.set_label(StrCat("line ", record.line));
    subjects.push_back(std::move(subject));
  }
  if (csv.stream_failed()) return absl::DataLossError("the subjects file could not be read");
  return subjects;
}

}  // namespace schakel::cli
