#include "cli/csv.h"

namespace schakel::cli {

bool CsvReader::ReadLine(std::string& line) {
  if (!std::getline(in_, line)) return false;
  ++line_number_;
  bytes_read_ += line.size() + (in_.eof() ? 0 : 1);
  if (first_) {
    first_ = false;
    if (line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return true;
}

bool CsvReader::Next(CsvRecord& record) {
  std::string line;
  do {
    if (!ReadLine(line)) return false;
  } while (line.empty());

  record.line = line_number_;
  record.fields.clear();
  record.problem.clear();
  std::string field;
  size_t i = 0;
  while (true) {
    // At the start of a field.
    field.clear();
    if (i < line.size() && line[i] == '"') {
      ++i;
      while (true) {
        if (i >= line.size()) {
          // The quoted field goes on past the line break.
          if (field.size() > kMaxQuotedFieldBytes) {
            record.problem = "a quoted field is longer than 100,000 bytes: is a closing quote "
                             "missing?";
            return true;
          }
          if (!ReadLine(line)) {
            record.problem = "a quoted field is not closed before the end of the file";
            return true;
          }
          field += '\n';
          i = 0;
          continue;
        }
        const char c = line[i];
        if (c == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          ++i;  // the closing quote
          break;
        }
        field += c;
        ++i;
      }
      if (i < line.size() && line[i] != ',') {
        record.problem =
            "text after the closing quote of a field (a field is either quoted as a whole or not "
            "at all)";
        return true;
      }
    } else {
      const size_t end = line.find(',', i);
      const size_t stop = end == std::string::npos ? line.size() : end;
      field.assign(line, i, stop - i);
      if (field.find('"') != std::string::npos) {
        record.problem =
            "a quote inside an unquoted field (quote the whole field and double the quote: "
            "\"a \"\"b\"\" c\")";
        return true;
      }
      i = stop;
    }
    record.fields.push_back(std::move(field));
    if (i >= line.size()) return true;
    ++i;  // the comma
  }
}

}  // namespace schakel::cli
