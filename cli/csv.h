// RFC 4180 CSV records from a stream, each with the line it starts on.
//
// Accepted: fields separated by ',', records by LF or CRLF; a field in
// double quotes may hold ',', '"' (doubled) and line breaks; a UTF-8 byte
// order mark before the first record is skipped; blank lines are skipped.
// Line numbers count physical lines from 1, so that a record with a quoted
// line break is reported at the line where it starts and the next record's
// number is still the editor's line number.
//
// A malformed record (a quote inside an unquoted field, text after a closing
// quote, a quoted field still open at the end of the file or longer than
// kMaxQuotedFieldBytes) is returned with `problem` set; reading goes on
// with the next line. Problems never repeat the record's content.
//
// The reader holds one record at a time, so files of any size stream
// through it. UTF-8 is not checked here (the caller names the column).
//
// Thread safety: not thread-safe; one reader per stream.
#ifndef SCHAKEL_CLI_CSV_H_
#define SCHAKEL_CLI_CSV_H_

#include <cstdint>
#include <istream>
#include <string>
#include <vector>

namespace schakel::cli {

// A quoted field that grows beyond this is taken to be a missing closing
// quote (the longest legitimate value, a 10,000-character free text, is at
// most 40,000 bytes of UTF-8).
inline constexpr size_t kMaxQuotedFieldBytes = 100'000;

struct CsvRecord {
  // Line the record starts on, from 1.
  uint64_t line = 0;
  std::vector<std::string> fields;
  // Empty for a well-formed record; else what is wrong (fields are then
  // incomplete and must not be used).
  std::string problem;
};

class CsvReader {
 public:
  explicit CsvReader(std::istream& in) : in_(in) {}

  CsvReader(const CsvReader&) = delete;
  CsvReader& operator=(const CsvReader&) = delete;

  // Reads the next non-blank record into `record`; false at the end of the
  // input (and on a read error: check stream_failed()).
  bool Next(CsvRecord& record);

  // Bytes consumed so far (for progress against the file size).
  uint64_t bytes_read() const { return bytes_read_; }
  // True when the stream failed for another reason than its end.
  bool stream_failed() const { return in_.bad(); }

 private:
  bool ReadLine(std::string& line);

  std::istream& in_;
  uint64_t line_number_ = 0;
  uint64_t bytes_read_ = 0;
  bool first_ = true;
};

}  // namespace schakel::cli

#endif  // SCHAKEL_CLI_CSV_H_
